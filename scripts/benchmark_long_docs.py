"""Peak memory and wall time of one long single-line document through the command line.

The document is the TAB dev judgments joined with their line breaks removed, repeated to
the size asked for (a single line: no paragraph break to split at). Each size runs
``legal-anon anonymize FILE -m MODEL -o OUT -q --summary-json ...`` in a fresh process,
so each peak is that run's own (the summary's ``peak_rss_mb``, ``getrusage``).

    python -m scripts.benchmark_long_docs --sizes 0.1,1,3,5 -m en_legal_anon
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List

import typer

ROOT = Path(__file__).resolve().parent.parent
TAB_DEV = ROOT / "assets" / "tab_subset" / "echr_dev.json"


def long_line(n_chars: int) -> str:
    """``n_chars`` characters of TAB dev judgment text on one line."""
    texts = [" ".join(d["text"].split()) for d in json.loads(TAB_DEV.read_text(encoding="utf8"))]
    base = " ".join(texts) + " "
    return (base * (n_chars // len(base) + 1))[:n_chars]


def run_one(n_chars: int, model: str, extra: List[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.txt"
        path.write_text(long_line(n_chars), encoding="utf8")
        summary = Path(tmp) / "summary.json"
        cmd = [sys.executable, "-m", "legal_anon", "anonymize", str(path), "-m", model, "-o", str(Path(tmp) / "out"),
               "-q", "--summary-json", str(summary), *extra]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0 or not summary.exists():
            raise SystemExit(f"{n_chars} chars: exit {res.returncode}\n{res.stderr[-3000:]}")
        s = json.loads(summary.read_text())
        out = (Path(tmp) / "out" / "text" / "long.txt").read_text(encoding="utf8")
        return {"chars": n_chars, "docs": s["docs"], "wall_s": s["wall_s"], "peak_rss_mb": s["peak_rss_mb"],
                "masked": sum(s["replacements_by_label"].values()), "output_chars": len(out)}


def main(
    sizes: str = typer.Option("0.1,1,5", help="Document sizes in millions of characters"),
    model: str = typer.Option("en_legal_anon", "--model", "-m"),
    out_json: Path = typer.Option(None, "--out", help="Also write the rows as JSON"),
    extra: str = typer.Option("", help="More options for legal-anon, space-separated (e.g. '--max-length 1000000')"),
):
    rows = []
    print(f"{'chars':>10} {'docs':>4} {'wall s':>8} {'peak RSS MB':>12} {'masked':>8}", flush=True)
    for size in sizes.split(","):
        row = run_one(int(float(size) * 1_000_000), model, extra.split())
        rows.append(row)
        print(f"{row['chars']:>10,} {row['docs']:>4} {row['wall_s']:>8.1f} {row['peak_rss_mb']:>12,.0f} {row['masked']:>8,}",
              flush=True)
    if out_json:
        out_json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    typer.run(main)
