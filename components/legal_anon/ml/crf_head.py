"""A CRF output layer over any token-vector model: the CRF head for the transformer listener.

``legal_anon.Tok2VecCRF.v1`` chains a tok2vec (``Model[List[Doc], List[Floats2d]]``;
in ``configs/transformer_crf.cfg`` the spacy-transformers ``TransformerListener``) with
dropout, a linear layer to BIOES emission scores and the same BIOES-constrained
pytorch-crf CRF as the BiLSTM-CRF (``legal_anon.ml.crf``). It plugs into the same
``TrainablePipe`` (factory ``crf_ner``): input ``(docs, gold)``; prediction returns
BIOES tag ids per doc, training returns the CRF negative log-likelihood and passes the
gradient of the token vectors back to the tok2vec (and through the listener to the
transformer).

Token vectors are cut into sentences / windows of at most ``window`` tokens (a CRF
needs no more context than its neighbours: the transformer has already read the whole
document) and grouped by length into sub-batches of at most ``max_batch_tokens``.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v2
from thinc.types import Floats2d
from thinc.util import torch2xp, xp2torch
from torch import nn

from legal_anon.ml.stacked_features import ONTONOTES_LABELS, feature_rows, label_index, ner_feature_ids

from legal_anon.ml.crf import ConstrainedCRF, CRFOutput, convert_crf_outputs, split_by_doc
from legal_anon.ml.segments import padded_batches, repair_segment_edges, segment_table
from legal_anon.ml.thinc_shim import use_patched_shim


class TorchCRFHead(nn.Module):
    """[token vectors; stacked NER embedding] -> Dropout -> Linear -> BIOES-constrained CRF."""

    def __init__(self, n_in: int, tags: Sequence[str], dropout: float, n_stacked_rows: int = 0, stacked_width: int = 0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.stacked_embed = (
            nn.Embedding(n_stacked_rows, stacked_width) if n_stacked_rows and stacked_width > 0 else None
        )
        self.output = nn.Linear(n_in + (stacked_width if self.stacked_embed is not None else 0), len(tags))
        self.crf = ConstrainedCRF(tags)

    def forward(self, X, mask, gold=None, norm=1.0, stacked=None, marginals=False):
        if self.stacked_embed is not None:
            X = torch.cat([X, self.stacked_embed(stacked)], dim=2)
        scores = self.output(self.dropout(X))
        return self.crf.decode_or_loss(scores, mask, gold, norm, marginals)


@registry.architectures("legal_anon.Tok2VecCRF.v1")
def build_tok2vec_crf(
    tok2vec: Model[List[Doc], List[Floats2d]],
    dropout: float,
    window: int,
    max_batch_tokens: int,
) -> Model:
    """CRF tagger over ``tok2vec``'s token vectors (v2 without stacked features)."""
    return build_tok2vec_crf_v2(tok2vec, dropout, window, max_batch_tokens, stacked_spans_key=None,
                                stacked_labels=[], stacked_width=0)


@registry.architectures("legal_anon.Tok2VecCRF.v2")
def build_tok2vec_crf_v2(
    tok2vec: Model[List[Doc], List[Floats2d]],
    dropout: float,
    window: int,
    max_batch_tokens: int,
    stacked_spans_key: Optional[str] = "ontonotes",
    stacked_labels: Sequence[str] = ONTONOTES_LABELS,
    stacked_width: int = 16,
) -> Model:
    """CRF tagger over ``tok2vec``'s token vectors; with ``stacked_spans_key`` the spans
    of a general NER in that span group are embedded per token and appended to the
    vectors (as in ``legal_anon.CharCNNBiLSTMCRF.v2``). The PyTorch head is built in
    ``initialize`` (or from the pipe's cfg when loading) once the tags and the tok2vec
    width are known."""
    stacked_labels = list(stacked_labels) if stacked_spans_key else []
    return Model(
        "tok2vec_crf",
        _forward,
        init=_init,
        layers=[tok2vec],
        attrs={
            "dropout": dropout, "window": window, "max_batch_tokens": max_batch_tokens, "tags": None, "nI": None,
            "stacked_spans_key": stacked_spans_key or None, "stacked_labels": label_index(stacked_labels),
            "n_stacked_rows": feature_rows(stacked_labels) if stacked_spans_key else 0,
            "stacked_width": stacked_width if stacked_spans_key else 0, "marginals": False,
        },
        dims={"nO": None},
    )


def build_head(model: Model, tags: Sequence[str], n_in: int) -> None:
    """Create (or replace) the PyTorch CRF head for the given tags and input width."""
    module = TorchCRFHead(n_in, list(tags), model.attrs["dropout"], model.attrs.get("n_stacked_rows", 0),
                          model.attrs.get("stacked_width", 0))
    wrapped = PyTorchWrapper_v2(module, convert_inputs=_convert_inputs, convert_outputs=convert_crf_outputs)
    use_patched_shim(wrapped)
    model._layers[:] = [model.layers[0], wrapped]
    model.attrs["tags"] = list(tags)
    model.attrs["nI"] = int(n_in)
    model.set_dim("nO", len(tags), force=True)


def _init(model: Model, X: Optional[Any] = None, Y: Optional[Any] = None) -> None:
    """X: (docs, None) with the docs already processed by the upstream components (the
    transformer), so the tok2vec width can be read off its output if it has no nO."""
    tags = model.attrs["tags"]
    if tags is None:
        raise ValueError("tok2vec_crf: set model.attrs['tags'] before initialize")
    docs = X[0] if isinstance(X, tuple) else X
    tok2vec = model.layers[0]
    tok2vec.initialize(X=docs)
    n_in = tok2vec.maybe_get_dim("nO") if tok2vec.has_dim("nO") else None
    if not n_in:
        sample = [d for d in (docs or []) if len(d)]
        if not sample:
            raise ValueError("tok2vec_crf: need at least one non-empty doc to find the token-vector width")
        n_in = tok2vec.predict(sample[:1])[0].shape[1]
    build_head(model, tags, n_in)


def _convert_inputs(model: Model, X: Dict[str, Any], is_train: bool):
    device = model.shims[0].device
    kwargs = {}
    for k, v in X.items():
        if k == "X":
            kwargs[k] = xp2torch(v, requires_grad=is_train, device=device)
        elif isinstance(v, np.ndarray):
            kwargs[k] = torch.from_numpy(v).to(device)
        else:
            kwargs[k] = v

    def convert_grad(d_inputs: ArgsKwargs):
        return torch2xp(d_inputs.kwargs["X"])

    return ArgsKwargs(args=(), kwargs=kwargs), convert_grad


def _forward(model: Model, X: Tuple[List[Doc], Optional[List[np.ndarray]]], is_train: bool):
    docs, gold = X
    tok2vec, head = model.layers
    lengths = [len(d) for d in docs]
    with_marginals = bool(model.attrs.get("marginals")) and gold is None
    if sum(lengths) == 0:
        if gold is not None:
            return 0.0, lambda d: None
        tags = [np.zeros((n,), dtype=np.int64) for n in lengths]
        probs = [np.zeros((n, len(model.attrs["tags"])), dtype=np.float32) for n in lengths]
        return CRFOutput(tags, probs if with_marginals else None), lambda d: None
    vectors, bp_tok2vec = tok2vec(docs, is_train)
    xp = model.ops.xp
    flat = xp.concatenate([v for v, n in zip(vectors, lengths) if n], axis=0)
    key = model.attrs.get("stacked_spans_key")  # absent in pipelines saved before v2
    stacked = (
        np.concatenate([ner_feature_ids(d, key, model.attrs["stacked_labels"]) for d in docs if len(d)])
        if key else None
    )
    window, max_tokens = model.attrs["window"], model.attrs["max_batch_tokens"]
    gold_flat = np.concatenate([g for g, n in zip(gold, lengths) if n]).astype(np.int64) if gold is not None else None
    pred_flat = np.zeros((flat.shape[0],), dtype=np.int64)
    probs_flat = np.zeros((flat.shape[0], len(model.attrs["tags"])), dtype=np.float32) if with_marginals else None
    seg = segment_table(docs, window)
    norm = float(len(seg))
    total = 0.0
    backprops = []
    for flat_idx, mask in padded_batches(seg, max_tokens):
        inputs = {"X": flat[model.ops.asarray(flat_idx)], "mask": mask}
        if stacked is not None:
            inputs["stacked"] = stacked[flat_idx]
        if gold_flat is not None:
            inputs["gold"] = repair_segment_edges(np.where(mask, gold_flat[flat_idx], 0), mask.sum(axis=1))
            inputs["norm"] = norm
            loss, bp = head(inputs, is_train)
            total += float(loss)
            backprops.append((flat_idx, mask, bp))
        elif with_marginals:
            inputs["marginals"] = True
            (tags, probs), _ = head(inputs, False)
            pred_flat[flat_idx[mask]] = tags[mask]
            probs_flat[flat_idx[mask]] = probs[mask]
        else:
            tags, _ = head(inputs, False)
            pred_flat[flat_idx[mask]] = tags[mask]
    if gold_flat is None:
        probs_out = split_by_doc(probs_flat, lengths) if probs_flat is not None else None
        return CRFOutput(split_by_doc(pred_flat, lengths), probs_out), lambda d: None

    def backprop(d_loss: Any) -> None:
        d_flat = model.ops.alloc2f(*flat.shape)
        for flat_idx, mask, bp in backprops:
            d_x = bp(d_loss)  # [b, T, nI]; zero at padding (masked out of the CRF)
            rows = model.ops.asarray(flat_idx[mask])
            d_flat[rows] += d_x[model.ops.asarray(mask)]
        d_vectors, start = [], 0
        for n in lengths:
            d_vectors.append(d_flat[start : start + n])
            start += n
        bp_tok2vec(d_vectors)
        return None

    return total, backprop
