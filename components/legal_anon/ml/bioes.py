"""The BIOES tag inventory the CRF taggers work in, and its id arithmetic (in one place).

Tag ids: 0 is "O"; entity label ``l`` (its index in the tagger's sorted labels) with
position ``k`` (B=0, I=1, E=2, S=3) is ``1 + 4 * l + k``. ``bioes_tags`` lists the tags in
that order; ``tag_kind`` / ``tag_label`` / ``tag_id`` are the only places that compute it.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

B, I, E, S = 0, 1, 2, 3  # positions inside an entity (O has kind -1)
N_POSITIONS = 4


def tag_kind(ids: np.ndarray) -> np.ndarray:
    """B/I/E/S position of each tag id, -1 for O."""
    ids = np.asarray(ids)
    return np.where(ids > 0, (ids - 1) % N_POSITIONS, -1)


def tag_label(ids: np.ndarray) -> np.ndarray:
    """Label index of each tag id, -1 for O."""
    ids = np.asarray(ids)
    return np.where(ids > 0, (ids - 1) // N_POSITIONS, -1)


def tag_id(label: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """The tag id of label index ``label`` at position ``kind`` (B/I/E/S)."""
    return 1 + N_POSITIONS * np.asarray(label) + np.asarray(kind)


def bioes_tags(labels: Sequence[str]) -> List[str]:
    """Tag inventory for entity labels: 'O' first, then B/I/E/S for each label in order
    (so that ``bioes_tags(labels)[tag_id(l, k)]`` is position k of ``labels[l]``)."""
    tags = ["O"]
    for label in labels:
        tags.extend(f"{p}-{label}" for p in "BIES")
    return tags


def allowed_transitions(tags: Sequence[str]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean (start[K], trans[K, K], end[K]) of what BIOES allows."""
    parsed = [(t, None) if t == "O" else (t[0], t[2:]) for t in tags]
    n = len(tags)
    start = np.zeros(n, dtype=bool)
    end = np.zeros(n, dtype=bool)
    trans = np.zeros((n, n), dtype=bool)
    for j, (pj, lj) in enumerate(parsed):
        start[j] = pj in ("O", "B", "S")
        end[j] = pj in ("O", "E", "S")
        for i, (pi, li) in enumerate(parsed):
            if pi in ("O", "E", "S"):
                trans[i, j] = pj in ("O", "B", "S")
            else:  # B or I: must continue the same entity
                trans[i, j] = pj in ("I", "E") and lj == li
    return start, trans, end


def is_valid_bioes(tag_seq: Sequence[str]) -> bool:
    """True if the tag sequence is a well-formed BIOES sequence."""
    if not tag_seq:
        return True
    full = bioes_tags(sorted({t[2:] for t in tag_seq if t != "O"}))
    start, trans, end = allowed_transitions(full)
    ids = [full.index(t) for t in tag_seq]
    if not start[ids[0]] or not end[ids[-1]]:
        return False
    return all(trans[a, b] for a, b in zip(ids, ids[1:]))
