"""Token-aware splitting with overlap; each chunk keeps its character span and page/section."""

from __future__ import annotations

from langchain_text_splitters import RecursiveCharacterTextSplitter

from .records import Chunk, Document
from .tokens import ENCODING, seed_cache

# Paragraphs first, then lines, then sentence ends, so chunks rarely cut a sentence in two. All
# sentence ends are one level: the splitter carries whole pieces of one level into the next
# chunk's overlap, and a piece ended only by ". " may hold several questions ("Vem gör vad? Att
# göra: …") too long to be carried, so that a sentence cut at an abbreviation ("sin. resp.")
# lost its overlap and stood whole in no chunk.
SEPARATORS = ["\n\n", "\n", r"(?<=[.?!])\s+", r"(?<=;)\s+", r"(?<=,)\s+", " ", ""]


def make_splitter(chunk_tokens: int, chunk_overlap: int) -> RecursiveCharacterTextSplitter:
    if chunk_overlap >= chunk_tokens:
        raise ValueError(
            f"chunk_overlap ({chunk_overlap}) must be smaller than chunk_tokens ({chunk_tokens})"
        )
    seed_cache(ENCODING)
    return RecursiveCharacterTextSplitter.from_tiktoken_encoder(
        encoding_name=ENCODING,
        chunk_size=chunk_tokens,
        chunk_overlap=chunk_overlap,
        separators=SEPARATORS,
        is_separator_regex=True,
        keep_separator="end",
        strip_whitespace=True,
    )


def chunk_document(document: Document, splitter: RecursiveCharacterTextSplitter) -> list[Chunk]:
    chunks: list[Chunk] = []
    for segment in document.segments:
        piece = document.text[segment.start : segment.end]
        if not piece.strip():
            continue
        cursor = 0
        for text in splitter.split_text(piece):
            # chunks are verbatim, in order, and may overlap the previous one
            found = piece.find(text, cursor)
            if found < 0:
                found = piece.find(text)
            cursor = found + 1
            start = segment.start + found
            chunks.append(
                Chunk(
                    source=document.source,
                    order=len(chunks),
                    text=text,
                    start=start,
                    end=start + len(text),
                    page=segment.page,
                    section=segment.section,
                )
            )
    return chunks
