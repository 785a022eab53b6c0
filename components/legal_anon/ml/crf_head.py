"""A CRF output layer over any token-vector model: the CRF head for the transformer listener.

``legal_anon.Tok2VecCRF.v1``/``.v2`` chain a tok2vec (``Model[List[Doc], List[Floats2d]]``;
in ``configs/transformer_crf.cfg`` the spacy-transformers ``TransformerListener``) with
dropout and a linear layer to BIOES emission scores (``legal_anon.ml.crf_tagger``); the
pipe (factory ``crf_ner``) runs the same BIOES-constrained CRF over them as for the
BiLSTM-CRF and passes the gradient of the scores back, through the token vectors, to the
tok2vec (and through the listener to the transformer).

Token vectors are cut into sentences / windows of at most ``window`` tokens (a CRF
needs no more context than its neighbours: the transformer has already read the whole
document) and grouped by length into sub-batches of at most ``max_batch_tokens``.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d
from torch import nn

from legal_anon.ml.crf import ConstrainedCRF, split_by_doc
from legal_anon.ml.crf_tagger import build_torch_layer, crf_tagger
from legal_anon.ml.stacked_features import ONTONOTES_LABELS, feature_rows, label_index, ner_feature_ids


class TorchCRFHead(nn.Module):
    """[token vectors; stacked NER embedding] -> Dropout -> Linear -> emission scores; the
    BIOES-constrained CRF over them (``.crf``) is the pipe's to run."""

    def __init__(self, n_in: int, tags: Sequence[str], dropout: float, n_stacked_rows: int = 0, stacked_width: int = 0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.stacked_embed = (
            nn.Embedding(n_stacked_rows, stacked_width) if n_stacked_rows and stacked_width > 0 else None
        )
        self.output = nn.Linear(n_in + (stacked_width if self.stacked_embed is not None else 0), len(tags))
        self.crf = ConstrainedCRF(tags)

    def forward(self, X, stacked=None) -> torch.Tensor:
        """BIOES emission scores [B, T, n_tags] of padded token vectors [B, T, nI]."""
        if self.stacked_embed is not None:
            X = torch.cat([X, self.stacked_embed(stacked)], dim=2)
        return self.output(self.dropout(X))


@registry.architectures("legal_anon.Tok2VecCRF.v1")
def build_tok2vec_crf(
    tok2vec: Model[List[Doc], List[Floats2d]],
    dropout: float,
    window: int,
    max_batch_tokens: int,
    nI: Optional[int] = None,
) -> Model[List[Doc], List[Floats2d]]:
    """CRF tagger over ``tok2vec``'s token vectors (v2 without stacked features)."""
    return build_tok2vec_crf_v2(tok2vec, dropout, window, max_batch_tokens, stacked_spans_key=None,
                                stacked_labels=[], stacked_width=0, nI=nI)


@registry.architectures("legal_anon.Tok2VecCRF.v2")
def build_tok2vec_crf_v2(
    tok2vec: Model[List[Doc], List[Floats2d]],
    dropout: float,
    window: int,
    max_batch_tokens: int,
    stacked_spans_key: Optional[str] = "ontonotes",
    stacked_labels: Sequence[str] = ONTONOTES_LABELS,
    stacked_width: int = 16,
    nI: Optional[int] = None,
) -> Model[List[Doc], List[Floats2d]]:
    """BIOES emission scores from ``tok2vec``'s token vectors; with ``stacked_spans_key``
    the spans of a general NER in that span group are embedded per token and appended to
    the vectors (as in ``legal_anon.CharCNNBiLSTMCRF.v2``). ``nI``, the width of the token
    vectors, is written into the pipeline's config by ``initialize``."""
    stacked_labels = list(stacked_labels) if stacked_spans_key else []
    n_stacked_rows = feature_rows(stacked_labels) if stacked_spans_key else 0
    stacked_width = stacked_width if stacked_spans_key else 0

    def make_module(sizes: Dict[str, Any], tags: Sequence[str]) -> TorchCRFHead:
        return TorchCRFHead(sizes["nI"], tags, dropout, n_stacked_rows, stacked_width)

    return crf_tagger(
        "tok2vec_crf",
        prepare=_vector_inputs,
        make_module=make_module,
        sizes={"nI": nI},
        dropout=dropout,
        window=window,
        max_batch_tokens=max_batch_tokens,
        layers=[tok2vec],
        init=_init,
        attrs={"stacked_spans_key": stacked_spans_key or None, "stacked_labels": label_index(stacked_labels)},
    )


def _init(model: Model, X: Optional[List[Doc]] = None, Y: Optional[Sequence[str]] = None) -> None:
    """X: docs already processed by the upstream components (the transformer), so the
    tok2vec width can be read off its output if it has no nO; Y: the tag set."""
    if Y is None:
        raise ValueError("tok2vec_crf: initialize needs the tag set as Y")
    tok2vec = model.layers[0]
    tok2vec.initialize(X=X)
    n_in = tok2vec.maybe_get_dim("nO") if tok2vec.has_dim("nO") else None
    if not n_in:
        sample = [d for d in (X or []) if len(d)]
        if not sample:
            raise ValueError("tok2vec_crf: need at least one non-empty doc to find the token-vector width")
        n_in = tok2vec.predict(sample[:1])[0].shape[1]
    model.attrs["sizes"]["nI"] = int(n_in)
    build_torch_layer(model, Y)


def _vector_inputs(model: Model, docs: List[Doc], is_train: bool):
    """The module's inputs for each padded sub-batch: the tok2vec's token vectors (which
    carry a gradient back to the tok2vec) and the stacked NER ids."""
    tok2vec = model.layers[0]
    lengths = [len(d) for d in docs]
    vectors, bp_tok2vec = tok2vec(docs, is_train)
    flat = model.ops.xp.concatenate([v for v, n in zip(vectors, lengths) if n], axis=0)
    key = model.attrs["stacked_spans_key"]
    stacked = (
        np.concatenate([ner_feature_ids(d, key, model.attrs["stacked_labels"]) for d in docs if len(d)])
        if key else None
    )

    def batch_inputs(flat_idx: np.ndarray, mask: np.ndarray) -> Dict[str, Any]:
        inputs = {"X": flat[model.ops.asarray(flat_idx)]}
        if stacked is not None:
            inputs["stacked"] = stacked[flat_idx]
        return inputs

    def finish_backprop(d_inputs) -> None:
        d_flat = model.ops.alloc2f(*flat.shape)
        for flat_idx, mask, d_x in d_inputs:  # d_x: [b, T, nI]; padding gets no gradient
            d_flat[model.ops.asarray(flat_idx[mask])] += d_x[model.ops.asarray(mask)]
        bp_tok2vec(split_by_doc(d_flat, lengths))

    return batch_inputs, finish_backprop
