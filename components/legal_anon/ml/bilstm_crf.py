"""Char-CNN + BiLSTM + CRF sequence labeller (Lample et al. 2016; Ma & Hovy 2016) as a thinc Model.

The registered architectures ``legal_anon.CharCNNBiLSTMCRF.v1``/``.v2`` map a batch of
Docs to BIOES emission scores per token (``legal_anon.ml.crf_tagger``); the pipe
(``legal_anon.pipeline.crf_ner``) runs the CRF over them. PyTorch runs inside through
thinc's ``PyTorchWrapper_v2``, so the weights (the CRF's transitions included) are
optimised by the thinc optimizer from ``[training.optimizer]`` and serialised as a torch
``state_dict`` (no pickled code).

Data flow, with no per-token Python loop in the hot path:

* Docs are cut into segments: sentences where ``doc.has_annotation("SENT_START")``,
  otherwise windows of ``window`` tokens; sentences longer than ``window`` are split too.
  Segments are sorted by length and grouped into sub-batches of at most
  ``max_batch_tokens`` padded tokens, so memory is bounded for 4,000-word documents.
* Token features come from the distinct ORTH ids of the batch (``np.unique``) and a
  per-word cache: the row in the word-embedding table (pretrained vectors looked up by
  ``LOWER`` or ``ORTH``; out-of-vocabulary words share one trained row), a casing class,
  and the code points of the characters (case kept). The char CNN runs once per distinct
  word of the sub-batch and is gathered back to the tokens. The cache holds at most
  ``Featurizer.DEFAULT_MAX_WORDS`` words (emptied when full), so a long run stays flat.
* Word embeddings are initialised from ``vocab.vectors`` (the ``[initialize] vectors``
  table) and fine-tuned. Without vectors a hashed, randomly initialised table is used.
* The CRF is pytorch-crf's (``legal_anon.ml.crf``); transitions that BIOES forbids
  (``O -> I-X``, ``B-X -> O``, ``B-X -> I-Y``, start ``-> I/E``, ``B/I ->`` end, ...) are
  pinned to -10000 before every use, so neither the likelihood nor Viterbi can use them.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d
from torch import nn

from legal_anon.ml.crf import ConstrainedCRF
from legal_anon.ml.crf_tagger import build_torch_layer, crf_tagger
from legal_anon.ml.featurizer import N_CASE_CLASSES, Featurizer
from legal_anon.ml.stacked_features import ONTONOTES_LABELS, doc_tensor, feature_rows, label_index, ner_feature_ids

# --------------------------------------------------------------------------- torch module


class CharCNN(nn.Module):
    def __init__(self, n_chars: int, width: int, n_filters: int, kernel: int, dropout: float):
        super().__init__()
        self.embed = nn.Embedding(n_chars, width, padding_idx=0)
        bound = (3.0 / width) ** 0.5
        nn.init.uniform_(self.embed.weight, -bound, bound)
        with torch.no_grad():
            self.embed.weight[0].zero_()
        self.dropout = nn.Dropout(dropout)
        self.conv = nn.Conv1d(width, n_filters, kernel, padding=kernel // 2)

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        # chars: [U, L] code ids, 0 = padding. Returns [U, n_filters].
        x = self.dropout(self.embed(chars)).transpose(1, 2)  # [U, W, L]
        h = self.conv(x)  # [U, F, L]
        pad = (chars == 0).unsqueeze(1)
        h = h.masked_fill(pad, -1e4)
        return h.max(dim=2).values


class TorchCharCNNBiLSTMCRF(nn.Module):
    def __init__(
        self,
        n_word_rows: int,
        word_width: int,
        n_char_rows: int,
        char_width: int,
        char_filters: int,
        char_kernel: int,
        case_width: int,
        hidden_width: int,
        depth: int,
        dropout: float,
        tags: Sequence[str],
        n_stacked_rows: int = 0,
        stacked_width: int = 0,
        tensor_width: int = 0,
        n_teacher_rows: int = 0,
    ):
        super().__init__()
        self.word_embed = nn.Embedding(n_word_rows, word_width)
        bound = (3.0 / word_width) ** 0.5
        nn.init.uniform_(self.word_embed.weight, -bound, bound)
        self.char_cnn = CharCNN(n_char_rows, char_width, char_filters, char_kernel, dropout)
        self.case_embed = nn.Embedding(N_CASE_CLASSES, case_width) if case_width > 0 else None
        # stacked general-NER features: an embedding of (type, B/I) per token; row 0 = outside
        self.stacked_embed = (
            nn.Embedding(n_stacked_rows, stacked_width) if n_stacked_rows and stacked_width > 0 else None
        )
        in_width = word_width + char_filters + max(case_width, 0)
        in_width += stacked_width if self.stacked_embed is not None else 0
        in_width += max(tensor_width, 0)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(
            in_width, hidden_width, num_layers=depth, batch_first=True, bidirectional=True,
            dropout=dropout if depth > 1 else 0.0,
        )
        self.output = nn.Linear(2 * hidden_width, len(tags))
        # distillation: a second head predicting a teacher NER's (type, B/I) ids per token
        self.teacher_output = nn.Linear(2 * hidden_width, n_teacher_rows) if n_teacher_rows else None
        self.crf = ConstrainedCRF(tags)

    def forward(self, word_rows, case_ids, chars, token_index, lengths, stacked=None, tensor=None) -> torch.Tensor:
        """BIOES emission scores [B, T, n_tags] of a padded sub-batch of sequences.

        Per distinct word: [U, D]; then gathered to the padded tokens [B, T, D], with the
        per-token features (stacked NER ids [B, T], upstream doc.tensor [B, T, W]) appended."""
        feats = [self.word_embed(word_rows), self.char_cnn(chars)]
        if self.case_embed is not None:
            feats.append(self.case_embed(case_ids))
        per_word = torch.cat(feats, dim=1)
        per_token = [per_word[token_index]]
        if self.stacked_embed is not None:
            per_token.append(self.stacked_embed(stacked))
        if tensor is not None:
            per_token.append(tensor)
        x = self.dropout(torch.cat(per_token, dim=2) if len(per_token) > 1 else per_token[0])
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        out = self.dropout(out)
        if self.teacher_output is None:
            return self.output(out)
        # [B, T, n_tags + n_teacher_rows]: the pipe reads the tags' columns, the loss both
        return torch.cat([self.output(out), self.teacher_output(out)], dim=2)


# --------------------------------------------------------------------------- thinc model


@registry.architectures("legal_anon.CharCNNBiLSTMCRF.v1")
def build_char_cnn_bilstm_crf(
    char_width: int,
    char_filters: int,
    char_kernel: int,
    max_word_length: int,
    n_char_rows: int,
    case_width: int,
    lowercase_vectors: bool,
    hash_rows: int,
    word_width: int,
    hidden_width: int,
    depth: int,
    dropout: float,
    window: int,
    max_batch_tokens: int,
    torch_threads: int,
    n_word_rows: Optional[int] = None,
) -> Model[List[Doc], List[Floats2d]]:
    """Char-CNN + BiLSTM + CRF tagger on the words alone (v2 without stacked features)."""
    return build_char_cnn_bilstm_crf_v2(
        char_width, char_filters, char_kernel, max_word_length, n_char_rows, case_width,
        lowercase_vectors, hash_rows, word_width, hidden_width, depth, dropout, window,
        max_batch_tokens, torch_threads, stacked_spans_key=None, stacked_labels=[],
        stacked_width=0, tensor_width=0, n_word_rows=n_word_rows,
    )


@registry.architectures("legal_anon.CharCNNBiLSTMCRF.v2")
def build_char_cnn_bilstm_crf_v2(
    char_width: int,
    char_filters: int,
    char_kernel: int,
    max_word_length: int,
    n_char_rows: int,
    case_width: int,
    lowercase_vectors: bool,
    hash_rows: int,
    word_width: int,
    hidden_width: int,
    depth: int,
    dropout: float,
    window: int,
    max_batch_tokens: int,
    torch_threads: int,
    stacked_spans_key: Optional[str] = "ontonotes",
    stacked_labels: Sequence[str] = ONTONOTES_LABELS,
    stacked_width: int = 16,
    tensor_width: int = 0,
    n_word_rows: Optional[int] = None,
) -> Model[List[Doc], List[Floats2d]]:
    """Char-CNN + BiLSTM emission scores for a CRF, with stacked features (v3 without a teacher)."""
    return build_char_cnn_bilstm_crf_v3(
        char_width, char_filters, char_kernel, max_word_length, n_char_rows, case_width,
        lowercase_vectors, hash_rows, word_width, hidden_width, depth, dropout, window,
        max_batch_tokens, torch_threads, stacked_spans_key=stacked_spans_key, stacked_labels=stacked_labels,
        stacked_width=stacked_width, tensor_width=tensor_width, n_word_rows=n_word_rows,
        teacher_spans_key=None, teacher_labels=(), teacher_weight=0.0,
    )


@registry.architectures("legal_anon.CharCNNBiLSTMCRF.v3")
def build_char_cnn_bilstm_crf_v3(
    char_width: int,
    char_filters: int,
    char_kernel: int,
    max_word_length: int,
    n_char_rows: int,
    case_width: int,
    lowercase_vectors: bool,
    hash_rows: int,
    word_width: int,
    hidden_width: int,
    depth: int,
    dropout: float,
    window: int,
    max_batch_tokens: int,
    torch_threads: int,
    stacked_spans_key: Optional[str] = None,
    stacked_labels: Sequence[str] = ONTONOTES_LABELS,
    stacked_width: int = 16,
    tensor_width: int = 0,
    teacher_spans_key: Optional[str] = "ontonotes",
    teacher_labels: Sequence[str] = ONTONOTES_LABELS,
    teacher_weight: float = 0.5,
    n_word_rows: Optional[int] = None,
) -> Model[List[Doc], List[Floats2d]]:
    """Char-CNN + BiLSTM emission scores for a CRF (``legal_anon.ml.crf_tagger``): docs in,
    one ``[n_tokens, n_tags]`` array of BIOES emission scores per doc out; the pipe owns
    the CRF over them.

    Stacking (v2): with ``stacked_spans_key`` the spans of a general NER in
    ``doc.spans[stacked_spans_key]`` become one embedded id per token (``stacked_width``
    wide; ``stacked_labels`` get rows of their own, other labels share one), and with
    ``tensor_width`` > 0 the upstream ``doc.tensor`` (e.g. a sourced tok2vec's output) is
    appended to every token's features, frozen. ``n_word_rows`` (and ``word_width``, the
    width of the vectors table when there is one) are written into the pipeline's config
    by ``initialize``; ``dropout`` is the rate until ``[training] dropout`` is applied.
    torch_threads > 0 calls torch.set_num_threads (on a small, shared CPU 1 thread is
    several times faster than oversubscribed OpenMP threads).

    Distillation (v3): with ``teacher_spans_key`` the model has a second output that
    predicts, per token, the (type, B/I) id of a teacher NER's entities (the ids of
    ``legal_anon.ml.stacked_features.ner_feature_ids``), trained from the training docs'
    ``reference.spans[teacher_spans_key]`` (``legal_anon.corpus.teacher``) with weight
    ``teacher_weight`` beside the CRF loss. At prediction the teacher is not needed: the
    second output is ignored. Its columns follow the tags' in the model's output
    (``attrs["n_extra_outputs"]``); the pipe splits them."""
    if torch_threads > 0:
        torch.set_num_threads(torch_threads)
    featurizer = Featurizer(max_word_length, n_char_rows, lowercase_vectors, hash_rows)
    stacked_labels = list(stacked_labels) if stacked_spans_key else []
    hp = {
        "char_width": char_width,
        "char_filters": char_filters,
        "char_kernel": char_kernel,
        "n_char_rows": n_char_rows,
        "case_width": case_width,
        "hidden_width": hidden_width,
        "depth": depth,
        "dropout": dropout,
        "n_stacked_rows": feature_rows(stacked_labels) if stacked_spans_key else 0,
        "stacked_width": stacked_width if stacked_spans_key else 0,
        "tensor_width": tensor_width,
        "n_teacher_rows": feature_rows(list(teacher_labels)) if teacher_spans_key else 0,
    }
    return crf_tagger(
        "char_cnn_bilstm_crf",
        prepare=partial(_word_inputs, featurizer=featurizer),
        make_module=partial(_make_module, hp=hp),
        sizes={"n_word_rows": n_word_rows, "word_width": word_width},
        dropout=dropout,
        window=window,
        max_batch_tokens=max_batch_tokens,
        init=partial(_init, featurizer=featurizer),
        attrs={
            "stacked_spans_key": stacked_spans_key or None,
            "stacked_labels": label_index(stacked_labels),
            "tensor_width": tensor_width,
            "n_extra_outputs": hp["n_teacher_rows"],
            "teacher": {"spans_key": teacher_spans_key, "labels": label_index(list(teacher_labels)),
                        "weight": float(teacher_weight)} if teacher_spans_key else None,
        },
    )



def _make_module(sizes: Dict[str, Any], tags: Sequence[str], *, hp: Dict[str, Any]) -> TorchCharCNNBiLSTMCRF:
    return TorchCharCNNBiLSTMCRF(n_word_rows=sizes["n_word_rows"], word_width=sizes["word_width"], tags=tags, **hp)


def _init(model: Model, X: Optional[List[Doc]] = None, Y: Optional[Sequence[str]] = None, *, featurizer: Featurizer) -> None:
    """X: a sample of docs (for the vocab and its vectors); Y: the tag set."""
    if Y is None:
        raise ValueError("char_cnn_bilstm_crf: initialize needs the tag set as Y")
    vocab = X[0].vocab if X else None
    vectors = vocab.vectors if vocab is not None and vocab.vectors.shape[0] and vocab.vectors.shape[1] else None
    featurizer.reset()
    sizes = model.attrs["sizes"]
    sizes["n_word_rows"] = featurizer.n_word_rows(vocab) if vocab is not None else featurizer.hash_rows
    if vectors is not None:
        sizes["word_width"] = int(vectors.shape[1])
    module = build_torch_layer(model, Y)
    if vectors is not None:
        with torch.no_grad():
            module.word_embed.weight[: vectors.shape[0]] = torch.from_numpy(np.asarray(model.ops.to_numpy(vectors.data), dtype=np.float32))


def _token_features(model: Model, docs: List[Doc]) -> Dict[str, Optional[np.ndarray]]:
    """Per-token features of the docs, flattened in doc order: stacked NER ids and the
    upstream doc.tensor (None when the model does not use them)."""
    key, width = model.attrs["stacked_spans_key"], model.attrs["tensor_width"]
    docs = [d for d in docs if len(d)]
    stacked = np.concatenate([ner_feature_ids(d, key, model.attrs["stacked_labels"]) for d in docs]) if key else None
    tensor = np.concatenate([doc_tensor(d, width) for d in docs]) if width > 0 else None
    return {"stacked": stacked, "tensor": tensor}


def _word_inputs(model: Model, docs: List[Doc], is_train: bool, *, featurizer: Featurizer):
    """The module's inputs for each padded sub-batch: the batch's distinct words (their
    vector rows, casing classes and characters, from the featurizer's cache) and, per
    token, the index of its word and the stacked features. Nothing upstream to train."""
    vocab = docs[0].vocab
    orth = np.concatenate([d.to_array("ORTH").astype(np.uint64) for d in docs if len(d)])
    token_feats = _token_features(model, docs)

    def batch_inputs(flat_idx: np.ndarray, mask: np.ndarray) -> Dict[str, Any]:
        uniq, inv = np.unique(orth[flat_idx.ravel()], return_inverse=True)
        pos = featurizer.lookup(vocab, uniq)
        chars = featurizer.chars[pos].astype(np.int64)
        inputs = {
            "word_rows": featurizer.rows[pos],
            "case_ids": featurizer.case[pos],
            "chars": chars[:, : max(1, int((chars > 0).sum(1).max()))],
            "token_index": inv.reshape(flat_idx.shape).astype(np.int64),
            "lengths": mask.sum(axis=1).astype(np.int64),
        }
        for name, flat in token_feats.items():
            if flat is not None:
                inputs[name] = flat[flat_idx]
        return inputs

    return batch_inputs, lambda d_inputs: None
