"""Token recall against precision of the anonymizer's output over recall-control thresholds.

    python -m scripts.threshold_curve MODEL GOLD.json --out-dir reports/NAME \
        [--thresholds 0.02,0.05,...] [--target-recall 0.95]

The CRF tagger's ``mask_threshold`` makes the anonymizer also mask tokens outside
``doc.ents`` whose marginal probability of being inside an entity is at least the
threshold. This runs the pipeline once (upstream components, the tagger's prediction with
its marginals), then for each threshold re-sets the candidates and re-runs the
anonymizer, scoring its output with TAB's measures on every annotator of GOLD. Writes
``threshold_curve.json`` (every point, and the recommended threshold: the highest one
whose token recall reaches --target-recall) and ``threshold_curve.png`` (recall against
precision, thresholds annotated; the point without candidates marked "off"), so a user
can pick their own operating point and set it as
``[components.bilstm_crf_ner] mask_threshold``. Choosing the threshold on GOLD and scoring
on GOLD flatters it, so the JSON also holds a leave-one-document-out estimate: each
document scored at the threshold chosen on the others.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

import typer

from legal_anon.corpus.convert_tab import load_tab_json
from legal_anon.eval import tab_gold, tab_metrics as tm, tab_output
from legal_anon.eval.evaluate_tab import POS_MODEL_OPTION

DEFAULT_THRESHOLDS = "0.01,0.02,0.03,0.04,0.05,0.07,0.1,0.15,0.2,0.25,0.3,0.35,0.4,0.45,0.5,0.6,0.7,0.8,0.9"


class TaggedGold(NamedTuple):
    """TAB gold, and its texts run through a pipeline up to its CRF tagger (or through it)."""

    records: List[Dict[str, Any]]
    gold: Dict[str, tab_gold.GoldDocument]
    tagger: Any
    anonymizer: Any
    docs: List[Any]


def tag_gold(model: str, gold_path: Path, mask_threshold: Any, consistency: Optional[bool], pos_model: str,
             batch_size: int = 4, through_tagger: bool = False) -> TaggedGold:
    """Load TAB gold and MODEL (with its anonymizer) and run the gold texts through the
    components before the tagger, or through the tagger too: what the threshold sweeps
    re-anonymize many times."""
    from legal_anon.eval.evaluate_tab import load_for_evaluation
    from legal_anon.pipeline.anonymizer import ensure_anonymizer
    from legal_anon.pipeline.crf_ner import find_crf_tagger

    records = load_tab_json(Path(gold_path))
    gold = tab_gold.gold_from_records(records, tab_gold.load_pos_pipeline(pos_model), str(gold_path))
    nlp = load_for_evaluation(model, "anonymizer", mask_threshold, consistency)
    tagger, anonymizer = find_crf_tagger(nlp), ensure_anonymizer(nlp)
    skip = [anonymizer] if through_tagger else [tagger, anonymizer]
    disable = [name for name, proc in nlp.pipeline if any(proc is p for p in skip)]
    docs = list(nlp.pipe((r["text"] for r in records), batch_size=batch_size, disable=disable))
    return TaggedGold(records, gold, tagger, anonymizer, docs)


def sweep(model: str, gold_path: Path, thresholds: Sequence[Optional[float]], consistency: Optional[bool] = None,
          batch_size: int = 4, pos_model: str = tab_gold.DEFAULT_POS_MODEL,
          ensemble: Sequence[Any] = ()) -> List[Dict[str, Any]]:
    """TAB measures of the anonymizer output at each threshold (None = no candidates).
    ``ensemble``: more taggers of the same labels (other seeds) whose marginals are
    averaged with MODEL's for the recall control; doc.ents stay MODEL's Viterbi path."""
    records, gold, tagger, anonymizer, docs = tag_gold(model, gold_path, 1.0, consistency, pos_model, batch_size)
    scores = [tagger.predict(docs[i:i + batch_size]) for i in range(0, len(docs), batch_size)]
    if ensemble:
        for other in ensemble:
            if tuple(other.labels) != tuple(tagger.labels):
                raise ValueError(f"ensemble: labels {other.labels} differ from {tagger.labels}")
            other.mask_threshold = 1.0
        averaged = []
        for i, own in zip(range(0, len(docs), batch_size), scores):
            others = [t.predict(docs[i:i + batch_size]) for t in ensemble]
            probs = [sum(p) / (1 + len(others)) for p in zip(own.probs, *(o.probs for o in others))]
            averaged.append(own._replace(probs=probs))
        scores = averaged
    points = []
    for threshold in thresholds:
        tagger.mask_threshold = threshold
        for i, batch_scores in zip(range(0, len(docs), batch_size), scores):
            batch = docs[i:i + batch_size]
            if threshold is None:
                for doc in batch:
                    doc.spans.pop(tagger.candidates_key, None)
            tagger.set_annotations(batch, batch_scores if threshold is not None else batch_scores._replace(probs=None))
        system = {r["doc_id"]: tab_output.masked_spans_from_anonymizer(anonymizer(d)) for r, d in zip(records, docs)}
        tab = tm.tab_scores(gold, system)
        point = {"threshold": threshold}
        for key in ("token_recall", "uniform_token_precision", "ER_di", "ER_qi", "mention_recall",
                    "uniform_mention_precision"):
            point[key] = tab[key]["value"]
        point["token_recall_per_type"] = {t: r["value"] for t, r in tab["token_recall_per_type"].items()}
        point["n_candidate_spans"] = sum(len(d.spans.get(tagger.candidates_key, [])) for d in docs)
        point["per_document"] = document_counts(gold, system)
        points.append(point)
    return points


# the measures a held-out choice pools (the keys of tab_scores)
LOO_MEASURES = {"token_recall": tm.token_recall, "uniform_token_precision": tm.precision,
                "ER_di": tm.er_di, "ER_qi": tm.er_qi}


def document_counts(gold: Dict[str, tab_gold.GoldDocument], system: Dict[str, Any]) -> Dict[str, Dict[str, List[float]]]:
    """Each document's [num, den] of the measures that a held-out choice pools."""
    out = {}
    for doc_id, doc in gold.items():
        one_gold, one_system = {doc_id: doc}, {doc_id: system.get(doc_id, [])}
        ratios = {k: measure(one_gold, one_system) for k, measure in LOO_MEASURES.items()}
        out[doc_id] = {k: [r.num, r.den] for k, r in ratios.items()}
    return out


def _pooled(points: List[Dict[str, Any]], doc_ids: Sequence[str]) -> List[Dict[str, Any]]:
    """The curve recomputed on ``doc_ids`` only (thresholds and pooled measures)."""
    curve = []
    for p in points:
        point = {"threshold": p["threshold"]}
        for k in LOO_MEASURES:
            num = sum(p["per_document"][d][k][0] for d in doc_ids)
            den = sum(p["per_document"][d][k][1] for d in doc_ids)
            point[k] = num / den if den else 1.0
        curve.append(point)
    return curve


def leave_one_document_out(points: List[Dict[str, Any]], target_recall: Optional[float],
                           rule: str = "privacy") -> Dict[str, Any]:
    """An honest estimate of an operating point: for each document, choose the threshold on
    all the *other* documents, score that document at it, and pool the held-out counts. The
    in-sample choice chooses and scores on the same documents, so it flatters. Rules:
    ``privacy``: the highest threshold whose recall reaches ``target_recall`` (``recommend``;
    the lowest grid threshold when none does); ``balanced``: the threshold where recall
    and precision are both highest (``balanced``)."""
    if rule not in ("privacy", "balanced"):
        raise ValueError(f"unknown operating-point rule {rule!r}; choose privacy or balanced")
    doc_ids = list(points[0]["per_document"])
    by_threshold = {p["threshold"]: p for p in points}
    lowest = min(p["threshold"] for p in points if p["threshold"] is not None)
    totals = {k: [0.0, 0.0] for k in LOO_MEASURES}
    chosen = {}
    for held_out in doc_ids:
        rest = [d for d in doc_ids if d != held_out]
        curve = _pooled(points, rest)
        threshold = recommend(curve, target_recall) if rule == "privacy" else balanced(curve)
        threshold = lowest if threshold is None else threshold
        chosen[held_out] = threshold
        for k in LOO_MEASURES:
            num, den = by_threshold[threshold]["per_document"][held_out][k]
            totals[k][0] += num
            totals[k][1] += den
    out: Dict[str, Any] = {k: (num / den if den else None) for k, (num, den) in totals.items()}
    out["thresholds_chosen"] = chosen
    return out


def recommend(points: List[Dict[str, Any]], target_recall: float) -> Optional[float]:
    """The highest threshold whose token recall reaches the target (None if none does)."""
    ok = [p["threshold"] for p in points if p["threshold"] is not None and p["token_recall"] >= target_recall]
    return max(ok) if ok else None


def balanced(points: List[Dict[str, Any]]) -> Optional[float]:
    """The threshold whose lower of token recall and precision is highest: the one
    operating point where both are as high as they can be together."""
    curve = [p for p in points if p["threshold"] is not None]
    if not curve:
        return None
    return max(curve, key=lambda p: (min(p["token_recall"], p["uniform_token_precision"]), p["threshold"]))["threshold"]


def plot(points: List[Dict[str, Any]], path: Path, title: str, target_recall: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    curve = [p for p in points if p["threshold"] is not None]
    ax.plot([p["uniform_token_precision"] for p in curve], [p["token_recall"] for p in curve], "o-", label="mask_threshold")
    for p in curve:
        ax.annotate(f"{p['threshold']:g}", (p["uniform_token_precision"], p["token_recall"]),
                    textcoords="offset points", xytext=(4, 4), fontsize=7)
    for p in points:
        if p["threshold"] is None:
            ax.plot([p["uniform_token_precision"]], [p["token_recall"]], "s", color="black", label="off (doc.ents only)")
    ax.axhline(target_recall, color="grey", linestyle="--", linewidth=0.8, label=f"target recall {target_recall:g}")
    ax.set_xlabel("uniform token precision (TAB, all annotators)")
    ax.set_ylabel("token recall (TAB, all annotators)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(
    model: str = typer.Argument(..., help="Pipeline directory or package name with a CRF tagger"),
    gold_path: Path = typer.Argument(..., help="TAB JSON gold file (all annotators)", exists=True, dir_okay=False),
    out_dir: Path = typer.Option(..., "--out-dir", help="Folder for threshold_curve.json and .png"),
    thresholds: str = typer.Option(DEFAULT_THRESHOLDS, "--thresholds", help="Comma-separated probabilities"),
    target_recall: float = typer.Option(0.95, "--target-recall", help="Token recall the recommended threshold must reach"),
    no_consistency: bool = typer.Option(False, "--no-consistency", help="Turn the anonymizer's entity-level consistency off"),
    pos_model: str = POS_MODEL_OPTION,
):
    """Sweep the recall control's threshold on TAB gold; write the curve, its plot and a recommendation."""
    values: List[Optional[float]] = [None] + sorted({float(t) for t in thresholds.split(",") if t.strip()})
    points = sweep(model, gold_path, values, False if no_consistency else None, pos_model=pos_model)
    best = recommend(points, target_recall)
    out_dir.mkdir(parents=True, exist_ok=True)
    held_out = leave_one_document_out(points, target_recall)
    result = {"model": model, "gold": str(gold_path), "pos_model": pos_model, "target_recall": target_recall, "recommended_threshold": best,
              "leave_one_document_out": held_out, "points": points}
    (out_dir / "threshold_curve.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf8")
    plot(points, out_dir / "threshold_curve.png", f"{model} on {gold_path.name}", target_recall)
    typer.echo(f"{'threshold':>9}  {'recall':>6}  {'prec':>6}  {'ER_di':>6}  {'ER_qi':>6}  candidates")
    for p in points:
        t = "off" if p["threshold"] is None else f"{p['threshold']:g}"
        typer.echo(f"{t:>9}  {p['token_recall']:.4f}  {p['uniform_token_precision']:.4f}  {p['ER_di']:.4f}  "
                   f"{p['ER_qi']:.4f}  {p['n_candidate_spans']}")
    typer.echo(f"recommended mask_threshold for token recall >= {target_recall}: {best}")
    picked = sorted(set(held_out["thresholds_chosen"].values()))
    typer.echo(f"threshold chosen without each document (leave one document out: {picked}), that document scored: "
               f"recall {held_out['token_recall']:.4f}  precision {held_out['uniform_token_precision']:.4f}  "
               f"ER_di {held_out['ER_di']:.4f}  ER_qi {held_out['ER_qi']:.4f}")
    typer.echo(f"wrote {out_dir / 'threshold_curve.json'} and {out_dir / 'threshold_curve.png'}")
