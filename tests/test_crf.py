"""The shared CRF pieces (legal_anon.ml.crf) and the CRF head over a tok2vec (factory crf_ner)."""
import numpy as np
import pytest
import spacy
import torch
from spacy.lang.en import English
from spacy.tokens import Doc
from thinc.api import Adam, fix_random_seed

from legal_anon.ml.bioes import bioes_tags, is_valid_bioes
from legal_anon.ml.crf import ConstrainedCRF
from legal_anon.ml.segments import padded_batches, repair_segment_edges, segment_table, segments

from .conftest import examples_from

TAGS = bioes_tags(["LOC", "PER"])  # O, B/I/E/S-LOC = 1..4, B/I/E/S-PER = 5..8


def _ids(*names):
    return [TAGS.index(n) for n in names]


def test_repair_segment_edges_makes_cut_entities_valid():
    gold = np.array(
        [
            _ids("O", "B-PER", "I-PER"),  # cut after I: ... I -> E
            _ids("I-PER", "E-PER", "O"),  # cut before I: I -> B
            _ids("E-LOC", "O", "B-LOC"),  # E at start -> S; trailing B -> S
            _ids("I-PER", "O", "O"),  # length-1 segment (padding after): I -> B -> S
            _ids("B-PER", "E-PER", "S-LOC"),  # already valid: unchanged
        ]
    )
    lengths = np.array([3, 3, 3, 1, 3])
    fixed = repair_segment_edges(gold, lengths)
    for row, n in zip(fixed, lengths):
        assert is_valid_bioes([TAGS[i] for i in row[:n]]), [TAGS[i] for i in row[:n]]
    assert [TAGS[i] for i in fixed[0]] == ["O", "B-PER", "E-PER"]
    assert [TAGS[i] for i in fixed[1]] == ["B-PER", "E-PER", "O"]
    assert [TAGS[i] for i in fixed[2]] == ["S-LOC", "O", "S-LOC"]
    assert TAGS[fixed[3, 0]] == "S-PER"
    assert (fixed[4] == gold[4]).all()
    assert TAGS[gold[0, 2]] == "I-PER", "the input is not modified"


def test_cut_gold_keeps_the_crf_loss_finite():
    """Without the repair the gold path of a cut entity scores -10000 and swamps the loss."""
    crf = ConstrainedCRF(TAGS)
    scores = torch.zeros(1, 3, len(TAGS))
    mask = torch.ones(1, 3, dtype=torch.bool)
    cut = np.array([_ids("O", "B-PER", "I-PER")])
    with torch.no_grad():
        raw = crf.nll(scores, torch.from_numpy(cut), mask, 1.0).item()
        fixed = crf.nll(scores, torch.from_numpy(repair_segment_edges(cut, np.array([3]))), mask, 1.0).item()
    assert raw > 5000 and fixed < 20


def test_sentence_segments_do_not_split_numbers_and_lowercase_continuations():
    nlp = spacy.blank("en")
    doc = nlp("He was held in Lodz Prison No. 10 for months. Then he left! See e.g. the case.")
    got = [doc[s:e].text for s, e in segments(doc, 128)]
    assert got == ["He was held in Lodz Prison No. 10 for months.", "Then he left!", "See e.g. the case."]
    cut = segments(doc, 4)  # longer stretches are windowed
    assert (cut[:, 1] - cut[:, 0]).max() <= 4 and cut[0, 0] == 0 and cut[-1, 1] == len(doc)
    assert (cut[1:, 0] == cut[:-1, 1]).all()


def test_padded_batches_cover_every_token_once_and_bound_the_batch():
    nlp = spacy.blank("en")
    docs = [nlp("A b c. D e f g h i j. K."), nlp(""), nlp("x " * 30)]
    seen = []
    for flat_idx, mask in padded_batches(segment_table(docs, window=8), max_batch_tokens=16):
        assert mask.shape[0] * mask.shape[1] <= 16 or mask.shape[0] == 1
        seen.extend(flat_idx[mask].tolist())
    assert sorted(seen) == list(range(sum(len(d) for d in docs)))


TINY = [
    ("John Smith lives in Paris .", [(0, 2, "PER"), (4, 5, "LOC")]),
    ("Anna Berg moved to Oslo .", [(0, 2, "PER"), (4, 5, "LOC")]),
    ("The court in Lyon heard Marie Curie .", [(3, 4, "LOC"), (5, 7, "PER")]),
]


def _tiny_examples(nlp):
    return examples_from(nlp, TINY)


@pytest.fixture(scope="module")
def trained_crf_ner():
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("crf_ner")
    examples = _tiny_examples(nlp)
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.01)
    for _ in range(40):
        losses = nlp.update(examples, sgd=optimizer, losses={})
    return nlp, losses


def test_crf_head_over_a_tok2vec_learns_and_round_trips(trained_crf_ner):
    nlp, losses = trained_crf_ner
    ner = nlp.get_pipe("crf_ner")
    assert ner.labels == ("LOC", "PER") and nlp.config["components"]["crf_ner"]["model"]["nI"] == 96
    assert losses["crf_ner"] < 1.0
    doc = nlp(Doc(nlp.vocab, words="John Smith lives in Paris .".split()))
    assert [(e.text, e.label_) for e in doc.ents] == [("John Smith", "PER"), ("Paris", "LOC")]
    data = nlp.to_bytes()
    blank = spacy.blank("en")
    blank.add_pipe("crf_ner")
    with pytest.raises(ValueError, match="nI"):  # the default config does not know the trained width
        blank.from_bytes(data)
    other = English.from_config(nlp.config)
    other.from_bytes(data)
    again = other(Doc(other.vocab, words="John Smith lives in Paris .".split()))
    assert [(e.start, e.end, e.label_) for e in again.ents] == [(e.start, e.end, e.label_) for e in doc.ents]
    assert list(nlp.pipe(["", "Paris"])) and len(nlp("").ents) == 0
    with pytest.raises(ValueError, match="initialized"):
        ner.add_label("ORG")


def test_optimizer_averages_are_used_by_use_params_and_restored():
    """thinc's PyTorchShim ignores the averages (key mismatch); ours applies them."""
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_crf_ner", config={"model": {"hidden_width": 8, "word_width": 8, "hash_rows": 100}})
    examples = _tiny_examples(nlp)
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.05, use_averages=True)
    for _ in range(3):
        nlp.update(examples, sgd=optimizer)
    torch_model = nlp.get_pipe("bilstm_crf_ner").model.layers[0].shims[0]._model
    raw = torch_model.output.weight.detach().clone()
    with nlp.use_params(optimizer.averages):
        averaged = torch_model.output.weight.detach().clone()
    assert not torch.allclose(raw, averaged)
    assert torch.equal(torch_model.output.weight.detach(), raw)


@pytest.mark.parametrize("n_labels,spread", [(2, 5.0), (33, 5.0), (2, 1000.0), (33, 1000.0)])
def test_matmul_normalizer_equals_pytorch_crf(n_labels, spread):
    """Our exp-space forward algorithm gives pytorch-crf's log-partition and gradients, also
    at emission spreads where the exp-space sums underflow (pytorch-crf works in log space)."""
    from torchcrf import CRF

    torch.manual_seed(n_labels)
    tags = bioes_tags([f"L{i}" for i in range(n_labels)])
    crf = ConstrainedCRF(tags)
    with torch.no_grad():
        for p in (crf.transitions, crf.start_transitions, crf.end_transitions):
            p.normal_(0, 2)
    crf.constrain()
    B, T = 12, 9
    emissions = (torch.randn(T, B, len(tags)) * spread).requires_grad_(True)
    lengths = torch.randint(1, T + 1, (B,))
    lengths[0] = T
    mask = (torch.arange(T)[:, None] < lengths[None, :])
    ours = crf._compute_normalizer(emissions, mask)
    # the reference: pytorch-crf's log-space recursion in float64 (in float32 its own
    # rounding at |scores| ~ 1e4 is 1e-3 in the value and 4e-4 in the gradient)
    crf64 = ConstrainedCRF(tags).double()
    crf64.load_state_dict(crf.state_dict())
    em64 = emissions.detach().double().requires_grad_(True)
    reference = CRF._compute_normalizer(crf64, em64, mask)
    assert torch.isfinite(ours).all()
    assert torch.allclose(ours.double(), reference, atol=1e-3, rtol=1e-6)
    g_ours, = torch.autograd.grad(ours.sum(), emissions)
    g_ref, = torch.autograd.grad(reference.sum(), em64)
    assert torch.allclose(g_ours.double(), g_ref, atol=1e-5)
    # and the likelihood through the public API is finite and not above 0 (float32 noise)
    gold = torch.zeros(B, T, dtype=torch.long)
    with torch.no_grad():
        llh = crf(emissions.transpose(0, 1), gold, mask=mask.t(), reduction="none")
    assert torch.isfinite(llh).all() and (llh <= 1e-4 + 1e-6 * ours.abs().detach()).all()


def test_updates_write_into_the_same_parameter_tensors():
    """thinc's stock update swaps param.data for a new tensor each step (and leaked memory
    on CPU); the patched shim must update in place: same storage, changed values."""
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_crf_ner", config={"model": {"hidden_width": 8, "word_width": 8, "hash_rows": 100}})
    examples = _tiny_examples(nlp)
    nlp.initialize(lambda: examples)
    torch_model = nlp.get_pipe("bilstm_crf_ner").model.layers[0].shims[0]._model
    before = {n: (p.data_ptr(), p.detach().clone()) for n, p in torch_model.named_parameters()}
    optimizer = Adam(0.05)
    for _ in range(2):
        nlp.update(examples, sgd=optimizer)
    for name, param in torch_model.named_parameters():
        ptr, old = before[name]
        assert param.data_ptr() == ptr, name
    assert not torch.equal(torch_model.output.weight.detach(), before["output.weight"][1])
