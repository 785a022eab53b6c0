"""Folds by judgment and the candidate-string features of the learnt masking decision (issue #21)."""
import json

import numpy as np
import pytest
import spacy
from spacy.tokens import DocBin

from legal_anon.corpus.folds import split_ids, write_folds
from legal_anon.corpus.tab import DOC_ID_KEY
from legal_anon.eval.mention_decision import (candidate_strings, feature_names, fit_decision, matrix,
                                               set_targets)
from legal_anon.pipeline.crf_spans import candidate_spans

LABELS = ("KEEP", "PERSON")  # BIOES tags: O, then 4 per label in this order


def corpus(tmp_path, ids):
    nlp = spacy.blank("en")
    db = DocBin(store_user_data=True)
    for i, doc_id in enumerate(ids):
        doc = nlp(f"Judgment {doc_id} copy {i}.")
        if doc_id is not None:
            doc.user_data[DOC_ID_KEY] = doc_id
        db.add(doc)
    path = tmp_path / "train.spacy"
    db.to_disk(path)
    return path


def test_folds_keep_a_judgment_annotated_twice_in_one_fold(tmp_path):
    ids = ["a", "a", "b", "c", "c", "d", "e", "f", "g"]  # a and c: two annotators each
    report = write_folds(corpus(tmp_path, ids), tmp_path / "folds", k=3, seed=1)
    spec = json.loads((tmp_path / "folds" / "folds.json").read_text())
    assert sorted(i for f in spec["folds"] for i in f) == sorted(set(ids))
    nlp = spacy.blank("en")
    held_out_docs = 0
    for i, fold in enumerate(spec["folds"]):
        train = list(DocBin().from_disk(tmp_path / "folds" / f"fold{i}_train.spacy").get_docs(nlp.vocab))
        train_ids = [d.user_data[DOC_ID_KEY] for d in train]
        assert not set(train_ids) & set(fold)
        assert sorted(train_ids) == sorted(x for x in ids if x not in fold)
        held_out_docs += report["folds"][i]["heldout_docs"]
    assert held_out_docs == len(ids) == report["docs"]


def test_folds_refuse_docs_without_ids_and_too_many_folds(tmp_path):
    with pytest.raises(ValueError, match="no user_data"):
        write_folds(corpus(tmp_path, ["a", None, "b"]), tmp_path / "f", k=2, seed=0)
    with pytest.raises(ValueError, match="cannot fill 4 folds"):
        split_ids(["a", "b", "b"], 4, 0)
    assert split_ids(list("abcdefg"), 3, 5) == split_ids(list("gfedcba"), 3, 5)  # order-free, seeded


def tagged(text, person_probs, keep_probs):
    """A doc with candidates from hand-made BIOES marginals (S tags carry the mass)."""
    doc = spacy.blank("en")(text)
    doc.set_ents([], default="outside")  # as the tagger leaves it: no entity, every token O
    probs = np.zeros((len(doc), 1 + 4 * len(LABELS)), dtype=np.float32)
    for i in range(len(doc)):
        probs[i, 1 + 4 * 0 + 3] = keep_probs.get(i, 0.0)
        probs[i, 1 + 4 * 1 + 3] = person_probs.get(i, 0.0)
        probs[i, 0] = 1.0 - probs[i].sum()
    spans, scores = candidate_spans(doc, probs, LABELS, 0.05, keep_labels=("KEEP",))
    doc.spans["cands"] = spans
    doc.spans["cands"].attrs["scores"] = scores
    return doc, probs


def test_candidate_strings_pool_occurrences_and_see_the_whole_judgment():
    text = "The Registry wrote to Yalman . Yalman replied to the Registry . Later yalman left ."
    doc, probs = tagged(text, {4: 0.3, 6: 0.6, 1: 0.1}, {1: 0.8, 10: 0.7})
    strings = {s.key: s for s in candidate_strings(doc, "d1", probs, LABELS, ("KEEP",), "cands")}
    assert set(strings) == {"yalman", "registry"}
    yalman, registry = strings["yalman"], strings["registry"]
    assert len(yalman.spans) == 2 and yalman.score == pytest.approx(0.6)
    assert yalman.features["log_count"] == pytest.approx(np.log1p(3))  # "yalman" in lower case counts too
    assert yalman.features["candidate_share"] == pytest.approx(2 / 3)
    assert yalman.features["first_position"] == pytest.approx(text.index("Yalman") / len(text))
    assert registry.features["after_the"] == 1.0 and yalman.features["after_the"] == 0.0
    assert registry.features["keep_logit"] > 0 > yalman.features["keep_logit"]  # KEEP 0.8 against 0.0
    assert yalman.features["label_PERSON"] == 1.0 and "label_KEEP" not in yalman.features
    assert set(feature_names(["PERSON"])) == set(yalman.features)
    # targets: the share of the string's characters, every occurrence, that annotators masked
    first, second = text.index("Yalman"), text.index("Yalman", text.index("Yalman") + 1)
    set_targets(list(strings.values()), text, {"ann1": [(first, first + 6), (second, second + 6)], "ann2": []})
    assert yalman.target == pytest.approx((2 / 3 + 0) / 2) and registry.target == 0.0
    assert yalman.weight == 3.0


def test_candidates_without_scores_are_refused():
    doc, probs = tagged("Mr Yalman came", {1: 0.5}, {})
    del doc.spans["cands"].attrs["scores"]
    with pytest.raises(ValueError, match="no per-span scores"):
        candidate_strings(doc, "d9", probs, LABELS, ("KEEP",), "cands")


def test_the_decision_learns_a_feature_the_marginal_does_not_carry():
    rows = []
    for i in range(60):  # masked strings are title-cased; the marginal is noise
        doc, probs = tagged(f"word {'Alpha' if i % 2 else 'alpha'} end", {1: 0.05 + (i * 7 % 10) / 20}, {})
        strings = candidate_strings(doc, f"d{i}", probs, LABELS, ("KEEP",), "cands")
        for s in strings:
            s.target = float(i % 2)
        rows.extend(strings)
    names = feature_names(["PERSON"])
    model = fit_decision(rows, names)
    p = model.predict_proba(matrix(rows, names))[:, 1]
    masked = np.array([r.target for r in rows]) == 1
    assert p[masked].min() > 0.5 > p[~masked].max()
    for r in rows:
        r.target = 1.0
    with pytest.raises(ValueError, match="all masked or all kept"):
        fit_decision(rows, names)


def test_a_string_whose_lower_case_is_longer_keeps_its_own_offsets():
    text = "Yalman wrote to the İzmir State Security Court and to Yalman ."  # "İ".lower() is two characters
    doc, probs = tagged(text, {4: 0.4, 5: 0.3}, {})
    strings = candidate_strings(doc, "d2", probs, LABELS, ("KEEP",), "cands")
    assert [s.key for s in strings] == ["i̇zmir state"]
    start = text.index("İzmir")
    set_targets(strings, text, {"ann1": [(start, start + len("İzmir State"))]})
    assert strings[0].target == 1.0 and strings[0].features["first_position"] == pytest.approx(start / len(text))
