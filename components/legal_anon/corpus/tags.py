"""Token-level tag schemes (IOB1, IOB2, BIOES) decoded into entity spans, with repairs counted.

Converters and models share this one decoder so that a tag sequence means the same
entities everywhere. Every repair is reported by kind; nothing is changed silently.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, List, Optional, Sequence, Tuple

SCHEMES = ("auto", "iob1", "iob2", "bioes")
# BILUO (spaCy's name for BIOES) prefixes are accepted as synonyms.
_PREFIX_ALIASES = {"B": "B", "I": "I", "E": "E", "S": "S", "L": "E", "U": "S"}

TokenSpan = Tuple[int, int, str]  # token start, token end (exclusive), label

REPAIR_I_WITHOUT_B = "I- tag without a preceding B- of the same type (started a new entity)"
REPAIR_E_WITHOUT_B = "E- tag without a preceding B-/I- of the same type (started a new entity)"
REPAIR_UNCLOSED = "BIOES entity not closed by E- (closed at its last I-/B- token)"


class TagError(ValueError):
    """A tag that no scheme can read (e.g. 'X-PER', 'B-', an unknown integer); ``index`` is
    its position in the sequence when known (converters turn it into a line number)."""

    def __init__(self, message: str, index: Optional[int] = None):
        super().__init__(message)
        self.index = index


def parse_tag(tag: str) -> Tuple[str, Optional[str]]:
    """Split 'B-PER' into ('B', 'PER'); 'O' into ('O', None). Raises TagError."""
    if not isinstance(tag, str):
        raise TagError(f"tag {tag!r} is not a string")
    if tag == "O":
        return "O", None
    prefix, sep, label = tag.partition("-")
    if not sep or not label or prefix not in _PREFIX_ALIASES:
        raise TagError(f"unknown tag {tag!r} (expected 'O' or B-/I-/E-/S-/L-/U- followed by a label)")
    return _PREFIX_ALIASES[prefix], label


def detect_scheme(tags: Iterable[str]) -> str:
    """'bioes' when any E-/S-/L-/U- tag occurs, else 'iob2'."""
    for tag in tags:
        if parse_tag(tag)[0] in ("E", "S"):
            return "bioes"
    return "iob2"


def tags_to_spans(tags: Sequence[str], scheme: str = "auto") -> Tuple[List[TokenSpan], Counter]:
    """Decode a tag sequence into (start, end, label) spans.

    iob1: I- continues an entity of the same type or starts one; B- only separates two
    adjacent entities of the same type (CoNLL-2003's original scheme, nothing to repair).
    iob2: B- starts an entity; an I- that does not continue one of its type is repaired
    into a B- and counted. bioes: also S- (single) and E- (end); unclosed entities and
    stray E-/I- tags are repaired and counted.
    Returns the spans and a Counter of repairs by reason.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; choose one of {SCHEMES}")
    parsed = []
    for i, tag in enumerate(tags):
        try:
            parsed.append(parse_tag(tag))
        except TagError as e:
            raise TagError(str(e), i) from None
    if scheme == "auto":
        scheme = "bioes" if any(p in ("E", "S") for p, _ in parsed) else "iob2"
    if scheme != "bioes" and any(p in ("E", "S") for p, _ in parsed):
        i = next(i for i, (p, _) in enumerate(parsed) if p in ("E", "S"))
        raise TagError(f"tag {tags[i]!r} is not valid in scheme {scheme}", i)
    spans: List[TokenSpan] = []
    repairs: Counter = Counter()
    start: Optional[int] = None
    label: Optional[str] = None

    def close(end: int) -> None:
        nonlocal start, label
        if start is not None:
            spans.append((start, end, label))
        start, label = None, None

    for i, (prefix, lab) in enumerate(parsed):
        continues = start is not None and lab == label and prefix in ("I", "E")
        if scheme == "bioes" and start is not None and not continues:
            repairs[REPAIR_UNCLOSED] += 1
        if prefix == "O":
            close(i)
        elif prefix == "S":
            close(i)
            spans.append((i, i + 1, lab))
        elif prefix == "B":
            close(i)
            start, label = i, lab
        elif prefix == "I":
            if continues:
                continue
            close(i)
            if scheme in ("iob2", "bioes"):
                repairs[REPAIR_I_WITHOUT_B] += 1
            start, label = i, lab
        else:  # E
            if not continues:
                close(i)
                repairs[REPAIR_E_WITHOUT_B] += 1
                start, label = i, lab
            close(i + 1)
    if scheme == "bioes" and start is not None:
        repairs[REPAIR_UNCLOSED] += 1
    close(len(parsed))
    return spans, repairs


def spans_to_tags(spans: Iterable[TokenSpan], length: int, scheme: str = "iob2") -> List[str]:
    """Encode non-overlapping (start, end, label) spans as IOB2 or BIOES tags."""
    if scheme not in ("iob2", "bioes"):
        raise ValueError(f"can only write iob2 or bioes tags, not {scheme!r}")
    tags = ["O"] * length
    for start, end, label in sorted(spans):
        if any(t != "O" for t in tags[start:end]):
            raise ValueError(f"span {(start, end, label)} overlaps another span")
        if scheme == "bioes" and end - start == 1:
            tags[start] = f"S-{label}"
            continue
        tags[start] = f"B-{label}"
        for i in range(start + 1, end):
            tags[i] = f"I-{label}"
        if scheme == "bioes":
            tags[end - 1] = f"E-{label}"
    return tags
