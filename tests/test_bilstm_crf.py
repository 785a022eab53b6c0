"""Tests for the Char-CNN + BiLSTM + CRF component (bilstm_crf_ner)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import spacy
from spacy.lang.en import English
import torch
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from thinc.api import Adam, fix_random_seed

from legal_anon.ml.bilstm_crf import TorchCharCNNBiLSTMCRF
from legal_anon.ml.bioes import allowed_transitions, bioes_tags, is_valid_bioes
from legal_anon.ml.crf import ConstrainedCRF

from .conftest import examples_from

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "bilstm_crf.cfg"

SMALL_MODEL = {
    "@architectures": "legal_anon.CharCNNBiLSTMCRF.v1",
    "char_width": 8,
    "char_filters": 8,
    "char_kernel": 3,
    "max_word_length": 12,
    "n_char_rows": 128,
    "case_width": 2,
    "lowercase_vectors": True,
    "hash_rows": 500,
    "word_width": 8,
    "hidden_width": 8,
    "depth": 1,
    "dropout": 0.1,
    "window": 6,
    "max_batch_tokens": 20,
    "torch_threads": 1,
}

SENTS = [
    ("John Smith lives in Paris .", [(0, 2, "PER"), (4, 5, "LOC")]),
    ("Mary works for Acme Corp in Berlin .", [(0, 1, "PER"), (3, 5, "ORG"), (6, 7, "LOC")]),
    ("The court of Oslo ruled .", [(3, 4, "LOC")]),
    ("Acme Corp hired Peter Jones .", [(0, 2, "ORG"), (3, 5, "PER")]),
]


def make_examples(nlp):
    return examples_from(nlp, SENTS)


def small_pipeline(seed: int):
    """A seeded blank pipeline with a small bilstm_crf_ner, initialised on SENTS."""
    fix_random_seed(seed)
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_crf_ner", config={"model": SMALL_MODEL})
    examples = make_examples(nlp)
    nlp.initialize(lambda: examples)
    return nlp, examples


@pytest.fixture(scope="module")
def trained():
    """The small pipeline after 60 updates on SENTS, and the loss of each update."""
    nlp, examples = small_pipeline(0)
    optimizer = Adam(0.02)
    losses = [nlp.update(examples, sgd=optimizer, losses={})["bilstm_crf_ner"] for _ in range(60)]
    return nlp, losses


@pytest.fixture(scope="module")
def trained_nlp(trained):
    return trained[0]


def test_labels_and_tags(trained_nlp):
    pipe = trained_nlp.get_pipe("bilstm_crf_ner")
    assert pipe.labels == ("LOC", "ORG", "PER")
    assert pipe.tags[0] == "O" and len(pipe.tags) == 13


def test_the_module_alone_learns_a_tiny_batch():
    """The torch module and its CRF, trained directly: the loss falls and Viterbi then
    reproduces the gold tags of every token (shapes and gradients on the way)."""
    torch.manual_seed(0)
    tags = bioes_tags(["LOC", "PER"])
    module = TorchCharCNNBiLSTMCRF(
        n_word_rows=50, word_width=6, n_char_rows=64, char_width=5, char_filters=7, char_kernel=3,
        case_width=2, hidden_width=8, depth=2, dropout=0.0, tags=tags,
    )
    # distinct words: John Smith lives in Paris Anna; three sentences, padded to 5
    word_rows = torch.tensor([3, 7, 11, 13, 17, 19])
    case_ids = torch.tensor([1, 1, 0, 0, 1, 1])
    chars = torch.randint(1, 64, (6, 6))
    token_index = torch.tensor([[0, 1, 2, 3, 4], [5, 2, 3, 4, 0], [4, 2, 0, 0, 0]])
    lengths = torch.tensor([5, 4, 2])
    mask = torch.arange(5)[None, :] < lengths[:, None]
    gold_names = [["B-PER", "E-PER", "O", "O", "S-LOC"], ["S-PER", "O", "O", "S-LOC"], ["S-LOC", "O"]]
    gold = torch.zeros((3, 5), dtype=torch.long)
    for b, names in enumerate(gold_names):
        gold[b, : len(names)] = torch.tensor([tags.index(n) for n in names])
    optimizer = torch.optim.Adam(module.parameters(), lr=0.05)
    losses = []
    for _ in range(40):
        optimizer.zero_grad()
        em = module(word_rows, case_ids, chars, token_index, lengths)
        assert em.shape == (3, 5, len(tags))
        loss = module.crf.nll(em, gold, mask, norm=3.0)
        loss.backward()
        assert module.word_embed.weight.grad.abs().sum() > 0 and module.crf.transitions.grad.abs().sum() > 0
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] / 10, losses[::10]
    module.eval()
    with torch.no_grad():
        pred = module.crf.viterbi(module(word_rows, case_ids, chars, token_index, lengths), mask)
    assert pred.shape == (3, 5)
    assert [[tags[i] for i in pred[b, :n].tolist()] for b, n in enumerate(lengths.tolist())] == gold_names


def test_viterbi_never_invalid_and_matches_crf_decode():
    torch.manual_seed(0)
    tags = bioes_tags(["A", "B", "C"])
    crf = ConstrainedCRF(tags)
    with torch.no_grad():  # random, unconstrained-looking parameters
        for p in (crf.transitions, crf.start_transitions, crf.end_transitions):
            p.normal_(0, 3)
    start, trans, end = allowed_transitions(tags)
    assert not trans[0, tags.index("I-A")] and not trans[tags.index("B-A"), 0]
    assert not trans[tags.index("B-A"), tags.index("I-B")] and not start[tags.index("E-A")]
    B, T = 64, 9
    scores = torch.randn(B, T, len(tags)) * 10
    lengths = torch.randint(1, T + 1, (B,))
    lengths[0] = T
    mask = torch.arange(T)[None, :] < lengths[:, None]
    out = crf.viterbi(scores, mask)  # re-pins the forbidden transitions first
    reference = crf.decode(scores, mask=mask)
    for b in range(B):
        seq = out[b, : lengths[b]].tolist()
        assert seq == reference[b]
        assert is_valid_bioes([tags[i] for i in seq])
    assert not is_valid_bioes(["O", "I-A"]) and not is_valid_bioes(["B-A", "O"])
    assert is_valid_bioes(["B-A", "I-A", "E-A", "S-B", "O"])


def test_learns_training_data(trained):
    """60 seeded updates learn the four training sentences: the loss falls and the
    entities of the training set come back (F1 >= 0.9, every one on the first sentence)."""
    nlp, losses = trained
    assert losses[-1] < losses[0] / 10 and sum(losses[-10:]) < sum(losses[:10]) / 5, losses[::10]
    scores = nlp.evaluate(make_examples(nlp))
    assert scores["ents_f"] >= 0.9, scores["ents_per_type"]
    doc = nlp("John Smith lives in Paris .")
    assert [(e.text, e.label_) for e in doc.ents] == [("John Smith", "PER"), ("Paris", "LOC")]


def test_predict_empty_and_one_token_docs(trained_nlp):
    docs = list(trained_nlp.pipe(["", "Paris", "", "John Smith lives in Paris ."]))
    assert len(docs[0]) == 0 and len(docs[1]) == 1
    assert trained_nlp("").ents == ()
    # update on empty and one-token docs
    nlp = trained_nlp
    empty = Example(Doc(nlp.vocab, words=[]), Doc(nlp.vocab, words=[]))
    one_ref = Doc(nlp.vocab, words=["Paris"])
    one_ref.ents = [Span(one_ref, 0, 1, label="LOC")]
    one = Example(Doc(nlp.vocab, words=["Paris"]), one_ref)
    losses = {}
    nlp.update([empty], losses=losses)
    nlp.update([empty, one], losses=losses)
    assert np.isfinite(losses["bilstm_crf_ner"])


def test_long_doc_windows(trained_nlp):
    # no sentence starts: cut after "." and into windows of at most 6 tokens, run in
    # sub-batches of 20 padded tokens; each repeat of the sentence is tagged as it is alone
    sentence = "Mary works for Acme Corp in Berlin .".split()
    alone = trained_nlp(Doc(trained_nlp.vocab, words=sentence))
    expected = [(e.start, e.end, e.label_) for e in alone.ents]
    assert expected, "the trained fixture finds entities in a training sentence"
    doc = trained_nlp(Doc(trained_nlp.vocab, words=sentence * 20))
    assert len(doc) == len(sentence) * 20
    n = len(sentence)
    got = [(e.start - n * (e.start // n), e.end - n * (e.start // n), e.label_) for e in doc.ents]
    assert all(e.start // n == (e.end - 1) // n for e in doc.ents)  # no entity across a repeat
    assert sorted(got) == sorted(expected * 20)


def test_save_load_new_process_identical(trained_nlp, tmp_path):
    texts = [t for t, _ in SENTS] + ["Peter lives in Oslo", "x"]
    trained_nlp.to_disk(tmp_path / "model")
    here = [[(e.start, e.end, e.label_) for e in d.ents] for d in trained_nlp.pipe(texts)]
    code = (
        "import json, sys, spacy\n"
        f"nlp = spacy.load({str(tmp_path / 'model')!r})\n"
        f"texts = {texts!r}\n"
        "print(json.dumps([[(e.start, e.end, e.label_) for e in d.ents] for d in nlp.pipe(texts)]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    there = json.loads(out.stdout.strip().splitlines()[-1])
    assert there == [[list(x) for x in d] for d in here]
    # from_bytes too, into a pipeline built from the trained one's config (which holds the
    # sizes initialize found); from the original config it says what is missing
    nlp2 = English.from_config(trained_nlp.config)
    nlp2.from_bytes(trained_nlp.to_bytes())
    assert [[(e.start, e.end, e.label_) for e in d.ents] for d in nlp2.pipe(texts)] == here
    nlp3 = spacy.blank("en")
    nlp3.add_pipe("bilstm_crf_ner", config={"model": SMALL_MODEL})
    with pytest.raises(ValueError, match="n_word_rows"):
        nlp3.from_bytes(trained_nlp.to_bytes())


def test_vectors_initialise_embeddings():
    from spacy.vectors import Vectors

    nlp = spacy.blank("en")
    data = np.arange(3 * 8, dtype=np.float32).reshape(3, 8)
    nlp.vocab.vectors = Vectors(data=data, keys=[nlp.vocab.strings.add(w) for w in ("john", "paris", "acme")])
    pipe = nlp.add_pipe("bilstm_crf_ner", config={"model": SMALL_MODEL})
    nlp.initialize(lambda: make_examples(nlp))
    module = pipe.model.layers[0].shims[0]._model
    assert module.word_embed.weight.shape == (4, 8)  # 3 vectors + 1 OOV row
    assert np.allclose(module.word_embed.weight[:3].detach().numpy(), data)
    feats = pipe.model.attrs["prepare"].keywords["featurizer"]
    pos = feats.lookup(nlp.vocab, np.asarray([nlp.vocab.strings.add("Paris"), nlp.vocab.strings.add("zzz")], dtype=np.uint64))
    assert feats.rows[pos].tolist() == [1, 3]  # lowercased lookup; OOV -> last row


def _tiny_tab_corpus(tmp_path):
    nlp = spacy.blank("en")
    db = DocBin()
    for i in range(6):
        for text, ents in SENTS:
            words = (text + f" Case {i} .").split()
            doc = Doc(nlp.vocab, words=words)
            doc.ents = [Span(doc, s, e, label=l) for s, e, l in ents]
            db.add(doc)
    db.to_disk(tmp_path / "tiny.spacy")
    return tmp_path / "tiny.spacy"


@pytest.mark.slow
def test_spacy_train_tiny(tmp_path):
    """configs/bilstm_crf.cfg through `spacy train` (seeded, 20 steps at a higher learning
    rate and less dropout than the real schedule) learns the tiny corpus: the per-step loss
    falls and model-best finds its entities (F1 >= 0.9 on the training docs)."""
    # the same small corpus whether or not the project's corpus/ was built
    train = dev = _tiny_tab_corpus(tmp_path)
    out = tmp_path / "out"
    cmd = [
        sys.executable, "-m", "spacy", "train", str(CONFIG), "--output", str(out),
        "--paths.train", str(train), "--paths.dev", str(dev), "--paths.train_log", str(tmp_path / "log.jsonl"),
        "--system.seed", "0", "--training.max_steps", "20", "--training.eval_frequency", "10",
        "--training.dropout", "0.1", "--training.optimizer.learn_rate.base_rate", "0.02",
        "--components.bilstm_crf_ner.model.hidden_width", "16",
        "--components.bilstm_crf_ner.model.hash_rows", "1000",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text(encoding="utf8").splitlines()]
    # losses are summed since the previous evaluation: step 0 is one update, then 10 each
    per_step = [row["losses"]["bilstm_crf_ner"] / max(1, row["step"] - prev["step"])
                for prev, row in zip([{"step": 0}] + log, log)]
    assert [row["step"] for row in log] == [0, 10, 20] and per_step[-1] < per_step[0] / 5, per_step
    nlp = spacy.load(out / "model-best")
    assert nlp.pipe_names == ["bilstm_crf_ner"]
    docs = list(DocBin().from_disk(train).get_docs(nlp.vocab))
    scores = nlp.evaluate([Example(nlp.make_doc(d.text), d) for d in docs])
    assert scores["ents_f"] >= 0.9, scores["ents_per_type"]


def test_reproducible_with_fixed_seed():
    def train_once():
        nlp, examples = small_pipeline(7)
        optimizer = Adam(0.02)
        losses = {}
        for _ in range(5):
            nlp.update(examples, sgd=optimizer, losses=losses)
        module = nlp.get_pipe("bilstm_crf_ner").model.layers[0].shims[0]._model
        return losses["bilstm_crf_ner"], {k: v.clone() for k, v in module.state_dict().items()}

    loss1, state1 = train_once()
    loss2, state2 = train_once()
    assert loss1 == loss2
    assert all(torch.equal(state1[k], state2[k]) for k in state1)


def test_entities_never_begin_or_end_on_whitespace_tokens():
    from spacy.tokens import Span

    from legal_anon.pipeline.crf_spans import strip_space_tokens

    nlp = spacy.blank("en")
    doc = nlp("Mr Smith\n\nlives in Paris .")
    space = next(t.i for t in doc if t.is_space)
    spans = [Span(doc, 0, space + 1, label="PER"), Span(doc, space, space + 1, label="LOC"),
             Span(doc, space + 3, space + 4, label="LOC")]
    assert [(e.text, e.label_) for e in strip_space_tokens(doc, spans)] == [("Mr Smith", "PER"), ("Paris", "LOC")]


def test_a_truncated_weights_file_is_named_in_the_error(trained_nlp, tmp_path):
    trained_nlp.to_disk(tmp_path / "model")
    weights = tmp_path / "model" / "bilstm_crf_ner" / "model"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ValueError) as err:
        spacy.load(tmp_path / "model")
    assert str(weights) in str(err.value) and "damaged or truncated" in str(err.value)
