"""Entity-level NER scores from seqeval, reported next to spaCy's own ``ents_p/r/f``.

Registered as ``@scorers = "legal_anon.seqeval_ner_scorer.v1"`` (entry point group
``spacy_scorers``). Reference it from a pipeline's NER component::

    [components.ner.scorer]
    @scorers = "legal_anon.seqeval_ner_scorer.v1"

and ``spacy train`` (dev scores) and ``spacy evaluate`` compute, besides spaCy's
``ents_p``, ``ents_r``, ``ents_f`` and ``ents_per_type``:

``seqeval_p``, ``seqeval_r``, ``seqeval_f``
    seqeval's micro-averaged entity-level precision / recall / F1, **mode strict,
    scheme IOB2** (an entity counts as correct only when its type, first and last
    token all match the gold entity).
``seqeval_per_type``
    ``{type: {"p", "r", "f", "support"}}`` (support = number of gold entities).
``spans_seqeval_p/r/f`` and ``spans_seqeval_per_type``
    The same figures under the key names that ``spacy evaluate --spans-key seqeval``
    prints as its "SPAN P/R/F" rows and "SPANS (per type)" table and saves with
    ``--output`` (``spacy evaluate`` prints and saves only a fixed list of keys).

Sequences: one per reference doc, over the *reference* tokens, tags ``B-T``/``I-T``/``O``
from ``doc.ents`` (tokens without NER annotation count as ``O``). Predicted entities are
read from the predicted doc; when its tokenization differs from the reference, each
predicted entity is projected onto the reference tokens by its character offsets
(expanded to whole tokens; overlaps resolved longest-first). Examples whose reference has
no NER annotation at all are skipped, as spaCy's ``get_ner_prf`` does. When there is no
gold and no predicted entity, precision/recall/F1 are 0.0 (seqeval's ``zero_division=0``),
never ``None``, so that score weights and training logs always get a number.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Tuple

from spacy.scorer import get_ner_prf
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import filter_spans, registry

from legal_anon.corpus.tags import spans_to_tags

SEQEVAL_MODE = "strict"
SEQEVAL_SCHEME = "IOB2"
PREFIX = "seqeval"
SPANS_ALIAS_PREFIX = "spans_seqeval"


def doc_iob2_tags(doc: Doc) -> List[str]:
    """IOB2 tags of ``doc.ents`` on ``doc``'s tokens (missing annotation -> "O")."""
    return spans_to_tags([(e.start, e.end, e.label_) for e in doc.ents], len(doc), "iob2")


def spans_iob2_tags(doc: Doc, spans: Iterable[Span]) -> List[str]:
    """IOB2 tags of non-overlapping spans of ``doc``."""
    return spans_to_tags([(s.start, s.end, s.label_) for s in spans], len(doc), "iob2")


def _same_tokens(x: Doc, y: Doc) -> bool:
    return len(x) == len(y) and all(a.idx == b.idx and len(a) == len(b) for a, b in zip(x, y))


def example_iob2(eg: Example) -> Tuple[List[str], List[str]]:
    """(gold tags, predicted tags), both over the reference doc's tokens."""
    ref, pred = eg.reference, eg.predicted
    gold = doc_iob2_tags(ref)
    if _same_tokens(pred, ref):
        return gold, doc_iob2_tags(pred)
    projected = []
    for ent in pred.ents:
        span = ref.char_span(ent.start_char, ent.end_char, label=ent.label_, alignment_mode="expand")
        if span is not None and len(span):
            projected.append(span)
    return gold, spans_iob2_tags(ref, filter_spans(projected))


def seqeval_scores(y_true: List[List[str]], y_pred: List[List[str]]) -> Dict[str, Any]:
    """seqeval micro P/R/F (strict, IOB2) and per-type figures for tag sequences."""
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    n_true = sum(t != "O" for seq in y_true for t in seq)
    n_pred = sum(t != "O" for seq in y_pred for t in seq)
    if not y_true or (n_true == 0 and n_pred == 0):
        return {f"{PREFIX}_p": 0.0, f"{PREFIX}_r": 0.0, f"{PREFIX}_f": 0.0, f"{PREFIX}_per_type": {}}
    report = classification_report(
        y_true, y_pred, mode=SEQEVAL_MODE, scheme=IOB2, output_dict=True, zero_division=0
    )
    micro = report.get("micro avg", {"precision": 0.0, "recall": 0.0, "f1-score": 0.0})
    per_type = {
        label: {
            "p": float(v["precision"]),
            "r": float(v["recall"]),
            "f": float(v["f1-score"]),
            "support": int(v["support"]),
        }
        for label, v in sorted(report.items())
        if not label.endswith(" avg")
    }
    return {
        f"{PREFIX}_p": float(micro["precision"]),
        f"{PREFIX}_r": float(micro["recall"]),
        f"{PREFIX}_f": float(micro["f1-score"]),
        f"{PREFIX}_per_type": per_type,
    }


def seqeval_ner_score(examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
    """spaCy's NER scores (``get_ner_prf``) plus seqeval's, see the module docstring."""
    examples = list(examples)
    scores: Dict[str, Any] = dict(get_ner_prf(examples, **kwargs))
    y_true, y_pred = [], []
    for eg in examples:
        if not eg.reference.has_annotation("ENT_IOB"):
            continue
        gold, pred = example_iob2(eg)
        y_true.append(gold)
        y_pred.append(pred)
    seq = seqeval_scores(y_true, y_pred)
    scores.update(seq)
    for key in ("p", "r", "f", "per_type"):
        scores[f"{SPANS_ALIAS_PREFIX}_{key}"] = seq[f"{PREFIX}_{key}"]
    return scores


@registry.scorers("legal_anon.seqeval_ner_scorer.v1")
def make_seqeval_ner_scorer() -> Callable[..., Dict[str, Any]]:
    """Scorer for an NER component: spaCy's ents_* scores plus seqeval (strict, IOB2)."""
    return seqeval_ner_score
