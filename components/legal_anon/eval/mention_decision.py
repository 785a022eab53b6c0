"""A learnt masking decision per candidate string, measured against the marginal alone.

The recall control masks every distinct candidate string (``crf_spans.candidate_spans``,
one decision per string per document) whose highest marginal reaches the threshold. Issue
#21 asks whether a light mention-level classifier decides better, from what the marginal
does not see: the probability of KEEP, the string's count and first position in the
judgment, its casing, "the" before it, its label. This module builds those features for
each candidate string of a tagged document, the gold share of its characters that TAB's
annotators masked (the target), and fits a logistic regression (scikit-learn). Its rows
for training must come from models that never saw the document (``legal_anon.corpus.folds``,
``scripts/train_folds.py``); ``scripts/mention_decision.py`` runs the comparison.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
from spacy.tokens import Doc, Span

from legal_anon.pipeline.crf_spans import entity_probabilities

BASE_FEATURES = ("max_logit", "mean_logit", "keep_logit", "log_count", "log_candidates", "candidate_share",
                 "first_position", "title_case", "upper_case", "has_digit", "log_tokens", "after_the",
                 "stop_share", "alpha_share")


@dataclass
class CandidateString:
    """One distinct candidate string of a document (lowercased), all its candidate spans."""

    doc_id: str
    key: str
    spans: List[Span]
    score: float  # the highest marginal of its spans: what the threshold rule compares
    features: Dict[str, float] = field(default_factory=dict)
    target: Optional[float] = None  # share of its characters that the annotators masked
    weight: float = 1.0  # its words in the document (all occurrences)


def _logit(p: float) -> float:
    p = min(max(float(p), 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def _occurrences(key: str, text: str) -> List:
    """(start, end) of ``key`` in ``text`` as a whole word, ignoring case (offsets in ``text``
    itself: lower-casing can change a string's length, "İ" -> "i̇")."""
    return [m.span() for m in re.finditer(r"(?<!\w)" + re.escape(key) + r"(?!\w)", text, re.IGNORECASE)]


def feature_names(masked_labels: Sequence[str]) -> List[str]:
    return list(BASE_FEATURES) + [f"label_{label}" for label in masked_labels]


def candidate_strings(doc: Doc, doc_id: str, probs: np.ndarray, labels: Sequence[str],
                      keep_labels: Sequence[str], candidates_key: str) -> List[CandidateString]:
    """The candidate strings of ``doc`` (its spans in ``doc.spans[candidates_key]``, with
    their ``attrs["scores"]``) and their features; ``probs`` are the tagger's BIOES marginals."""
    group = doc.spans.get(candidates_key)
    if group is None or not len(group):
        return []
    span_scores = group.attrs.get("scores")
    if span_scores is None or len(span_scores) != len(group):
        raise ValueError(f"{doc_id}: doc.spans[{candidates_key!r}] has no per-span scores")
    ent_probs = entity_probabilities(np.asarray(probs, dtype=np.float32), len(labels))
    keep_columns = [j + 1 for j, label in enumerate(labels) if label in set(keep_labels)]
    keep = ent_probs[:, keep_columns].sum(axis=1) if keep_columns else np.zeros(len(doc), dtype=np.float32)
    masked = [label for label in labels if label not in set(keep_labels)]
    text = doc.text
    by_key: Dict[str, List] = {}
    for span, score in zip(group, span_scores):
        key = span.text.lower().strip()
        if key:
            by_key.setdefault(key, []).append((span, float(score)))
    out = []
    for key, occurrences in by_key.items():
        positions = [start for start, _ in _occurrences(key, text)] or [occurrences[0][0].start_char]
        best = max(occurrences, key=lambda o: o[1])[0]
        scores = [s for _, s in occurrences]
        features = {
            "max_logit": _logit(max(scores)), "mean_logit": float(np.mean([_logit(s) for s in scores])),
            "keep_logit": _logit(max(float(keep[s.start:s.end].max()) for s, _ in occurrences)),
            "log_count": math.log1p(len(positions)), "log_candidates": math.log1p(len(occurrences)),
            "candidate_share": min(1.0, len(occurrences) / len(positions)),
            "first_position": positions[0] / max(len(text), 1),
            "title_case": float(best.text[:1].isupper()), "upper_case": float(best.text.isupper() and len(best.text) > 1),
            "has_digit": float(any(ch.isdigit() for ch in key)), "log_tokens": math.log1p(len(best)),
            "after_the": float(np.mean([text[max(0, p - 4):p].lower() == "the " for p in positions])),
            "stop_share": float(np.mean([t.is_stop for t in best])), "alpha_share": float(np.mean([t.is_alpha for t in best])),
        }
        for label in masked:
            features[f"label_{label}"] = float(best.label_ == label)
        out.append(CandidateString(doc_id, key, [s for s, _ in occurrences], max(scores), features,
                                   weight=float(len(positions) * len(best))))
    return out


def set_targets(strings: List[CandidateString], text: str, annotator_masks: Dict[str, List]) -> None:
    """Each string's target: the share of its non-space characters (every occurrence in
    ``text``) inside the masks, averaged over the document's annotators."""
    masks = [set(c for s, e in spans for c in range(s, e)) for spans in annotator_masks.values()] or [set()]
    for cs in strings:
        chars = [c for start, end in _occurrences(cs.key, text) for c in range(start, end) if not text[c].isspace()]
        chars = chars or [c for s in cs.spans for c in range(s.start_char, s.end_char) if not text[c].isspace()]
        cs.target = float(np.mean([np.mean([c in m for c in chars]) for m in masks])) if chars else 0.0


def matrix(strings: Sequence[CandidateString], names: Sequence[str]) -> np.ndarray:
    return np.array([[cs.features.get(n, 0.0) for n in names] for cs in strings], dtype=np.float64).reshape(-1, len(names))


def fit_decision(strings: Sequence[CandidateString], names: Sequence[str], c: float = 1.0):
    """A standardised L2 logistic regression of "the annotators masked it" (target >= 0.5)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = np.array([cs.target >= 0.5 for cs in strings], dtype=int)
    if len(set(y.tolist())) < 2:
        raise ValueError("fit_decision: the training strings are all masked or all kept")
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))
    return model.fit(matrix(strings, names), y)


def coefficients(model, names: Sequence[str]) -> Dict[str, float]:
    """The regression's weight of each standardised feature (what the decision leans on)."""
    return {n: round(float(w), 3) for n, w in zip(names, model[-1].coef_[0])}
