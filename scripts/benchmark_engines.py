"""Words/s of the batch command line's engines on the same documents, in one run.

    python -m scripts.benchmark_engines --model en_legal_anon --from-json assets/tab_subset/echr_train.json \
        --from-json assets/tab_subset/echr_dev.json --n-sample 25 --out reports/benchmark_engines.json

Writes the documents once as .txt files, then runs ``python -m legal_anon anonymize`` over
them with the local engine (``--n-process 1`` and ``2``) and the Ray engine (``--workers 1``
and ``2``, a local cluster started by the command), each into a fresh output folder, one
after the other. Reports per run: wall time of the whole command (start-up, model and
cluster start included), the command's own processing time and words/s, and checks that
every run wrote byte-identical anonymized texts.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import typer

from legal_anon.corpus.convert_tab import load_tab_json

RUNS = [("local", ["--n-process", "1"]), ("local", ["--n-process", "2"]),
        ("ray", ["--engine", "ray", "--workers", "1"]), ("ray", ["--engine", "ray", "--workers", "2"])]


def write_documents(folder: Path, from_json: List[Path], n_sample: int, seed: int, repeat: int = 1) -> int:
    """The documents as .txt files, ``repeat`` times over (copies under other names: more
    work for the same kind of text, to separate start-up costs from throughput)."""
    from legal_anon.corpus.sample import generate_split

    docs = [d for path in from_json for d in load_tab_json(path)]
    docs += generate_split(seed, "bench", n_sample) if n_sample else []
    folder.mkdir(parents=True, exist_ok=True)
    for r in range(repeat):
        for i, d in enumerate(docs):
            (folder / f"{r:02d}-{i:05d}.txt").write_text(d["text"], encoding="utf8")
    return len(docs) * repeat


def texts(out: Path) -> Dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "text").iterdir())}


def main(
    model: str = typer.Option("en_legal_anon", "--model", "-m"),
    from_json: List[Path] = typer.Option([], "--from-json", help="TAB-schema JSON files whose documents are used"),
    n_sample: int = typer.Option(0, "--n-sample", help="Synthetic sample judgments added"),
    seed: int = typer.Option(2024, "--seed"),
    repeat: int = typer.Option(1, "--repeat", help="Write the documents this many times (under other names)"),
    batch_size: int = typer.Option(16, "--batch-size", "-b"),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the report (JSON) here"),
):
    tmp = Path(tempfile.mkdtemp(prefix="legal_anon_engines_"))
    try:
        n_docs = write_documents(tmp / "in", from_json, n_sample, seed, repeat)
        if n_docs < 200:
            typer.echo(f"benchmark_engines: warning: only {n_docs} documents (< 200)", err=True)
        rows, reference = [], None
        for engine, extra in RUNS:
            label = f"{engine} {' '.join(extra[-2:])}"
            run_dir = tmp / label.replace(" ", "_").replace("-", "")
            cmd = [sys.executable, "-m", "legal_anon", "anonymize", str(tmp / "in"), "-m", model, "-o", str(run_dir / "out"),
                   "-f", "text,json,tab", "-b", str(batch_size), "-q", "--summary-json", str(run_dir / "summary.json"), *extra]
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            wall = time.perf_counter() - start
            if proc.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
            summary = json.loads((run_dir / "summary.json").read_text())
            same = reference is None or texts(run_dir / "out") == reference
            reference = reference or texts(run_dir / "out")
            rows.append({"run": label, "documents": summary["docs"], "words": summary["words"],
                         "wall_s_total": round(wall, 2), "wall_s_processing": summary["wall_s"],
                         "words_per_s_total": round(summary["words"] / wall, 1),
                         "words_per_s_processing": summary["words_per_s"], "same_texts_as_first_run": same})
            typer.echo(f"{label:22s} {summary['docs']} docs {summary['words']} words  total {wall:7.1f} s "
                       f"({summary['words'] / wall:8.0f} words/s)  processing {summary['wall_s']:7.1f} s "
                       f"({summary['words_per_s']:8.0f} words/s)  same texts: {same}")
        report = {"model": model, "documents": n_docs, "batch_size": batch_size, "runs": rows,
                  "command": "python -m scripts.benchmark_engines " + " ".join(sys.argv[1:])}
        if out:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf8")
        if not all(r["same_texts_as_first_run"] for r in rows):
            raise typer.Exit(1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    typer.run(main)
