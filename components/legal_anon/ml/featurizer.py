"""Per-word features of the Char-CNN + BiLSTM tagger: embedding row, casing class and
character codes, computed once per distinct word and cached with a bound.

Kept apart from the model (``legal_anon.ml.bilstm_crf``): the features are a function of the
word alone, and the cache's bound is what keeps a long run (an archive's millions of
distinct names and case numbers) flat in memory.
"""
from __future__ import annotations

from typing import Any, Dict

import numpy as np
from spacy.strings import hash_string

N_CASE_CLASSES = 8  # pad, lower, UPPER, Title, mixed, digits, has-digit, other


def _case_class(word: str) -> int:
    if not word:
        return 7
    if word.isdigit():
        return 5
    if word.islower():
        return 1
    if word.isupper():
        return 2
    if word[0].isupper() and word[1:].islower():
        return 3
    if any(c.isdigit() for c in word):
        return 6
    if any(c.isalpha() for c in word):
        return 4
    return 7


class Featurizer:
    """Per-word features, cached by ORTH id; rebuilt when the vectors table changes.

    The cache is bounded: a long run (an archive's millions of distinct case numbers and
    names) would otherwise keep every word it met. When a lookup would take it past
    ``max_words`` it is emptied and refilled with the words asked for; a word's features
    are a function of the word alone, so this changes no output. Its arrays grow by
    doubling (no copy of the whole cache per new word) and never past the cap, save for one
    lookup of more distinct words than the cap (a sub-batch has at most max_batch_tokens)."""

    DEFAULT_MAX_WORDS = 100_000

    def __init__(self, max_word_length: int, n_char_rows: int, lowercase: bool, hash_rows: int,
                 max_words: int = DEFAULT_MAX_WORDS):
        if max_words < 1:
            raise ValueError(f"Featurizer: max_words must be positive, got {max_words}")
        self.L = max_word_length
        self.n_char_rows = n_char_rows
        self.lowercase = lowercase
        self.hash_rows = hash_rows
        self.max_words = max_words
        self.resets = 0  # times the cache was emptied because it was full
        self.reset()

    def reset(self) -> None:
        self.key: Any = None
        self.clear()

    def clear(self) -> None:
        """Forget every cached word (the vectors table key is kept)."""
        self.index: Dict[int, int] = {}
        self.size = 0
        self._rows = np.zeros((0,), dtype=np.int64)
        self._case = np.zeros((0,), dtype=np.int64)
        self._chars = np.zeros((0, self.L), dtype=np.int32)

    def __len__(self) -> int:
        return self.size

    # views of the filled part; positions from ``lookup`` index them
    @property
    def rows(self) -> np.ndarray:
        return self._rows[: self.size]

    @property
    def case(self) -> np.ndarray:
        return self._case[: self.size]

    @property
    def chars(self) -> np.ndarray:
        return self._chars[: self.size]

    def n_word_rows(self, vocab) -> int:
        n = vocab.vectors.shape[0] if vocab.vectors.shape[1] else 0
        return n + 1 if n else self.hash_rows

    def _check(self, vocab) -> None:
        key = (id(vocab), id(vocab.vectors), vocab.vectors.shape)
        if key != self.key:
            self.reset()
            self.key = key

    def _reserve(self, n_new: int) -> None:
        """Room for ``n_new`` more words: grow by doubling, at most to the cap."""
        need = self.size + n_new
        if need <= self._rows.shape[0]:
            return
        capacity = max(need, min(self.max_words, max(1024, 2 * self._rows.shape[0])))
        for name in ("_rows", "_case", "_chars"):
            old = getattr(self, name)
            grown = np.zeros((capacity,) + old.shape[1:], dtype=old.dtype)
            grown[: self.size] = old[: self.size]
            setattr(self, name, grown)

    def _add(self, vocab, orths: np.ndarray) -> None:
        strings = vocab.strings
        vectors = vocab.vectors
        n_vec = vectors.shape[0] if vectors.shape[1] else 0
        key2row = vectors.key2row if n_vec else None
        words = [strings[int(o)] for o in orths]
        self._reserve(len(words))
        start = self.size
        rows = self._rows[start : start + len(words)]
        case = self._case[start : start + len(words)]
        chars = self._chars[start : start + len(words)]
        chars[:] = 0
        for i, w in enumerate(words):
            lw = w.lower() if self.lowercase else w
            if n_vec:
                r = key2row.get(hash_string(lw), -1)
                rows[i] = r if r >= 0 else n_vec
            else:
                rows[i] = hash_string(lw) % self.hash_rows
            case[i] = _case_class(w)
            cps = np.frombuffer(w[: self.L].encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
            cps = np.where(cps < self.n_char_rows - 1, cps + 1, cps % (self.n_char_rows - 1) + 1)
            chars[i, : len(cps)] = cps
        for i, o in enumerate(orths):
            self.index[int(o)] = start + i
        self.size = start + len(words)

    def lookup(self, vocab, orths: np.ndarray) -> np.ndarray:
        """Cache positions for distinct ORTH ids (adding unseen words; emptying the cache
        first when they would not fit under ``max_words``)."""
        self._check(vocab)
        index = self.index
        pos = np.fromiter((index.get(int(o), -1) for o in orths), dtype=np.int64, count=len(orths))
        missing = pos < 0
        if missing.any():
            if self.size + int(missing.sum()) > self.max_words:
                self.clear()
                self.resets += 1
                index = self.index
                missing[:] = True
            self._add(vocab, orths[missing])
            pos[missing] = [index[int(o)] for o in orths[missing]]
        return pos


