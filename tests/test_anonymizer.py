"""The anonymizer component: operators, pseudonym consistency, occurrence masking, the
privacy check over the whole sample corpus, salt handling and long-document splitting."""
from __future__ import annotations

import json
import re
from collections import defaultdict

import pytest
import spacy

from legal_anon.pipeline.anonymizer import Anonymizer
from legal_anon.pipeline.anonymizer_settings import MissingSaltError
from legal_anon.pipeline.names import is_short_form, name_tokens
from legal_anon.pipeline.split_long import pipe_long, split_text

TEXT = (
    "The applicant, Mr Galip Yalman, was born in 1960 and lives in Bartın. "
    "Mr Yalman was represented by Ms B. Baysal, a lawyer. His wife, Ayşe Yalman, "
    "also lives in Bartın. Baysal lodged the appeal on 3 May 2001; Mr Yalman signed it."
)
PATTERNS = [
    {"label": "PERSON", "pattern": "Mr Galip Yalman"},
    {"label": "PERSON", "pattern": "Mr Yalman"},
    {"label": "PERSON", "pattern": "Ms B. Baysal"},
    {"label": "PERSON", "pattern": "Ayşe Yalman"},
    {"label": "DATETIME", "pattern": "1960"},
    {"label": "DATETIME", "pattern": "3 May 2001"},
    {"label": "LOC", "pattern": [{"TEXT": "Bartın"}]},
]


def make_nlp(**cfg):
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(PATTERNS)
    nlp.add_pipe("anonymizer", config=cfg)
    return nlp


def spans_of(text, *surfaces_labels):
    out = []
    for surface, label in surfaces_labels:
        i = text.index(surface)
        out.append((i, i + len(surface), label))
    return out


def check_offsets(text, out, reps):
    for r in reps:
        assert text[r["start"]:r["end"]] == r["text"]
        assert out[r["new_start"]:r["new_end"]] == r["replacement"]
    # the output is the input with the regions replaced, in order
    rebuilt, pos = [], 0
    for r in reps:
        rebuilt.append(text[pos:r["start"]] + r["replacement"])
        pos = r["end"]
    rebuilt.append(text[pos:])
    assert "".join(rebuilt) == out


def test_replace_is_default_and_sets_extensions():
    doc = make_nlp()(TEXT)
    assert "[PERSON]" in doc._.anonymized and "[LOC]" in doc._.anonymized
    for s in ("Yalman", "Baysal", "Bartın", "1960", "3 May 2001"):
        assert s not in doc._.anonymized
    check_offsets(doc.text, doc._.anonymized, doc._.anon_replacements)
    assert {r["operator"] for r in doc._.anon_replacements} == {"replace"}


def test_pseudonyms_consistent_with_short_forms():
    doc = make_nlp(operators={"PERSON": "pseudonym"})(TEXT)
    by_text = defaultdict(set)
    for r in doc._.anon_replacements:
        if r["label"] == "PERSON":
            by_text[r["text"]].add(r["replacement"])
    assert by_text["Mr Galip Yalman"] == {"PERSON_1"}
    assert by_text["Mr Yalman"] == {"PERSON_1"}  # short form -> the applicant
    assert by_text["Ms B. Baysal"] == {"PERSON_2"}
    assert by_text["Baysal"] == {"PERSON_2"}  # surname alone, masked as another occurrence
    assert by_text["Ayşe Yalman"] == {"PERSON_3"}  # same surname, different person
    assert doc._.anonymized.startswith("The applicant, PERSON_1, was born in [DATETIME]")


def test_short_form_rules():
    assert is_short_form(name_tokens("Mr Yalman"), name_tokens("Mr Galip Yalman"))
    assert is_short_form(name_tokens("G. Yalman"), name_tokens("Galip Yalman"))
    assert not is_short_form(name_tokens("Ahmet Yalman"), name_tokens("Galip Yalman"))
    assert not is_short_form(name_tokens("Galip"), name_tokens("Galip Yalman"))
    assert name_tokens("Judge Dr Anna Nowak") == ["anna", "nowak"]


def test_gendered_title_disambiguates():
    text = "Ms Ayşe Kaya and her husband Mr Mehmet Kaya arrived. Later Mr Kaya left and Ms Kaya stayed."
    a = Anonymizer(None, operators={"PERSON": "pseudonym"})
    out, reps = a.anonymize(text, spans_of(text, ("Ms Ayşe Kaya", "PERSON"), ("Mr Mehmet Kaya", "PERSON"),
                                          ("Mr Kaya", "PERSON"), ("Ms Kaya", "PERSON")))
    got = {r["text"]: r["replacement"] for r in reps}
    assert got["Mr Kaya"] == got["Mr Mehmet Kaya"] == "PERSON_2"
    assert got["Ms Kaya"] == got["Ms Ayşe Kaya"] == "PERSON_1"


def test_mask_redact_keep_and_hash(monkeypatch):
    monkeypatch.setenv("LEGAL_ANON_SALT", "s3cret")
    nlp = make_nlp(operators={"PERSON": "mask", "LOC": "redact", "DATETIME": "keep", "ORG": "hash"})
    doc = nlp(TEXT)
    out = doc._.anonymized
    assert "** ***** ******" in out  # Mr Galip Yalman, spaces kept
    assert "Bartın" not in out and "lives in ." in out
    assert "1960" in out and "3 May 2001" in out  # kept, not replaced
    assert all(r["label"] != "DATETIME" for r in doc._.anon_replacements)
    check_offsets(doc.text, out, doc._.anon_replacements)


def test_hash_is_keyed_and_consistent(monkeypatch):
    text = "Mr Galip Yalman met Mr Yalman's lawyer, Ms Baysal."
    spans = spans_of(text, ("Mr Galip Yalman", "PERSON"), ("Mr Yalman", "PERSON"), ("Ms Baysal", "PERSON"))
    monkeypatch.setenv("LEGAL_ANON_SALT", "salt-one")
    out1, reps1 = Anonymizer(None, operators={"PERSON": "hash"}).anonymize(text, spans)
    monkeypatch.setenv("LEGAL_ANON_SALT", "salt-two")
    out2, _ = Anonymizer(None, operators={"PERSON": "hash"}).anonymize(text, spans)
    h = [r["replacement"] for r in reps1]
    assert h[0] == h[1] != h[2] and h[0].startswith("PERSON_") and len(h[0]) == len("PERSON_") + 12
    assert out1 != out2  # keyed: another salt gives other codes


def test_hash_without_salt_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("LEGAL_ANON_SALT", raising=False)
    with pytest.raises(MissingSaltError, match="LEGAL_ANON_SALT"):
        make_nlp(operators={"PERSON": "hash"})


def test_salt_never_serialized(tmp_path, monkeypatch):
    salt = "never-write-me-7f3a"
    monkeypatch.setenv("MY_SALT", salt)
    nlp = make_nlp(operators={"PERSON": "hash"}, salt_env="MY_SALT")
    expected = nlp(TEXT)._.anonymized
    nlp.to_disk(tmp_path / "pipe")
    for f in (tmp_path / "pipe").rglob("*"):
        if f.is_file():
            assert salt.encode() not in f.read_bytes(), f
    assert salt.encode() not in nlp.to_bytes()
    # reloading needs the salt again at runtime
    monkeypatch.delenv("MY_SALT")
    with pytest.raises(MissingSaltError):
        spacy.load(tmp_path / "pipe")
    monkeypatch.setenv("MY_SALT", salt)
    assert spacy.load(tmp_path / "pipe")(TEXT)._.anonymized == expected
    # a salt file works too
    (tmp_path / "salt.txt").write_text(salt + "\n")
    monkeypatch.delenv("MY_SALT")
    a = Anonymizer(None, operators={"PERSON": "hash"}, salt_env=None, salt_file=str(tmp_path / "salt.txt"))
    _, reps = a.anonymize(TEXT, spans_of(TEXT, ("Mr Galip Yalman", "PERSON")))
    assert reps[0]["replacement"] in expected


def test_overlapping_spans_are_merged():
    text = "Judgment of the Ankara Administrative Court of 3 May 2001 was final."
    spans = spans_of(text, ("Ankara Administrative Court", "ORG"), ("Ankara", "LOC"),
                     ("Court of 3 May", "MISC"), ("3 May 2001", "DATETIME"))
    out, reps = Anonymizer(None).anonymize(text, spans)
    assert out == "Judgment of the [ORG] was final."
    assert len(reps) == 1 and reps[0]["text"] == "Ankara Administrative Court of 3 May 2001"
    check_offsets(text, out, reps)


def test_other_occurrences_masked_case_sensitive_on_word_boundaries():
    text = "Witness Kowalczyk saw it. KOWALCZYK denied it. Kowalczyk-Nowak and Kowalczyks came. kowalczyk."
    # without entity consistency only the string as written is propagated
    out, reps = Anonymizer(None, entity_consistency=False).anonymize(text, spans_of(text, ("Kowalczyk", "PERSON")))
    occ = [r for r in reps if r["source"] == "occurrence"]
    assert [r["text"] for r in occ] == ["Kowalczyk"]  # in "Kowalczyk-Nowak" (hyphen is a boundary)
    assert all(r["label"] == "PERSON" for r in occ)
    # "Kowalczyks" is not on a word boundary: the final check still removes it
    assert "Kowalczyk" not in out
    assert [r["text"] for r in reps if r["source"] == "repair"] == ["Kowalczyks"]
    assert "KOWALCZYK" in out and "kowalczyk." in out  # case-sensitive by design
    check_offsets(text, out, reps)


def test_short_strings_not_propagated():
    text = "Applicant A. and B. met. A. left."
    out, reps = Anonymizer(None).anonymize(text, spans_of(text, ("A.", "PERSON")))
    assert out == "Applicant [PERSON] and B. met. A. left."


def test_replacement_never_equals_or_contains_original():
    text = "The user PERSON_1 wrote to [PERSON] about it."
    spans = spans_of(text, ("PERSON_1", "PERSON"), ("[PERSON]", "PERSON"))
    for op in ("pseudonym", "replace"):
        out, reps = Anonymizer(None, default_operator=op).anonymize(text, spans)
        assert "PERSON_1" not in out and "[PERSON]" not in out
        check_offsets(text, out, reps)


def test_no_masked_text_survives_over_sample_corpus(sample_dir):
    """Gold DIRECT/QUASI mentions of every annotator, every split: no masked surface string
    (>= 3 characters) is left in the output, and person mentions of one entity share one
    pseudonym."""
    anon = Anonymizer(None, operators={"PERSON": "pseudonym"})
    n_docs = n_checked = n_entities = 0
    for split in ("train", "dev", "test"):
        for d in json.loads((sample_dir / f"{split}.json").read_text(encoding="utf8")):
            text = d["text"]
            for layer in d["annotations"].values():
                masked = [m for m in layer["entity_mentions"] if m["identifier_type"] != "NO_MASK"]
                out, reps = anon.anonymize(text, [(m["start_offset"], m["end_offset"], m["entity_type"]) for m in masked])
                check_offsets(text, out, reps)
                for m in masked:
                    surface = text[m["start_offset"]:m["end_offset"]].strip()
                    if len(surface) >= 3:
                        assert surface not in out, (d["doc_id"], surface)
                        n_checked += 1
                pseudonyms = defaultdict(set)
                for m in masked:
                    if m["entity_type"] == "PERSON":
                        cover = [r for r in reps if r["start"] <= m["start_offset"] and r["end"] >= m["end_offset"]]
                        pseudonyms[m["entity_id"]].add(cover[0]["replacement"])
                for eid, reps_of in pseudonyms.items():
                    assert len(reps_of) == 1, (d["doc_id"], eid, reps_of)
                    n_entities += 1
            n_docs += 1
    assert n_docs == 100 and n_checked > 2000 and n_entities > 200


def test_split_text_on_paragraphs():
    paras = [f"Paragraph {i}. " + "word " * 30 for i in range(12)]
    text = "\n\n".join(paras)
    pieces = split_text(text, 500)
    assert "".join(p for _, p in pieces) == text
    assert all(len(p) <= 500 for _, p in pieces)
    assert all(text[o:o + len(p)] == p for o, p in pieces)
    assert all(p.endswith("\n\n") for _, p in pieces[:-1])  # cut after a blank line
    # no paragraph break in reach: falls back to sentences / whitespace / hard cut
    assert "".join(p for _, p in split_text("x" * 1000, 300)) == "x" * 1000
    assert "".join(p for _, p in split_text("a b. " * 300, 100)) == "a b. " * 300


def test_long_document_split_keeps_offsets():
    nlp = make_nlp(operators={"PERSON": "pseudonym"})
    text = "\n\n".join([TEXT] * 8)
    whole = nlp(text)
    nlp.max_length = 600
    with pytest.raises(ValueError):
        nlp(text)
    (doc,) = list(pipe_long(nlp, [text], batch_size=4))
    assert doc.text == text
    assert [(e.start_char, e.end_char, e.label_) for e in doc.ents] == \
        [(e.start_char, e.end_char, e.label_) for e in whole.ents]
    assert doc._.anonymized == whole._.anonymized  # pseudonyms numbered over the whole doc
    assert doc._.anon_replacements == whole._.anon_replacements
    check_offsets(text, doc._.anonymized, doc._.anon_replacements)
    assert pipe_long(nlp, ["short"]).__next__()._.anonymized == "short"


@pytest.mark.parametrize("operator", ["replace", "pseudonym", "mask", "redact"])
def test_random_spans_never_leak(sample_dir, operator):
    """Random (overlapping, mid-word) spans with every operator: the output never contains
    a masked string of >= 3 characters (docs/anonymizer.md, "The guarantee") and the
    offsets always hold."""
    import random

    rng = random.Random(7)
    docs = json.loads((sample_dir / "dev.json").read_text(encoding="utf8"))
    anon = Anonymizer(None, default_operator=operator)
    labels = ["PERSON", "LOC", "ORG", "DATETIME"]
    for d in docs[:10]:
        text = d["text"]
        for _ in range(3):
            spans = []
            for _ in range(rng.randint(1, 25)):
                start = rng.randrange(len(text) - 1)
                spans.append((start, min(len(text), start + rng.randint(1, 30)), rng.choice(labels)))
            out, reps = anon.anonymize(text, spans)
            check_offsets(text, out, reps)
            for s, e, _ in spans:
                surface = text[s:e].strip()
                if len("".join(surface.split())) >= 3:
                    # the documented rule: a common word (no capital or digit) as a whole
                    # word, anything else even inside a longer word; whitespace-tolerant
                    body = r"\s+".join(re.escape(p) for p in surface.split())
                    if not any(c.isupper() or c.isdigit() for c in surface):
                        body = r"(?<!\w)" + body + r"(?!\w)"
                    assert not re.search(body, out), (d["doc_id"], surface, operator)


def test_titled_name_with_wrong_label_joins_the_person():
    text = "Mr Florin Popescu was arrested. Mr Popescu submitted that he had not been informed."
    spans = spans_of(text, ("Mr Florin Popescu", "PERSON"), ("Mr Popescu", "ORG"))
    out, reps = Anonymizer(None, operators={"PERSON": "pseudonym"}).anonymize(text, spans)
    assert out == "PERSON_1 was arrested. PERSON_1 submitted that he had not been informed."
    out, _ = Anonymizer(None, operators={"PERSON": "pseudonym"}, titled_names_as=None).anonymize(text, spans)
    assert out == "PERSON_1 was arrested. [ORG] submitted that he had not been informed."
