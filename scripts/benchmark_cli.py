"""Benchmark the batch command line on a folder of >= 100 judgments.

Writes one .txt file per document into a folder (synthetic sample judgments generated
with a fixed seed, or the documents of TAB-schema JSON files given with --from-json),
then runs ``python -m legal_anon anonymize FOLDER`` in a child process and reports wall
time, words/s and peak memory (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``: the
largest child, i.e. the CLI process; with --n-process > 1 the workers are its children
and the CLI's own summary adds them).

    python -m scripts.benchmark_cli --model en_legal_anon --n-docs 200 --out reports/benchmark_cli.json
    python -m scripts.benchmark_cli --from-json ../shared/data/tab/echr_train.json --out reports/benchmark_tab.json
"""
from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

import typer

from legal_anon.corpus.convert_tab import load_tab_json


def write_folder(folder: Path, n_docs: int, seed: int, from_json: List[Path]) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    if from_json:
        docs = []
        for path in from_json:
            docs.extend(load_tab_json(path))
        docs = docs[:n_docs] if n_docs else docs
    else:
        from legal_anon.corpus.sample import generate_split

        docs = generate_split(seed, "bench", n_docs)
    for d in docs:
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(d["doc_id"]))
        (folder / f"{name}.txt").write_text(d["text"], encoding="utf8")
    return len(docs)


def main(
    model: str = typer.Option("en_legal_anon", "--model", "-m", help="Pipeline name or path"),
    n_docs: int = typer.Option(200, "--n-docs", help="Documents to write (0 = all of --from-json)"),
    seed: int = typer.Option(2024, "--seed"),
    from_json: List[Path] = typer.Option([], "--from-json", help="TAB-schema JSON to take the documents from"),
    folder: Optional[Path] = typer.Option(None, "--folder", help="Input folder (default: a temporary one)"),
    output: Optional[Path] = typer.Option(None, "--output-dir", help="CLI output folder (default: temporary)"),
    batch_size: int = typer.Option(16, "--batch-size", "-b"),
    n_process: int = typer.Option(1, "--n-process", "-n"),
    formats: str = typer.Option("text,json,tab", "--format", "-f"),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the benchmark report (JSON) here"),
):
    tmp = Path(tempfile.mkdtemp(prefix="legal_anon_bench_"))
    try:
        in_dir = folder or tmp / "in"
        out_dir = output or tmp / "out"
        n = write_folder(in_dir, n_docs, seed, from_json)
        if n < 100:
            typer.echo(f"benchmark_cli: warning: only {n} documents (< 100)", err=True)
        summary_path = tmp / "summary.json"
        cmd = [sys.executable, "-m", "legal_anon", "anonymize", str(in_dir), "-m", model, "-o", str(out_dir),
               "-f", formats, "-b", str(batch_size), "-n", str(n_process), "-q", "--summary-json", str(summary_path)]
        typer.echo("benchmark_cli: " + " ".join(cmd), err=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd)
        wall = time.perf_counter() - t0
        peak_child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
        words = summary.get("words", 0)
        report = {
            "model": model,
            "documents": summary.get("docs", 0),
            "documents_written": n,
            "source": [str(p) for p in from_json] or f"synthetic sample judgments (seed {seed})",
            "words": words,
            "chars": summary.get("chars", 0),
            "batch_size": batch_size,
            "n_process": n_process,
            "formats": formats,
            "exit_status": proc.returncode,
            "wall_s_total": round(wall, 2),  # process start, model load and all documents
            "wall_s_processing": summary.get("wall_s"),  # from the CLI: reading, NER, anonymizing, writing
            "words_per_s_total": round(words / wall, 1) if wall else None,
            "words_per_s_processing": summary.get("words_per_s"),
            "peak_rss_mb": round(peak_child_mb, 1),
            "peak_rss_mb_cli": summary.get("peak_rss_mb"),
            "masked": summary.get("replacements_by_label"),
            "inputs_failed": len(summary.get("inputs_failed", [])),
            "docs_failed": len(summary.get("docs_failed", [])),
        }
        typer.echo(json.dumps(report, indent=2))
        if out:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(report, indent=2), encoding="utf8")
        raise typer.Exit(proc.returncode)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    typer.run(main)
