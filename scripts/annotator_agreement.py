"""Entry point: ``legal_anon.eval.annotator_agreement`` (a second human's TAB figures)."""
import json
from pathlib import Path
from typing import List

import typer

from legal_anon.eval.annotator_agreement import load_and_report, markdown
from legal_anon.eval.evaluate_tab import POS_MODEL_OPTION


def main(
    gold_paths: List[Path] = typer.Argument(..., exists=True, dir_okay=False, help="TAB JSON files (all annotators)"),
    out: Path = typer.Option(Path("reports/annotator_agreement"), "--out", help="Writes OUT.json and OUT.md"),
    pos_model: str = POS_MODEL_OPTION,
):
    """Score one annotator's masks against another's, and an every-mention oracle, with TAB's measures."""
    results = load_and_report(gold_paths, pos_model)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf8")
    md = markdown(results)
    out.with_suffix(".md").write_text(md, encoding="utf8")
    typer.echo(md)


if __name__ == "__main__":
    typer.run(main)
