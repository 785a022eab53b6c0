"""Train one model per fold of ``legal_anon.corpus.folds`` (cross-fitted predictions).

    python -m scripts.train_folds corpus/folds configs/bilstm_crf_distilled_keep.cfg \
        --dev corpus/dev.spacy --vectors training/vectors/glove50 --out training/folds

Fold i's model trains on ``corpus/folds/fold{i}_train.spacy`` (every judgment but fold i's)
and is selected on DEV, as the packaged model is; it is written to OUT/fold{i}/model-best
with its log in OUT/fold{i}.train.log. A fold whose model-best exists is kept, so an
interrupted run resumes. The fold models predict the training judgments they did not see:
``legal_anon.eval.mention_decision`` learns the masking decision from those predictions.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer

from scripts.ablation import run


def main(
    folds_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="Output folder of legal_anon.corpus.folds"),
    config: Path = typer.Argument(..., exists=True, dir_okay=False, help="Training config (one per variant)"),
    dev: Path = typer.Option(..., "--dev", exists=True, dir_okay=False, help="Dev corpus (.spacy) for model selection"),
    vectors: str = typer.Option(..., "--vectors", help="Vectors (as --paths.vectors)"),
    out: Path = typer.Option(Path("training/folds"), "--out", help="One folder per fold"),
    seed: int = typer.Option(0, "--seed", help="Training seed (--system.seed)"),
):
    """Train CONFIG on each fold's training corpus."""
    spec = json.loads((folds_dir / "folds.json").read_text(encoding="utf8"))
    for i in range(spec["k"]):
        corpus = folds_dir / f"fold{i}_train.spacy"
        if not corpus.exists():
            raise typer.BadParameter(f"{corpus} is missing: rerun legal_anon.corpus.folds")
        dest = out / f"fold{i}"
        if (dest / "model-best").exists():
            typer.echo(f"fold {i}: {dest / 'model-best'} exists, kept")
            continue
        start = time.time()
        run([sys.executable, "-m", "spacy", "train", str(config), "--output", str(dest), "--paths.train", str(corpus),
             "--paths.dev", str(dev), "--paths.vectors", vectors, "--system.seed", str(seed)],
            out / f"fold{i}.train.log")
        typer.echo(f"fold {i}: trained in {time.time() - start:.0f} s -> {dest / 'model-best'}")


if __name__ == "__main__":
    typer.run(main)
