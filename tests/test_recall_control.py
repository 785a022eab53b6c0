"""Stacked general-NER features and the recall control (CRF marginals -> masking candidates)."""
import itertools

import numpy as np
import pytest
import spacy
import torch
from spacy.tokens import Span
from thinc.api import Adam, fix_random_seed

from legal_anon.ml.bioes import allowed_transitions, bioes_tags
from legal_anon.ml.crf import ConstrainedCRF
from legal_anon.pipeline.crf_spans import candidate_spans, entity_probabilities
from legal_anon.ml.stacked_features import ONTONOTES_LABELS, feature_rows, label_index, ner_feature_ids

from .conftest import examples_from

TAGS = bioes_tags(["LOC", "PER"])

STACKED_MODEL = {
    "@architectures": "legal_anon.CharCNNBiLSTMCRF.v2",
    "char_width": 8, "char_filters": 8, "char_kernel": 3, "max_word_length": 12, "n_char_rows": 128,
    "case_width": 2, "lowercase_vectors": True, "hash_rows": 500, "word_width": 8, "hidden_width": 8,
    "depth": 1, "dropout": 0.1, "window": 6, "max_batch_tokens": 20, "torch_threads": 1,
    "stacked_spans_key": "onto", "stacked_labels": ["GPE", "ORG", "PERSON"], "stacked_width": 4,
    "tensor_width": 0,
}
SENTS = [
    ("John Smith lives in Paris .", [(0, 2, "PER"), (4, 5, "LOC")]),
    ("Mary works for Acme Corp in Berlin .", [(0, 1, "PER"), (6, 7, "LOC")]),
    ("The court of Oslo ruled .", [(3, 4, "LOC")]),
    ("Acme Corp hired Peter Jones .", [(3, 5, "PER")]),
]


# --------------------------------------------------------------------------- marginals


def _brute_force_marginals(crf: ConstrainedCRF, scores: torch.Tensor, length: int) -> np.ndarray:
    """P(tag_t = k) by enumerating every tag sequence of the first ``length`` tokens (in
    log space, float64: exact at any emission spread)."""
    start = crf.start_transitions.detach().double()
    trans = crf.transitions.detach().double()
    end = crf.end_transitions.detach().double()
    em = scores[0, :length].double()
    K = len(TAGS)
    seqs = torch.tensor(list(itertools.product(range(K), repeat=length)))  # [N, length]
    weight = start[seqs[:, 0]] + end[seqs[:, -1]] + em[torch.arange(length), seqs].sum(dim=1)
    for t in range(1, length):
        weight = weight + trans[seqs[:, t - 1], seqs[:, t]]
    p = torch.exp(weight - torch.logsumexp(weight, dim=0))
    out = torch.zeros((length, K), dtype=torch.float64)
    for t in range(length):
        out[t].index_add_(0, seqs[:, t], p)
    return out.numpy()


def test_marginals_sum_to_one_and_equal_brute_force_enumeration():
    torch.manual_seed(3)
    crf = ConstrainedCRF(TAGS)
    with torch.no_grad():
        crf.transitions.normal_(0, 1)
        crf.start_transitions.normal_(0, 1)
        crf.end_transitions.normal_(0, 1)
    scores = torch.randn(2, 4, len(TAGS)) * 2
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.bool)  # right-padded
    with torch.no_grad():
        probs = crf.marginals(scores, mask).numpy()
    assert np.allclose(probs[0].sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(probs[1, :3].sum(axis=1), 1.0, atol=1e-5) and (probs[1, 3] == 0).all()
    for b, n in ((0, 4), (1, 3)):
        expected = _brute_force_marginals(crf, scores[b : b + 1], n)
        assert np.allclose(probs[b, :n], expected, atol=1e-5)
    # forbidden tags get no probability: nothing starts with I/E, nothing ends with B/I
    start_ok, _, end_ok = allowed_transitions(TAGS)
    assert probs[0, 0, ~start_ok].max() < 1e-6 and probs[0, 3, ~end_ok].max() < 1e-6


@pytest.mark.parametrize("seed", range(6))
def test_marginals_equal_brute_force_at_large_emission_spreads(seed):
    """Emission scores of +-1000: the exp-space recursion alone underflows (a state whose
    predecessors all lie 745 below the step's best gets nothing), so the exact log-space
    step takes over. The floored recursion gave NaN or probabilities off by up to 1.0."""
    torch.manual_seed(seed)
    crf = ConstrainedCRF(TAGS)
    scores = (torch.rand(2, 5, len(TAGS)) * 2 - 1) * 1000
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)
    with torch.no_grad():
        probs = crf.marginals(scores, mask).numpy()
    assert np.isfinite(probs).all()
    for b, n in ((0, 5), (1, 3)):
        assert np.allclose(probs[b, :n], _brute_force_marginals(crf, scores[b : b + 1], n), atol=1e-5)
    assert (probs[1, 3:] == 0).all()


@pytest.mark.parametrize("spread", [3.0, 1000.0])
def test_forbidden_tags_get_exactly_zero_and_padding_exactly_zero_in_long_padded_batches(spread):
    """Nothing starts with I/E, nothing ends with B/I: probability 0.0, not 1e-300; padding
    past each row's length is 0.0 (it was NaN: the unmasked recursion ran on over the
    padding and exp(alpha + beta - log Z) overflowed)."""
    torch.manual_seed(1)
    crf = ConstrainedCRF(TAGS)
    T = 400
    lengths = torch.tensor([T, 3, 1, 150])
    mask = torch.arange(T)[None, :] < lengths[:, None]
    scores = (torch.rand(len(lengths), T, len(TAGS)) * 2 - 1) * spread
    with torch.no_grad():
        probs = crf.marginals(scores, mask)
    assert torch.isfinite(probs).all()
    assert (probs[~mask] == 0).all()
    assert torch.allclose(probs[mask].sum(dim=1), torch.ones(int(mask.sum())), atol=1e-5)
    start_ok, _, end_ok = (torch.from_numpy(a) for a in allowed_transitions(TAGS))
    assert (probs[:, 0][:, ~start_ok] == 0).all()
    last = probs[torch.arange(len(lengths)), lengths - 1]
    assert (last[:, ~end_ok] == 0).all()
    # B-LOC is followed by I-LOC or E-LOC only: where B-LOC is certain, nothing else follows
    certain = scores.clone()
    certain[0, 10, TAGS.index("B-LOC")] = 10 * spread + 100
    with torch.no_grad():
        after = crf.marginals(certain, mask)[0, 11]
    allowed_next = [TAGS.index("I-LOC"), TAGS.index("E-LOC")]
    assert after[allowed_next].sum() == pytest.approx(1.0, abs=1e-6)
    assert (after[[k for k in range(len(TAGS)) if k not in allowed_next]] == 0).all()


def test_marginals_agree_with_viterbi_on_confident_tokens():
    torch.manual_seed(0)
    crf = ConstrainedCRF(TAGS)
    scores = torch.randn(16, 12, len(TAGS)) * 6
    lengths = torch.randint(1, 13, (16,))
    mask = torch.arange(12)[None, :] < lengths[:, None]
    with torch.no_grad():
        probs = crf.marginals(scores, mask)
        best = crf.viterbi(scores, mask)
    confident = mask & (probs.max(dim=2).values > 0.9)
    assert confident.sum() > 40
    assert (probs.argmax(dim=2)[confident] == best[confident]).all()


# --------------------------------------------------------------------------- stacked features


def test_feature_ids_encode_type_and_position_and_share_a_row_for_unknown_labels():
    nlp = spacy.blank("en")
    doc = nlp("Mr Galip Yalman moved to New York City in May")
    doc.spans["onto"] = [Span(doc, 1, 3, "PERSON"), Span(doc, 5, 8, "GPE"), Span(doc, 9, 10, "DATE")]
    index = label_index(["GPE", "ORG", "PERSON"])
    ids = ner_feature_ids(doc, "onto", index).tolist()
    # PERSON is label 2: B = 5, I = 6; GPE label 0: B = 1, I = 2; DATE unknown -> label 3: B = 7
    assert ids == [0, 5, 6, 0, 0, 1, 2, 2, 0, 7]
    assert max(ids) < feature_rows(["GPE", "ORG", "PERSON"])
    assert feature_rows(ONTONOTES_LABELS) == 1 + 2 * 19
    with pytest.raises(ValueError, match="doc.spans\\['other'\\] is missing"):
        ner_feature_ids(doc, "other", index)


def _stacked_pipeline():
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_crf_ner", config={"model": STACKED_MODEL})
    examples = examples_from(nlp, SENTS)
    for eg in examples:
        eg.predicted.spans["onto"] = []
    nlp.initialize(lambda: examples)
    return nlp


def test_a_flipped_ontonotes_type_changes_the_model_input_and_its_scores():
    nlp = _stacked_pipeline()
    pipe = nlp.get_pipe("bilstm_crf_ner")
    pipe.mask_threshold = 0.5  # marginals: a continuous view of the emission scores
    docs = []
    for label in ("GPE", "PERSON"):
        doc = nlp.make_doc("The court of Oslo ruled .")
        doc.spans["onto"] = [Span(doc, 3, 4, label)]
        docs.append(doc)
    ids = [ner_feature_ids(d, "onto", pipe.model.attrs["stacked_labels"]) for d in docs]
    assert ids[0][3] != ids[1][3] and (ids[0][:3] == ids[1][:3]).all()
    out = pipe.predict(docs)
    assert not np.allclose(out.probs[0][3], out.probs[1][3])
    # and the difference comes through the feature's embedding: give both types the same
    # row and the two docs score the same
    module = pipe.model.layers[0].shims[0]._model
    with torch.no_grad():
        module.stacked_embed.weight[int(ids[1][3])] = module.stacked_embed.weight[int(ids[0][3])]
    same = pipe.predict(docs)
    assert np.allclose(same.probs[0], same.probs[1], atol=1e-6)


def test_stacked_tagger_learns_and_predicts_without_the_span_group_fails_clearly():
    nlp = _stacked_pipeline()
    examples = examples_from(nlp, SENTS)
    for eg, (_, ents) in zip(examples, SENTS):  # the general NER calls the places GPE
        eg.predicted.spans["onto"] = [Span(eg.predicted, s, e, "GPE") for s, e, lab in ents if lab == "LOC"]
    optimizer = Adam(0.02)
    losses = [nlp.update(examples, sgd=optimizer)["bilstm_crf_ner"] for _ in range(30)]
    assert losses[-1] < losses[0] / 3
    with pytest.raises(ValueError, match="ents_to_spans"):
        nlp("Paris is nice .")


# --------------------------------------------------------------------------- candidates


def test_candidates_are_runs_outside_the_ents_labelled_by_their_most_likely_type():
    nlp = spacy.blank("en")
    doc = nlp("Ms Nowak lives in Lodz , Poland .")
    doc.set_ents([Span(doc, 1, 2, "PER")], default="outside")
    labels = ["LOC", "PER"]
    probs = np.zeros((len(doc), len(TAGS)), dtype=np.float32)
    probs[:, 0] = 1.0
    # "Lodz , Poland": inside-probabilities 0.6 (LOC), 0.35 (LOC), 0.7 (LOC); "Nowak" is an ent
    for i, (p, tag) in {1: (0.9, "S-PER"), 4: (0.6, "B-LOC"), 5: (0.35, "I-LOC"), 6: (0.7, "E-LOC")}.items():
        probs[i, 0] = 1 - p
        probs[i, TAGS.index(tag)] = p
    spans, scores = candidate_spans(doc, probs, labels, 0.3)
    assert [(s.text, s.label_) for s in spans] == [("Lodz , Poland", "LOC")]
    assert scores.tolist() == pytest.approx([0.7])
    spans, _ = candidate_spans(doc, probs, labels, 0.5)
    assert [s.text for s in spans] == ["Lodz", "Poland"]  # the comma falls below 0.5
    assert entity_probabilities(probs, 2).sum(axis=1) == pytest.approx(np.ones(len(doc)))


def test_candidates_lose_the_function_words_at_their_edges_but_keep_number_words():
    nlp = spacy.blank("en")
    doc = nlp("He moved , in the summer of five years ago , and then the Court ruled .")
    doc.set_ents([], default="outside")
    labels = ["LOC", "PER"]
    probs = np.zeros((len(doc), len(TAGS)), dtype=np.float32)
    probs[:, 0] = 1.0
    run = {2: 0.2, 3: 0.3, 4: 0.3, 5: 0.6, 6: 0.3, 7: 0.4, 8: 0.4, 9: 0.2, 10: 0.25, 11: 0.9, 13: 0.4}
    for i, p in run.items():  # ", in the summer of five years ago , and" then a lone "the"
        probs[i, 0], probs[i, TAGS.index("S-LOC")] = 1 - p, p
    spans, scores = candidate_spans(doc, probs, labels, 0.1)
    # "five" is a number word and stays; "of" inside the run stays; "the" alone is no candidate
    assert [s.text for s in spans] == ["summer of five years ago"]
    assert scores.tolist() == pytest.approx([0.6])  # the score of what is left, not of the dropped ", and"


def test_the_threshold_masks_a_superset_of_the_ents_and_grows_as_it_falls():
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_crf_ner", config={"model": {**STACKED_MODEL, "stacked_spans_key": None}})
    nlp.add_pipe("anonymizer", config={"operators": {"PER": "pseudonym"}})
    examples = examples_from(nlp, SENTS)
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.02)
    for _ in range(15):  # half-trained: many tokens of middling probability
        nlp.update(examples, sgd=optimizer)
    tagger = nlp.get_pipe("bilstm_crf_ner")
    texts = ["John Smith lives in Oslo .", "Peter works for Acme Corp in Paris .", "Mary Jones ruled in Berlin ."]

    def masked(threshold):
        tagger.mask_threshold = threshold
        docs = list(nlp.pipe(texts))
        chars = [{i for r in d._.anon_replacements for i in range(r["start"], r["end"])} for d in docs]
        return docs, chars

    docs_off, off = masked(None)
    previous = off
    grew = False
    for threshold in (0.9, 0.5, 0.2, 0.05):
        docs, chars = masked(threshold)
        for doc, doc_off, c, p in zip(docs, docs_off, chars, previous):
            assert [(e.start, e.end, e.label_) for e in doc.ents] == [(e.start, e.end, e.label_) for e in doc_off.ents]
            assert {i for e in doc.ents for i in range(e.start_char, e.end_char)} <= c
            assert p <= c
            for cand in doc.spans["ent_candidates"]:
                assert all(t.ent_iob_ == "O" for t in cand)
            assert len(doc.spans["ent_candidates"].attrs["scores"]) == len(doc.spans["ent_candidates"])
        grew = grew or any(c > p for c, p in zip(chars, previous))
        previous = chars
    assert grew, "lowering the threshold never masked anything more"
    with pytest.raises(ValueError, match="mask_threshold"):
        tagger.mask_threshold = 1.5


def test_per_label_search_raises_the_cheap_label_and_keeps_the_recall_target():
    """greedy_per_label on a made-up response: raising B costs little recall and buys much
    precision, raising A costs too much recall; the ascent raises B to the end only."""
    from legal_anon.eval.per_label_thresholds import GRID, greedy_per_label

    def evaluate(th):
        a, b = GRID.index(th["A"]) - 1, GRID.index(th["B"]) - 1  # steps above the start (0.02)
        return 1.0 - 0.02 * a - 0.001 * b, 0.5 + 0.01 * a + 0.05 * b, 0.9

    steps = greedy_per_label(["A", "B"], evaluate, 0.02, target_recall=0.97)
    assert steps[0]["raised"] is None and steps[-1]["thresholds"] == {"A": 0.02, "B": GRID[-1]}
    assert {s["raised"] for s in steps[1:]} == {"B"} and len(steps) == len(GRID) - 1
    assert all(s["token_recall"] >= 0.97 for s in steps)
    assert all(x["precision"] < y["precision"] for x, y in zip(steps, steps[1:]))
