"""Inference speed of a pipeline on a .spacy corpus: wall-clock words/s and words per CPU-second.

    python -m scripts.benchmark_bilstm_crf training/conll/model-best corpus/conll_dev.spacy

`spacy benchmark speed` reports wall-clock words/s only; on a machine shared with other
jobs that measures the load as much as the model, so this script also reports the words
per second of CPU time used by the process (with torch_threads = 1 that is the speed of
one unloaded core). Docs are rebuilt from their words (no annotations carried over).
"""
import time
from pathlib import Path

import spacy
import typer
from spacy.tokens import Doc, DocBin


def main(
    model: str = typer.Argument(...),
    data: Path = typer.Argument(...),
    batch_size: int = typer.Option(256),
    repeats: int = typer.Option(3),
) -> None:
    nlp = spacy.load(model)
    docs = [
        Doc(nlp.vocab, words=[t.text for t in d], spaces=[bool(t.whitespace_) for t in d])
        for d in DocBin().from_disk(data).get_docs(nlp.vocab)
    ]
    n = sum(len(d) for d in docs)
    list(nlp.pipe(docs[:100], batch_size=batch_size))  # warm-up
    best_wall, best_cpu = 0.0, 0.0
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        list(nlp.pipe(docs, batch_size=batch_size))
        dt, dc = time.perf_counter() - t, time.process_time() - c
        best_wall, best_cpu = max(best_wall, n / dt), max(best_cpu, n / dc)
        print(f"{n} words: wall {dt:.2f}s = {n / dt:,.0f} words/s; process CPU {dc:.2f}s = {n / dc:,.0f} words/CPU-s")
    print(f"best: {best_wall:,.0f} words/s wall, {best_cpu:,.0f} words per CPU-second")


if __name__ == "__main__":
    typer.run(main)
