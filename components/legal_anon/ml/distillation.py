"""Distillation of a general NER into the tagger: the auxiliary loss of a teacher head.

A distilled tagger (``legal_anon.CharCNNBiLSTMCRF.v3``) outputs, after its BIOES emission
scores, one column per (type, B/I) id of a teacher NER's entities
(``legal_anon.ml.stacked_features.ner_feature_ids``). Training reads the teacher's
entities from the reference docs (``legal_anon.corpus.teacher`` wrote them once) and adds
a softmax cross-entropy over those columns to the CRF loss, so the shared BiLSTM learns
what the stacked tagger gets from running en_core_web_sm: that "London" is a place and
"British" a nationality. At prediction the columns are ignored and the teacher never runs.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np
from spacy.training import Example


def teacher_ids(eg: Example, spans_key: str, labels: Dict[str, int]) -> np.ndarray:
    """The teacher's (type, B/I) id of every token of ``eg.predicted`` (0 = outside),
    from ``eg.reference.spans[spans_key]`` aligned to the predicted tokens."""
    if spans_key not in eg.reference.spans:
        raise ValueError(
            f"distillation: the training doc has no doc.spans[{spans_key!r}] with the teacher's entities. "
            "Train on the teacher corpus (python -m legal_anon.corpus.teacher IN.spacy OUT.spacy; "
            "`spacy project run teacher-corpus`).")
    ids = np.zeros((len(eg.predicted),), dtype=np.int64)
    other = len(labels)
    for span in eg.get_aligned_spans_y2x(list(eg.reference.spans[spans_key]), allow_overlap=True):
        if span.end <= span.start:
            continue
        j = labels.get(span.label_, other)
        ids[span.start] = 1 + 2 * j
        ids[span.start + 1:span.end] = 2 + 2 * j
    return ids


def teacher_loss(logits: Sequence[np.ndarray], gold: Sequence[np.ndarray], weight: float,
                 norm: float) -> Tuple[float, List[np.ndarray]]:
    """``weight`` × the softmax cross-entropy of the teacher ids, summed over tokens and
    divided by ``norm`` (the CRF loss's number of segments, so both losses are per segment),
    and its gradient with respect to the logits (one array per doc)."""
    total, grads = 0.0, []
    for z, y in zip(logits, gold):
        z = np.asarray(z, dtype=np.float64)
        if not len(z):
            grads.append(np.zeros(z.shape, dtype=np.float32))
            continue
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        rows = np.arange(len(y))
        total -= float(log_p[rows, y].sum())
        d = np.exp(log_p)
        d[rows, y] -= 1.0
        grads.append((d * weight / norm).astype(np.float32))
    return total * weight / norm, grads
