"""How far do two human annotators of the same judgment agree, in TAB's own measures?

    python -m scripts.annotator_agreement GOLD.json [GOLD.json ...] [--out reports/annotator_agreement]

A system is scored against one annotator's masking decisions; what score a *second human*
gets against the first is the ceiling those figures can be read against. For every
document with at least two annotators and every ordered pair (reference A, other B), B's
masked mentions (DIRECT and QUASI) are scored as a system output against A alone with
``tab_metrics`` (the same forgiven words, the same micro-averaging), and the pairs are
summed; the typed NER's agreement (exact span and type of the mentions to mask) is what
seqeval's strict F1 would give a second human. A second row, *every annotated mention*, scores an oracle that finds each of A's
mentions exactly, NO_MASK ones included, and masks them all: the precision a perfect
detector keeps when it does not know which mentions the annotator chose to leave. Both
rows together separate what detection can buy from what the masking decision costs.
"""
from __future__ import annotations

import itertools
from typing import Any, Dict, Iterable, Mapping, Set, Tuple

from legal_anon.eval import tab_gold, tab_metrics as tm
from legal_anon.eval.tab_gold import GoldDocument

MEASURES = ("token_recall", "uniform_token_precision", "ER_di", "ER_qi", "mention_recall")


def single_annotator(doc: GoldDocument, annotator: str) -> GoldDocument:
    """``doc`` with only ``annotator``'s entities (the reference of one pair)."""
    return GoldDocument(doc.doc_id, doc.text, [e for e in doc.entities if e.annotator == annotator], doc.forgiven)


def multi_annotated(gold: Mapping[str, GoldDocument]) -> Dict[str, GoldDocument]:
    """The documents that at least two annotators annotated."""
    return {d: doc for d, doc in gold.items() if len(doc.annotators) >= 2}


def annotator_pairs(gold: Mapping[str, GoldDocument]):
    """(document, reference annotator, other annotator) for every ordered pair."""
    for doc in multi_annotated(gold).values():
        for ref, other in itertools.permutations(doc.annotators, 2):
            yield doc, ref, other


def _sum_scores(runs: Iterable[Mapping[str, Any]]) -> Dict[str, Dict[str, float]]:
    out = {k: {"num": 0.0, "den": 0.0} for k in MEASURES}
    for report in runs:
        for k in MEASURES:
            out[k]["num"] += report[k]["num"]
            out[k]["den"] += report[k]["den"]
    for r in out.values():
        r["value"] = r["num"] / r["den"] if r["den"] else None
    return out


def typed_mentions(doc: GoldDocument, annotator: str) -> Set[Tuple[int, int, str]]:
    """An annotator's mentions that need masking, as (start, end, entity type)."""
    return {(*span, e.entity_type) for e in doc.entities if e.annotator == annotator for span in e.mentions_to_mask}


def agreement(gold: Mapping[str, GoldDocument]) -> Dict[str, Any]:
    """A second annotator's TAB figures against the first, over every ordered pair, and
    their exact-span, exact-type agreement on the mentions to mask: what seqeval's strict
    F1 of the typed NER is with a second human as the system (over all ordered pairs the
    reference and system counts are the same multiset, so P = R = F1)."""
    runs, hit, n_ref = [], 0, 0
    for doc, ref, other in annotator_pairs(gold):
        key = f"{doc.doc_id}:{ref}"
        runs.append(tm.tab_scores({key: single_annotator(doc, ref)}, {key: doc.annotator_masks().get(other, [])}))
        a, b = typed_mentions(doc, ref), typed_mentions(doc, other)
        hit += len(a & b)
        n_ref += len(a)
    return {"n_documents": len(multi_annotated(gold)), "n_pairs": len(runs), **_sum_scores(runs),
            "typed_f1": {"num": hit, "den": n_ref, "value": hit / n_ref if n_ref else None}}


def every_mention_oracle(gold: Mapping[str, GoldDocument]) -> Dict[str, Any]:
    """Mask every mention each annotator annotated (NO_MASK included), scored against that
    annotator: recall 1 by construction; its precision is what not knowing the decision costs."""
    runs = []
    for doc_id, doc in gold.items():
        for annotator in doc.annotators:
            ref = single_annotator(doc, annotator)
            key = f"{doc_id}:{annotator}"
            runs.append(tm.tab_scores({key: ref}, {key: [m for e in ref.entities for m in e.mentions]}))
    return {"n_documents": len(gold), "n_pairs": len(runs), **_sum_scores(runs)}


def report(gold: Mapping[str, GoldDocument]) -> Dict[str, Any]:
    return {"second_annotator": agreement(gold), "every_annotated_mention": every_mention_oracle(gold)}


def markdown(results: Mapping[str, Mapping[str, Any]]) -> str:
    """One table per gold file: rows = second annotator / every annotated mention."""
    lines = []
    for source, rep in results.items():
        lines += [f"### {source}", "",
                  "| system scored against annotator A | docs | pairs | token recall | uniform token precision "
                  "| ER_di | ER_qi | typed F1 |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for row, name in (("second_annotator", "annotator B's masks"),
                          ("every_annotated_mention", "every mention A annotated (NO_MASK too)")):
            r = rep[row]
            cells = [_pct(r[k]["value"]) for k in ("token_recall", "uniform_token_precision", "ER_di", "ER_qi")]
            cells.append(_pct(r["typed_f1"]["value"]) if "typed_f1" in r else "n/a")
            lines.append(f"| {name} | {r['n_documents']} | {r['n_pairs']} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}"


def load_and_report(paths, pos_model: str) -> Dict[str, Any]:
    pos_nlp = tab_gold.load_pos_pipeline(pos_model)
    return {str(p): report(tab_gold.load_gold(p, pos_nlp)) for p in paths}
