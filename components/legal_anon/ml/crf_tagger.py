"""The thinc model both CRF taggers share: docs in, BIOES emission scores per token out.

An architecture (``legal_anon.CharCNNBiLSTMCRF.*``, ``legal_anon.Tok2VecCRF.*``) supplies
two things: ``prepare``, which turns a batch of docs into the inputs of one padded
sub-batch of sequences (and takes the input gradients back), and ``make_module``, which
builds its PyTorch module for a tag set from the sizes in ``model.attrs["sizes"]``. The
rest is here, once: the forward pass over sentence segments (``legal_anon.ml.segments``),
the one builder of the PyTorch layer, dropout set from the pipe (spaCy's
``set_dropout_rate`` writes ``attrs["dropout_rate"]``) and the input conversion.

The model's output is ``List[Floats2d]``, one ``[n_tokens, n_tags]`` array per doc, as
spaCy's tagger model returns; the CRF over those scores (loss, Viterbi, marginals) is the
pipe's (``legal_anon.pipeline.crf_ner``). The CRF's transition weights live in the same
PyTorch module (``module.crf``) so that one optimizer step and one ``state_dict`` cover
every weight.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Sequence, Tuple

import numpy as np
import torch
from spacy.tokens import Doc
from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v2
from thinc.types import Floats2d
from thinc.util import torch2xp, xp2torch
from torch import nn

from legal_anon.ml.crf import ConstrainedCRF, split_by_doc
from legal_anon.ml.segments import padded_batches, segment_table
from legal_anon.ml.thinc_shim import use_patched_shim

# prepare(model, docs, is_train) -> (inputs of one sub-batch given (flat_idx, mask),
#                                    callback taking [(flat_idx, mask, d_inputs)] per sub-batch)
Prepare = Callable[[Model, List[Doc], bool], Tuple[Callable[[np.ndarray, np.ndarray], Dict[str, Any]], Callable]]
MakeModule = Callable[[Dict[str, Any], Sequence[str]], nn.Module]


def crf_tagger(
    name: str, *, prepare: Prepare, make_module: MakeModule, sizes: Dict[str, Any], dropout: float,
    window: int, max_batch_tokens: int, layers: Sequence[Model] = (), init: Callable, attrs: Dict[str, Any],
) -> Model[List[Doc], List[Floats2d]]:
    """A CRF tagger's model. ``sizes`` are what its PyTorch module needs besides the tags
    (None until ``initialize`` finds them; the pipe writes them into ``nlp.config`` so a
    saved pipeline rebuilds at full size). ``dropout`` is the rate until the pipe sets
    ``[training] dropout`` through ``set_dropout_rate``."""
    return Model(
        name,
        _forward,
        init=init,
        layers=list(layers),
        attrs={
            **attrs, "prepare": prepare, "make_module": make_module, "sizes": dict(sizes),
            "dropout_rate": dropout, "window": window, "max_batch_tokens": max_batch_tokens, "tags": None,
        },
        dims={"nO": None},
    )


def can_build(model: Model) -> bool:
    """Are the sizes known (from initialize or from the pipeline's config)?"""
    return all(v is not None for v in model.attrs["sizes"].values())


def build_torch_layer(model: Model, tags: Sequence[str]) -> nn.Module:
    """Create (or replace) the PyTorch layer for ``tags`` from ``model.attrs["sizes"]``:
    the one place a CRF tagger's module is built, in initialize and before loading weights."""
    if not can_build(model):
        missing = [k for k, v in model.attrs["sizes"].items() if v is None]
        raise ValueError(f"{model.name}: cannot build the PyTorch layer before its sizes are known ({missing})")
    module = model.attrs["make_module"](model.attrs["sizes"], list(tags))
    wrapped = PyTorchWrapper_v2(module, convert_inputs=_convert_inputs)
    use_patched_shim(wrapped)
    upstream = [layer for layer in model.layers if layer.name != wrapped.name]
    model._layers[:] = upstream + [wrapped]
    model.attrs["tags"] = list(tags)
    # an auxiliary head's columns (a distilled teacher's logits) follow the tags' scores
    model.set_dim("nO", len(tags) + model.attrs.get("n_extra_outputs", 0), force=True)
    return module


def torch_module(model: Model) -> nn.Module:
    """The built PyTorch module (encoder + ``.crf``) of a CRF tagger's model."""
    if model.attrs.get("tags") is None or not model.layers or not model.layers[-1].shims:
        raise ValueError(f"{model.name}: the model is not initialized (no PyTorch layer yet)")
    return model.layers[-1].shims[0]._model


def crf_layer(model: Model) -> ConstrainedCRF:
    return torch_module(model).crf


def set_torch_dropout(module: nn.Module, rate: float) -> None:
    """Apply a dropout rate to every dropout of a PyTorch module (and between LSTM layers)."""
    for m in module.modules():
        if isinstance(m, nn.Dropout):
            m.p = rate
        elif isinstance(m, nn.LSTM) and m.num_layers > 1:
            m.dropout = rate


def _convert_inputs(model: Model, X: Dict[str, Any], is_train: bool):
    """numpy inputs -> torch; the float input ``X`` (token vectors from an upstream
    layer) carries a gradient back, every other input is constant."""
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
        return torch2xp(d_inputs.kwargs["X"]) if "X" in d_inputs.kwargs else None

    return ArgsKwargs(args=(), kwargs=kwargs), convert_grad


def _forward(model: Model, docs: List[Doc], is_train: bool):
    """Emission scores per doc. Docs are cut into sentence segments grouped into padded
    sub-batches; the module runs once per sub-batch and its scores are gathered back to
    the tokens."""
    docs = list(docs)
    lengths = [len(d) for d in docs]
    n_tags = model.get_dim("nO")
    if sum(lengths) == 0:
        return [np.zeros((n, n_tags), dtype=np.float32) for n in lengths], lambda d_scores: []
    layer = model.layers[-1]
    if is_train:
        set_torch_dropout(layer.shims[0]._model, model.attrs["dropout_rate"])
    batch_inputs, finish_backprop = model.attrs["prepare"](model, docs, is_train)
    scores = np.zeros((sum(lengths), n_tags), dtype=np.float32)
    backprops = []
    for flat_idx, mask in padded_batches(segment_table(docs, model.attrs["window"]), model.attrs["max_batch_tokens"]):
        emissions, bp = layer(batch_inputs(flat_idx, mask), is_train)
        scores[flat_idx[mask]] = model.ops.to_numpy(emissions)[mask]
        backprops.append((flat_idx, mask, bp))

    def backprop(d_scores: List[Floats2d]) -> List[Any]:
        d_flat = np.concatenate([model.ops.to_numpy(d) for d in d_scores], axis=0)
        d_inputs = []
        for flat_idx, mask, bp in backprops:
            d_emissions = np.zeros(mask.shape + (n_tags,), dtype=np.float32)
            d_emissions[mask] = d_flat[flat_idx[mask]]
            d_inputs.append((flat_idx, mask, bp(model.ops.asarray3f(d_emissions))))
        finish_backprop(d_inputs)
        return []

    return split_by_doc(scores, lengths), backprop
