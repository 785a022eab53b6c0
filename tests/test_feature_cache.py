"""The BiLSTM featurizer's per-word cache stays bounded over a long run (issue 19).

A Ray actor that anonymizes an archive meets millions of distinct words (case numbers,
names); the cache must not keep them all, and a word's features must not depend on what
the cache held before.
"""
from __future__ import annotations

import numpy as np
import spacy
from spacy.vectors import Vectors

from legal_anon.ml.featurizer import Featurizer


def _features(feats, vocab, words):
    orths = np.asarray([vocab.strings.add(w) for w in words], dtype=np.uint64)
    pos = feats.lookup(vocab, orths)
    return feats.rows[pos].copy(), feats.case[pos].copy(), feats.chars[pos].copy()


def _vocab():
    nlp = spacy.blank("en")
    data = np.ones((3, 4), dtype=np.float32)
    nlp.vocab.vectors = Vectors(data=data, keys=[nlp.vocab.strings.add(w) for w in ("court", "oslo", "smith")])
    return nlp.vocab


def test_the_cache_stays_under_its_cap_over_many_distinct_words():
    vocab = _vocab()
    feats = Featurizer(max_word_length=24, n_char_rows=512, lowercase=True, hash_rows=1000)
    cap = Featurizer.DEFAULT_MAX_WORDS if hasattr(Featurizer, "DEFAULT_MAX_WORDS") else 100_000
    sizes = []
    for batch in range(30):  # 30 batches of 10,000 new case numbers: 300,000 distinct words
        words = [f"no.{batch:02d}{i:05d}/19" for i in range(10_000)] + ["Court", "Oslo", "Smith"]
        _features(feats, vocab, words)
        sizes.append(len(feats.index))
    assert max(sizes) <= cap
    assert max(sizes) >= 10_003  # it does cache
    assert feats.chars.shape[0] <= 2 * cap  # the arrays do not grow past the cap either


def test_features_do_not_depend_on_the_cache_state():
    vocab = _vocab()
    words = ["Court", "OSLO", "smith", "12345", "no.49", "Ångström", "x" * 40, "Mr"]
    fresh = _features(Featurizer(24, 512, True, 1000), vocab, words)
    small = Featurizer(24, 512, True, 1000, max_words=5)  # resets every few lookups
    for round_ in range(3):
        _features(small, vocab, [f"filler{round_}-{i}" for i in range(4)])
        got = _features(small, vocab, words)  # more words than the cap in one lookup: still right
        for a, b in zip(fresh, got):
            np.testing.assert_array_equal(a, b)
        assert len(small.index) <= max(5, len(words))
    assert fresh[0].tolist()[:3] == [0, 1, 2]  # lowercased vector rows; the rest OOV
    assert fresh[0].tolist()[3:] == [3] * 5
