"""Who is who: linking the mentions of one entity, so that every mention is masked and
one person keeps one pseudonym.

TAB counts an entity as protected only when every one of its mentions is masked, so a
detected name is only half the job: "Mr Galip Yalman" is later "Mr Yalman", "G. Yalman",
"Galip", "YALMAN" or "Yalman's". This module decides

* which parts of a person's name are distinctive enough to mask wherever they occur
  (``distinctive_name_parts``: surname and given names, as written and in capitals; not
  titles, stop words or words that legal text capitalises anyway);
* which mentions belong together (``assign_groups``: short forms and lone given names join
  the full name they match; the group key gives the pseudonym and the hash);
* which text next to a masked span belongs to it (``adjacent_extensions``: initials before
  a surname, a parenthesised abbreviation or original-language name after an
  organisation, "Court of Appeal (Svea hovrätt)");
* which other names an organisation goes by (``organisation_short_forms``: "District
  Court" after "Stockholm District Court"; ``acronym_expansions``: "Employment Appeal
  Tribunal" where the judgment defines the masked "EAT").

It works on the anonymizer's regions (anything with ``start``, ``end``, ``label`` and
``group``), never on a Doc, so it is cheap to test on strings.
"""
from __future__ import annotations

import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from spacy.lang.en.stop_words import STOP_WORDS

PERSON_LABELS = ("PERSON", "PER")
ORGANISATION_LABELS = ("ORG",)
TITLES = {
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor", "judge", "justice",
    "sir", "dame", "lord", "lady", "madam", "madame", "mme", "mlle", "m", "messrs",
    "rev", "father", "president", "sheriff", "advocate", "counsel", "herr", "frau",
}
NAME_PARTICLES = {"de", "van", "von", "der", "den", "da", "di", "del", "la", "le", "bin", "al"}
# a span that starts with one of these and a capitalised word is a person's name,
# whatever label the model gave it ("Mr Popescu" tagged ORG)
PERSON_TITLES = {"mr", "mrs", "ms", "miss", "mx", "dr"}
# Capitalised words of legal text that a model may include in a name span ("Applicant
# Yalman", "Judge Smith") but that are no names: never propagated on their own.
NOT_NAME_PARTS = {
    "applicant", "applicants", "respondent", "claimant", "defendant", "appellant", "plaintiff",
    "court", "government", "state", "article", "section", "chamber", "commission", "committee",
    "agent", "minister", "ministry", "prosecutor", "police", "officer", "inspector", "sergeant",
    "constable", "registrar", "deputy", "chief", "senior", "junior", "general", "public",
    "european", "national", "republic", "kingdom", "united", "council", "county", "city",
}
_GENDERED_TITLES = {"mr": "m", "sir": "m", "lord": "m", "herr": "m", "father": "m",
                    "mrs": "f", "ms": "f", "miss": "f", "madam": "f", "madame": "f", "mme": "f",
                    "mlle": "f", "lady": "f", "dame": "f", "frau": "f"}
_WORD_RE = re.compile(r"\w+(?:[.'’\-]\w+)*\.?", re.UNICODE)
# initials just before a name: "G. ", "G ", "G.K. ", "J.-P. " (no newline in between)
_INITIALS_BEFORE = re.compile(r"(?:(?<![\w.])[A-Z]\.(?:-?[A-Z]\.)*[ \t]?|(?<![\w.])[A-Z][ \t])$")
# "(ECJ)", "(“EAT”)", "(Svea hovrätt)", "(Högsta domstolen)" right after a span
_PARENTHETICAL_AFTER = re.compile(r"^[ \t]*\(\s*[“\"'‘]?([^()\n“”\"']{1,60}?)[”\"'’]?\s*\)")
_ABBREVIATION = re.compile(r"^[A-Z][A-Z0-9&.\-]{1,11}$")
# the last word of an organisation's name that says what kind of body it is
ORGANISATION_HEADS = {
    "court", "courts", "tribunal", "council", "ministry", "office", "hospital", "prison", "police",
    "department", "university", "bank", "company", "agency", "service", "board", "committee",
    "commission", "authority", "directorate", "inspectorate", "school", "corporation", "fund",
    "association", "union", "party", "group", "institute", "centre", "center", "clinic", "garrison",
}
_CONNECTORS = {"of", "for", "and", "the", "de", "du", "des", "la", "le", "di", "&"}
# words that say what kind of body, not which one: a short form of only these ("District
# Court", "Administrative Court") names no one and is not propagated
GENERIC_ORGANISATION_WORDS = ORGANISATION_HEADS | {
    "district", "administrative", "regional", "supreme", "high", "appeal", "appeals", "county", "crown",
    "civil", "criminal", "military", "state", "security", "constitutional", "federal", "national",
    "public", "general", "martial", "law", "first", "instance", "labour", "employment", "family",
    "magistrates", "magistrates'", "peace", "city", "municipal", "provincial", "local", "central",
    "higher", "lower", "trial", "assize", "cassation", "justice", "juvenile", "commercial", "criminal",
    "prosecution", "prosecutor's", "borough", "european", "human", "rights", "health", "social",
}


def is_person(label: str) -> bool:
    return label in PERSON_LABELS


def looks_like_a_name(text: str) -> bool:
    """A capital letter or a digit, and a word that is not a stop word: "Ankara", "TV3",
    "12 May", not "and", "his son", "The"."""
    words = _WORD_RE.findall(text)
    return any(c.isupper() or c.isdigit() for c in text) and any(
        w.rstrip(".").casefold() not in STOP_WORDS for w in words)


def is_common_word(text: str) -> bool:
    """No capital letter and no digit ("editor", "his son"): ordinary vocabulary, so it is
    found as a whole word only ("editorial" is not the masked "editor")."""
    return not any(c.isupper() or c.isdigit() for c in text)


def identifies_no_one(text: str) -> bool:
    """Only stop words or punctuation ("and", "of the", "’s"): masked where a model found
    it, but protecting it everywhere would blank out the language, not a person."""
    return all(w.casefold() in STOP_WORDS for w in re.findall(r"\w+", text))


def is_abbreviation(text: str) -> bool:
    """"ECJ", "EAT", "TV3": one word of capitals (digits, & . - allowed), 2-12 characters."""
    return bool(_ABBREVIATION.match(text))


def name_words(text: str) -> List[str]:
    """The words of a person's name as written: leading titles, trailing dots and a
    possessive "'s" removed ("Judge Dr Anna Nowak's" -> ["Anna", "Nowak"]). The one name
    tokenizer: grouping (``name_tokens``) and propagation (``distinctive_name_parts``)
    read the same words."""
    words = []
    for w in _WORD_RE.findall(text):
        w = w.rstrip(".")
        if len(w) > 3 and w[-2:] in ("'s", "’s"):
            w = w[:-2]
        if w:
            words.append(w)
    while words and words[0].casefold() in TITLES:
        words = words[1:]
    return words


def name_tokens(text: str) -> List[str]:
    """Normalized name tokens for grouping: ``name_words``, casefolded, one apostrophe."""
    return [w.casefold().replace("’", "'") for w in name_words(text)]


def surname_keys(tokens: Sequence[str]) -> List[str]:
    """The tokens a short form's surname may be: the last token and, for a hyphenated
    surname, each of its parts ("kowalczyk-nowak" -> also "kowalczyk", "nowak")."""
    if not tokens:
        return []
    last = tokens[-1]
    return [last] + [p for p in last.split("-") if p and p != last]


def is_titled_name(span_text: str) -> bool:
    """"Mr Popescu", "Ms B. Baysal", "Dr. Anna Nowak": a personal title, then a capitalised word."""
    words = span_text.split()
    return (
        len(words) >= 2 and words[0].rstrip(".").casefold() in PERSON_TITLES
        and words[1][:1].isupper() and len(words) <= 5
    )


def _token_matches(short: str, long: str) -> bool:
    if short == long:
        return True
    # an initial ("B." -> "b") matches a full first name
    return len(short) == 1 and long.startswith(short)


def is_short_form(short: Sequence[str], long: Sequence[str]) -> bool:
    """True if name ``short`` can refer to the same person as the longer ``long``.

    The surname must agree (last tokens equal, or the short form's is one part of a
    hyphenated surname: "Nowak" of "Kowalczyk-Nowak") and every other token of ``short``
    must match a distinct earlier token of ``long`` in order (equal, or an initial of it):
    "Yalman" / "G. Yalman" / "Galip Yalman" are short forms of "Galip Yalman";
    "Ahmet Yalman" is not.
    """
    if not short or not long or len(short) > len(long):
        return False
    if short[-1] not in surname_keys(long):
        return False
    j = 0
    rest_long = long[:-1]
    for tok in short[:-1]:
        while j < len(rest_long) and not _token_matches(tok, rest_long[j]):
            j += 1
        if j == len(rest_long):
            return False
        j += 1
    return True


def group_key(label: str, text: str) -> str:
    """Key for non-person entities: case- and whitespace-normalized text."""
    return label + ":" + " ".join(text.split()).casefold()


def title_gender(mention: str) -> Optional[str]:
    """'m' / 'f' from a leading title ("Mr", "Ms" ...), else None."""
    words = _WORD_RE.findall(mention)
    return _GENDERED_TITLES.get(words[0].rstrip(".").casefold()) if words else None


def title_gender_of(text: str, mentions: Iterable) -> Optional[str]:
    for m in mentions:
        g = title_gender(text[m.start:m.end])
        if g:
            return g
    return None


def assign_groups(text: str, regions: List, link_given_names: bool = False) -> None:
    """Set ``region.group`` so that mentions of the same entity share a key.

    Person mentions are linked by name (titles stripped; a short form joins the group of
    the longer name it matches, the nearest preceding one if several match); other
    labels by normalized text. With ``link_given_names`` a one-word mention that is a
    given name of exactly one longer name ("Melahat" of "Melahat Yalman") joins that
    person's group, so one person keeps one pseudonym. Groups are indexed by surname and
    by given name, so the time grows with the number of mentions, not their square.
    """
    persons = []
    for r in regions:
        if is_person(r.label):
            persons.append((tuple(name_tokens(text[r.start:r.end])), r))
        else:
            r.group = group_key(r.label, text[r.start:r.end])
    # longest names first, so short forms find their full names
    persons.sort(key=lambda tr: (-len(tr[0]), tr[1].start))
    groups: List[Tuple[Tuple[str, ...], List]] = []
    by_surname: Dict[str, List[int]] = {}  # surname key -> group indices, in creation order
    by_given: Dict[str, List[int]] = {}  # given name of a multi-word name -> group indices
    for toks, r in persons:
        if not toks:
            r.group = group_key(r.label, text[r.start:r.end])
            continue
        near = [groups[i] for i in by_surname.get(toks[-1], [])]
        candidates = [g for g in near if g[0] == toks] or [g for g in near if is_short_form(toks, g[0])]
        if not candidates and link_given_names and len(toks) == 1:
            candidates = [groups[i] for i in by_given.get(toks[0], [])]
            if len(candidates) > 1:
                candidates = []  # a given name shared by two people links to neither
        if len(candidates) > 1:
            # ambiguous short form ("Mr Yalman" with "Galip Yalman" and "Ayşe Yalman"):
            # drop people whose titles give the other gender, then take the one introduced
            # first - in judgments the short form nearly always means the main party
            gender = title_gender(text[r.start:r.end])
            if gender:
                same = [g for g in candidates if title_gender_of(text, g[1]) in (None, gender)]
                candidates = same or candidates
            candidates.sort(key=lambda g: min(m.start for m in g[1]))
        if candidates:
            chosen = candidates[0]
            chosen[1].append(r)
            r.group = r.label + ":" + " ".join(chosen[0])
        else:
            index = len(groups)
            groups.append((toks, [r]))
            r.group = r.label + ":" + " ".join(toks)
            for key in surname_keys(toks):
                by_surname.setdefault(key, []).append(index)
            if len(toks) > 1:
                for given in dict.fromkeys(toks[:-1]):
                    by_given.setdefault(given, []).append(index)


def pseudonym_numbers(regions: Iterable) -> Dict[str, int]:
    """One number per group (``assign_groups``), counted per label in order of first
    appearance: PERSON_1 is the first person named, whichever mention names them."""
    numbers: Dict[str, int] = {}
    per_label: Dict[str, int] = {}
    for r in regions:
        if r.group not in numbers:
            per_label[r.label] = per_label.get(r.label, 0) + 1
            numbers[r.group] = per_label[r.label]
    return numbers


def surname_parts(name: str) -> List[str]:
    """The surname of a multi-word person name, as written ("Yalman", "van Dijk")."""
    words = name_words(name)
    if len(words) < 2:
        return []
    last = words[-1]
    if len(last) < 2 or not last[:1].isupper():
        return []
    parts = [last]
    if len(words) >= 3 and words[-2].casefold() in NAME_PARTICLES:
        parts.append(f"{words[-2]} {last}")
    return parts


def is_distinctive(word: str) -> bool:
    """A name word worth masking on its own: capitalised, two letters or more, not a
    title, a stop word or a word legal text capitalises anyway."""
    bare = word.rstrip(".")
    low = bare.casefold()
    return (
        len(bare) >= 2 and bare[:1].isupper() and any(c.isalpha() for c in bare)
        and low not in TITLES and low not in STOP_WORDS and low not in NOT_NAME_PARTS
        and low not in NAME_PARTICLES
    )


_TITLE_CASE_PART = re.compile(r"(^|[-'’])(\w)(\w*)")


def _case_variants(word: str) -> List[str]:
    """As written, in capitals, and in title case per part ("KOWALCZYK-NOWAK" ->
    "Kowalczyk-Nowak", "O'BRIEN" -> "O'Brien"), each with both apostrophes ("O’Brien")."""
    titled = _TITLE_CASE_PART.sub(lambda m: m.group(1) + m.group(2).upper() + m.group(3).lower(), word)
    out: List[str] = []
    for v in (word, word.upper(), titled):
        for w in (v, v.replace("'", "’"), v.replace("’", "'")):
            if w not in out:
                out.append(w)
    return out


def distinctive_name_parts(name: str) -> List[str]:
    """Every distinctive word of a person's name, and each distinctive part of a
    hyphenated one ("Kowalczyk-Nowak" -> also "Kowalczyk", "Nowak"), in its case and
    apostrophe variants (``_case_variants``), plus particle surnames ("van Dijk").
    A one-word name counts too: the NER has already said it is a person."""
    parts: List[str] = []
    for w in name_words(name):
        pieces = [w] + ([p for p in w.split("-") if p] if "-" in w else [])
        for piece in pieces:
            if not is_distinctive(piece):
                continue
            for variant in _case_variants(piece):
                if variant not in parts:
                    parts.append(variant)
    for p in surname_parts(name):
        if " " in p and p not in parts:
            parts.append(p)
    return parts


def adjacent_extensions(text: str, start: int, end: int, label: str) -> Tuple[int, int, Optional[str]]:
    """The region [start, end) grown over text that belongs to the same mention.

    * a person's name preceded by initials ("G. " of "G. Yalman", "J.-P. Martin") takes them;
    * an organisation, place or other non-person entity followed by a parenthesised name
      or abbreviation ("(ECJ)", "(“EAT”)", "(Svea hovrätt)") takes the parentheses; a
      parenthesis that starts in lower case or with "the" ("(the Court)") is a definition
      of the judgment's own and is left alone.

    Returns (start, end, abbreviation): the abbreviation (all capitals, e.g. "ECJ") is
    returned so that its other occurrences can be masked too."""
    abbreviation = None
    if is_person(label):
        m = _INITIALS_BEFORE.search(text, max(0, start - 12), start)
        if m and m.end() == start:
            start = m.start()
        return start, end, None
    m = _PARENTHETICAL_AFTER.match(text[end:end + 80])
    if m:
        inner = m.group(1).strip()
        first = inner.split()[0] if inner.split() else ""
        if first[:1].isupper() and first.casefold() not in ("the", "hereinafter", "see", "cf", "no", "nos"):
            end = end + m.end()
            if _ABBREVIATION.match(inner):
                abbreviation = inner
    return start, end, abbreviation


def organisation_short_forms(name: str) -> List[str]:
    """Shorter names an organisation goes by later in a judgment: its trailing words from
    two up, ending with a word that says what kind of body it is, starting with a capital
    and holding a word that says which body ("London Borough of Southwark Council" ->
    "Borough of Southwark Council", "Southwark Council"; "Stockholm District Court" gives
    nothing: "District Court" alone names no one)."""
    words = name.split()
    if len(words) < 3 or words[-1].casefold().strip("’'s") not in ORGANISATION_HEADS:
        return []
    out = []
    for i in range(1, len(words) - 1):
        tail = words[i:]
        if (tail[0][:1].isupper() and all(w[:1].isupper() or w.casefold() in _CONNECTORS for w in tail)
                and any(w.casefold() not in GENERIC_ORGANISATION_WORDS | _CONNECTORS for w in tail)):
            out.append(" ".join(tail))
    return out


_PARENTHESISED_WORD = re.compile(r"\(\s*[“\"'‘]?([^()\s“”\"'’‘]{2,12}?)[”\"'’]?\s*\)")


def parenthesised_words(text: str) -> Dict[str, List[int]]:
    """Every one-word parenthesis of ``text`` ("(ECJ)", "(“EAT”)") -> where each opens:
    read once per document, so that looking up many abbreviations stays linear."""
    found: Dict[str, List[int]] = {}
    for m in _PARENTHESISED_WORD.finditer(text):
        found.setdefault(m.group(1), []).append(m.start())
    return found


def acronym_expansions(text: str, abbreviation: str, index: Optional[Dict[str, List[int]]] = None) -> List[str]:
    """The phrases a judgment defines ``abbreviation`` by: "Employment Appeal Tribunal
    (“EAT”)" -> "Employment Appeal Tribunal". The capitalised words just before the
    parenthesis must spell the abbreviation (connecting words such as "of" skipped).
    ``index`` (``parenthesised_words(text)``) saves a scan of the text per abbreviation."""
    letters = [c for c in abbreviation if c.isalpha()]
    if len(letters) < 2:
        return []
    found: List[str] = []
    if index is None:
        index = parenthesised_words(text)
    for open_at in index.get(abbreviation, []):
        before = text[max(0, open_at - 160):open_at]
        words = list(re.finditer(r"[\w’'\-&]+", before))
        need = list(letters)
        first = None
        for w in reversed(words):
            word = w.group(0)
            if not need:
                break
            if word.casefold() in _CONNECTORS and first is not None:
                continue
            if word[:1].upper() == need[-1].upper() and word[:1].isupper():
                need.pop()
                first = w
            else:
                break
        if not need and first is not None:
            phrase = " ".join(before[first.start():].split())
            if phrase and phrase not in found:
                found.append(phrase)
    return found
