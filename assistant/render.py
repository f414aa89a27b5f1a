"""Turn an `Answer` into what people and programs read: JSON, terminal text, Markdown."""

from __future__ import annotations

import re

from .answer_types import mark
from .records import Answer, Citation, Passage, Unanswered

LABELS = {
    "sv": {"sources": "Källor", "unsupported": "EJ STÖDD AV KÄLLAN", "related": "Möjligen relaterat",
           "page": "sida", "question": "Fråga", "answer": "Svar", "missing": "finns inte",
           "searched_for": "Sökte efter"},
    "en": {"sources": "Sources", "unsupported": "NOT SUPPORTED BY SOURCE",
           "related": "Possibly related", "page": "page", "question": "Question",
           "answer": "Answer", "missing": "does not exist", "searched_for": "Searched for"},
}


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&])")


def escape_markdown(text: str) -> str:
    """Text that Markdown renders literally: no markup, links, HTML or scripts from documents."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _escaped_with_marks(text: str, spans: list[tuple[int, int]]) -> str:
    """Literal Markdown of `text` with the spans in bold."""
    out, pos = [], 0
    for start, end in sorted(spans):
        if start < pos:
            continue
        out += [escape_markdown(text[pos:start]), "**", escape_markdown(text[start:end]), "**"]
        pos = end
    out.append(escape_markdown(text[pos:]))
    return "".join(out)


def highlighted_passage(passage_text: str, quotes: list[str],
                        answer_spans: dict[str, list[tuple[int, int]]] | None = None) -> str:
    """The passage as literal Markdown with the supporting sentences highlighted and, inside
    them, the answer (`answer_spans`: spans within each quote) in bold."""
    flat = " ".join(passage_text.split())
    spans = []
    for quote in quotes:
        at = flat.find(quote) if quote else -1
        if at >= 0:
            spans.append((at, at + len(quote), quote))
    out, pos = [], 0
    for start, end, quote in sorted(spans):
        if start < pos:
            continue
        out.append(escape_markdown(flat[pos:start]))
        inner = _escaped_with_marks(flat[start:end], (answer_spans or {}).get(quote, []))
        out.append(":orange-background[" + inner + "]")
        pos = end
    out.append(escape_markdown(flat[pos:]))
    return "".join(out)


def answer_marks(answer: Answer) -> list[tuple[int, int]]:
    """The answer spans of the citations' quotes, as spans of the answer's text (where the
    answer quotes them word for word, as the extractive answer does)."""
    spans, taken = [], 0
    for c in answer.citations:
        at = answer.text.find(c.quote, taken) if c.quote and c.answer_spans else -1
        if at < 0:
            continue
        spans += [(at + start, at + end) for start, end in c.answer_spans]
        taken = at + len(c.quote)
    return spans


def answer_markdown(answer: Answer) -> str:
    """The answer as literal Markdown: the answer inside its quotes and the [n] markers in bold."""
    text = _escaped_with_marks(answer.text, [] if answer.abstained else answer_marks(answer))
    return text.replace("\\[", "**[").replace("\\]", "]**")


def passage_json(n: int, p: Passage) -> dict:
    return {"n": n, "source": p.source, "title": p.title, "page": p.page, "text": p.text,
            "score": round(p.score, 6)}


def citation_json(c: Citation) -> dict:
    p = c.passage
    return {"n": c.n, "source": p.source if p else None, "title": p.title if p else None,
            "page": p.page if p else None, "text": p.text if p else None, "quote": c.quote,
            "sentence": c.sentence, "supported": c.supported, "support": c.support,
            "answer_in_quote": [{"start": a, "end": b, "text": c.quote[a:b]}
                                for a, b in c.answer_spans]}


def answer_json(answer: Answer) -> dict:
    usage = answer.usage
    return {
        "question": answer.question,
        "searched_for": answer.searched_for or answer.question,
        "answer": answer.text,
        "abstained": answer.abstained,
        "language": answer.language,
        "backend": answer.backend,
        "notice": answer.notice,
        "flagged": answer.flagged_sentences,
        "fallback": answer.fallback,
        "raw_answer": answer.raw_text,
        "usage": ({"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
                   "reported_by_server": usage.reported} if usage else None),
        "passages": [passage_json(n, p) for n, p in enumerate(answer.passages, start=1)],
        "citations": [citation_json(c) for c in answer.citations],
    }


def where(p: Passage, language: str = "en") -> str:
    parts = [p.source]
    if p.page is not None:
        parts.append(f"{LABELS[language]['page']} {p.page}")
    if p.section:
        parts.append(p.section)
    return ", ".join(parts)


def answer_text(answer: Answer, emphasis: tuple[str, str] = ("*", "*")) -> str:
    """Plain text for a terminal: the answer, then each cited source with its quote; the answer
    inside the quotes is wrapped in `emphasis` (e.g. ANSI bold on a terminal)."""
    labels = LABELS[answer.language]
    lines = [f"({labels['searched_for']}: {answer.searched_for})"] if answer.searched_for else []
    text = answer.text if answer.abstained else mark(answer.text, answer_marks(answer), *emphasis)
    lines += ([f"({answer.notice})", ""] if answer.notice else []) + [text, ""]
    if answer.abstained:
        if answer.passages:
            lines.append(f"{labels['related']}:")
            for n, p in enumerate(answer.passages[:3], start=1):
                lines.append(f"  [{n}] {p.title} ({where(p, answer.language)})")
        return "\n".join(lines).rstrip()
    lines.append(f"{labels['sources']}:")
    by_number: dict[int, list[Citation]] = {}
    for c in answer.citations:
        by_number.setdefault(c.n, []).append(c)
    for n, group in by_number.items():
        passage = group[0].passage
        if passage is None:
            lines.append(f"  [{n}] ({labels['missing']})  ⚠ {labels['unsupported']}")
            continue
        lines.append(f"  [{n}] {passage.title} ({where(passage, answer.language)})")
        for c in group:
            flag = "" if c.supported else f"  ⚠ {labels['unsupported']}"
            if c.quote or flag:
                lines.append(f"      “{mark(c.quote, c.answer_spans, *emphasis)}”{flag}")
    return "\n".join(lines).rstrip()


def conversation_markdown(answers: list[Answer | Unanswered]) -> str:
    """A conversation as Markdown, each answer followed by its cited passages."""
    out = []
    for answer in answers:
        labels = LABELS[answer.language]
        out.append(f"## {labels['question']}: {answer.question}\n")
        if isinstance(answer, Unanswered):
            out.append(f"⚠ {answer.reason}\n")
            continue
        if answer.searched_for:
            out.append(f"*{labels['searched_for']}: {answer.searched_for}*\n")
        out.append(f"**{labels['answer']}:** {answer.text}\n")
        for c in answer.citations:
            if c.passage is None:
                continue
            flag = "" if c.supported else f" — **{labels['unsupported']}**"
            quote = "\n".join("> " + line for line in c.passage.text.splitlines() if line.strip())
            out.append(f"[{c.n}] *{c.passage.title}* ({where(c.passage, answer.language)}){flag}\n\n{quote}\n")
    return "\n".join(out)
