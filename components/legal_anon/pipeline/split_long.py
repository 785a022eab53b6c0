"""Process long documents in bounded pieces: split, run the pipeline on the pieces in
batches of bounded size, and join them back into one Doc with the original offsets.

The pieces are exact consecutive substrings of the text, so ``Doc.from_docs`` rebuilds a
Doc whose ``.text`` is identical to the input and whose entities carry offsets into the
whole text. Components that must see the whole document (the ``anonymizer``: pseudonyms
and "mask every occurrence" are per document) are run on the joined Doc afterwards.

Why bounded: the NER's working memory grows with the tokens of the batch it is given
(en_core_web_sm's NER: about 15 KB per token while it runs; a 1 MB single-line text in one
piece peaked at 3.5 GB, a 5 MB one cut at ``nlp.max_length`` into five 1 MB pieces that
``nlp.pipe`` put in one batch at 9.45 GB). So a document longer than ``PIECE_CHARS`` is cut
into pieces of at most that many characters, and the pieces and documents are handed to
the pipeline in batches of at most ``BATCH_CHARS`` characters (and ``batch_size`` texts).
Documents shorter than ``PIECE_CHARS`` (every TAB judgment) are not cut, so their
predictions do not change.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Iterator, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc

# Boundaries to split at, best first: blank line (paragraph), line break, sentence end,
# any whitespace. A piece ends right after the boundary (the whitespace stays with the
# piece before it), so pieces concatenate back to the exact text.
_BOUNDARIES = (
    re.compile(r"\n[ \t\r\f\v]*\n\s*"),
    re.compile(r"\n\s*"),
    re.compile(r"(?<=[.!?;:])\s+"),
    re.compile(r"\s+"),
)

# Components that need the whole document; they run after the pieces are joined.
WHOLE_DOC_COMPONENTS = ("anonymizer",)

# Longest piece the pipeline is given (characters), unless nlp.max_length is smaller.
PIECE_CHARS = 100_000
# Most characters handed to the pipeline in one batch (one longer piece goes alone).
BATCH_CHARS = 100_000


def split_text(text: str, max_length: int) -> List[Tuple[int, str]]:
    """Split ``text`` into (offset, piece) with every piece at most ``max_length`` chars.

    Prefers paragraph boundaries, then line breaks, sentence ends and whitespace; only a
    single "word" longer than ``max_length`` is cut hard. ``"".join(pieces) == text``.
    """
    if max_length < 1:
        raise ValueError("max_length must be positive")
    if len(text) <= max_length:
        return [(0, text)]
    pieces: List[Tuple[int, str]] = []
    start = 0
    n = len(text)
    while n - start > max_length:
        limit = start + max_length
        cut = None
        for pattern in _BOUNDARIES:
            best = None
            for m in pattern.finditer(text, start + 1, limit):
                if m.end() <= limit:
                    best = m.end()
            if best is not None and best > start:
                cut = best
                break
        if cut is None:
            cut = limit  # a single token longer than max_length
        pieces.append((start, text[start:cut]))
        start = cut
    if start < n:
        pieces.append((start, text[start:]))
    return pieces


def whole_doc_pipes(nlp: Language) -> List[str]:
    """Names of the enabled pipes that must run on the joined document (the anonymizer
    and everything after it)."""
    names = nlp.pipe_names
    for i, name in enumerate(names):
        factory = nlp.get_pipe_meta(name).factory
        if factory in WHOLE_DOC_COMPONENTS or name in WHOLE_DOC_COMPONENTS:
            return list(names[i:])
    return []


def piece_length(nlp: Language, max_length: Optional[int] = None) -> int:
    """Documents longer than this are split: ``max_length`` when given, else the smaller
    of ``nlp.max_length`` and ``PIECE_CHARS``."""
    return max_length or min(nlp.max_length, PIECE_CHARS)


def join_docs(nlp: Language, docs: Sequence[Doc]) -> Doc:
    """Join piece Docs back into one Doc (the text is the exact concatenation)."""
    if len(docs) == 1:
        return docs[0]
    return Doc.from_docs(list(docs), ensure_whitespace=False)


def char_batches(items: Iterable[Tuple[str, Any]], batch_size: int, batch_chars: int) -> Iterator[List[Tuple[str, Any]]]:
    """Group (text, context) into lists of at most ``batch_size`` items and, unless one
    text alone is longer, at most ``batch_chars`` characters."""
    batch: List[Tuple[str, Any]] = []
    chars = 0
    for item in items:
        n = len(item[0])
        if batch and (len(batch) >= batch_size or chars + n > batch_chars):
            yield batch
            batch, chars = [], 0
        batch.append(item)
        chars += n
    if batch:
        yield batch


def pipe_long(
    nlp: Language,
    texts: Iterable[Any],
    *,
    as_tuples: bool = False,
    batch_size: int = 16,
    n_process: int = 1,
    max_length: Optional[int] = None,
    batch_chars: Optional[int] = None,
) -> Iterator[Any]:
    """Like ``nlp.pipe`` but any text longer than ``max_length`` (default: see
    ``piece_length``) is split on paragraph boundaries and rejoined, the pipeline gets
    batches of at most ``batch_chars`` characters (default ``BATCH_CHARS``), and the
    whole-document components run once per joined document.

    With ``n_process`` > 1, spaCy's workers batch by ``batch_size`` texts only: each
    worker's memory is bounded by ``batch_size`` pieces. With ``as_tuples`` the input is
    (text, context) and (doc, context) is yielded.
    """
    max_length = piece_length(nlp, max_length)
    batch_chars = batch_chars or BATCH_CHARS
    late = whole_doc_pipes(nlp)

    def pieces() -> Iterator[Tuple[str, Tuple[int, int, int, Any]]]:
        for i, item in enumerate(texts):
            text, ctx = item if as_tuples else (item, None)
            parts = split_text(text, max_length)
            for j, (_, piece) in enumerate(parts):
                yield piece, (i, j, len(parts), ctx if j == 0 else None)

    def processed() -> Iterator[Tuple[Doc, Tuple[int, int, int, Any]]]:
        if n_process > 1:
            yield from nlp.pipe(pieces(), as_tuples=True, batch_size=batch_size, n_process=n_process)
            return
        for batch in char_batches(pieces(), batch_size, batch_chars):
            yield from nlp.pipe(batch, as_tuples=True, batch_size=len(batch))

    with nlp.select_pipes(disable=late):
        pending: List[Doc] = []
        ctx_first: Any = None
        for doc, (i, j, n, ctx) in processed():
            if j == 0:
                pending = []
                ctx_first = ctx
            pending.append(doc)
            if j == n - 1:
                full = join_docs(nlp, pending)
                pending = []
                # the late pipes are disabled here; run them directly on the whole doc
                for name in late:
                    full = nlp.get_pipe(name)(full)
                yield (full, ctx_first) if as_tuples else full
