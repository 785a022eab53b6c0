"""What a run of ``legal-anon anonymize`` tells its user: the counts it keeps while it runs,
the summary it prints at the end, and what an interrupted run leaves and how to go on."""
from __future__ import annotations

import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

SHOWN_FAILED = 20  # documents listed in the summary; errors.jsonl has every one


@dataclass
class RunStats:
    docs: int = 0
    docs_resumed: int = 0
    docs_split: int = 0
    words: int = 0
    chars: int = 0
    inputs_failed: List[Dict[str, str]] = field(default_factory=list)
    docs_failed: List[Dict[str, str]] = field(default_factory=list)
    labels: Counter = field(default_factory=Counter)
    sources: Counter = field(default_factory=Counter)
    started: float = field(default_factory=time.perf_counter)

    def add(self, done, max_length: int) -> None:
        self.docs += 1
        self.docs_split += done.chars > max_length
        self.words += done.words
        self.chars += done.chars
        self.labels.update(done.labels)
        self.sources.update(done.sources)

    def as_dict(self) -> Dict[str, Any]:
        wall = time.perf_counter() - self.started
        return {
            "docs": self.docs, "docs_resumed": self.docs_resumed, "docs_split": self.docs_split, "words": self.words, "chars": self.chars,
            "inputs_failed": self.inputs_failed, "docs_failed": self.docs_failed,
            "replacements_by_label": dict(self.labels), "replacements_by_source": dict(self.sources),
            "wall_s": round(wall, 3), "words_per_s": round(self.words / wall, 1) if wall > 0 else None,
            "peak_rss_mb": round(peak_rss_mb(), 1),
        }


def peak_rss_mb() -> float:
    """Peak resident memory of this process and its finished children (Linux: KiB)."""
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024.0


def print_summary(s: Dict[str, Any]) -> None:
    err = sys.stderr
    print("", file=err)
    print("legal-anon summary", file=err)
    print(f"  engine:    {s['engine']}", file=err)
    print(f"  inputs:    {s['inputs']} read, {len(s['inputs_failed'])} failed", file=err)
    print(f"  documents: {s['docs']} anonymized ({s['docs_split']} split for length), {s['docs_resumed']} already "
          f"done by an earlier run, {len(s['docs_failed'])} not processed, {s['words']} words, {s['chars']} chars", file=err)
    if s["renamed_doc_ids"]:
        shown = ", ".join(f"{r['doc_id']} -> {r['renamed_to']}" for r in s["renamed_doc_ids"][:5])
        print(f"  renamed:   {len(s['renamed_doc_ids'])} repeated doc_id(s) ({shown}"
              f"{', ...' if len(s['renamed_doc_ids']) > 5 else ''})", file=err)
    by_label = ", ".join(f"{k} {v}" for k, v in sorted(s["replacements_by_label"].items())) or "none"
    by_source = ", ".join(f"{k} {v}" for k, v in sorted(s["replacements_by_source"].items())) or "none"
    print(f"  masked:    {sum(s['replacements_by_label'].values())} spans ({by_label}); by source: {by_source}", file=err)
    print(f"  time:      {s['wall_s']:.2f} s, {s['words_per_s'] or 0:.0f} words/s, peak memory {s['peak_rss_mb']:.0f} MB",
          file=err)
    if s["output"]:
        print(f"  output:    {s['output']} ({', '.join(s['formats'])}; anonymized material only)", file=err)
    if s["review_dir"]:
        print(f"  REVIEW:    {s['review_dir']} holds the ORIGINAL identifiers (review material): "
              "do not share it as anonymized output", file=err)
    for f in s["inputs_failed"]:
        print(f"  FAILED:    {f['input']}: {f['reason']}", file=err)
    for f in s["docs_failed"][:SHOWN_FAILED]:
        print(f"  SKIPPED:   {f['doc_id']} ({f['source']}): {f['reason']}", file=err)
    if len(s["docs_failed"]) > SHOWN_FAILED:
        where = f"{s['output']}/errors.jsonl" if s["output"] else "--summary-json"
        print(f"             ... and {len(s['docs_failed']) - SHOWN_FAILED} more (all in {where})", file=err)


def print_stopped(failure: str, stats: RunStats, output: Optional[Path], engine: str = "local",
                  written: Optional[int] = None) -> None:
    """What an interrupted or failed run leaves, and how to go on. ``written``: the documents
    the writer of this process wrote, when it knows more than the counts (see DocumentWriter)."""
    err = sys.stderr
    docs = stats.docs if written is None else max(stats.docs, written)
    if failure == "interrupted":
        print("\nlegal-anon: interrupted.", file=err)
    else:
        print(f"legal-anon: {failure}", file=err)
    if output is None:
        print(f"legal-anon: {stats.docs} documents written to stdout before it stopped.", file=err)
        return
    late = " (and those the Ray workers finished before they were told: counts reach the driver later)" \
        if engine == "ray" else ""
    print(f"legal-anon: {docs} documents written to {output} in this run{late} ({stats.docs_resumed} were done "
          "already), each marked done in records/; the collections (spans.jsonl, tab_predictions.json, Parquet, "
          "the HTML index, errors.jsonl) are written when a run completes: rerun the same command to resume.", file=err)
