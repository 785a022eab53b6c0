"""Process documents longer than ``nlp.max_length``: split on paragraph boundaries, run
the pipeline on the pieces, and join them back into one Doc with the original offsets.

The pieces are exact consecutive substrings of the text, so ``Doc.from_docs`` rebuilds a
Doc whose ``.text`` is identical to the input and whose entities carry offsets into the
whole text. Components that must see the whole document (the ``anonymizer``: pseudonyms
and "mask every occurrence" are per document) are run on the joined Doc afterwards.
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


def join_docs(nlp: Language, docs: Sequence[Doc]) -> Doc:
    """Join piece Docs back into one Doc (the text is the exact concatenation)."""
    if len(docs) == 1:
        return docs[0]
    return Doc.from_docs(list(docs), ensure_whitespace=False)


def pipe_long(
    nlp: Language,
    texts: Iterable[Any],
    *,
    as_tuples: bool = False,
    batch_size: int = 16,
    n_process: int = 1,
    max_length: Optional[int] = None,
) -> Iterator[Any]:
    """Like ``nlp.pipe`` but any text longer than ``max_length`` (default
    ``nlp.max_length``) is split on paragraph boundaries and rejoined, and the
    whole-document components run once per joined document.

    With ``as_tuples`` the input is (text, context) and (doc, context) is yielded.
    """
    max_length = max_length or nlp.max_length
    late = whole_doc_pipes(nlp)
    early_disabled = [p for p in late]

    def pieces() -> Iterator[Tuple[str, Tuple[int, int, int, Any]]]:
        for i, item in enumerate(texts):
            text, ctx = item if as_tuples else (item, None)
            parts = split_text(text, max_length)
            for j, (_, piece) in enumerate(parts):
                yield piece, (i, j, len(parts), ctx if j == 0 else None)

    with nlp.select_pipes(disable=early_disabled):
        pending: List[Doc] = []
        ctx_first: Any = None
        stream = nlp.pipe(pieces(), as_tuples=True, batch_size=batch_size, n_process=n_process)
        for doc, (i, j, n, ctx) in stream:
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
