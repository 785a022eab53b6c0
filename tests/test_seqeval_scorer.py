"""The seqeval scorer (legal_anon.eval.seqeval_scorer): hand-computed examples, and inside a
real ``spacy evaluate`` run on a tiny rule-based pipeline."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example

from legal_anon.eval.seqeval_scorer import (
    doc_iob2_tags, example_iob2, make_seqeval_ner_scorer, seqeval_ner_score, seqeval_scores,
)

ROOT = Path(__file__).resolve().parent.parent


def test_registered_under_its_name_and_entry_point():
    assert spacy.registry.scorers.get("legal_anon.seqeval_ner_scorer.v1") is make_seqeval_ner_scorer
    assert make_seqeval_ner_scorer() is seqeval_ner_score


def test_seqeval_scores_by_hand():
    # gold: PER [0,2), LOC [3,4) ; pred: PER [0,1) (wrong end), LOC [3,4) (right)
    y_true = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-PER"]]
    y_pred = [["B-PER", "O", "O", "B-LOC"], ["O", "O"]]
    s = seqeval_scores(y_true, y_pred)
    # tp 1 (LOC); pred 2; gold 3 -> P 1/2, R 1/3, F 2PR/(P+R) = 0.4
    assert s["seqeval_p"] == pytest.approx(1 / 2)
    assert s["seqeval_r"] == pytest.approx(1 / 3)
    assert s["seqeval_f"] == pytest.approx(0.4)
    assert s["seqeval_per_type"]["PER"] == {"p": 0.0, "r": 0.0, "f": 0.0, "support": 2}
    assert s["seqeval_per_type"]["LOC"] == {"p": 1.0, "r": 1.0, "f": 1.0, "support": 1}


def test_strict_mode_rejects_ill_formed_entities():
    # the default (conlleval) mode would accept I-PER I-PER as a PER entity; strict IOB2 does not
    s = seqeval_scores([["B-PER", "I-PER"]], [["I-PER", "I-PER"]])
    assert s["seqeval_p"] == 0.0 and s["seqeval_r"] == 0.0


def test_empty_predictions_and_empty_gold():
    s = seqeval_scores([["B-PER", "O"]], [["O", "O"]])
    assert (s["seqeval_p"], s["seqeval_r"], s["seqeval_f"]) == (0.0, 0.0, 0.0)
    s = seqeval_scores([["O"]], [["O"]])
    assert (s["seqeval_p"], s["seqeval_r"], s["seqeval_f"], s["seqeval_per_type"]) == (0.0, 0.0, 0.0, {})


def _doc(nlp, words, ents, spaces=None):
    doc = Doc(nlp.vocab, words=words, spaces=spaces)
    doc.ents = [Span(doc, s, e, label=l) for s, e, l in ents]
    return doc


def test_scorer_on_examples_with_spacy_scores_alongside():
    nlp = spacy.blank("en")
    words = ["Mr", "John", "Smith", "lives", "in", "Oslo", "since", "1970", "."]
    gold = _doc(nlp, words, [(1, 3, "PERSON"), (5, 6, "LOC"), (7, 8, "DATETIME")])
    pred = _doc(nlp, words, [(2, 3, "PERSON"), (5, 6, "LOC"), (7, 8, "LOC")])
    scores = seqeval_ner_score([Example(pred, gold)])
    # tp: LOC Oslo ; pred 3 ; gold 3 -> P = R = F = 1/3
    for k in ("seqeval_p", "seqeval_r", "seqeval_f", "ents_p", "ents_r", "ents_f"):
        assert scores[k] == pytest.approx(1 / 3), k
    assert scores["seqeval_per_type"]["LOC"]["p"] == pytest.approx(1 / 2)
    assert scores["seqeval_per_type"]["DATETIME"] == {"p": 0.0, "r": 0.0, "f": 0.0, "support": 1}
    assert scores["spans_seqeval_f"] == scores["seqeval_f"]
    assert scores["spans_seqeval_per_type"] == scores["seqeval_per_type"]


def test_predictions_are_projected_onto_reference_tokens():
    nlp = spacy.blank("en")
    ref = _doc(nlp, ["New", "York-based", "firm"], [(0, 2, "ORG")])
    # predicted tokenization splits "York-based"; its entity "New York" ends inside a reference token
    pred = _doc(nlp, ["New", "York", "-", "based", "firm"], [(0, 2, "ORG")],
                spaces=[True, False, False, True, True])
    assert ref.text == pred.text
    gold_tags, pred_tags = example_iob2(Example(pred, ref))
    assert gold_tags == ["B-ORG", "I-ORG", "O"]
    assert pred_tags == ["B-ORG", "I-ORG", "O"]  # expanded to whole reference tokens


def test_examples_without_ner_annotation_are_skipped():
    nlp = spacy.blank("en")
    unannotated = Doc(nlp.vocab, words=["a", "b"])
    annotated = _doc(nlp, ["John"], [(0, 1, "PERSON")])
    s = seqeval_ner_score([Example(_doc(nlp, ["a", "b"], [(0, 1, "X")]), unannotated),
                           Example(_doc(nlp, ["John"], [(0, 1, "PERSON")]), annotated)])
    assert s["seqeval_p"] == 1.0 and s["seqeval_r"] == 1.0
    assert doc_iob2_tags(annotated) == ["B-PERSON"]


def test_inside_spacy_evaluate(tmp_path):
    """`spacy evaluate` on a tiny pipeline whose entity_ruler uses the seqeval scorer."""
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler", config={"scorer": {"@scorers": "legal_anon.seqeval_ner_scorer.v1"}})
    ruler.add_patterns([{"label": "PERSON", "pattern": "Smith"}, {"label": "LOC", "pattern": "Oslo"}])
    nlp.to_disk(tmp_path / "pipeline")
    gold = [
        # gold PERSON "John Smith", LOC "Oslo"; the ruler finds "Smith" (wrong start) and "Oslo"
        _doc(nlp, ["John", "Smith", "lives", "in", "Oslo", "."], [(0, 2, "PERSON"), (4, 5, "LOC")]),
        # gold PERSON "Smith"; found ; gold DATETIME "1970" missed
        _doc(nlp, ["Smith", "left", "in", "1970", "."], [(0, 1, "PERSON"), (3, 4, "DATETIME")]),
    ]
    DocBin(docs=gold).to_disk(tmp_path / "dev.spacy")
    out = tmp_path / "scores.json"
    proc = subprocess.run(
        [sys.executable, "-m", "spacy", "evaluate", str(tmp_path / "pipeline"), str(tmp_path / "dev.spacy"),
         "--output", str(out), "--spans-key", "seqeval"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    scores = json.loads(out.read_text())
    # tp 2 (Oslo, Smith in doc 2) ; pred 3 ; gold 4 -> P 2/3, R 1/2, F 4/7
    assert scores["spans_seqeval_p"] == pytest.approx(2 / 3)
    assert scores["spans_seqeval_r"] == pytest.approx(1 / 2)
    assert scores["spans_seqeval_f"] == pytest.approx(4 / 7)
    assert scores["ents_f"] == pytest.approx(4 / 7)
    assert scores["spans_seqeval_per_type"]["PERSON"]["p"] == pytest.approx(1 / 2)
    assert scores["spans_seqeval_per_type"]["DATETIME"]["r"] == 0.0
    assert "SPAN P" in proc.stdout and "66.67" in proc.stdout and "NER F" in proc.stdout


def test_language_evaluate_as_in_spacy_train():
    """`spacy train` scores dev with Language.evaluate: spaCy's own ner with this scorer
    reports seqeval_* next to ents_*, from the same predictions."""
    from thinc.api import fix_random_seed

    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("ner", config={"scorer": {"@scorers": "legal_anon.seqeval_ner_scorer.v1"}})
    gold = _doc(nlp, ["John", "Smith", "left", "Oslo", "."], [(0, 2, "PERSON"), (3, 4, "LOC")])
    examples = [Example(nlp.make_doc(gold.text), gold)]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(30):
        nlp.update(examples, sgd=optimizer, drop=0.0)
    scores = nlp.evaluate(examples)
    assert scores["seqeval_f"] == scores["ents_f"] == 1.0
    assert set(scores["seqeval_per_type"]) == {"PERSON", "LOC"}
    # a wrong prediction lowers both the same way
    wrong = _doc(nlp, ["John", "Smith", "left", "Oslo", "."], [(0, 1, "PERSON"), (3, 4, "LOC")])
    scores = nlp.evaluate([Example(nlp.make_doc(wrong.text), wrong)])
    assert scores["seqeval_p"] == pytest.approx(0.5) and scores["seqeval_f"] == pytest.approx(scores["ents_f"])
