from assistant.chunking import chunk_document, make_splitter
from assistant.documents import load_document
from assistant.tokens import count_tokens

from .conftest import CORPUS


def test_chunks_are_verbatim_spans_within_the_token_limit():
    splitter = make_splitter(120, 30)
    for path in sorted(CORPUS.glob("*.txt")):
        document = load_document(path, path.name)
        chunks = chunk_document(document, splitter)
        assert chunks, path
        for chunk in chunks:
            assert document.text[chunk.start : chunk.end] == chunk.text
            assert count_tokens(chunk.text) <= 120
        assert [c.order for c in chunks] == list(range(len(chunks)))


def test_consecutive_chunks_overlap():
    splitter = make_splitter(80, 30)
    path = CORPUS / "stockholm-utvecklingsprogram-ledare-new-york-2014.txt"
    chunks = chunk_document(load_document(path, path.name), splitter)
    overlapping = sum(1 for a, b in zip(chunks, chunks[1:]) if b.start < a.end)
    assert overlapping >= len(chunks) // 2


def test_a_sentence_cut_at_an_abbreviation_stands_whole_in_the_next_chunk():
    # a run of questions has no ". " in it, and a cut at "sin. resp." must not lose the
    # overlap that carries the clause's start into the next chunk
    clause = "Ulla börjar skriva men alla deltar från sin. resp. kommun"
    text = ("Mötet. " + " ".join(f"Vem gör punkt {i}?" for i in range(12)) + " Att göra: "
            + clause + " och " + " ".join(f"sedan punkt {i}." for i in range(30)))
    pieces = make_splitter(80, 40).split_text(text)
    assert len(pieces) > 3
    assert any(clause in piece for piece in pieces)
    assert all(count_tokens(piece) <= 80 for piece in pieces)
