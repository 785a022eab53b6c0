"""The threshold curve (legal_anon.eval.threshold_curve): the sweep against fresh runs of
the pipeline, each document's counts by hand, the pooled curve and the held-out choice."""
from __future__ import annotations

import json

import pytest
import spacy
from thinc.api import Adam, fix_random_seed

from legal_anon.eval import tab_gold, tab_metrics as tm, tab_output
from legal_anon.eval.evaluate_tab import load_for_evaluation
from legal_anon.eval.threshold_curve import _pooled, document_counts, leave_one_document_out, recommend, sweep

from .conftest import examples_from
from .test_tab_metrics import POS_MODEL, RECORD, S1

SMALL_MODEL = {
    "@architectures": "legal_anon.CharCNNBiLSTMCRF.v1",
    "char_width": 8, "char_filters": 8, "char_kernel": 3, "max_word_length": 12, "n_char_rows": 128,
    "case_width": 2, "lowercase_vectors": True, "hash_rows": 500, "word_width": 8, "hidden_width": 8,
    "depth": 1, "dropout": 0.1, "window": 16, "max_batch_tokens": 64, "torch_threads": 1,
}
TRAIN = [
    ("John Smith lives in Paris .", [(0, 2, "PERSON"), (4, 5, "LOC")]),
    ("Mary Jones moved to Berlin in 1990 .", [(0, 2, "PERSON"), (4, 5, "LOC"), (6, 7, "DATETIME")]),
    ("The court of Oslo ruled in 1985 .", [(3, 4, "LOC"), (6, 7, "DATETIME")]),
    ("Peter Brown was born in Lyon .", [(0, 2, "PERSON"), (5, 6, "LOC")]),
]
# dev judgments: (text, [(start word, end word, type, identifier type)]) per annotator
DEV = {
    "a": ("Anna Berg lives in Oslo since 1990 .", {"x": [(0, 2, "PERSON", "DIRECT"), (4, 5, "LOC", "QUASI"),
                                                       (6, 7, "DATETIME", "QUASI")]}),
    "b": ("The court of Paris heard Mary Smith .", {"x": [(3, 4, "LOC", "QUASI"), (5, 7, "PERSON", "DIRECT")],
                                                   "y": [(5, 7, "PERSON", "DIRECT")]}),
    "c": ("Peter Jones moved to Lyon in 1985 .", {"x": [(0, 2, "PERSON", "DIRECT"), (4, 5, "LOC", "NO_MASK"),
                                                      (6, 7, "DATETIME", "QUASI")]}),
}
THRESHOLDS = [0.05, None, 0.9, 0.3, 0.05]  # out of order and repeated: each point from the same predictions


def _record(doc_id, text, layers):
    words = text.split()
    starts = [sum(len(w) + 1 for w in words[:i]) for i in range(len(words) + 1)]
    annotations = {}
    for annotator, mentions in layers.items():
        annotations[annotator] = {"entity_mentions": [
            {"entity_id": f"{doc_id}_{annotator}_{n}", "entity_type": etype, "start_offset": starts[s],
             "end_offset": starts[e] - 1, "span_text": text[starts[s]:starts[e] - 1], "identifier_type": itype,
             "entity_mention_id": f"{doc_id}_{annotator}_m{n}", "confidential_status": "NOT_CONFIDENTIAL"}
            for n, (s, e, etype, itype) in enumerate(mentions)]}
    return {"doc_id": doc_id, "text": text, "dataset_type": "dev", "annotations": annotations}


@pytest.fixture(scope="module")
def tagger_and_gold(tmp_path_factory):
    """A half-trained bilstm_crf_ner (many tokens of middling probability) on disk, and a
    three-judgment TAB gold file."""
    out = tmp_path_factory.mktemp("threshold_curve")
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_crf_ner", config={"model": SMALL_MODEL})
    examples = examples_from(nlp, TRAIN)
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.02)
    for _ in range(10):
        nlp.update(examples, sgd=optimizer)
    nlp.to_disk(out / "model")
    records = [_record(doc_id, text, layers) for doc_id, (text, layers) in DEV.items()]
    (out / "gold.json").write_text(json.dumps(records), encoding="utf8")
    return out / "model", out / "gold.json"


@pytest.fixture(scope="module")
def curve(tagger_and_gold):
    model, gold_path = tagger_and_gold
    return sweep(str(model), gold_path, THRESHOLDS, pos_model=POS_MODEL)


def test_each_point_of_the_sweep_equals_a_fresh_run_at_that_threshold(tagger_and_gold, curve, pos_nlp):
    """The sweep predicts once and re-sets the candidates per threshold; each point must be
    what the pipeline loaded with that mask_threshold produces from scratch."""
    model, gold_path = tagger_and_gold
    records = json.loads(gold_path.read_text(encoding="utf8"))
    gold = tab_gold.gold_from_records(records, pos_nlp)
    assert [p["threshold"] for p in curve] == THRESHOLDS
    for point in curve:
        nlp = load_for_evaluation(str(model), "anonymizer", point["threshold"])
        docs = list(nlp.pipe(r["text"] for r in records))
        system = {r["doc_id"]: tab_output.masked_spans_from_anonymizer(d) for r, d in zip(records, docs)}
        fresh = tm.tab_scores(gold, system)
        for key in ("token_recall", "uniform_token_precision", "ER_di", "ER_qi", "mention_recall",
                    "uniform_mention_precision"):
            assert point[key] == fresh[key]["value"], (point["threshold"], key)
        assert point["n_candidate_spans"] == sum(len(d.spans.get("ent_candidates", [])) for d in docs)
        assert point["per_document"] == document_counts(gold, system)
    # the grid does something here: no candidates when off, more as the threshold falls
    by_threshold = {p["threshold"]: p for p in curve}
    assert by_threshold[None]["n_candidate_spans"] == 0
    assert by_threshold[0.9]["n_candidate_spans"] < by_threshold[0.3]["n_candidate_spans"]
    assert by_threshold[None]["token_recall"] < by_threshold[0.3]["token_recall"] <= by_threshold[0.05]["token_recall"]
    assert by_threshold[0.05]["uniform_token_precision"] < by_threshold[None]["uniform_token_precision"]
    assert curve[0] == curve[-1]  # the same threshold twice: the same point


def test_per_document_counts_pool_to_the_point(curve):
    for point in curve:
        for key in ("token_recall", "uniform_token_precision", "ER_di", "ER_qi"):
            num = sum(d[key][0] for d in point["per_document"].values())
            den = sum(d[key][1] for d in point["per_document"].values())
            assert point[key] == (num / den if den else None), key


def test_document_counts_by_hand(pos_nlp):
    """RECORD and S1 are test_tab_metrics' worked example; "d2" is the same judgment with
    nothing masked (absent from the output)."""
    gold = tab_gold.gold_from_records([RECORD, {**RECORD, "doc_id": "d2"}], pos_nlp)
    counts = document_counts(gold, S1)
    assert counts["d1"] == {"token_recall": [6, 11], "uniform_token_precision": [5, 6], "ER_di": [0, 2],
                            "ER_qi": [1, 3]}
    # nothing masked: only the forgiven "Mr" of "Mr John Smith" counts; no masked token to score
    assert counts["d2"] == {"token_recall": [1, 11], "uniform_token_precision": [0, 0], "ER_di": [0, 2],
                            "ER_qi": [0, 3]}


def _counts(recall, precision=(1, 1), er_di=(0, 0), er_qi=(1, 1)):
    return {"token_recall": list(recall), "uniform_token_precision": list(precision), "ER_di": list(er_di),
            "ER_qi": list(er_qi)}


def test_pooled_recomputes_the_curve_on_a_subset_of_documents():
    points = [
        {"threshold": None, "per_document": {"a": _counts((2, 10)), "b": _counts((5, 10), (3, 4)),
                                             "c": _counts((0, 0), (0, 0))}},
        {"threshold": 0.1, "per_document": {"a": _counts((8, 10), (1, 2)), "b": _counts((9, 10), (3, 6)),
                                            "c": _counts((0, 0), (0, 0))}},
    ]
    pooled = _pooled(points, ["a", "b"])
    assert [p["threshold"] for p in pooled] == [None, 0.1]
    assert pooled[0]["token_recall"] == pytest.approx(7 / 20) and pooled[1]["token_recall"] == pytest.approx(17 / 20)
    assert pooled[0]["uniform_token_precision"] == pytest.approx(4 / 5)
    assert pooled[1]["uniform_token_precision"] == pytest.approx(4 / 8)
    assert pooled[0]["ER_di"] == 1.0  # 0/0: nothing to find counts as all found in the pooled curve
    only_c = _pooled(points, ["c"])
    assert all(p[k] == 1.0 for p in only_c for k in ("token_recall", "uniform_token_precision"))
    assert recommend(_pooled(points, ["a"]), 0.8) == 0.1 and recommend(_pooled(points, ["a"]), 0.9) is None


def test_leave_one_document_out_scores_each_document_at_a_threshold_chosen_without_it():
    """Three documents; at 0.5 document c keeps 2 of its 10 identifying words. In sample,
    0.5 misses the 0.8 target overall, so 0.1 is chosen and recall is 1.0; held out, c is
    scored at 0.5 (chosen on a and b, which reach the target there) and a and b at 0.1."""

    def point(threshold, c_recall):
        per_doc = {"a": _counts([10, 10]), "b": _counts([10, 10]), "c": _counts(c_recall)}
        recall = sum(d["token_recall"][0] for d in per_doc.values()) / 30
        return {"threshold": threshold, "token_recall": recall, "per_document": per_doc}

    points = [point(None, [0, 10]), point(0.1, [10, 10]), point(0.5, [2, 10])]
    assert recommend(points, 0.8) == 0.1
    held_out = leave_one_document_out(points, 0.8)
    assert held_out["thresholds_chosen"] == {"a": 0.1, "b": 0.1, "c": 0.5}
    assert held_out["token_recall"] == pytest.approx(22 / 30)
    assert held_out["ER_di"] is None and held_out["uniform_token_precision"] == 1.0
