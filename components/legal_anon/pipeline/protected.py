"""The strings the anonymizer promises never to leave in its output, and how they are found.

A masked span's text, a distinctive part of a masked person's name, an organisation's short
form: each becomes a *protected string*. Two kinds of search use them, both
case-sensitive and whitespace-tolerant (a line break or a double space inside a multi-word
string still matches):

* ``occurrences(text)``: every occurrence in the input on word boundaries, to be masked too;
* ``leaks(output)``: what the finished output still contains. A string that looks like a
  name or number ("Kowalczyk", "12345/06") counts as a leak anywhere, even inside a longer
  word ("Kowalczyks"); a lowercase word ("editor") and a name part shorter than
  ``min_length`` ("Li") only as a whole word, since "editorial" and "Lithuania" are
  ordinary text.

All the strings are compiled into one regular expression shaped as a trie (strings that
share a prefix share its branch), so the time to scan a text grows with its length, not
with length × number of strings: a long document names more people, and scanning for each
of them separately made the anonymizer quadratic.
"""
from __future__ import annotations

import re
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple

_WS = object()  # trie key for a run of whitespace (matches \s+)
_END = ""  # trie key marking the end of a string


def normalize_whitespace(s: str) -> str:
    return " ".join(s.split())


def _units(s: str) -> Iterator[object]:
    """The characters of ``s`` with each whitespace run as one ``_WS`` unit."""
    in_space = False
    for c in s:
        if c.isspace():
            if not in_space:
                yield _WS
            in_space = True
        else:
            in_space = False
            yield c


def trie_pattern(strings: Iterable[str]) -> Optional[str]:
    """A regex body matching any of ``strings`` (whitespace runs as ``\\s+``), longest first."""
    root: Dict = {}
    for s in strings:
        s = s.strip()
        if not s:
            continue
        node = root
        for unit in _units(s):
            node = node.setdefault(unit, {})
        node[_END] = True
    if not root:
        return None
    return _emit(root)


def _emit(node: Dict) -> str:
    """The pattern for ``node``'s subtree: children before the end marker, so a greedy
    ``(...)?`` prefers the longer string and backtracks to a shorter one."""
    prefix: List[str] = []
    # a chain of single children is a plain literal (no group, no recursion)
    while len(node) == 1 and _END not in node:
        (unit, node), = node.items()
        prefix.append(r"\s+" if unit is _WS else re.escape(unit))
    branches = [
        (r"\s+" if unit is _WS else re.escape(unit)) + _emit(child)
        for unit, child in sorted(node.items(), key=lambda kv: (kv[0] is _WS, str(kv[0])))
        if unit != _END
    ]
    body = ""
    if branches:
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if _END in node:
            body = "(?:" + body + ")?"
    return "".join(prefix) + body


class ProtectedStrings:
    """Protected string -> the region it comes from, with how a leak of it is found."""

    def __init__(self) -> None:
        self._sources: Dict[str, object] = {}  # whitespace-normalised string -> region
        self._whole_word: Dict[str, bool] = {}
        self._patterns: Dict[str, Optional["re.Pattern[str]"]] = {}

    def add(self, s: str, region, whole_word: bool) -> None:
        """Protect ``s``; a string protected both ways keeps the stricter (substring) check."""
        key = normalize_whitespace(s)
        if not key:
            return
        self._sources.setdefault(key, region)
        self._whole_word[key] = self._whole_word.get(key, True) and whole_word
        self._patterns.clear()

    def update(self, other: "ProtectedStrings") -> None:
        for key, region in other._sources.items():
            self.add(key, region, other._whole_word[key])

    def __contains__(self, s: str) -> bool:
        return normalize_whitespace(s) in self._sources

    def __len__(self) -> int:
        return len(self._sources)

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def source(self, s: str):
        """The region a matched string was protected for (any region as a fallback)."""
        return self._sources.get(normalize_whitespace(s)) or next(iter(self._sources.values()))

    def is_whole_word(self, s: str) -> bool:
        return self._whole_word.get(normalize_whitespace(s), True)

    def _pattern(self, kind: str) -> Optional["re.Pattern[str]"]:
        if kind not in self._patterns:
            if kind == "occurrence":
                body = trie_pattern(self._sources)
                pattern = None if body is None else r"(?<!\w)" + body + r"(?!\w)"
            else:
                anywhere = trie_pattern(k for k, w in self._whole_word.items() if not w)
                words = trie_pattern(k for k, w in self._whole_word.items() if w)
                parts = ([anywhere] if anywhere else []) + ([r"(?<!\w)" + words + r"(?!\w)"] if words else [])
                pattern = "|".join(f"(?:{p})" for p in parts) or None
            self._patterns[kind] = None if pattern is None else re.compile(pattern)
        return self._patterns[kind]

    def occurrences(self, text: str) -> Iterator[Tuple[int, int, str]]:
        """(start, end, matched text) of every occurrence in ``text`` on word boundaries."""
        pattern = self._pattern("occurrence")
        if pattern is not None:
            for m in pattern.finditer(text):
                yield m.start(), m.end(), m.group(0)

    def leaks(self, out: str) -> List[Tuple[int, int, str]]:
        """(start, end, matched text) of what ``out`` still contains (see the module docstring)."""
        pattern = self._pattern("leak")
        return [] if pattern is None else [(m.start(), m.end(), m.group(0)) for m in pattern.finditer(out)]

    def found_in(self, s: str) -> bool:
        """True if ``s`` (a replacement) would itself leak a protected string."""
        pattern = self._pattern("leak")
        return pattern is not None and pattern.search(s) is not None


def masked_value(value: str, lower: "ProtectedStrings", mask: str, still_leaks: Callable[[str], bool]) -> str:
    """``value`` (an attribute, a comment, a field code of a document) with every
    case-insensitive match of ``lower`` (the protected strings in lower case) replaced by
    ``mask``; the whole value becomes ``mask`` when lower-casing changes its length (the
    offsets would not line up) or when ``still_leaks`` finds something in the result."""
    folded = value.lower()
    if len(folded) != len(value):
        return mask
    out, pos = [], 0
    for start, end, _ in lower.leaks(folded):
        out.append(value[pos:start] + mask)
        pos = end
    out.append(value[pos:])
    masked = "".join(out)
    return mask if still_leaks(masked) else masked
