"""The ``anonymizer`` pipeline component: turns detected spans into masked text.

Put it after the NER. For every entity in ``doc.ents`` (or in ``doc.spans[spans_key]``),
and every low-confidence candidate the NER put into ``doc.spans[candidates_key]`` (the
recall control of ``bilstm_crf_ner``/``crf_ner``'s ``mask_threshold``), it applies the
operator configured for the entity's label and writes

* ``doc._.anonymized``  - the anonymized text (str)
* ``doc._.anon_replacements`` - one dict per replaced region, sorted by position::

      {"start", "end",            # character offsets in doc.text
       "new_start", "new_end",    # character offsets in doc._.anonymized
       "label", "operator", "text", "replacement",
       "source"}                  # "ner" | "candidate" | "occurrence" | "repair"

Operators (``operators = {"PERSON": "pseudonym", ...}``, the rest use ``default_operator``):

``replace``    ``[PERSON]`` (the default)
``pseudonym``  ``PERSON_1``, ``PERSON_2`` ... consistent within a document: every mention
               of the same entity gets the same pseudonym, short forms included
               ("Mr Yalman" -> the same as "Mr Galip Yalman")
``mask``       every non-space character becomes ``mask_char`` (length preserved)
``redact``     removed (replaced by ``redact_text``, "" by default)
``hash``       ``PERSON_<hex>``: HMAC-SHA256 keyed with a salt given at runtime
               (environment variable ``salt_env`` or the file ``salt_file``); the salt is
               never stored in the pipeline, and a missing salt is an error
``keep``       left as it is (not masked)

Guarantees (for every masked span whose text has at least ``min_length`` non-space
characters):

1. overlapping spans are merged into one replaced region;
2. with ``mask_all_occurrences`` (default) every other occurrence of a masked surface
   string in the document - case-sensitive, on word boundaries - is masked too, with the
   label (and pseudonym) of the span it copies, recorded with ``source="occurrence"``;
3. a final check re-scans the output for every masked surface string, as a plain
   substring; anything found is traced back to the input, masked (``source="repair"``)
   and the output rebuilt. A replacement string never contains masked text. If the
   check cannot be satisfied an ``AnonymizationError`` is raised - the component never
   returns output that contains the text of a span it masked.

Entity-level consistency (``entity_consistency``, default on; TAB counts an entity as
protected only when every mention is masked; see ``legal_anon.names``): every distinctive
part of a detected person's name (given names and surname, as written and in capitals,
possessives included) is masked wherever it occurs; initials before a masked surname
("G. Yalman") and a parenthesised abbreviation or original-language name after a masked
organisation ("(ECJ)", "(Svea hovrätt)") join the mention, and the abbreviation is masked
everywhere; same-label spans that only whitespace separates become one mention (a name the
NER split keeps one pseudonym), and a lone given name joins the one person it belongs to.

A span that starts with a personal title and a capitalised word ("Mr Popescu") is treated
as a person (label ``titled_names_as``, default PERSON) whatever label the NER gave it, so
that it gets the person's pseudonym.

Shorter strings (a lone "A" or "15") are masked where detected but are not propagated
or re-checked document-wide: they occur everywhere as ordinary text. So are low-confidence
candidates that do not look like a name or number ("and", "his son": no capital letter or
digit, or only stop words).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
from bisect import bisect_right
from dataclasses import dataclass, replace as dc_replace
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

from spacy.language import Language
from spacy.tokens import Doc

from .names import (  # noqa: F401  (name_tokens, is_short_form: the anonymizer's name API)
    ORGANISATION_LABELS,
    acronym_expansions,
    adjacent_extensions,
    is_abbreviation,
    organisation_short_forms,
    assign_groups,
    distinctive_name_parts,
    is_person,
    is_short_form,
    is_titled_name,
    looks_like_a_name,
    name_tokens,
    surname_parts,
)

OPERATORS = ("replace", "pseudonym", "mask", "redact", "hash", "keep")
SOURCE_NER = "ner"
SOURCE_CANDIDATE = "candidate"
SOURCE_OCCURRENCE = "occurrence"
SOURCE_REPAIR = "repair"
FALLBACK_REPLACEMENT = "[MASKED]"

if not Doc.has_extension("anonymized"):
    Doc.set_extension("anonymized", default=None)
if not Doc.has_extension("anon_replacements"):
    Doc.set_extension("anon_replacements", default=None)


class AnonymizationError(RuntimeError):
    """Raised when the output could not be made free of masked text."""


class MissingSaltError(ValueError):
    """The hash operator is configured but no salt was given."""


@dataclass
class Region:
    """A character range of the input to be replaced."""

    start: int
    end: int
    label: str
    source: str = SOURCE_NER
    group: Optional[str] = None  # pseudonym group key (set during grouping)
    operator: str = "replace"


# --------------------------------------------------------------------------- salt


def load_salt(salt_env: Optional[str], salt_file: Optional[str]) -> Optional[bytes]:
    """The runtime salt: the file named by ``salt_file`` or the env var ``salt_env``."""
    if salt_file:
        path = Path(os.path.expandvars(os.path.expanduser(str(salt_file))))
        if path.exists():
            data = path.read_bytes().strip()
            if data:
                return data
    if salt_env:
        value = os.environ.get(salt_env)
        if value:
            return value.encode("utf8")
    return None


# --------------------------------------------------------------------------- component


class Anonymizer:
    """Replace detected spans by label-specific operators; see the module docstring."""

    def __init__(
        self,
        nlp: Optional[Language],
        name: str = "anonymizer",
        *,
        spans_key: Optional[str] = None,
        default_operator: str = "replace",
        operators: Optional[Dict[str, str]] = None,
        mask_char: str = "*",
        redact_text: str = "",
        pseudonym_format: str = "{label}_{n}",
        replace_format: str = "[{label}]",
        hash_length: int = 12,
        salt_env: Optional[str] = "LEGAL_ANON_SALT",
        salt_file: Optional[str] = None,
        mask_all_occurrences: bool = True,
        mask_name_parts: bool = True,
        min_length: int = 3,
        max_repair_rounds: int = 20,
        titled_names_as: Optional[str] = "PERSON",
        candidates_key: Optional[str] = "ent_candidates",
        entity_consistency: bool = True,
    ):
        self.name = name
        self.spans_key = spans_key or None
        self.candidates_key = candidates_key or None
        self.entity_consistency = bool(entity_consistency)
        self.default_operator = default_operator
        self.operators = dict(operators or {})
        self.mask_char = mask_char
        self.redact_text = redact_text
        self.pseudonym_format = pseudonym_format
        self.replace_format = replace_format
        self.hash_length = int(hash_length)
        self.salt_env = salt_env
        self.salt_file = salt_file
        self.mask_all_occurrences = mask_all_occurrences
        self.mask_name_parts = mask_name_parts
        self.min_length = max(1, int(min_length))
        self.max_repair_rounds = int(max_repair_rounds)
        self.titled_names_as = titled_names_as or None
        self._salt: Optional[bytes] = None  # never serialized
        self._validate()
        if self.uses_hash:
            self._salt = load_salt(salt_env, salt_file)
            if not self._salt:
                raise MissingSaltError(self._missing_salt_message())

    # ---------------------------------------------------------------- configuration

    def _validate(self) -> None:
        for label, op in [("default_operator", self.default_operator), *self.operators.items()]:
            if op not in OPERATORS:
                raise ValueError(
                    f"anonymizer: unknown operator {op!r} for {label}; choose from {', '.join(OPERATORS)}"
                )
        if len(self.mask_char) != 1:
            raise ValueError("anonymizer: mask_char must be a single character")

    def _missing_salt_message(self) -> str:
        where = []
        if self.salt_env:
            where.append(f"the environment variable {self.salt_env}")
        if self.salt_file:
            where.append(f"the file {self.salt_file}")
        return (
            "anonymizer: the 'hash' operator needs a secret salt, but none was found in "
            + (" or ".join(where) if where else "(no salt_env or salt_file configured)")
            + ". Set it at runtime (e.g. `export LEGAL_ANON_SALT=$(openssl rand -hex 32)`) or "
            "call nlp.get_pipe('anonymizer').set_salt(...). The salt is never saved with the pipeline."
        )

    @property
    def uses_hash(self) -> bool:
        return self.default_operator == "hash" or "hash" in self.operators.values()

    def set_salt(self, salt: Optional[str | bytes]) -> None:
        """Give the HMAC salt at runtime (kept in memory only)."""
        if isinstance(salt, str):
            salt = salt.encode("utf8")
        self._salt = salt or None

    def set_operator(self, label: str, operator: str) -> None:
        if operator not in OPERATORS:
            raise ValueError(f"anonymizer: unknown operator {operator!r}; choose from {', '.join(OPERATORS)}")
        self.operators[label] = operator
        if operator == "hash" and not self._salt:
            self._salt = load_salt(self.salt_env, self.salt_file)
            if not self._salt:
                raise MissingSaltError(self._missing_salt_message())

    def operator_for(self, label: str) -> str:
        return self.operators.get(label, self.default_operator)

    # ---------------------------------------------------------------- pipeline API

    def __call__(self, doc: Doc) -> Doc:
        text, reps = self.anonymize(doc.text, self._doc_spans(doc))
        doc._.anonymized = text
        doc._.anon_replacements = reps
        return doc

    def pipe(self, stream: Iterable[Doc], batch_size: int = 128) -> Iterator[Doc]:
        for doc in stream:
            yield self(doc)

    def _doc_spans(self, doc: Doc) -> List[Tuple[int, int, str]]:
        """The spans to mask: doc.ents (or doc.spans[spans_key]), then the NER's
        low-confidence candidates in doc.spans[candidates_key] when it wrote any."""
        if self.spans_key:
            spans = list(doc.spans[self.spans_key]) if self.spans_key in doc.spans else []
        else:
            spans = list(doc.ents)
        out = [(s.start_char, s.end_char, s.label_) for s in spans]
        if self.candidates_key and self.candidates_key in doc.spans:
            out += [(s.start_char, s.end_char, s.label_, SOURCE_CANDIDATE) for s in doc.spans[self.candidates_key]]
        return out

    # ---------------------------------------------------------------- core

    def anonymize(self, text: str, spans: Iterable[Tuple]) -> Tuple[str, List[dict]]:
        """Anonymize ``text`` given (start_char, end_char, label[, source]) spans."""
        regions = []
        for start, end, label, *source in spans:
            start, end = _strip(text, start, end)
            if end <= start:
                continue
            if (self.titled_names_as and label != self.titled_names_as and not is_person(label)
                    and is_titled_name(text[start:end])):
                label = self.titled_names_as
            op = self.operator_for(label)
            if op == "keep":
                continue
            regions.append(Region(start, end, label, source[0] if source else SOURCE_NER, operator=op))
        if not regions:
            return text, []
        # the detected spans as given: when overlapping spans merge, each one's own text
        # stays protected too
        detected = [dc_replace(r) for r in regions]
        extra: Dict[str, Region] = {}  # abbreviations found next to masked names
        regions = self._consistent(text, merge_regions(regions), extra)
        protected = self._protected_strings(text, regions + detected, extra)
        if self.mask_all_occurrences and protected:
            regions = merge_regions(regions + self._occurrences(text, regions, protected))
            regions = self._consistent(text, regions, extra)
            protected = self._protected_strings(text, regions + detected, extra)
        for _ in range(self.max_repair_rounds):
            out, reps = self._render(text, regions, protected)
            leaks = find_leaks(out, protected)
            if not leaks:
                return out, reps
            regions = merge_regions(regions + self._repairs(text, out, reps, leaks, protected))
            assign_groups(text, regions, link_given_names=self.entity_consistency)
            protected = self._protected_strings(text, regions + detected, extra)
        raise AnonymizationError(
            f"anonymizer: masked text still present in the output after {self.max_repair_rounds} repair rounds"
        )

    def _consistent(self, text: str, regions: List[Region], abbreviations: Dict[str, Region]) -> List[Region]:
        """Entity-level consistency (``entity_consistency``): grow regions over what
        belongs to the same mention (initials before a surname, "(ECJ)" after a court),
        join same-label regions that only whitespace separates (a name the NER split, or
        "Alan" next to the masked "Yalman"), then group mentions into entities; the
        abbreviations found are added to ``abbreviations`` for propagation."""
        if self.entity_consistency:
            grown = []
            for r in regions:
                start, end, abbreviation = adjacent_extensions(text, r.start, r.end, r.label)
                grown.append(dc_replace(r, start=start, end=end))
                if abbreviation is None and is_abbreviation(text[r.start:r.end]):
                    abbreviation = text[r.start:r.end]
                if abbreviation and _n_visible(abbreviation) >= self.min_length:
                    abbreviations.setdefault(abbreviation, r)
                    for long_form in acronym_expansions(text, abbreviation):
                        abbreviations.setdefault(long_form, r)
            regions = merge_adjacent(text, merge_regions(grown))
        assign_groups(text, regions, link_given_names=self.entity_consistency)
        return regions

    def _protected_strings(self, text: str, regions: List[Region], extra: Optional[Dict[str, Region]] = None
                           ) -> Dict[str, Region]:
        """Masked surface strings (long enough to check) -> a region they come from."""
        out: Dict[str, Region] = dict(extra or {})
        for r in regions:
            s = text[r.start:r.end]
            if r.source == SOURCE_CANDIDATE and not looks_like_a_name(s):
                continue  # a low-confidence "and" or "son" is masked where found, not everywhere
            if _n_visible(s) >= self.min_length:
                out.setdefault(s, r)
            if self.mask_name_parts and is_person(r.label) and r.source == SOURCE_NER:
                # the same person: a surname alone ("Yalman" of "Mr Galip Yalman"), and with
                # entity_consistency every distinctive part ("Galip", "YALMAN")
                parts = distinctive_name_parts(s) if self.entity_consistency else surname_parts(s)
                for part in parts:
                    if _n_visible(part) >= max(self.min_length, 3):
                        out.setdefault(part, r)
            if self.entity_consistency and r.label in ORGANISATION_LABELS and r.source == SOURCE_NER:
                # "District Court" later in a judgment about the "Stockholm District Court"
                for short in organisation_short_forms(s):
                    out.setdefault(short, r)
        return out

    def _occurrences(self, text: str, regions: List[Region], protected: Dict[str, Region]) -> List[Region]:
        pattern = _alternation(protected.keys(), word_boundaries=True)
        if pattern is None:
            return []
        covered = _Coverage(regions)
        lookup = {_ws_norm(k): v for k, v in protected.items()}
        found = []
        for m in pattern.finditer(text):
            if covered.contains(m.start(), m.end()):
                continue  # already masked; a partial overlap is added and merges
            src = lookup.get(_ws_norm(m.group(0)))
            if src is None:
                continue
            found.append(Region(m.start(), m.end(), src.label, SOURCE_OCCURRENCE, operator=src.operator))
        return found

    def _repairs(self, text, out, reps, leaks, protected) -> List[Region]:
        """Trace leaked strings in the output back to input ranges to mask."""
        new = []
        for ostart, oend, s in leaks:
            src = protected.get(s) or next(iter(protected.values()))
            istart = _out_to_in(ostart, reps, start=True)
            iend = _out_to_in(oend, reps, start=False)
            istart, iend = _expand_to_words(text, istart, iend)
            new.append(Region(istart, iend, src.label, SOURCE_REPAIR, operator=src.operator))
        return new

    def _render(self, text: str, regions: List[Region], protected: Dict[str, Region]) -> Tuple[str, List[dict]]:
        # number pseudonyms by first appearance of each group, per label
        numbers: Dict[str, int] = {}
        per_label: Dict[str, int] = {}
        for r in regions:
            if r.group not in numbers:
                per_label[r.label] = per_label.get(r.label, 0) + 1
                numbers[r.group] = per_label[r.label]
        forbidden = list(protected)
        pieces: List[str] = []
        reps: List[dict] = []
        pos = 0
        new_pos = 0
        for r in regions:
            pieces.append(text[pos:r.start])
            new_pos += r.start - pos
            original = text[r.start:r.end]
            rep = self._replacement(r, original, numbers.get(r.group, 0))
            if any(f in rep for f in forbidden) or (rep and rep == original):
                rep = next(
                    (c for c in (self.replace_format.format(label=r.label), FALLBACK_REPLACEMENT, self.mask_char * 3)
                     if not any(f in c for f in forbidden) and c != original),
                    "",
                )
            pieces.append(rep)
            reps.append({
                "start": r.start, "end": r.end,
                "new_start": new_pos, "new_end": new_pos + len(rep),
                "label": r.label, "operator": r.operator,
                "text": original, "replacement": rep, "source": r.source,
            })
            new_pos += len(rep)
            pos = r.end
        pieces.append(text[pos:])
        return "".join(pieces), reps

    def _replacement(self, r: Region, original: str, number: int) -> str:
        op = r.operator
        if op == "replace":
            return self.replace_format.format(label=r.label)
        if op == "pseudonym":
            return self.pseudonym_format.format(label=r.label, n=number)
        if op == "mask":
            return "".join(c if c.isspace() else self.mask_char for c in original)
        if op == "redact":
            return self.redact_text
        if op == "hash":
            if not self._salt:
                raise MissingSaltError(self._missing_salt_message())
            digest = hmac.new(self._salt, (r.group or original).encode("utf8"), hashlib.sha256).hexdigest()
            return f"{r.label}_{digest[: self.hash_length]}"
        raise ValueError(f"anonymizer: unknown operator {op!r}")

    # ---------------------------------------------------------------- serialization
    # Only the config (operator names, the *name* of the salt variable) is saved by
    # spaCy; the salt itself lives in memory and is deliberately not written.

    def to_bytes(self, *, exclude=tuple()) -> bytes:
        return b""

    def from_bytes(self, bytes_data: bytes, *, exclude=tuple()) -> "Anonymizer":
        return self

    def to_disk(self, path, *, exclude=tuple()) -> None:
        return None

    def from_disk(self, path, *, exclude=tuple()) -> "Anonymizer":
        return self


@Language.factory(
    "anonymizer",
    default_config={
        "spans_key": None,
        "default_operator": "replace",
        "operators": {},
        "mask_char": "*",
        "redact_text": "",
        "pseudonym_format": "{label}_{n}",
        "replace_format": "[{label}]",
        "hash_length": 12,
        "salt_env": "LEGAL_ANON_SALT",
        "salt_file": None,
        "mask_all_occurrences": True,
        "mask_name_parts": True,
        "min_length": 3,
        "max_repair_rounds": 20,
        "titled_names_as": "PERSON",
        "candidates_key": "ent_candidates",
        "entity_consistency": True,
    },
    requires=["doc.ents"],
    assigns=["doc._.anonymized", "doc._.anon_replacements"],
)
def make_anonymizer(
    nlp: Language,
    name: str,
    spans_key: Optional[str],
    default_operator: str,
    operators: Dict[str, str],
    mask_char: str,
    redact_text: str,
    pseudonym_format: str,
    replace_format: str,
    hash_length: int,
    salt_env: Optional[str],
    salt_file: Optional[str],
    mask_all_occurrences: bool,
    mask_name_parts: bool,
    min_length: int,
    max_repair_rounds: int,
    titled_names_as: Optional[str],
    candidates_key: Optional[str],
    entity_consistency: bool,
) -> Anonymizer:
    return Anonymizer(
        nlp, name, spans_key=spans_key, default_operator=default_operator, operators=operators,
        mask_char=mask_char, redact_text=redact_text, pseudonym_format=pseudonym_format,
        replace_format=replace_format, hash_length=hash_length, salt_env=salt_env,
        salt_file=salt_file, mask_all_occurrences=mask_all_occurrences,
        mask_name_parts=mask_name_parts, min_length=min_length, max_repair_rounds=max_repair_rounds,
        titled_names_as=titled_names_as, candidates_key=candidates_key, entity_consistency=entity_consistency,
    )


# --------------------------------------------------------------------------- helpers


def _strip(text: str, start: int, end: int) -> Tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _n_visible(s: str) -> int:
    return sum(1 for c in s if not c.isspace())


def _ws_norm(s: str) -> str:
    return " ".join(s.split())


def _alternation(strings: Iterable[str], word_boundaries: bool) -> Optional["re.Pattern[str]"]:
    uniq = sorted({s for s in strings if s}, key=len, reverse=True)
    if not uniq:
        return None
    alts = []
    for s in uniq:
        parts = [re.escape(p) for p in s.split()]
        alts.append(r"\s+".join(parts) if word_boundaries else re.escape(s))
    body = "|".join(alts)
    if word_boundaries:
        return re.compile(r"(?<!\w)(?:" + body + r")(?!\w)")
    return re.compile(body)


def find_leaks(out: str, protected: Dict[str, Region]) -> List[Tuple[int, int, str]]:
    """Every (overlapping) plain-substring occurrence of a protected string in ``out``."""
    leaks = []
    for s in protected:
        i = out.find(s)
        while i != -1:
            leaks.append((i, i + len(s), s))
            i = out.find(s, i + 1)
    return leaks


def _out_to_in(opos: int, reps: List[dict], start: bool) -> int:
    """Map an output offset back to the input; offsets inside a replacement map to its ends."""
    shift = 0
    for rep in reps:
        if opos < rep["new_start"] or (not start and opos == rep["new_start"]):
            break
        if opos < rep["new_end"] or (not start and opos == rep["new_end"]):
            return rep["start"] if start else rep["end"]
        shift = rep["end"] - rep["new_end"]
    return opos + shift


def _expand_to_words(text: str, start: int, end: int) -> Tuple[int, int]:
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    return start, end


class _Coverage:
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
    for r in regions:
        if merged and r.start < max(x.end for x in merged[-1]):
            merged[-1].append(r)
        else:
            merged.append([r])
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


def ensure_anonymizer(nlp: Language, config: Optional[Dict] = None) -> "Anonymizer":
    """The pipeline's anonymizer; one is added last (with ``config``) when it has none."""
    names = [n for n in nlp.pipe_names if nlp.get_pipe_meta(n).factory == "anonymizer"]
    if names:
        return nlp.get_pipe(names[0])
    return nlp.add_pipe("anonymizer", config=dict(config or {}), last=True)
