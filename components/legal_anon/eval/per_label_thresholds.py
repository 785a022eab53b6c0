"""Would a threshold per entity type buy precision at the recall target? An experiment.

    python -m scripts.per_label_thresholds MODEL GOLD.json [--target-recall 0.95]

The recall control masks low-confidence candidates with one ``mask_threshold``. Candidates
of some types are far less often right than others (ORG ones much less than LOC ones), so
a per-type threshold might keep recall and mask fewer wrong tokens. This runs the pipeline
once, takes every candidate run at the lowest grid threshold with its type and score, and
raises one type's threshold at a time (greedy coordinate ascent) while token recall stays
at the target, keeping the step that gains the most precision. The thresholds are chosen
on GOLD itself: the result is an optimistic bound on what per-type thresholds can do, not a
setting to ship.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple

import numpy as np

from legal_anon.eval import tab_gold, tab_metrics as tm, tab_output
from legal_anon.eval.threshold_curve import tag_gold

GRID = (0.01, 0.02, 0.03, 0.04, 0.05, 0.07, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1.01)
Figures = Tuple[float, float, float]  # token recall, uniform token precision, ER_qi


def greedy_per_label(labels: Sequence[str], evaluate: Callable[[Dict[str, float]], Figures], start: float,
                     target_recall: float, grid: Sequence[float] = GRID) -> List[Dict[str, Any]]:
    """Steps of the ascent: from ``start`` for every label, raise the one label's threshold
    (to the next grid value) that gains the most precision with recall >= target; stop
    when no step gains. The first step is the start, the last the result."""
    thresholds = {label: start for label in labels}
    recall, precision, er_qi = evaluate(thresholds)
    steps = [{"raised": None, "thresholds": dict(thresholds), "token_recall": recall,
              "precision": precision, "ER_qi": er_qi}]
    while True:
        best = None
        for label in labels:
            i = grid.index(thresholds[label])
            if i + 1 == len(grid):
                continue
            trial = {**thresholds, label: grid[i + 1]}
            r, p, q = evaluate(trial)
            if r >= target_recall and p > (best["precision"] if best else precision):
                best = {"raised": label, "thresholds": trial, "token_recall": r, "precision": p, "ER_qi": q}
        if best is None:
            return steps
        thresholds, precision = best["thresholds"], best["precision"]
        steps.append(best)


def search(model: str, gold_path: Path, target_recall: float = 0.95, start: float = 0.02,
           pos_model: str = tab_gold.DEFAULT_POS_MODEL, batch_size: int = 4) -> List[Dict[str, Any]]:
    """``greedy_per_label`` over MODEL's anonymizer output on TAB GOLD (all annotators)."""
    from spacy.tokens import Span, SpanGroup

    records, gold, tagger, anonymizer, docs = tag_gold(model, gold_path, GRID[0], None, pos_model, batch_size,
                                                       through_tagger=True)
    key = tagger.candidates_key
    candidates = [(list(d.spans[key]), [float(s) for s in d.spans[key].attrs["scores"]]) for d in docs]

    def evaluate(thresholds: Dict[str, float]) -> Figures:
        system = {}
        for record, doc, (spans, scores) in zip(records, docs, candidates):
            kept = [(span, s) for span, s in zip(spans, scores) if s >= thresholds[span.label_]]
            doc = doc.copy()
            doc.spans[key] = SpanGroup(doc, name=key, spans=[Span(doc, sp.start, sp.end, label=sp.label_)
                                                             for sp, _ in kept])
            doc.spans[key].attrs["scores"] = np.asarray([s for _, s in kept], dtype=np.float32)
            system[record["doc_id"]] = tab_output.masked_spans_from_anonymizer(anonymizer(doc))
        return (tm.token_recall(gold, system).value, tm.precision(gold, system).value,
                tm.er_qi(gold, system).value)

    return greedy_per_label(list(tagger.labels), evaluate, start, target_recall)
