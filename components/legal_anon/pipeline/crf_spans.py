"""What a CRF tagger's output becomes on a Doc: entity spans from the Viterbi tag ids
(``doc.ents``, whitespace tokens trimmed) and, for the recall control, runs of tokens whose
marginal probability of being inside an entity reaches a threshold (masking candidates).
"""
from typing import List, Sequence

import numpy as np
from spacy.tokens import Doc, Span

from legal_anon.corpus.tags import tags_to_spans
from legal_anon.ml.bioes import B, E, N_POSITIONS, S, bioes_tags, tag_kind, tag_label


def decode_bioes(doc: Doc, ids: np.ndarray, labels: Sequence[str]) -> List[Span]:
    """Entity spans from BIOES tag ids (``legal_anon.ml.bioes``)."""
    if not len(ids) or not labels:
        return []
    kind, label = tag_kind(ids), tag_label(ids)
    starts = np.flatnonzero((kind == B) | (kind == S))
    ends = np.flatnonzero((kind == E) | (kind == S)) + 1
    # Viterbi is constrained to valid BIOES, so starts and ends pair up in order.
    if len(starts) == len(ends) and (len(starts) == 0 or (ends > starts).all()):
        return [Span(doc, s, e, label=labels[int(label[s])]) for s, e in zip(starts.tolist(), ends.tolist())]
    spans, _ = tags_to_spans([bioes_tags(labels)[i] for i in ids.tolist()], scheme="bioes")
    return [Span(doc, s, e, label=lab) for s, e, lab in spans]


def entity_probabilities(probs: np.ndarray, n_labels: int) -> np.ndarray:
    """[n, K] BIOES tag marginals -> [n, 1 + n_labels]: P(outside), then P(inside an
    entity of label j) summed over its B/I/E/S tags."""
    per_label = probs[:, 1:].reshape(len(probs), n_labels, N_POSITIONS).sum(axis=2)
    return np.concatenate([probs[:, :1], per_label], axis=1)


def candidate_spans(doc: Doc, probs: np.ndarray, labels: Sequence[str], threshold: float,
                    keep_labels: Sequence[str] = ()):
    """Runs of consecutive tokens outside doc.ents (not whitespace) whose probability of
    being inside a *masked* entity is >= threshold, without the function words at their
    edges (``trim_function_words``); each labelled with the masked label of
    highest summed probability over the run, scored by the run's highest probability.
    ``keep_labels`` (a tagger trained with KEEP mentions) are entities that are not masked:
    their probability counts as outside."""
    if not len(doc) or not labels:
        return [], np.zeros((0,), dtype=np.float32)
    ent_probs = entity_probabilities(np.asarray(probs, dtype=np.float32), len(labels))
    keep = [j + 1 for j, label in enumerate(labels) if label in set(keep_labels)]
    if keep:
        ent_probs[:, keep] = 0.0
    inside = ent_probs[:, 1:].sum(axis=1)
    free = doc.to_array("ENT_IOB") == 2  # O (set_ents default="outside")
    space = np.fromiter((t.is_space for t in doc), dtype=bool, count=len(doc))
    hit = (inside >= threshold) & free & ~space
    spans, scores = [], []
    if hit.any():
        edges = np.diff(np.concatenate([[0], hit.astype(np.int8), [0]]))
        for s, e in zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()):
            s, e = trim_function_words(doc, s, e)
            if s == e:
                continue
            best = int(ent_probs[s:e, 1:].sum(axis=0).argmax())
            spans.append(Span(doc, s, e, label=labels[best]))
            scores.append(float(inside[s:e].max()))
    return spans, np.asarray(scores, dtype=np.float32)


def trim_function_words(doc: Doc, start: int, end: int):
    """A candidate run without the stop words and punctuation at its edges ("the", "of",
    ",", "(": what a run of low-confidence tokens picks up around a mention, and what
    identifies no one); number words stay ("five"). Returns (start, end), equal when the
    run was nothing else (a lone "and" between two dates)."""
    def function_word(t) -> bool:
        return (t.is_stop or t.is_punct) and not t.like_num

    while start < end and function_word(doc[start]):
        start += 1
    while end > start and function_word(doc[end - 1]):
        end -= 1
    return start, end


def strip_space_tokens(doc: Doc, ents: List[Span]) -> List[Span]:
    """Whitespace tokens ("\n\n" between paragraphs) never begin or end an entity.

    A tagger trained on text without such tokens (CoNLL) can otherwise label them when
    it meets the paragraph breaks of a judgment; entities of only whitespace are dropped.
    """
    out = []
    for ent in ents:
        start, end = ent.start, ent.end
        while start < end and doc[start].is_space:
            start += 1
        while end > start and doc[end - 1].is_space:
            end -= 1
        if start < end:
            out.append(ent if (start, end) == (ent.start, ent.end) else Span(doc, start, end, label=ent.label))
    return out
