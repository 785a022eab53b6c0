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

The guarantee (stated once, in docs/anonymizer.md, "The guarantee"): the output never
contains a protected string - the text of every replaced region (from ``doc.ents``,
candidates, occurrences or repairs), every distinctive part of a masked person's name and,
with entity consistency, an organisation's short forms and abbreviations. Overlapping
spans merge into one region; every other occurrence of a protected string is masked too
(``mask_all_occurrences``, ``source="occurrence"``); a final check scans the output and
repairs what it finds (``source="repair"``), or raises ``AnonymizationError``. The
strings are searched in one pass (``legal_anon.pipeline.protected``), so the time grows
linearly with the document.

Entity-level consistency (``entity_consistency``, default on; TAB counts an entity as
protected only when every mention is masked; see ``legal_anon.pipeline.names``): every distinctive
part of a detected person's name (given names and surname, as written and in capitals,
possessives included) is masked wherever it occurs; initials before a masked surname
("G. Yalman") and a parenthesised abbreviation or original-language name after a masked
organisation ("(ECJ)", "(Svea hovrätt)") join the mention, and the abbreviation is masked
everywhere; same-label spans that only whitespace separates become one mention (a name the
NER split keeps one pseudonym), and a lone given name joins the one person it belongs to.

A span that starts with a personal title and a capitalised word ("Mr Popescu") is treated
as a person (label ``titled_names_as``, default PERSON) whatever label the NER gave it, so
that it gets the person's pseudonym.

Exceptions (documented there): replaced strings shorter than ``min_length`` (a lone
"A" or "15") and recall-control candidates made only of stop words ("and", "his") are masked
where detected but not propagated or re-checked; a common word (no capital or digit) is
checked as a whole word.
"""
from __future__ import annotations

import hashlib
import hmac
import dataclasses
from dataclasses import replace as dc_replace
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

from spacy.language import Language
from spacy.tokens import Doc

from legal_anon.pipeline.anonymizer_settings import (
    AnonymizerSettings,
    MissingSaltError,
    default_config,
    with_settings_signature,
)
from legal_anon.pipeline.names import (
    ORGANISATION_LABELS,
    acronym_expansions,
    adjacent_extensions,
    assign_groups,
    distinctive_name_parts,
    identifies_no_one,
    is_abbreviation,
    is_person,
    is_titled_name,
    is_common_word,
    organisation_short_forms,
    parenthesised_words,
    pseudonym_numbers,
    surname_parts,
)
from legal_anon.pipeline.protected import ProtectedStrings
from legal_anon.pipeline.regions import (
    SOURCE_CANDIDATE,
    SOURCE_NER,
    SOURCE_OCCURRENCE,
    SOURCE_REPAIR,
    Coverage,
    OutputMap,
    Region,
    expand_to_words,
    merge_adjacent,
    merge_regions,
    n_visible,
    strip_whitespace,
)

FALLBACK_REPLACEMENT = "[MASKED]"

if not Doc.has_extension("anonymized"):
    Doc.set_extension("anonymized", default=None)
if not Doc.has_extension("anon_replacements"):
    Doc.set_extension("anon_replacements", default=None)


class AnonymizationError(RuntimeError):
    """Raised when the output could not be made free of masked text."""


# --------------------------------------------------------------------------- component


class Anonymizer:
    """Replace detected spans by label-specific operators; see the module docstring."""

    def __init__(self, nlp: Optional[Language], name: str = "anonymizer",
                 settings: Optional[AnonymizerSettings] = None, **overrides):
        """``settings`` (default: every default), with ``overrides`` of single settings:
        ``Anonymizer(None, operators={"PERSON": "pseudonym"}, entity_consistency=False)``."""
        self.name = name
        self._salt: Optional[bytes] = None  # never serialized
        base = settings or AnonymizerSettings()
        self.settings = dataclasses.replace(base, **overrides) if overrides else base

    # ---------------------------------------------------------------- configuration

    @property
    def settings(self) -> AnonymizerSettings:
        return self._settings

    @settings.setter
    def settings(self, value: AnonymizerSettings) -> None:
        """New settings take effect for the next document; a hash operator needs its salt now."""
        if value.uses_hash and not self._salt:
            self._salt = value.load_salt()
        self._settings = value

    def set_salt(self, salt: Optional[str | bytes]) -> None:
        """Give the HMAC salt at runtime (kept in memory only)."""
        if isinstance(salt, str):
            salt = salt.encode("utf8")
        self._salt = salt or None

    def salt_digest(self) -> Optional[bytes]:
        """A keyed digest of the salt (HMAC with the salt as key over a fixed message), for
        fingerprints of runs: it changes with the salt and never reveals it; None without one."""
        if not self._salt:
            return None
        return hmac.new(self._salt, b"legal-anon output fingerprint", hashlib.sha256).digest()

    def set_operator(self, label: str, operator: str) -> None:
        self.settings = self.settings.with_operator(label, operator)

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
        if self.settings.spans_key:
            spans = list(doc.spans[self.settings.spans_key]) if self.settings.spans_key in doc.spans else []
        else:
            spans = list(doc.ents)
        out = [(s.start_char, s.end_char, s.label_) for s in spans]
        if self.settings.candidates_key and self.settings.candidates_key in doc.spans:
            out += [(s.start_char, s.end_char, s.label_, SOURCE_CANDIDATE) for s in doc.spans[self.settings.candidates_key]]
        return out

    # ---------------------------------------------------------------- core

    def anonymize(self, text: str, spans: Iterable[Tuple]) -> Tuple[str, List[dict]]:
        """Anonymize ``text`` given (start_char, end_char, label[, source]) spans."""
        regions = []
        for start, end, label, *source in spans:
            start, end = strip_whitespace(text, start, end)
            if end <= start:
                continue
            if (self.settings.titled_names_as and label != self.settings.titled_names_as and not is_person(label)
                    and is_titled_name(text[start:end])):
                label = self.settings.titled_names_as
            op = self.settings.operator_for(label)
            if op == "keep":
                continue
            regions.append(Region(start, end, label, source[0] if source else SOURCE_NER, operator=op))
        if not regions:
            return text, []
        # the detected spans as given: when overlapping spans merge, each one's own text
        # stays protected too
        detected = [dc_replace(r) for r in regions]
        extra = ProtectedStrings()  # abbreviations found next to masked names, and their long forms
        parentheses = parenthesised_words(text) if self.settings.entity_consistency else {}
        regions = self._consistent(text, merge_regions(regions), extra, parentheses)
        protected = self._protected_strings(text, regions + detected, extra)
        if self.settings.mask_all_occurrences and len(protected):
            regions = merge_regions(regions + self._occurrences(text, regions, protected))
            regions = self._consistent(text, regions, extra, parentheses)
            protected = self._protected_strings(text, regions + detected, extra)
        for _ in range(self.settings.max_repair_rounds):
            out, reps = self._render(text, regions, protected)
            leaks = protected.leaks(out)
            if not leaks:
                return out, reps
            regions = merge_regions(regions + self._repairs(text, reps, leaks, protected))
            assign_groups(text, regions, link_given_names=self.settings.entity_consistency)
            protected = self._protected_strings(text, regions + detected, extra)
        raise AnonymizationError(
            f"anonymizer: masked text still present in the output after {self.settings.max_repair_rounds} repair rounds"
        )

    def _consistent(self, text: str, regions: List[Region], abbreviations: ProtectedStrings,
                    parentheses: Dict[str, List[int]]) -> List[Region]:
        """Entity-level consistency (``entity_consistency``): grow regions over what
        belongs to the same mention (initials before a surname, "(ECJ)" after a court),
        join same-label regions that only whitespace separates (a name the NER split, or
        "Alan" next to the masked "Yalman"), then group mentions into entities; the
        abbreviations found (and the phrases the text defines them by) are added to
        ``abbreviations`` for propagation."""
        if self.settings.entity_consistency:
            grown = []
            for r in regions:
                start, end, abbreviation = adjacent_extensions(text, r.start, r.end, r.label)
                grown.append(dc_replace(r, start=start, end=end))
                if abbreviation is None and is_abbreviation(text[r.start:r.end]):
                    abbreviation = text[r.start:r.end]
                if abbreviation and n_visible(abbreviation) >= self.settings.min_length and abbreviation not in abbreviations:
                    abbreviations.add(abbreviation, r, whole_word=False)
                    for long_form in acronym_expansions(text, abbreviation, parentheses):
                        abbreviations.add(long_form, r, whole_word=False)
            regions = merge_adjacent(text, merge_regions(grown))
        assign_groups(text, regions, link_given_names=self.settings.entity_consistency)
        return regions

    def protected_strings(self, text: str, replacements: Iterable[dict]) -> ProtectedStrings:
        """The strings an output of ``text`` with these ``replacements`` must not contain:
        for checks of a document the output was written into (HTML, Word), outside the text."""
        regions = [Region(r["start"], r["end"], r["label"], r["source"], operator=r["operator"]) for r in replacements]
        return self._protected_strings(text, regions, ProtectedStrings())

    def _protected_strings(self, text: str, regions: List[Region], extra: ProtectedStrings) -> ProtectedStrings:
        """What must not survive in the output (docs/anonymizer.md, "The guarantee"):

        * the text of every replaced region, whatever its source, with at least
          ``min_length`` non-space characters (a recall-control candidate only when it has
          a word that is not a stop word);
        * every distinctive part of a person's name (``distinctive_name_parts``; the
          surname alone without ``entity_consistency``), whatever its length;
        * with ``entity_consistency``, an organisation's short forms and the abbreviations
          next to masked spans (``extra``).

        Each leaks anywhere in the output, even inside a longer word, except a common
        word (no capital letter or digit: "editor") and a name part shorter than
        ``min_length`` ("Li"): those leak as whole words."""
        out = ProtectedStrings()
        out.update(extra)
        settings = self.settings
        for r in regions:
            s = text[r.start:r.end]
            if n_visible(s) >= settings.min_length and not (r.source == SOURCE_CANDIDATE and identifies_no_one(s)):
                # a name or number leaks even inside a longer word ("Kowalczyks"), a common
                # word ("editor") as a whole word ("editorial" is no leak)
                out.add(s, r, whole_word=is_common_word(s))
            if settings.mask_name_parts and is_person(r.label):
                # the same person: a surname alone ("Yalman" of "Mr Galip Yalman"), and with
                # entity_consistency every distinctive part ("Galip", "YALMAN", "Nowak" of
                # "Kowalczyk-Nowak"); distinctive by construction, so no length floor
                parts = distinctive_name_parts(s) if settings.entity_consistency else surname_parts(s)
                for part in parts:
                    out.add(part, r, whole_word=n_visible(part) < settings.min_length)
            if settings.entity_consistency and r.label in ORGANISATION_LABELS:
                # "Southwark Council" later in a judgment about the "London Borough of Southwark Council"
                for short in organisation_short_forms(s):
                    out.add(short, r, whole_word=False)
        return out

    def _occurrences(self, text: str, regions: List[Region], protected: ProtectedStrings) -> List[Region]:
        covered = Coverage(regions)
        found = []
        for start, end, matched in protected.occurrences(text):
            if covered.contains(start, end):
                continue  # already masked; a partial overlap is added and merges
            src = protected.source(matched)
            found.append(Region(start, end, src.label, SOURCE_OCCURRENCE, operator=src.operator))
        return found

    def _repairs(self, text: str, reps: List[dict], leaks, protected: ProtectedStrings) -> List[Region]:
        """Trace leaked strings in the output back to input ranges to mask."""
        new = []
        to_input = OutputMap(reps).to_input
        for ostart, oend, matched in leaks:
            src = protected.source(matched)
            istart, iend = expand_to_words(text, to_input(ostart, start=True), to_input(oend, start=False))
            new.append(Region(istart, iend, src.label, SOURCE_REPAIR, operator=src.operator))
        return new

    def _render(self, text: str, regions: List[Region], protected: ProtectedStrings) -> Tuple[str, List[dict]]:
        numbers = pseudonym_numbers(regions)
        leaky: Dict[str, bool] = {}  # replacement -> contains a protected string (checked once each)
        pieces: List[str] = []
        reps: List[dict] = []
        pos = 0
        new_pos = 0
        for r in regions:
            pieces.append(text[pos:r.start])
            new_pos += r.start - pos
            original = text[r.start:r.end]
            rep = self._replacement(r, original, numbers.get(r.group, 0))
            if rep not in leaky:
                leaky[rep] = protected.found_in(rep)
            if leaky[rep] or (rep and rep == original):
                rep = next(
                    (c for c in (self.settings.replace_format.format(label=r.label), FALLBACK_REPLACEMENT, self.settings.mask_char * 3)
                     if not protected.found_in(c) and c != original),
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
            return self.settings.replace_format.format(label=r.label)
        if op == "pseudonym":
            return self.settings.pseudonym_format.format(label=r.label, n=number)
        if op == "mask":
            return "".join(c if c.isspace() else self.settings.mask_char for c in original)
        if op == "redact":
            return self.settings.redact_text
        if op == "hash":
            if not self._salt:
                raise MissingSaltError(self.settings.missing_salt_message())
            digest = hmac.new(self._salt, (r.group or original).encode("utf8"), hashlib.sha256).hexdigest()
            return f"{r.label}_{digest[: self.settings.hash_length]}"
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
    default_config=default_config(),
    requires=["doc.ents"],
    assigns=["doc._.anonymized", "doc._.anon_replacements"],
)
@with_settings_signature
def make_anonymizer(nlp: Language, name: str, **settings) -> Anonymizer:
    """Every setting is a keyword argument (validated against AnonymizerSettings)."""
    return Anonymizer(nlp, name, AnonymizerSettings(**settings))


def ensure_anonymizer(nlp: Language, config: Optional[Dict] = None) -> "Anonymizer":
    """The pipeline's anonymizer; one is added last (with ``config``) when it has none."""
    names = [n for n in nlp.pipe_names if nlp.get_pipe_meta(n).factory == "anonymizer"]
    if names:
        return nlp.get_pipe(names[0])
    return nlp.add_pipe("anonymizer", config=dict(config or {}), last=True)
