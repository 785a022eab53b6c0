"""The embedded sample corpus: deterministic, valid TAB schema, two annotators that disagree."""
import json
from pathlib import Path

from legal_anon.corpus.tab import ENTITY_TYPES
from legal_anon.corpus.convert_tab import validate_document
from legal_anon.corpus.sample import generate_split


def test_same_seed_same_corpus_other_seed_other_corpus():
    assert json.dumps(generate_split(13, "dev", 5)) == json.dumps(generate_split(13, "dev", 5))
    assert generate_split(13, "dev", 5)[0]["text"] != generate_split(14, "dev", 5)[0]["text"]
    assert generate_split(13, "dev", 5)[0]["text"] != generate_split(13, "test", 5)[0]["text"]


def test_documents_are_valid_tab_with_two_disagreeing_annotators(sample_dir: Path):
    records = json.loads((sample_dir / "train.json").read_text(encoding="utf8"))
    assert len(records) == 60
    disagreements = 0
    types = set()
    no_mask_texts = set()
    for i, r in enumerate(records):
        validate_document(r, i, sample_dir / "train.json")  # raises on any schema error
        a1, a2 = (r["annotations"][a]["entity_mentions"] for a in ("annotator1", "annotator2"))
        key = lambda m: (m["start_offset"], m["end_offset"], m["identifier_type"])
        disagreements += len({key(m) for m in a1} ^ {key(m) for m in a2})
        types |= {m["entity_type"] for m in a1}
        no_mask_texts |= {m["span_text"] for m in a1 if m["identifier_type"] == "NO_MASK"}
        assert 250 < len(r["text"].split()) < 700
    assert types == set(ENTITY_TYPES)
    assert {"Government", "European Court of Human Rights"} <= no_mask_texts
    assert disagreements > 100


def test_repeated_mentions_of_one_person_share_an_entity_id(sample_dir: Path):
    record = json.loads((sample_dir / "dev.json").read_text(encoding="utf8"))[0]
    mentions = record["annotations"]["annotator1"]["entity_mentions"]
    applicant = next(m for m in mentions if m["identifier_type"] == "DIRECT" and m["entity_type"] == "PERSON")
    same = [m for m in mentions if m["entity_id"] == applicant["entity_id"]]
    surname = record["meta"]["applicant"].split()[-1]
    assert all(surname in m["span_text"] for m in same)
