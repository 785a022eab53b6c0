"""Entry point: ``legal_anon.eval.per_label_thresholds`` (an optimistic bound, chosen on GOLD)."""
import json
from pathlib import Path
from typing import Optional

import typer

from legal_anon.eval.evaluate_tab import POS_MODEL_OPTION
from legal_anon.eval.per_label_thresholds import search


def main(
    model: str = typer.Argument(..., help="Pipeline directory or package name with a CRF tagger"),
    gold_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="TAB JSON gold file (all annotators)"),
    target_recall: float = typer.Option(0.95, "--target-recall"),
    start: float = typer.Option(0.02, "--start", help="The global threshold every type starts from"),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the steps as JSON"),
    pos_model: str = POS_MODEL_OPTION,
):
    """Greedy per-type thresholds on GOLD: how much precision they buy at the recall target."""
    steps = search(model, gold_path, target_recall, start, pos_model)
    for step in steps:
        raised = "start" if step["raised"] is None else f"{step['raised']} -> {step['thresholds'][step['raised']]:g}"
        typer.echo(f"{raised:<22} recall {step['token_recall']:.4f}  precision {step['precision']:.4f}  "
                   f"ER_qi {step['ER_qi']:.4f}")
    typer.echo(f"thresholds: {json.dumps(steps[-1]['thresholds'])}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(steps, indent=2) + "\n", encoding="utf8")


if __name__ == "__main__":
    typer.run(main)
