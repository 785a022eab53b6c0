"""Masked-LM token weighting for TAB's weighted precision: loading a Hugging Face model
(offline) and scoring the information content of masked tokens.

A token's weight is ``-log p`` of its true word piece under a BERT-style masked language
model, with every masked span replaced by ``[MASK]`` at once (the minimum probability over a
token's word pieces), as in TAB's evaluation script. Only models with a masked-LM head load:
a sentence encoder would get a randomly initialised head and meaningless weights.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import List

import numpy as np

from legal_anon.eval.tab_gold import CharSpan


class MaskedLMWeighting:
    """Information content of masked tokens under a masked language model.

    All masked spans of a document are replaced by the mask token at once (and, as in
    the TAB script, hidden from attention); the weight of a span is ``-log p`` where p is
    the smallest probability the model gives to one of the span's original word pieces.
    Spans without any word piece weigh 0. Long documents are cut into segments of about
    ``max_segment_size`` word pieces (as upstream, 100)."""

    def __init__(self, model, tokenizer, max_segment_size: int = 100, name: str = ""):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_segment_size = max_segment_size
        self.name = name

    def __call__(self, text: str, spans: List[CharSpan]) -> List[float]:
        import torch

        enc = self.tokenizer(text, return_offsets_mapping=True, add_special_tokens=True)
        ids = list(enc["input_ids"])
        original = np.array(ids)
        attention = list(enc["attention_mask"])
        pieces_of: List[List[int]] = []
        for s, e in spans:
            pieces = [i for i, (a, b) in enumerate(enc["offset_mapping"]) if b > a and a < e and s < b]
            pieces_of.append(pieces)
            for i in pieces:
                ids[i] = self.tokenizer.mask_token_id
                attention[i] = 0
        n = len(ids)
        n_seg = max(1, math.ceil(n / self.max_segment_size))
        chunks = np.array_split(np.arange(n), n_seg)
        width = max(len(c) for c in chunks)
        input_ids = torch.zeros((n_seg, width), dtype=torch.long)
        att = torch.zeros((n_seg, width), dtype=torch.long)
        for k, c in enumerate(chunks):
            input_ids[k, : len(c)] = torch.tensor([ids[i] for i in c])
            att[k, : len(c)] = torch.tensor([attention[i] for i in c])
        with torch.no_grad():
            logits = self.model(input_ids=input_ids, attention_mask=att).logits
        logits = torch.cat([logits[k, : len(c)] for k, c in enumerate(chunks)], dim=0)
        probs = torch.softmax(logits.float(), dim=-1)[torch.arange(n), torch.tensor(original)].numpy()
        return [float(-np.log(min(probs[i] for i in p))) if p else 0.0 for p in pieces_of]


def _hf_cache_dir() -> Path:
    try:
        from huggingface_hub import constants

        return Path(constants.HF_HUB_CACHE)
    except Exception:  # pragma: no cover
        home = os.environ.get("HF_HOME", os.path.join(os.path.expanduser("~"), ".cache", "huggingface"))
        return Path(os.environ.get("HF_HUB_CACHE", os.path.join(home, "hub")))


def load_masked_lm_weighting(name_or_path: str = "bert-base-uncased", max_segment_size: int = 100):
    """(MaskedLMWeighting, None) when a masked LM loads offline, else (None, reason).

    Never falls back to a randomly initialised LM head: a checkpoint without
    masked-LM weights (e.g. the sentence-transformers all-MiniLM-L6-v2 encoder) is
    reported as unavailable."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not Path(name_or_path).is_dir():
        cache = _hf_cache_dir() / ("models--" + name_or_path.replace("/", "--"))
        if not cache.is_dir():
            return None, (f"masked language model {name_or_path!r} is not available offline "
                          f"(not a local directory and not in the Hugging Face cache {cache.parent})")
    try:
        from transformers import AutoModelForMaskedLM, AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError as e:  # pragma: no cover
        return None, f"transformers is not installed ({e})"
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, local_files_only=True)
    except Exception as e:
        return None, (f"masked language model {name_or_path!r} is not available offline "
                      f"(not a local directory and not in the Hugging Face cache): {type(e).__name__}")
    if not getattr(tokenizer, "is_fast", False) or tokenizer.mask_token_id is None:
        return None, f"{name_or_path!r}: needs a fast tokenizer with a mask token"
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model, info = AutoModelForMaskedLM.from_pretrained(
            name_or_path, local_files_only=True, output_loading_info=True
        )
    except Exception as e:
        return None, f"{name_or_path!r} cannot be loaded as a masked language model: {type(e).__name__}: {e}"
    finally:
        hf_logging.set_verbosity(verbosity)
    missing = [k for k in info.get("missing_keys", []) if "position_ids" not in k]
    if missing:
        return None, (f"{name_or_path!r} is not a masked language model: its checkpoint lacks the "
                      f"masked-LM head ({len(missing)} missing weights, e.g. {missing[0]}); a randomly "
                      f"initialised head would give meaningless weights, so none is computed")
    return MaskedLMWeighting(model, tokenizer, max_segment_size, name=name_or_path), None
