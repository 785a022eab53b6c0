"""Issue #21's learnt masking decision: does a mention-level classifier beat the marginal?

    python -m scripts.mention_decision TRAIN.json DEV.json --folds corpus/folds \
        --fold-models training/folds --models training/ablation/distilled_keep_s0/model-best,... \
        --out docs/mention_decision

Training rows: each fold model (``scripts/train_folds.py``) tags the training judgments
of its own fold, which it never saw; every candidate string at the floor threshold
(``--floor``) becomes a row of ``legal_anon.eval.mention_decision`` features with its gold
target. A logistic regression is fitted on them. Then each model of ``--models`` (the
seeds trained on all of TRAIN) tags DEV, and three masking rules are swept over DEV, each
through the packaged anonymizer and TAB's measures on every annotator:

* ``threshold``: the shipped recall control (``threshold_curve.sweep``);
* ``string max``: the candidate strings at the floor kept when their highest marginal
  reaches the threshold (the same decision, on the floor's longer runs);
* ``classifier``: the same strings kept when the regression's probability reaches it.

Each rule's privacy point (recall >= --target-recall) and balanced point are chosen
leave-one-document-out; nothing of the classifier was chosen on DEV. Writes OUT.md,
OUT.json and OUT.png (the curves of seed-mean recall against precision).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import typer

from legal_anon.eval.evaluate_tab import POS_MODEL_OPTION
from scripts.ablation import fmt, mean_sd

RULE_THRESHOLDS = {
    "threshold": [0.01, 0.02, 0.03, 0.04, 0.05, 0.07, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9],
    "classifier": [0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
}
RULE_THRESHOLDS["string max"] = RULE_THRESHOLDS["threshold"]
KEYS = ("token_recall", "uniform_token_precision", "ER_di", "ER_qi")


def tag(model: str, records: List[Dict[str, Any]], floor: float, batch_size: int = 4):
    """MODEL's pipeline up to its tagger over the records' texts; candidates at ``floor``.
    Returns (docs, per-doc marginals, tagger, anonymizer)."""
    from legal_anon.eval.evaluate_tab import load_for_evaluation
    from legal_anon.pipeline.anonymizer import ensure_anonymizer
    from legal_anon.pipeline.crf_ner import find_crf_tagger

    nlp = load_for_evaluation(model, "anonymizer", floor, None)
    tagger, anonymizer = find_crf_tagger(nlp), ensure_anonymizer(nlp)
    disable = [name for name, proc in nlp.pipeline if proc is tagger or proc is anonymizer]
    docs = list(nlp.pipe((r["text"] for r in records), batch_size=batch_size, disable=disable))
    probs = []
    for i in range(0, len(docs), batch_size):
        out = tagger.predict(docs[i:i + batch_size])
        tagger.set_annotations(docs[i:i + batch_size], out)
        probs.extend(out.probs)
    return docs, probs, tagger, anonymizer


def strings_of(records, docs, probs, tagger, gold) -> List[Any]:
    from legal_anon.eval.mention_decision import candidate_strings, set_targets

    rows = []
    for rec, doc, p in zip(records, docs, probs):
        strings = candidate_strings(doc, rec["doc_id"], p, tagger.labels, tagger.keep_labels, tagger.candidates_key)
        set_targets(strings, rec["text"], gold[rec["doc_id"]].annotator_masks())
        rows.extend(strings)
    return rows


def training_rows(train_json: Path, folds_dir: Path, fold_models: Path, floor: float, pos_nlp) -> List[Any]:
    """Candidate strings of every training judgment, tagged by the fold model that never saw it."""
    from legal_anon.corpus.convert_tab import load_tab_json
    from legal_anon.eval import tab_gold

    spec = json.loads((folds_dir / "folds.json").read_text(encoding="utf8"))
    records = {r["doc_id"]: r for r in load_tab_json(train_json)}
    rows = []
    for i, ids in enumerate(spec["folds"]):
        missing = [d for d in ids if d not in records]
        if missing:
            raise typer.BadParameter(f"{folds_dir / 'folds.json'}: fold {i} names doc_ids not in {train_json}: {missing[:3]}")
        fold_records = [records[d] for d in ids]
        gold = tab_gold.gold_from_records(fold_records, pos_nlp, str(train_json))
        docs, probs, tagger, _ = tag(str(fold_models / f"fold{i}" / "model-best"), fold_records, floor)
        fold_rows = strings_of(fold_records, docs, probs, tagger, gold)
        typer.echo(f"  fold {i}: {len(fold_records)} judgments, {len(fold_rows)} candidate strings "
                   f"({sum(r.target >= 0.5 for r in fold_rows)} masked by the annotators)")
        rows.extend(fold_rows)
    return rows


def decision_points(docs, rows, values, thresholds, records, gold, anonymizer, candidates_key) -> List[Dict[str, Any]]:
    """TAB measures of the anonymizer output when the strings whose value reaches each threshold are masked."""
    from legal_anon.eval import tab_metrics as tm, tab_output
    from legal_anon.eval.threshold_curve import document_counts

    by_doc: Dict[str, List] = {}
    for row, value in zip(rows, values):
        by_doc.setdefault(row.doc_id, []).append((row, float(value)))
    points = []
    for t in thresholds:
        for rec, doc in zip(records, docs):
            doc.spans[candidates_key] = [s for row, v in by_doc.get(rec["doc_id"], []) if v >= t for s in row.spans]
        system = {r["doc_id"]: tab_output.masked_spans_from_anonymizer(anonymizer(d)) for r, d in zip(records, docs)}
        scores = tm.tab_scores(gold, system)
        point = {"threshold": t, **{k: scores[k]["value"] for k in KEYS}}
        point["per_document"] = document_counts(gold, system)
        points.append(point)
    return points


def operating_points(points, target_recall) -> Dict[str, Any]:
    from legal_anon.eval.threshold_curve import leave_one_document_out

    privacy = leave_one_document_out(points, target_recall, "privacy")
    balance = leave_one_document_out(points, None, "balanced")
    return {"privacy": {k: privacy[k] for k in KEYS}, "balanced": {k: balance[k] for k in KEYS},
            "curve": [{k: p[k] for k in ("threshold", *KEYS)} for p in points]}


def ranking(rows, values) -> Dict[str, float]:
    """How well a value ranks the strings the annotators masked (word-weighted)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.array([r.target >= 0.5 for r in rows], dtype=int)
    w = np.array([r.weight for r in rows])
    if len(set(y.tolist())) < 2:
        return {"auc": None, "average_precision": None}
    return {"auc": float(roc_auc_score(y, values, sample_weight=w)),
            "average_precision": float(average_precision_score(y, values, sample_weight=w))}


def gradient_boosted_trees():
    """The non-linear counterpart of the logistic regression (scikit-learn's histogram GBM)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_depth=3, learning_rate=0.05, max_iter=300, random_state=0)


def within_training(rows, names) -> Dict[str, float]:
    """Word-weighted AUC on the training strings themselves, 5-fold cross-validated by
    judgment: the marginal alone, the logistic regression, and gradient-boosted trees. Set
    beside the dev AUC, it says whether the features carry the *training* annotators' decision."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold, cross_val_predict

    from legal_anon.eval.mention_decision import fit_decision, matrix

    y = np.array([r.target >= 0.5 for r in rows], dtype=int)
    w = np.array([r.weight for r in rows])
    x, groups = matrix(rows, names), [r.doc_id for r in rows]
    logistic = fit_decision(rows, names)  # its configuration, refitted per fold by cross_val_predict
    out = {"marginal": float(roc_auc_score(y, [r.score for r in rows], sample_weight=w))}
    for name, model in (("logistic", logistic), ("trees", gradient_boosted_trees())):
        p = cross_val_predict(model, x, y, groups=groups, cv=GroupKFold(5), method="predict_proba")[:, 1]
        out[name] = float(roc_auc_score(y, p, sample_weight=w))
    return out


def markdown(result: Dict[str, Any]) -> str:
    lines = [
        "# The learnt masking decision (issue #21): a mention-level classifier against the marginal", "",
        f"Written by `spacy project run mention-decision` (`scripts/mention_decision.py`). Training rows: "
        f"{result['train_strings']} candidate strings of the {result['train_judgments']} training judgments at the "
        f"floor {result['floor']}, each tagged by a fold model that never saw it ({result['k']} folds); "
        f"{result['train_masked']} of them masked by the annotators. Scored on TAB dev (anonymizer output, every "
        f"annotator), {len(result['seeds'])} seeds of `{result['variant']}`, mean ± sd; operating points chosen "
        "leave-one-document-out, so the figures are held out.", "",
        "| rule | privacy recall | privacy precision | ER_qi | balanced recall | balanced precision | string AUC | string AP |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for rule, s in result["summary"].items():
        auc = fmt(s["auc"]) if s.get("auc") else "–"
        ap = fmt(s["average_precision"]) if s.get("average_precision") else "–"
        lines.append(f"| {rule} | {fmt(s['privacy_token_recall'])} | {fmt(s['privacy_uniform_token_precision'])} | "
                     f"{fmt(s['privacy_ER_qi'])} | {fmt(s['balanced_token_recall'])} | "
                     f"{fmt(s['balanced_uniform_token_precision'])} | {auc} | {ap} |")
    inside = result["training_auc_cross_validated"]
    lines += ["", "Ranking the strings the annotators masked (word-weighted AUC). On the training judgments, "
              "cross-validated by judgment (5 folds): the marginal alone "
              f"{inside['marginal']:.3f}, the logistic regression {inside['logistic']:.3f}, gradient-boosted trees "
              f"{inside['trees']:.3f}. On dev, fitted on all training strings: the marginal "
              f"{fmt(result['summary']['string max']['auc'])}, the logistic regression "
              f"{fmt(result['summary']['classifier']['auc'])}, the trees {fmt(result['dev_auc_trees'])}."]
    lines += ["", "Classifier weights (standardised features; positive = more likely masked):", "",
              "| feature | weight |", "|---|---|"]
    lines += [f"| {n} | {w:+.3f} |" for n, w in sorted(result["coefficients"].items(), key=lambda kv: -abs(kv[1]))]
    return "\n".join(lines) + "\n"


def plot(result: Dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for rule, curves in result["curves"].items():
        recall = np.mean([[p["token_recall"] for p in c] for c in curves], axis=0)
        precision = np.mean([[p["uniform_token_precision"] for p in c] for c in curves], axis=0)
        ax.plot(recall, precision, marker=".", label=rule)
    ax.axvline(result["target_recall"], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("token recall (TAB dev, seed mean)")
    ax.set_ylabel("token precision")
    ax.set_title("Masking rules over their thresholds")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(
    train_json: Path = typer.Argument(..., exists=True, dir_okay=False, help="TAB JSON the folds were cut from"),
    dev_json: Path = typer.Argument(..., exists=True, dir_okay=False, help="TAB JSON to score on"),
    folds_dir: Path = typer.Option(Path("corpus/folds"), "--folds", exists=True, file_okay=False),
    fold_models: Path = typer.Option(Path("training/folds"), "--fold-models", exists=True, file_okay=False),
    models: str = typer.Option(..., "--models", help="Comma-separated models trained on all of TRAIN (seeds)"),
    variant: str = typer.Option("distilled_keep", "--variant", help="Their variant's name, for the table"),
    floor: float = typer.Option(0.01, "--floor", help="Candidates at this threshold are the strings decided on"),
    target_recall: float = typer.Option(0.95, "--target-recall"),
    pos_model: str = POS_MODEL_OPTION,
    out: Path = typer.Option(Path("docs/mention_decision"), "--out", help="Writes OUT.md, OUT.json, OUT.png"),
):
    """Compare the recall control's threshold with a learnt masking decision on DEV."""
    from legal_anon.corpus.convert_tab import load_tab_json
    from legal_anon.eval import tab_gold
    from legal_anon.eval.mention_decision import coefficients, feature_names, fit_decision, matrix
    from legal_anon.eval.threshold_curve import sweep

    pos_nlp = tab_gold.load_pos_pipeline(pos_model)
    train_rows = training_rows(train_json, folds_dir, fold_models, floor, pos_nlp)
    labels = sorted({n for r in train_rows for n in r.features if n.startswith("label_")})
    names = feature_names([n[len("label_"):] for n in labels])
    decision = fit_decision(train_rows, names)
    inside = within_training(train_rows, names)
    trees = gradient_boosted_trees().fit(matrix(train_rows, names), [int(r.target >= 0.5) for r in train_rows])
    dev_trees_auc = []
    dev_records = load_tab_json(dev_json)
    dev_gold = tab_gold.gold_from_records(dev_records, pos_nlp, str(dev_json))
    per_rule: Dict[str, List[Dict[str, Any]]] = {"threshold": [], "string max": [], "classifier": []}
    for model in [m for m in models.split(",") if m]:
        shipped = sweep(model, dev_json, RULE_THRESHOLDS["threshold"], pos_model=pos_model)
        per_rule["threshold"].append(operating_points(shipped, target_recall))
        docs, probs, tagger, anonymizer = tag(model, dev_records, floor)
        rows = strings_of(dev_records, docs, probs, tagger, dev_gold)
        raw = np.array([r.score for r in rows])
        learnt = decision.predict_proba(matrix(rows, names))[:, 1]
        dev_trees_auc.append(ranking(rows, trees.predict_proba(matrix(rows, names))[:, 1])["auc"])
        for rule, values in (("string max", raw), ("classifier", learnt)):
            points = decision_points(docs, rows, values, RULE_THRESHOLDS[rule], dev_records, dev_gold, anonymizer,
                                     tagger.candidates_key)
            per_rule[rule].append({**operating_points(points, target_recall), **ranking(rows, values)})
        typer.echo(f"  {model}: " + "; ".join(
            f"{rule} privacy {r[-1]['privacy']['token_recall']:.3f}/{r[-1]['privacy']['uniform_token_precision']:.3f} "
            f"balanced {r[-1]['balanced']['token_recall']:.3f}/{r[-1]['balanced']['uniform_token_precision']:.3f}"
            for rule, r in per_rule.items()))
    summary = {}
    for rule, seeds in per_rule.items():
        s = {f"{point}_{k}": mean_sd([x[point][k] for x in seeds]) for point in ("privacy", "balanced") for k in KEYS}
        for k in ("auc", "average_precision"):
            if seeds and seeds[0].get(k) is not None:
                s[k] = mean_sd([x[k] for x in seeds])
        summary[rule] = s
    result = {
        "variant": variant, "seeds": models.split(","), "floor": floor, "target_recall": target_recall,
        "k": json.loads((folds_dir / "folds.json").read_text(encoding="utf8"))["k"],
        "train_judgments": len({r.doc_id for r in train_rows}), "train_strings": len(train_rows),
        "train_masked": sum(r.target >= 0.5 for r in train_rows),
        "features": names, "coefficients": coefficients(decision, names), "summary": summary,
        "training_auc_cross_validated": inside, "dev_auc_trees": mean_sd(dev_trees_auc),
        "curves": {rule: [x["curve"] for x in seeds] for rule, seeds in per_rule.items()},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{out}.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf8")
    Path(f"{out}.md").write_text(markdown(result), encoding="utf8")
    plot(result, Path(f"{out}.png"))
    typer.echo(markdown(result))


if __name__ == "__main__":
    typer.run(main)
