"""TAB JSON -> DocBin: entities, span group metadata, policies, alignment, overlaps, errors."""
import json
import subprocess
import sys

import pytest
import spacy
from spacy.tokens import DocBin

from legal_anon.corpus.tab import TAB_SPAN_KEY, doc_id, tab_mentions
from legal_anon.corpus.report import ConversionError
from legal_anon.corpus.convert_tab import (
    REASON_NO_MASK,
    REASON_OTHER_LAYER,
    REASON_OVERLAP,
    REASON_UNION_DUPLICATE,
    REASON_UNION_OVERLAP,
    REPAIR_EXPANDED,
    convert_tab_file,
)

from .conftest import ROOT

TEXT = "Mr John Smith was arrested in Paris on 3 March 2004 by the Government police."


def mention(text, span_text, etype, ident, eid, mid, occurrence=0, start=None, end=None):
    if start is None:
        start = -1
        for _ in range(occurrence + 1):
            start = text.index(span_text, start + 1)
        end = start + len(span_text)
    return {
        "entity_type": etype, "entity_id": eid, "entity_mention_id": mid,
        "start_offset": start, "end_offset": end, "span_text": text[start:end],
        "identifier_type": ident, "confidential_status": "NOT_CONFIDENTIAL", "edit_type": "check",
    }


def tab_doc(doc_id="d1", text=TEXT, layers=None):
    if layers is None:
        layers = {
            "annotator1": [
                mention(text, "Mr John Smith", "PERSON", "DIRECT", "e1", "m1"),
                mention(text, "Paris", "LOC", "QUASI", "e2", "m2"),
                mention(text, "3 March 2004", "DATETIME", "QUASI", "e3", "m3"),
                mention(text, "Government", "ORG", "NO_MASK", "e4", "m4"),
            ],
            "annotator2": [
                mention(text, "John Smith", "PERSON", "DIRECT", "f1", "n1"),
                mention(text, "March 2004", "DATETIME", "QUASI", "f2", "n2"),
            ],
        }
    return {"doc_id": doc_id, "text": text, "annotations": {a: {"entity_mentions": m} for a, m in layers.items()}}


def write(tmp_path, docs, name="in.json"):
    path = tmp_path / name
    path.write_text(json.dumps(docs), encoding="utf8")
    return path


def ents(doc):
    return [(e.text, e.label_) for e in doc.ents]


def test_per_annotator_policy_gives_one_example_per_layer(tmp_path):
    docs, report = convert_tab_file(write(tmp_path, [tab_doc()]), None, policy="per-annotator")
    assert len(docs) == 2
    assert ents(docs[0]) == [("Mr John Smith", "PERSON"), ("Paris", "LOC"), ("3 March 2004", "DATETIME")]
    assert ents(docs[1]) == [("John Smith", "PERSON"), ("March 2004", "DATETIME")]
    # each example's span group holds its own layer, NO_MASK included
    assert [(m.span.text, m.identifier_type) for m in tab_mentions(docs[0])][-1] == ("Government", "NO_MASK")
    assert {m.annotator for m in tab_mentions(docs[1])} == {"annotator2"}
    assert report.mentions_in == {"DIRECT": 2, "QUASI": 3, "NO_MASK": 1}
    assert report.not_entities == {REASON_NO_MASK: 1}
    assert sum(report.entities_out.values()) == 5


def test_first_policy_keeps_all_layers_in_span_group(tmp_path):
    docs, report = convert_tab_file(write(tmp_path, [tab_doc()]), None, policy="first")
    assert len(docs) == 1
    doc = docs[0]
    assert ents(doc) == [("Mr John Smith", "PERSON"), ("Paris", "LOC"), ("3 March 2004", "DATETIME")]
    assert len(doc.spans[TAB_SPAN_KEY]) == 6
    assert {m.annotator for m in tab_mentions(doc)} == {"annotator1", "annotator2"}
    assert report.not_entities[REASON_OTHER_LAYER] == 2
    report.check()


def test_union_policy_merges_duplicates_and_keeps_longest(tmp_path):
    layers = {
        "a1": [mention(TEXT, "Paris", "LOC", "QUASI", "e1", "m1"),
               mention(TEXT, "March 2004", "DATETIME", "QUASI", "e2", "m2")],
        "a2": [mention(TEXT, "Paris", "LOC", "QUASI", "f1", "n1"),
               mention(TEXT, "3 March 2004", "DATETIME", "QUASI", "f2", "n2")],
    }
    docs, report = convert_tab_file(write(tmp_path, [tab_doc(layers=layers)]), None, policy="union")
    assert ents(docs[0]) == [("Paris", "LOC"), ("3 March 2004", "DATETIME")]
    assert report.not_entities == {REASON_UNION_DUPLICATE: 1, REASON_UNION_OVERLAP: 1}


def test_overlapping_mentions_in_one_layer_keep_the_longest(tmp_path):
    layers = {"a1": [mention(TEXT, "John Smith", "PERSON", "DIRECT", "e1", "m1"),
                     mention(TEXT, "Mr John Smith", "PERSON", "DIRECT", "e1", "m2"),
                     mention(TEXT, "Smith", "PERSON", "QUASI", "e1", "m3")]}
    docs, report = convert_tab_file(write(tmp_path, [tab_doc(layers=layers)]), None)
    assert ents(docs[0]) == [("Mr John Smith", "PERSON")]
    assert report.not_entities == {REASON_OVERLAP: 2}
    assert len(docs[0].spans[TAB_SPAN_KEY]) == 3  # all kept for evaluation


def test_offsets_inside_a_token_expand_to_token_boundaries(tmp_path):
    text = "The applicant Smithson lives in Paris."
    layers = {"a1": [mention(text, "Smith", "PERSON", "DIRECT", "e1", "m1"),
                     mention(text, "Paris", "LOC", "QUASI", "e2", "m2")]}
    docs, report = convert_tab_file(write(tmp_path, [tab_doc(text=text, layers=layers)]), None)
    assert ents(docs[0]) == [("Smithson", "PERSON"), ("Paris", "LOC")]
    assert report.repaired == {REPAIR_EXPANDED: 1}
    first = tab_mentions(docs[0])[0]
    assert (first.start_offset, first.end_offset) == (14, 19)  # original offsets kept


def test_whitespace_only_mention_is_dropped_and_counted(tmp_path):
    text = "Mr A lives  here."
    layers = {"a1": [mention(text, " ", "MISC", "QUASI", "e1", "m1", start=11, end=12)]}
    docs, report = convert_tab_file(write(tmp_path, [tab_doc(text=text, layers=layers)]), None)
    assert len(docs[0].ents) == 0 and len(docs[0].spans[TAB_SPAN_KEY]) == 0
    assert sum(report.not_entities.values()) == 1


def test_offsets_entities_offsets_round_trip_through_docbin(tmp_path):
    out = tmp_path / "out.spacy"
    convert_tab_file(write(tmp_path, [tab_doc()]), out, policy="first")
    docs = list(DocBin().from_disk(out).get_docs(spacy.blank("en").vocab))
    doc = docs[0]
    assert doc_id(doc) == "d1"
    source = tab_doc()["annotations"]["annotator1"]["entity_mentions"]
    masked = [(m["start_offset"], m["end_offset"], m["entity_type"]) for m in source if m["identifier_type"] != "NO_MASK"]
    assert [(e.start_char, e.end_char, e.label_) for e in doc.ents] == masked
    for m in tab_mentions(doc):
        assert doc.text[m.start_offset:m.end_offset] == m.span.text
        assert m.span.kb_id_ == m.entity_id


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda d: d["annotations"]["annotator1"]["entity_mentions"][0].update(end_offset=999), "outside the text"),
        (lambda d: d["annotations"]["annotator1"]["entity_mentions"][0].update(start_offset=-3), "outside the text"),
        (lambda d: d["annotations"]["annotator1"]["entity_mentions"][0].update(span_text="Mr Jon Smith"), "differs from the text"),
        (lambda d: d["annotations"]["annotator1"]["entity_mentions"][0].update(identifier_type="MAYBE"), "unknown identifier_type"),
        (lambda d: d["annotations"]["annotator1"]["entity_mentions"][0].update(entity_type="ANIMAL"), "unknown entity_type"),
        (lambda d: d["annotations"]["annotator1"]["entity_mentions"][0].pop("entity_id"), "missing key"),
        (lambda d: d.pop("text"), "missing key 'text'"),
    ],
)
def test_malformed_input_names_document_and_writes_nothing(tmp_path, mutate, message):
    good = tab_doc("ok-doc")
    bad = tab_doc("bad-doc")
    mutate(bad)
    out = tmp_path / "out.spacy"
    with pytest.raises(ConversionError) as err:
        convert_tab_file(write(tmp_path, [good, bad]), out)
    assert message in str(err.value)
    assert "in.json" in str(err.value)
    if message != "missing key 'text'":
        assert "bad-doc" in str(err.value)
    assert not out.exists()


def test_invalid_json_names_file_and_line_and_keeps_previous_output(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n {"doc_id": "a",\n  "text": "x"\n  "annotations": {}}\n]', encoding="utf8")
    out = tmp_path / "out.spacy"
    out.write_bytes(b"previous")
    with pytest.raises(ConversionError, match=r"broken.json: invalid JSON at line 4"):
        convert_tab_file(path, out)
    assert out.read_bytes() == b"previous"


def test_cli_reports_error_and_exits_nonzero(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json", encoding="utf8")
    proc = subprocess.run([sys.executable, "-m", "scripts.convert_tab", str(path), str(tmp_path / "o.spacy")],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "broken.json: invalid JSON at line 1" in proc.stderr
    assert not (tmp_path / "o.spacy").exists()


def test_sample_corpus_converts_with_every_mention_accounted_for(sample_dir):
    for split, policy in (("train", "per-annotator"), ("dev", "first")):
        records = json.loads((sample_dir / f"{split}.json").read_text(encoding="utf8"))
        docs, report = convert_tab_file(sample_dir / f"{split}.json", None, policy=policy)
        n_mentions = sum(len(l["entity_mentions"]) for r in records for l in r["annotations"].values())
        assert sum(report.mentions_in.values()) == n_mentions
        assert report.documents_in == len(records)
        assert len(docs) == (2 * len(records) if policy == "per-annotator" else len(records))
        assert set(report.entities_out) == {"PERSON", "CODE", "LOC", "ORG", "DEM", "DATETIME", "QUANTITY", "MISC"}
        if policy == "per-annotator":  # every mention of every layer sits in exactly one span group
            assert sum(len(d.spans[TAB_SPAN_KEY]) for d in docs) == n_mentions


VENDORED_TAB = ROOT / "assets" / "tab_subset"


@pytest.mark.parametrize("name,policy,n_docs,n_out", [
    ("echr_train.json", "per-annotator", 174, 203), ("echr_dev.json", "first", 21, 21),
])
def test_vendored_tab_subset_converts_with_every_mention_accounted_for(name, policy, n_docs, n_out):
    """The real judgments the project trains on by default: every mention is an entity or
    has a counted reason, by identifier type."""
    path = VENDORED_TAB / name
    records = json.loads(path.read_text(encoding="utf8"))
    docs, report = convert_tab_file(path, None, policy=policy)
    by_type = {}
    for r in records:
        for layer in r["annotations"].values():
            for m in layer["entity_mentions"]:
                by_type[m["identifier_type"]] = by_type.get(m["identifier_type"], 0) + 1
    assert report.documents_in == n_docs and len(docs) == n_out
    assert dict(report.mentions_in) == by_type
    report.check()
    assert report.not_entities[REASON_NO_MASK] == by_type["NO_MASK"]
    if policy == "per-annotator":
        masked = by_type["DIRECT"] + by_type["QUASI"]
        assert sum(report.entities_out.values()) == masked - report.not_entities.get(REASON_OVERLAP, 0)
        assert sum(len(d.spans[TAB_SPAN_KEY]) for d in docs) == sum(by_type.values())
    assert (VENDORED_TAB / "LICENSE.txt").read_text(encoding="utf8").startswith("The MIT License")


def test_a_document_without_annotation_layer_is_counted_not_dropped_silently(tmp_path):
    """per-annotator: nothing says what to mask, so it is no training example, and the report
    says so; the other policies keep it as a document without entities."""
    records = [
        {"doc_id": "a", "text": "Mr Galip Yalman left.", "annotations": {"annotator1": {"entity_mentions": [
            {"entity_type": "PERSON", "entity_id": "e1", "entity_mention_id": "m1", "start_offset": 3,
             "end_offset": 15, "span_text": "Galip Yalman", "identifier_type": "DIRECT"}]}}},
        {"doc_id": "b", "text": "Nobody annotated this.", "annotations": {}},
    ]
    path = tmp_path / "in.json"
    path.write_text(json.dumps(records), encoding="utf8")
    docs, report = convert_tab_file(path, None, policy="per-annotator")
    assert [d.user_data["doc_id"] for d in docs] == ["a"] and report.documents_in == 2
    assert report.notes["documents without an annotation layer (not converted by policy 'per-annotator')"] == 1
    docs, report = convert_tab_file(path, None, policy="first")
    assert [d.user_data["doc_id"] for d in docs] == ["a", "b"] and not docs[1].ents
