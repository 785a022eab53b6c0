"""Reviewers' corrections into the training corpus: ``convert_tab --reviewed``."""
from __future__ import annotations

import json

import pytest
import spacy
from spacy.tokens import DocBin

from legal_anon.corpus.convert_tab import convert_tab_file
from legal_anon.corpus.report import ConversionError
from legal_anon.corpus.tab import tab_mentions


def reviewed_layer(doc, reviewer="alice"):
    """The first masked mention of a TAB document, as a reviewer's one-mention layer."""
    m = next(m for layer in doc["annotations"].values() for m in layer["entity_mentions"]
             if m["identifier_type"] != "NO_MASK")
    return {"doc_id": doc["doc_id"], "text": doc["text"],
            "annotations": {reviewer: {"entity_mentions": [{**m, "entity_mention_id": f"{reviewer}_0"}]}}}


def test_a_reviewed_document_joins_as_one_more_annotator_or_as_a_new_document(sample_dir, tmp_path):
    train = json.loads((sample_dir / "train.json").read_text(encoding="utf8"))[:3]
    new = json.loads((sample_dir / "dev.json").read_text(encoding="utf8"))[0]
    (tmp_path / "train.json").write_text(json.dumps(train), encoding="utf8")
    (tmp_path / "reviewed.json").write_text(json.dumps([reviewed_layer(train[1]), reviewed_layer(new)]), encoding="utf8")
    _, plain = convert_tab_file(tmp_path / "train.json", tmp_path / "a.spacy")
    docs, report = convert_tab_file(tmp_path / "train.json", tmp_path / "b.spacy", reviewed=[tmp_path / "reviewed.json"])
    assert report.notes["reviewed documents: a layer added to a known document"] == 1
    assert report.notes["reviewed documents: new documents"] == 1
    # per-annotator: one example per layer, so two more examples than without the reviews
    assert len(docs) == len(DocBin().from_disk(tmp_path / "a.spacy")) + 2
    stored = list(DocBin().from_disk(tmp_path / "b.spacy").get_docs(spacy.blank("en").vocab))
    alice = [d for d in stored if {m.annotator for m in tab_mentions(d)} == {"alice"}]
    assert sorted(d.user_data["doc_id"] for d in alice) == sorted([train[1]["doc_id"], new["doc_id"]])
    assert all(len(d.ents) == 1 for d in alice)


def test_a_reviewed_document_with_another_text_is_refused(sample_dir, tmp_path):
    train = json.loads((sample_dir / "train.json").read_text(encoding="utf8"))[:2]
    changed = reviewed_layer(train[0])
    changed["text"] = changed["text"] + " (edited)"
    (tmp_path / "train.json").write_text(json.dumps(train), encoding="utf8")
    (tmp_path / "reviewed.json").write_text(json.dumps([changed]), encoding="utf8")
    with pytest.raises(ConversionError, match="another text"):
        convert_tab_file(tmp_path / "train.json", None, reviewed=[tmp_path / "reviewed.json"])
