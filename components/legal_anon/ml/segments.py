"""How the CRF taggers cut documents into sequences and batch them.

Docs are cut into sentences (the doc's sentence starts if set, else after "." "!" "?" not
followed by a number or a lowercase word) of at most ``window`` tokens, grouped by length
into padded sub-batches of at most ``max_batch_tokens`` padded tokens; where a cut falls
inside a gold entity, the gold tags of both pieces are repaired into valid BIOES.
"""
from __future__ import annotations

from typing import List, Sequence

import numpy as np
from spacy.attrs import IS_LOWER, LIKE_NUM, ORTH
from spacy.strings import hash_string
from spacy.tokens import Doc

from legal_anon.ml.bioes import B, E, I, S, tag_id, tag_kind, tag_label

_SENT_END = (".", "!", "?")


def segments(doc: Doc, window: int) -> np.ndarray:
    """(start, end) token offsets of sentences, each at most `window` tokens long.

    Sentences come from the doc's sentence starts when it has them (a parser/senter ran
    or the doc was built with sent_starts), otherwise a token "." "!" or "?" ends one (the
    same rule in training and prediction, vectorised over token attributes) unless the
    next token is a number or a lowercase word; longer stretches are cut into windows of
    `window` tokens."""
    n = len(doc)
    if n == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if doc.has_annotation("SENT_START"):
        starts = np.flatnonzero(doc.to_array("SENT_START").astype(np.int64) == 1)
    else:
        feats = doc.to_array([ORTH, IS_LOWER, LIKE_NUM]).astype(np.uint64)
        ends_at = np.isin(feats[:, 0], np.asarray([hash_string(p) for p in _SENT_END], dtype=np.uint64))
        # "Prison No. 10", "no. 49", "e.g. the": a number or lowercase word goes on the sentence
        continues = (feats[1:, 1] == 1) | (feats[1:, 2] == 1)
        starts = np.flatnonzero(ends_at[:-1] & ~continues) + 1
    if starts.size == 0 or starts[0] != 0:
        starts = np.concatenate([[0], starts]).astype(np.int64)
    ends = np.concatenate([starts[1:], [n]])
    lens = ends - starts
    if (lens <= window).all():
        return np.stack([starts, ends], axis=1).astype(np.int64)
    out = []
    for s, e in zip(starts.tolist(), ends.tolist()):
        for w in range(s, e, window):
            out.append((w, min(w + window, e)))
    return np.asarray(out, dtype=np.int64)


def group_by_length(lengths: np.ndarray, max_batch_tokens: int) -> List[np.ndarray]:
    """Sort segments by length; greedy sub-batches with at most max_batch_tokens padded tokens."""
    order = np.argsort(lengths, kind="stable")
    groups: List[np.ndarray] = []
    cur: List[int] = []
    for i in order.tolist():
        if cur and (len(cur) + 1) * lengths[i] > max_batch_tokens:
            groups.append(np.asarray(cur, dtype=np.int64))
            cur = []
        cur.append(i)
    if cur:
        groups.append(np.asarray(cur, dtype=np.int64))
    return groups


def segment_table(docs: Sequence[Doc], window: int) -> np.ndarray:
    """[n, 2] (start, end) of every segment of the docs, as offsets into their tokens
    flattened in doc order (empty docs contribute nothing)."""
    lengths = np.asarray([len(d) for d in docs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    segs = [segments(d, window) + off for d, off in zip(docs, offsets.tolist()) if len(d)]
    return np.concatenate(segs) if segs else np.zeros((0, 2), dtype=np.int64)


def padded_batches(seg: np.ndarray, max_batch_tokens: int):
    """Yield (flat_idx [b, T], mask [b, T]) for the segments of ``segment_table``, grouped
    by length. Every token is in exactly one segment; ``flat_idx`` is 0 at padding."""
    seg_len = seg[:, 1] - seg[:, 0]
    for g in group_by_length(seg_len, max_batch_tokens):
        starts = seg[g, 0]
        lens = seg_len[g]
        ar = np.arange(int(lens.max()), dtype=np.int64)
        mask = ar[None, :] < lens[:, None]
        yield np.where(mask, starts[:, None] + ar[None, :], 0), mask


def repair_segment_edges(gold: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Make padded gold BIOES ids [b, T] valid inside each segment of length ``lengths[i]``.

    Where a sentence or window boundary cuts an entity, the piece before the cut ends
    with B/I and the piece after it starts with I/E: invalid BIOES, whose path the
    constrained CRF scores at -10000 (the loss would be dominated by these cuts). The
    pieces become entities of their own: a leading I -> B and E -> S, a trailing B -> S
    and I -> E (tag ids: ``legal_anon.ml.bioes``)."""
    gold = gold.copy()
    rows = np.arange(gold.shape[0])
    first = gold[:, 0]
    kind, label = tag_kind(first), tag_label(first)
    gold[:, 0] = np.where(kind == I, tag_id(label, B), np.where(kind == E, tag_id(label, S), first))
    last_pos = lengths - 1
    last = gold[rows, last_pos]
    kind, label = tag_kind(last), tag_label(last)
    gold[rows, last_pos] = np.where(kind == B, tag_id(label, S), np.where(kind == I, tag_id(label, E), last))
    return gold
