"""Fit the extractive reader's sentence model on the tune half of the question set.

    python eval/train_reader.py --index index --index DISTRACTOR_INDEX --held-out

(`DISTRACTOR_INDEX` is built once by `python -m assistant eval --distractors
../shared/corpora/sv-gov-distractors.tar.gz --index DISTRACTOR_INDEX`.)

For every tune-half question the passages are retrieved as the assistant retrieves them, and
every sentence the reader would read becomes one example: positive when it holds the question's
evidence quote (or lies inside it); with `--held-out` each answerable question is asked again
with its own documents left out of the search, a near miss whose sentences are all negative (the
unanswerable questions the threshold must refuse look like that). A logistic regression over the
reader's features (`assistant.reader.FEATURES`, scikit-learn, L2, balanced classes) gives the
weights. Then, still on the tune half only, the abstention threshold is set: the highest
confidence that refuses at most `--max-refused` of the answerable questions, so that as many
unanswerable ones as possible are refused; and the share of the best sentence's probability above
which further sentences are quoted. The test half is not read. With `--cloze N` the weights
are also learned from N questions made from documents no evaluation asks about (the
distractors': `eval/cloze_questions.py`), each sentence weighted by `--cloze-weight`; the
threshold and the quoting share stay the tune half's. The passages are retrieved as the
assistant retrieves them, so the installed `assistant/reader_model.json` re-ranks them
(`reader_rerank_passages`): fit with the shipped model in place to compare fits. The figures on
both halves come from `assistant eval`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.answering import confidence  # noqa: E402
from assistant.config import Settings  # noqa: E402
from assistant.evaluate import (half, holds_distractors, keywords_met, load_questions,  # noqa: E402
                                normalise)
from assistant.documents import DocumentError, load_document  # noqa: E402
from assistant.indexer import corpus_files  # noqa: E402
from cloze_questions import cloze_questions  # noqa: E402
from assistant.pipeline import Assistant  # noqa: E402
from assistant.reader import FEATURES, ReaderModel, ReaderModelError, feature_matrix  # noqa: E402
from assistant.retrieval import SearchFilter  # noqa: E402


def holds(sentence: str, source: str, question) -> bool:
    text = normalise(sentence)
    for ev in question.evidence:
        quote = normalise(ev.quote)
        if source == ev.source and (quote in text or (len(text) > 20 and text in quote)):
            return True
    return False


def collect(assistant: Assistant, questions, held_out: bool = False) -> list[dict]:
    """Per question: its candidates (features, label) and whether it is answerable. With
    `held_out`, each answerable question is asked once more with its evidence documents left out
    of the search: a near miss that the documents no longer answer (all its sentences negative)."""
    out = []
    every = set(assistant.snapshot().documents)
    if holds_distractors(every):
        questions = [q for q in questions if not q.distractors_answer]
    asked = [(q, None) for q in questions]
    if held_out:
        asked += [(q, SearchFilter(sources=frozenset(every - {e.source for e in q.evidence})))
                  for q in questions if q.answerable]
    for q, search_filter in asked:
        retrieval = assistant.retrieve(q.question, search_filter=search_filter)
        answerable = q.answerable and search_filter is None
        sources = {p.text: p.source for p in retrieval.passages}
        candidates = assistant.answerer.read(q.question, retrieval.passages, retrieval.idf,
                                             retrieval.query_vector, retrieval.dense_margin,
                                             retrieval.language, retrieval.query_latent,
                                             retrieval.stored_sentences)
        labels = []
        for c in candidates:
            passage = retrieval.passages[c.n - 1]
            labels.append(answerable and holds(c.text, sources[passage.text], q))
        out.append({"question": q, "answerable": answerable, "candidates": candidates,
                    "labels": labels})
    return out


def corpus_documents(corpus_dir: Path) -> list[tuple[str, str]]:
    """(source, text) of each document of a corpus folder that reads."""
    out = []
    for source, path in corpus_files(corpus_dir):
        try:
            out.append((source, load_document(path, source).text))
        except DocumentError:
            continue
    return out


def choose_threshold(best: list[tuple[float, bool]], max_refused: float,
                     margin: float = 0.0) -> float:
    """The highest threshold that refuses at most `max_refused` of the answerable questions, and
    still does when each of their confidences is `margin` lower (on another CPU the engine's
    float rounding differs, and confidences move by a few thousandths)."""
    answerable = sorted(p for p, ok in best if ok)
    allowed = int(max_refused * len(answerable))
    # refusing the `allowed` least confident answerable questions and no more
    ceiling = max(0.0, answerable[allowed] - margin) if allowed < len(answerable) else 1.0
    unanswerable = sorted(p for p, ok in best if not ok)
    below = [p for p in unanswerable if p < ceiling]
    # midway between the most confident refused unanswerable question and the ceiling
    return (max(below) + ceiling) / 2 if below else ceiling / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "questions.jsonl")
    parser.add_argument("--index", action="append",
                        help="index folder or URI holding the bundled corpus (default: index); "
                             "repeat it to learn from several, e.g. one with distractors too")
    parser.add_argument("--out", type=Path, default=ROOT / "assistant" / "reader_model.json")
    parser.add_argument("--c", type=float, default=1.0, help="inverse L2 strength")
    parser.add_argument("--held-out", action="store_true",
                        help="also learn from the tune questions asked without their documents")
    parser.add_argument("--max-refused", type=float, default=0.03,
                        help="share of answerable tune questions the threshold may refuse")
    parser.add_argument("--margin", type=float, default=0.02,
                        help="how far the threshold stays below the answerable questions it must "
                             "answer (measured: embedding noise at the size of another CPU's "
                             "float rounding moves confidences by up to 0.005)")
    parser.add_argument("--cloze", type=int, default=0, metavar="N",
                        help="also learn the weights from N cloze questions made from the "
                             "documents of --cloze-corpus (eval/cloze_questions.py), asked of "
                             "each index that holds them; the threshold stays the tune half's")
    parser.add_argument("--cloze-corpus", type=Path,
                        help="the corpus folder an index was built from, e.g. the distractors'")
    parser.add_argument("--cloze-weight", type=float, default=1.0,
                        help="each cloze sentence's weight in the fit beside a tune one's")
    parser.add_argument("--cloze-only", action="store_true",
                        help="learn the weights from the cloze questions alone")
    parser.add_argument("--keep-weights", action="store_true",
                        help="keep the weights of --out and set only the threshold and the "
                             "quoting share again (after a change to the features' inputs)")
    args = parser.parse_args()
    if not 0 <= args.margin < 1:
        parser.error(f"--margin must be at least 0 and below 1, not {args.margin}")
    if (args.cloze or args.cloze_only) and not (args.cloze > 0 and args.cloze_corpus):
        parser.error("--cloze needs a positive count and --cloze-corpus")
    if args.cloze_corpus and not args.cloze_corpus.is_dir():
        parser.error(f"--cloze-corpus {args.cloze_corpus}: no such folder")
    if args.cloze_weight <= 0:
        parser.error(f"--cloze-weight must be above 0, not {args.cloze_weight}")
    # a bad model file is reported before the questions are asked, not after
    try:
        kept = ReaderModel.load(args.out) if args.keep_weights else None
    except ReaderModelError as exc:
        parser.error(f"--keep-weights: {exc}")
    kept_record = (json.loads(args.out.read_text("utf-8")).get("trained_on", {})
                   if kept else {})

    tune = [q for q in load_questions(args.questions) if half(q.id) == "tune"]
    cloze = (cloze_questions(corpus_documents(args.cloze_corpus), args.cloze)
             if args.cloze else [])
    data, cloze_data, embedder = [], [], None
    for index in args.index or [str(ROOT / "index")]:
        where = ({"index_uri": index} if "://" in index or index.startswith("milvus")
                 else {"index_dir": Path(index)})
        assistant = Assistant(Settings(**where), embedder=embedder)
        embedder = assistant.embedder
        data += collect(assistant, tune, args.held_out)
        held = set(assistant.snapshot().documents)
        cloze_data += [{**d, "cloze": True} for d in collect(
            assistant, [q for q in cloze if q.evidence[0].source in held], args.held_out)]
    learned_from = cloze_data if args.cloze_only else data + cloze_data
    rows = [(c, label) for d in learned_from for c, label in zip(d["candidates"], d["labels"])]
    row_weights = np.array([args.cloze_weight if d.get("cloze") else 1.0 for d in learned_from
                            for _ in d["candidates"]])
    x = feature_matrix([c for c, _ in rows])
    y = np.array([label for _, label in rows], dtype=int)
    if kept:
        weights, bias = dict(kept.weights), kept.bias
    else:
        fit = LogisticRegression(C=args.c, class_weight="balanced", max_iter=2000).fit(
            x, y, sample_weight=row_weights)
        weights = dict(zip(FEATURES, (float(w) for w in fit.coef_[0])))
        bias = float(fit.intercept_[0])
    model = ReaderModel(weights=weights, bias=bias, min_confidence=0.0, also_quote=1.0)

    best, quote_choices = [], {}
    for d in data:
        model.score(d["candidates"])
        best.append((confidence(d["question"].question, d["candidates"]), d["answerable"]))
    threshold = choose_threshold(best, args.max_refused, args.margin)
    for share in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0):
        right = 0
        for d in data:
            q, candidates = d["question"], d["candidates"]
            if not d["answerable"] or not candidates:
                continue
            ranked = sorted(zip(candidates, d["labels"]), key=lambda t: -t[0].probability)
            if confidence(q.question, candidates) < threshold:
                continue
            chosen = [t for t in ranked[:assistant.settings.max_answer_sentences]
                      if t[0].probability >= share * ranked[0][0].probability]
            text = " ".join(c.text for c, _ in chosen)
            right += any(label for _, label in chosen) + keywords_met(text, q.keywords)
        quote_choices[share] = right
    # the largest share among the best (fewest sentences for the same figure)
    top_right = max(quote_choices.values())
    also_quote = max(s for s, r in quote_choices.items() if r == top_right)
    fitted_on = {"questions": str(args.questions.relative_to(ROOT)
                                  if args.questions.is_relative_to(ROOT) else args.questions),
                 "half": "tune", "indexes": len(args.index or [1]), "questions_used": len(data),
                 "sentences": len(rows), "positives": int(y.sum()), "c": args.c,
                 "max_refused": args.max_refused, "margin": args.margin, "held_out": args.held_out,
                 "cloze_questions": len(cloze), "cloze_asked": len(cloze_data),
                 "weights_from": "cloze" if args.cloze_only else
                 ("tune and cloze" if cloze else "tune")}
    if kept:  # the weights' own record stays; the threshold's is added
        trained_on = {**kept_record, "threshold_set_on": fitted_on}
    else:
        trained_on = fitted_on
    payload = {
        "features": list(FEATURES), "weights": weights, "bias": bias,
        "min_confidence": round(threshold, 6), "also_quote": also_quote,
        "trained_on": trained_on,
    }
    args.out.write_text(json.dumps(payload, indent=2) + "\n", "utf-8")
    refused_answerable = sum(1 for p, ok in best if ok and p < threshold)
    refused_unanswerable = sum(1 for p, ok in best if not ok and p < threshold)
    print(f"{len(data)} tune and {len(cloze_data)} cloze questions asked; weights from "
          f"{len(rows)} sentences ({int(y.sum())} holding evidence)")
    if cloze_data:
        found = sum(any(d["labels"]) for d in cloze_data if d["answerable"])
        print(f"cloze questions whose own sentence was read: {found} of {len(cloze)}")
    print("weights: " + ", ".join(f"{k} {v:+.2f}" for k, v in weights.items()))
    print(f"min_confidence {threshold:.4f}: refuses {refused_unanswerable} of "
          f"{sum(1 for _, ok in best if not ok)} unanswerable, {refused_answerable} of "
          f"{sum(1 for _, ok in best if ok)} answerable; also_quote {also_quote}")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
