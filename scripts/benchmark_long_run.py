"""Memory over a long run: many short synthetic judgments, each with new case numbers and
names, through one loaded pipeline (as one Ray actor or one local run sees an archive).

Prints the resident memory every ``--every`` documents, the BiLSTM featurizer's cache size
(and how often it was emptied) and spaCy's string store size. With ``--memory-zone`` every
chunk of ``--every`` documents runs inside ``nlp.memory_zone()`` (spaCy 3.8), which frees
the strings and lexemes the chunk added once its records (plain data) are made.

    python -m scripts.benchmark_long_run --docs 10000 --every 1000 -m en_legal_anon --memory-zone
"""
from __future__ import annotations

import contextlib
import json
import random
import time
from pathlib import Path
from typing import Iterator, Optional

import typer

GIVEN = ["Galip", "Ayşe", "John", "Maria", "Oleg", "Fatma", "Piotr", "Ingrid", "Tomasz", "Elena"]
CITY = ["Bartın", "Oslo", "Kraków", "Lyon", "Izmir", "Tallinn", "Porto", "Graz"]


def documents(n: int, seed: int = 0) -> Iterator[str]:
    """Short judgments; every one names a new person and cites new case numbers, so the
    distinct words keep growing (about 5 new ones per document)."""
    rng = random.Random(seed)
    for i in range(n):
        surname = "".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(3)).title()
        yield (f"The case originated in an application (no. {10000 + i}/{rng.randint(90, 99)}) lodged by "
               f"Mr {rng.choice(GIVEN)} {surname}, born in {rng.randint(1930, 1990)} and living in "
               f"{rng.choice(CITY)}. He was represented by Ms {surname[::-1].title()}, a lawyer, file "
               f"{rng.randint(10**6, 10**7)}-{i}. On {rng.randint(1, 28)} May {rng.randint(1995, 2010)} the court dismissed it.")


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(
    n_docs: int = typer.Option(10_000, "--docs"),
    every: int = typer.Option(1_000, "--every"),
    model: str = typer.Option("en_legal_anon", "--model", "-m"),
    batch_size: int = typer.Option(16, "--batch-size"),
    memory_zone: bool = typer.Option(False, "--memory-zone/--no-memory-zone"),
    cache_words: Optional[int] = typer.Option(None, help="Cap of the featurizer's word cache (default: the model's)"),
    out_json: Optional[Path] = typer.Option(None, "--out"),
):
    import spacy

    from legal_anon.engines.local import record_from_doc
    from legal_anon.io.sources import InputDoc
    from legal_anon.pipeline.split_long import pipe_long

    nlp = spacy.load(model)
    tagger = [p for _, p in nlp.pipeline if hasattr(p, "model") and "prepare" in p.model.attrs]
    featurizer = tagger[0].model.attrs["prepare"].keywords.get("featurizer") if tagger else None
    if featurizer is not None and cache_words:
        featurizer.max_words = cache_words
    docs = documents(n_docs)
    rows = []
    start = time.perf_counter()
    print(f"{'docs':>8} {'RSS MB':>8} {'cache words':>12} {'cache resets':>12} {'strings':>10} {'ms/doc':>7}", flush=True)
    done = 0
    while done < n_docs:
        chunk = [next(docs) for _ in range(min(every, n_docs - done))]
        t = time.perf_counter()
        zone = nlp.memory_zone() if memory_zone else contextlib.nullcontext()
        with zone:
            items = [InputDoc(f"d{done + i}", text, "synthetic") for i, text in enumerate(chunk)]
            records = [record_from_doc(item, doc) for doc, item in
                       pipe_long(nlp, ((i.text, i) for i in items), as_tuples=True, batch_size=batch_size)]
        assert len(records) == len(chunk)
        done += len(chunk)
        row = {"docs": done, "rss_mb": round(rss_mb(), 1), "cache_words": len(featurizer) if featurizer else None,
               "cache_resets": getattr(featurizer, "resets", None), "strings": len(nlp.vocab.strings),
               "ms_per_doc": round(1000 * (time.perf_counter() - t) / len(chunk), 2)}
        rows.append(row)
        print(f"{row['docs']:>8,} {row['rss_mb']:>8,.0f} {str(row['cache_words']):>12} {str(row['cache_resets']):>12} "
              f"{row['strings']:>10,} {row['ms_per_doc']:>7.2f}", flush=True)
    print(f"{n_docs:,} documents in {time.perf_counter() - start:.0f} s (memory zones: {memory_zone})")
    if out_json:
        out_json.write_text(json.dumps({"memory_zone": memory_zone, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    typer.run(main)
