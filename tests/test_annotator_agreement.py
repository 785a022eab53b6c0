"""A second annotator's TAB figures against the first, and the every-mention oracle."""
from __future__ import annotations

import json

import pytest

from legal_anon.eval import annotator_agreement as aa, tab_gold
from tests.conftest import ROOT
from tests.test_tab_metrics import RECORD


@pytest.fixture(scope="module")
def gold(pos_nlp):
    return tab_gold.gold_from_records([RECORD], pos_nlp)


def ratio(r):
    return (r["num"], r["den"])


def test_each_annotator_is_scored_against_the_other(gold):
    # a1 masks "Mr John Smith", "Oslo" (QUASI), "Smith", "1970"; a2 masks "John Smith",
    # "Smith", "1970" and leaves "Oslo" NO_MASK; a3 annotated nothing and takes no part
    rep = aa.agreement(gold)
    assert (rep["n_documents"], rep["n_pairs"]) == (1, 2)
    # against a1, a2's 4 masked words are all right; against a2, a1's "Mr" and "Oslo" are not: 8 of 10
    assert ratio(rep["uniform_token_precision"]) == (8, 10)
    # direct: John Smith in both directions ("Mr" is forgiven); quasi: a2 leaves a1's Oslo
    assert ratio(rep["ER_di"]) == (2, 2)
    assert ratio(rep["ER_qi"]) == (2, 3)
    # typed mentions to mask: a1 {Mr John Smith, Oslo, Smith, 1970}, a2 {John Smith, Smith, 1970}:
    # Smith and 1970 agree in both directions
    assert ratio(rep["typed_f1"]) == (4, 7)


def test_masking_every_annotated_mention_costs_the_no_mask_ones(gold):
    rep = aa.every_mention_oracle(gold)
    assert rep["n_pairs"] == 2
    assert rep["token_recall"]["value"] == 1.0 and rep["ER_qi"]["value"] == 1.0
    # a1: 7 words masked, the NO_MASK "Oslo" wrong; a2: 5 words, its NO_MASK "Oslo" wrong
    assert ratio(rep["uniform_token_precision"]) == (10, 12)


def test_vendored_train_file_every_multi_annotated_document(pos_nlp):
    """The figures docs/protection.md quotes, pinned as counts (token recall 0.861,
    precision 0.844, ER_qi 0.820, typed F1 0.735; the oracle's precision 0.704): a swapped
    reference and system, a dropped pair or a changed forgiveness rule moves them. The
    typed denominator is also counted straight from the JSON."""
    path = ROOT / "assets" / "tab_subset" / "echr_train.json"
    records = json.loads(path.read_text(encoding="utf8"))
    layers = {r["doc_id"]: sum(1 for a in r["annotations"].values() if a["entity_mentions"]) for r in records}
    rep = aa.report(tab_gold.load_gold(path, pos_nlp))
    second = rep["second_annotator"]
    assert second["n_documents"] == sum(1 for n in layers.values() if n >= 2) == 21
    assert second["n_pairs"] == sum(n * (n - 1) for n in layers.values()) == 80
    assert ratio(second["token_recall"]) == (10684, 12402)
    assert ratio(second["uniform_token_precision"]) == (10314, 12221)
    assert ratio(second["ER_di"]) == (150, 150) and ratio(second["ER_qi"]) == (2860, 3486)
    assert ratio(second["mention_recall"]) == (3564, 4414)
    assert ratio(second["typed_f1"]) == (3184, 4333)
    # every annotator's distinct (start, end, type) masked mentions, once per other annotator
    typed = 0
    for r in records:
        masked = [{(m["start_offset"], m["end_offset"], m["entity_type"]) for m in a["entity_mentions"]
                   if m["identifier_type"] in ("DIRECT", "QUASI")}
                  for a in r["annotations"].values() if a["entity_mentions"]]
        if len(masked) >= 2:
            typed += sum(len(m) for m in masked) * (len(masked) - 1)
    assert typed == 4333
    oracle = rep["every_annotated_mention"]
    assert oracle["n_pairs"] == sum(layers.values()) == 203
    assert ratio(oracle["uniform_token_precision"]) == (20093, 28554)
    assert ratio(oracle["token_recall"]) == (20378, 20378) and ratio(oracle["ER_qi"]) == (5583, 5583)
