"""Character regions of a text to be replaced, and the arithmetic on them.

The anonymizer works on ``Region``s (start, end, label, where it came from, its pseudonym
group): merged where they overlap or only whitespace separates them, checked against the
output for leaks, and traced back from output to input offsets for repairs.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import List, Optional, Tuple

SOURCE_NER = "ner"
SOURCE_CANDIDATE = "candidate"
SOURCE_OCCURRENCE = "occurrence"
SOURCE_REPAIR = "repair"


@dataclass
class Region:
    """A character range of the input to be replaced."""

    start: int
    end: int
    label: str
    source: str = SOURCE_NER
    group: Optional[str] = None  # pseudonym group key (set during grouping)
    operator: str = "replace"


def strip_whitespace(text: str, start: int, end: int) -> Tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def n_visible(s: str) -> int:
    return sum(1 for c in s if not c.isspace())


class OutputMap:
    """Maps output offsets back to the input, given the replacements in output order."""

    def __init__(self, reps: List[dict]):
        self.reps = reps
        self.new_starts = [r["new_start"] for r in reps]

    def to_input(self, opos: int, start: bool) -> int:
        """An output offset in the input; offsets inside a replacement map to its ends."""
        # the last replacement that begins before opos (at opos, for an end offset: not it)
        i = (bisect_right(self.new_starts, opos) if start else bisect_left(self.new_starts, opos)) - 1
        if i < 0:
            return opos
        rep = self.reps[i]
        if opos < rep["new_end"] or (not start and opos == rep["new_end"]):
            return rep["start"] if start else rep["end"]
        return opos + rep["end"] - rep["new_end"]


def expand_to_words(text: str, start: int, end: int) -> Tuple[int, int]:
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    return start, end


class Coverage:
    def __init__(self, regions: List[Region]):
        self.starts = [r.start for r in regions]
        self.ends = [r.end for r in regions]

    def contains(self, start: int, end: int) -> bool:
        """True if one region covers all of [start, end)."""
        i = bisect_right(self.starts, start) - 1
        return i >= 0 and self.ends[i] >= end


# which region's label a merged region keeps: the NER's, then a copy of an NER decision
# (occurrence), then a low-confidence candidate, then a repair
_PRIORITY = {SOURCE_NER: 0, SOURCE_OCCURRENCE: 1, SOURCE_CANDIDATE: 2, SOURCE_REPAIR: 3}


def merge_regions(regions: List[Region]) -> List[Region]:
    """Sort and merge overlapping regions; the longest NER span gives the label."""
    regions = sorted(regions, key=lambda r: (r.start, -r.end))
    merged: List[List[Region]] = []
    end = -1
    for r in regions:
        if merged and r.start < end:
            merged[-1].append(r)
            end = max(end, r.end)
        else:
            merged.append([r])
            end = r.end
    out = []
    for group in merged:
        if len(group) == 1:
            out.append(group[0])
            continue
        best = min(group, key=lambda r: (_PRIORITY.get(r.source, 3), -(r.end - r.start), r.start))
        out.append(Region(
            min(r.start for r in group), max(r.end for r in group), best.label, best.source,
            operator=best.operator,
        ))
    return out


def merge_adjacent(text: str, regions: List[Region]) -> List[Region]:
    """Join sorted, non-overlapping regions of one label that only whitespace without a
    blank line separates: "Galip" + "Yalman" -> "Galip Yalman" (one mention, one pseudonym)."""
    out: List[Region] = []
    for r in regions:
        prev = out[-1] if out else None
        gap = text[prev.end:r.start] if prev is not None else None
        if prev is not None and prev.label == r.label and not gap.strip() and "\n\n" not in gap:
            best = prev if _PRIORITY.get(prev.source, 9) <= _PRIORITY.get(r.source, 9) else r
            out[-1] = Region(prev.start, r.end, prev.label, best.source, operator=best.operator)
        else:
            out.append(r)
    return out
