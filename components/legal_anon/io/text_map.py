"""The text a pipeline sees in a structured document, and the way back to the document.

A court's file (HTML, and later Word) is not a string: its text sits in many nodes (text
nodes, attributes, runs). ``TextMap`` lays the pieces end to end, with paragraph breaks
between blocks, and remembers for every character which piece, and so which node, it
came from. The anonymizer works on the joined text; ``TextMap.apply`` puts each
replacement back in place: the replacement goes where its span begins, the rest of the
span is removed from the pieces it covers (a name split over two nodes is replaced once),
and a span that crosses a break is masked on both sides of it.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence

BREAK = "\n\n"


@dataclass
class Piece:
    """One node's text: where it sits in the joined text, and how to write it back."""

    start: int
    value: str
    write: Callable[[str], None]

    @property
    def end(self) -> int:
        return self.start + len(self.value)


class TextMap:
    def __init__(self) -> None:
        self._parts: List[str] = []
        self._length = 0
        self.pieces: List[Piece] = []

    def add(self, value: str, write: Callable[[str], None]) -> None:
        """A node's text, with the function that writes its new value."""
        if not value:
            return
        self.pieces.append(Piece(self._length, value, write))
        self._append(value)

    def add_break(self) -> None:
        """A paragraph break between blocks (no node: nothing to write back)."""
        if self._parts and not "".join(self._parts[-2:]).endswith(BREAK):
            self._append(BREAK)

    def _append(self, s: str) -> None:
        self._parts.append(s)
        self._length += len(s)

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def apply(self, replacements: Sequence[Dict]) -> int:
        """Write every piece that a replacement touches; returns how many pieces changed.
        ``replacements``: dicts with ``start``, ``end`` (offsets in ``text``) and
        ``replacement``, not overlapping (the anonymizer's output)."""
        starts = [p.start for p in self.pieces]
        edits: Dict[int, List] = {}  # piece index -> [(local start, local end, new text)]
        for r in sorted(replacements, key=lambda r: r["start"]):
            first = True
            i = max(bisect_right(starts, r["start"]) - 1, 0)
            while i < len(self.pieces) and self.pieces[i].start < r["end"]:
                p = self.pieces[i]
                lo, hi = max(r["start"], p.start), min(r["end"], p.end)
                if lo < hi:
                    edits.setdefault(i, []).append((lo - p.start, hi - p.start, r["replacement"] if first else ""))
                    first = False
                i += 1
        for i, changes in edits.items():
            value, out, pos = self.pieces[i].value, [], 0
            for lo, hi, new in changes:
                out.append(value[pos:lo] + new)
                pos = hi
            out.append(value[pos:])
            self.pieces[i].write("".join(out))
        return len(edits)


def anonymize_mapped(nlp, tmap: TextMap):
    """Run ``nlp`` (its anonymizer added if missing) over the text a document's map lays
    out and write the replacements back into the document's nodes. Returns the doc, its
    replacements and the protected strings that the document's other parts (attributes,
    comments, metadata) must be scrubbed of and finally checked for."""
    from legal_anon.pipeline.anonymizer import ensure_anonymizer

    anonymizer = ensure_anonymizer(nlp)
    doc = nlp(tmap.text)
    replacements = doc._.anon_replacements or []
    tmap.apply(replacements)
    return doc, replacements, anonymizer.protected_strings(doc.text, replacements)
