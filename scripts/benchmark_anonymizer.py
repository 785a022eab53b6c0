"""How the anonymizer's time grows with document length: it must grow linearly.

    python -m scripts.benchmark_anonymizer assets/tab_subset/echr_dev.json \
        --words 2000,8000,32000,128000 [--repeats 3]

A long judgment is built from the TAB judgments' texts and their gold masked mentions (all
annotators), copy after copy until it has the number of words asked for. In copy ``i`` every
masked mention's text gets the suffix ``i`` ("Yalman" -> "Yalman3"), so that a longer
document names more distinct people, places and numbers, as a long real file would: the
number of strings to protect grows with the length, which is what made the anonymizer
quadratic. Only the anonymizer runs (no model): the spans are given. Prints a table of
seconds and microseconds per word (median of ``--repeats``); linear time shows as a flat
last column.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import List, Tuple

import typer

from legal_anon.corpus.convert_tab import load_tab_json
from legal_anon.corpus.tab import MASKED_IDENTIFIER_TYPES
from legal_anon.pipeline.anonymizer import Anonymizer

Span = Tuple[int, int, str]


def judgment_pieces(path: Path) -> List[Tuple[str, List[Span]]]:
    """(text, masked mentions) of each judgment, mentions of every annotator, no overlaps."""
    pieces = []
    for record in load_tab_json(path):
        spans = set()
        for layer in record["annotations"].values():
            for m in layer["entity_mentions"]:
                if m["identifier_type"] in MASKED_IDENTIFIER_TYPES:
                    spans.add((m["start_offset"], m["end_offset"], m["entity_type"]))
        kept, end = [], -1
        for s in sorted(spans):
            if s[0] >= end:
                kept.append(s)
                end = s[1]
        pieces.append((record["text"], kept))
    return pieces


def long_document(pieces: List[Tuple[str, List[Span]]], n_words: int) -> Tuple[str, List[Span]]:
    """Copies of the judgments, each copy's masked strings made distinct by a suffix."""
    parts: List[str] = []
    spans: List[Span] = []
    offset = words = copy = 0
    while words < n_words:
        for text, mentions in pieces:
            pos = 0
            for start, end, label in mentions:
                parts.append(text[pos:start])
                offset += start - pos
                new = text[start:end] + str(copy)
                spans.append((offset, offset + len(new), label))
                parts.append(new)
                offset += len(new)
                pos = end
            parts.append(text[pos:] + "\n\n")
            offset += len(text) - pos + 2
            words += len(text.split())
            if words >= n_words:
                break
        copy += 1
    return "".join(parts), spans


def main(
    tab_json: Path = typer.Argument(..., help="TAB JSON judgments (e.g. assets/tab_subset/echr_dev.json)"),
    words: str = typer.Option("2000,8000,32000,128000", help="document lengths in words"),
    repeats: int = typer.Option(3, help="runs per length (median reported)"),
    operator: str = typer.Option("pseudonym", help="PERSON operator"),
):
    pieces = judgment_pieces(tab_json)
    anonymizer = Anonymizer(None, operators={"PERSON": operator})
    print("| words | characters | spans | seconds | µs per word |")
    print("|---|---|---|---|---|")
    for n in (int(w) for w in words.split(",")):
        text, spans = long_document(pieces, n)
        n_words = len(text.split())
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            anonymizer.anonymize(text, spans)
            times.append(time.perf_counter() - t0)
        t = statistics.median(times)
        print(f"| {n_words:,} | {len(text):,} | {len(spans):,} | {t:.3f} | {1e6 * t / n_words:.1f} |", flush=True)


if __name__ == "__main__":
    typer.run(main)
