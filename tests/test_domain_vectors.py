"""Domain vectors trained with gensim on corpus texts (scripts/train_domain_vectors.py)."""
import numpy as np
import pytest
import spacy
from spacy.tokens import Doc, DocBin

from legal_anon.ml.vectors import load_keyed_vectors
from scripts.train_domain_vectors import corpus_sentences, train_word2vec


@pytest.fixture()
def tiny_corpus(tmp_path):
    nlp = spacy.blank("en")
    texts = [
        "The applicant was detained in Gdansk Prison .",
        "The Government contested the applicant 's claim .",
        "The Court notes that the applicant lodged an appeal .",
    ] * 5
    db = DocBin()
    for text in texts:
        words = text.split()
        doc = Doc(nlp.vocab, words=words + ["\n\n"], spaces=[True] * (len(words) - 1) + [False, False])
        db.add(doc)
    path = tmp_path / "train.spacy"
    db.to_disk(path)
    return path


def test_domain_vectors_train_save_and_load_through_init_vectors(tiny_corpus, tmp_path):
    sentences = corpus_sentences([tiny_corpus])
    assert len(sentences) == 15 and all("\n\n" not in s for s in sentences)
    assert sentences[0][0] == "the"  # lowercased like the GloVe lookup
    wv = train_word2vec(sentences, size=8, window=3, min_count=2, epochs=3, seed=0, workers=1)
    out = tmp_path / "domain.kv"
    wv.save(str(out))
    words, data = load_keyed_vectors(out)  # what scripts.init_vectors reads
    assert "applicant" in words and data.shape == (len(words), 8) and data.dtype == np.float32
    again = train_word2vec(sentences, size=8, window=3, min_count=2, epochs=3, seed=0, workers=1)
    assert np.allclose(again["applicant"], wv["applicant"])  # deterministic with 1 worker


def test_domain_vectors_missing_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.spacy"):
        corpus_sentences([tmp_path / "missing.spacy"])
    with pytest.raises(ValueError, match="no tokens"):
        train_word2vec([], size=8, window=3, min_count=1, epochs=1, seed=0, workers=1)
