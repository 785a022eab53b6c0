"""Stacking: a general-purpose NER's predictions as our tagger's input features.

A pretrained OntoNotes NER (``en_core_web_sm``'s ``ner``, sourced frozen into the
pipeline) already knows that "London" is a GPE, "Serco" an ORG and "British" a NORP: the
types our tagger, trained on 174 judgments, misses most. The pipeline is

    ontonotes_ner (sourced, frozen, annotating) -> ontonotes_spans -> bilstm_crf_ner

* ``ents_to_spans`` (the ``ontonotes_spans`` component, ``legal_anon.pipeline.general_ner``)
  copies ``doc.ents`` into a span group, so the general NER's spans stay readable after our
  tagger overwrites ``doc.ents`` and the tagger reads its features from a place nobody else
  writes to.
* ``ner_feature_ids`` turns that span group into one id per token (entity type and
  B/I position), which the tagger embeds and concatenates to its word features. Our tagger
  still decides and writes ``doc.ents``.
* ``legal_anon.pipeline_lookups.v1`` (``legal_anon.pipeline.general_ner``) copies lookup
  tables from the source pipeline at ``[initialize]``.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np
from spacy.tokens import Doc

# The 18 OntoNotes 5 types of spaCy's English pipelines (en_core_web_sm/md/lg/trf).
ONTONOTES_LABELS = (
    "CARDINAL", "DATE", "EVENT", "FAC", "GPE", "LANGUAGE", "LAW", "LOC", "MONEY", "NORP",
    "ORDINAL", "ORG", "PERCENT", "PERSON", "PRODUCT", "QUANTITY", "TIME", "WORK_OF_ART",
)


def feature_rows(labels: Sequence[str]) -> int:
    """Rows of the feature embedding: O, then B and I for each label and for 'other'."""
    return 1 + 2 * (len(labels) + 1)


def ner_feature_ids(doc: Doc, spans_key: str, label_index: Dict[str, int]) -> np.ndarray:
    """One id per token from the spans in ``doc.spans[spans_key]``.

    0 = outside every span; a span of label number j (its index in ``label_index``;
    labels not in it share the number ``len(label_index)``) gives 1 + 2j to its first
    token and 2 + 2j to the others. Overlapping spans: the later one wins. A doc without
    the span group is an error: the stacked NER did not run before the tagger."""
    if spans_key not in doc.spans:
        raise ValueError(
            f"stacked NER features: doc.spans[{spans_key!r}] is missing. The pipeline must run the "
            f"general NER and an 'ents_to_spans' component with spans_key={spans_key!r} before this "
            "tagger (see configs/bilstm_crf_stacked.cfg)."
        )
    ids = np.zeros((len(doc),), dtype=np.int64)
    other = len(label_index)
    for span in doc.spans[spans_key]:
        j = label_index.get(span.label_, other)
        ids[span.start] = 1 + 2 * j
        ids[span.start + 1 : span.end] = 2 + 2 * j
    return ids


def doc_tensor(doc: Doc, width: int) -> np.ndarray:
    """``doc.tensor`` (set by an upstream ``tok2vec``) as float32 [len(doc), width]."""
    tensor = doc.tensor
    if tensor is None or tensor.ndim != 2 or tensor.shape[0] != len(doc) or tensor.shape[1] != width:
        shape = None if tensor is None else tuple(tensor.shape)
        raise ValueError(
            f"doc.tensor features: expected shape ({len(doc)}, {width}) from an upstream tok2vec, "
            f"got {shape}. Source the tok2vec component in front of the tagger, or set tensor_width = 0."
        )
    return np.asarray(tensor, dtype=np.float32)


def label_index(labels: Optional[Sequence[str]]) -> Dict[str, int]:
    return {label: i for i, label in enumerate(labels or ())}
