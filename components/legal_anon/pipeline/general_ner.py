"""What the pipeline takes from a general-purpose NER sourced in front of our tagger.

* ``ents_to_spans`` (the ``ontonotes_spans`` component) copies ``doc.ents`` into a span
  group, so the general NER's spans stay readable after our tagger overwrites ``doc.ents``
  and the tagger reads its features (``legal_anon.ml.stacked_features``) from a place
  nobody else writes to.
* ``ner_tensor`` (the ``ontonotes_tensor`` component, after the NER) keeps what the NER's
  own token encoder computed for each token (sm's ``ner`` has its own Tok2Vec, 64 wide
  after its projection, trained for OntoNotes NER) in ``doc.tensor``, where the tagger
  reads it with ``tensor_width``. The NER computes it anyway: keeping it costs a copy,
  where sourcing the pipeline's shared ``tok2vec`` runs a second encoder.
* ``legal_anon.pipeline_lookups.v1`` copies lookup tables (``lexeme_norm``) from the source
  pipeline into ours at ``[initialize]``, so the sourced NER sees the same ``NORM`` values
  it was trained with (a blank English pipeline has no norm table without
  spacy-lookups-data).
"""
from __future__ import annotations

from typing import List

import numpy as np
from spacy.language import Language
from spacy.lookups import Lookups
from spacy.tokens import Doc
from spacy.util import registry
from thinc.layers.chain import forward as chain_forward


class EntsToSpans:
    """Copy ``doc.ents`` into ``doc.spans[spans_key]`` (the ents themselves are kept)."""

    def __init__(self, name: str, spans_key: str):
        if not spans_key:
            raise ValueError(f"{name}: spans_key must be a non-empty string")
        self.name = name
        self.spans_key = spans_key

    def __call__(self, doc: Doc) -> Doc:
        doc.spans[self.spans_key] = list(doc.ents)
        return doc


@Language.factory(
    "ents_to_spans",
    default_config={"spans_key": "ontonotes"},
    requires=["doc.ents"],
    assigns=["doc.spans"],
)
def make_ents_to_spans(nlp: Language, name: str, spans_key: str) -> EntsToSpans:
    return EntsToSpans(name, spans_key)


# doc.user_data key: this doc's doc.tensor holds the NER's token vectors
TENSOR_MARK = ("legal_anon", "ner_tensor")


def keep_tokvecs_forward(model, docs, is_train):
    """thinc's ``chain`` forward, and each doc's rows of its output put into ``doc.tensor``."""
    tokvecs, backprop = chain_forward(model, docs, is_train)
    rows = model.ops.to_numpy(tokvecs)
    start = 0
    for doc in docs:
        doc.tensor = rows[start:start + len(doc)]
        doc.user_data[TENSOR_MARK] = True
        start += len(doc)
    if start != len(rows):
        raise ValueError(f"ner_tensor: the NER's encoder returned {len(rows)} rows for {start} tokens")
    return tokvecs, backprop


class NERTensor:
    """Keep a transition-based NER's token vectors in ``doc.tensor`` (see the module doc).

    The NER's model (spaCy's ``TransitionModel``) runs its first layer, the Tok2Vec chain,
    on every batch; this swaps that layer's forward function for one that also writes the
    rows to the docs. Only the function changes, not the layer tree, so the NER's weights
    save and load as before. A doc the NER did not run on (it is disabled, or frozen
    components are switched off, as ``spacy train`` does while initializing) gets its
    vectors from the same encoder here: the values are the same either way."""

    def __init__(self, nlp: Language, name: str, ner_component: str, width: int):
        if ner_component not in nlp.pipe_names:
            raise ValueError(f"{name}: no component {ner_component!r} before it in the pipeline {nlp.pipe_names}")
        ner = nlp.get_pipe(ner_component)
        layers = getattr(getattr(ner, "model", None), "layers", None)
        encoder = layers[0] if layers else None
        if encoder is None or encoder._func not in (chain_forward, keep_tokvecs_forward):
            raise ValueError(f"{name}: {ner_component!r} is not a transition-based NER whose first layer is "
                             f"its own Tok2Vec chain (spaCy's ner with an internal tok2vec, as in en_core_web_sm)")
        if encoder.has_dim("nO") and encoder.get_dim("nO") != width:
            raise ValueError(f"{name}: {ner_component!r}'s token vectors are {encoder.get_dim('nO')} wide, "
                             f"the config says width = {width}")
        encoder._func = keep_tokvecs_forward
        self.name, self.ner_component, self.width, self.encoder = name, ner_component, width, encoder

    def __call__(self, doc: Doc) -> Doc:
        if len(doc) == 0:
            doc.tensor = np.zeros((0, self.width), dtype="float32")
        elif not doc.user_data.get(TENSOR_MARK):
            self.encoder.predict([doc])  # sets doc.tensor through keep_tokvecs_forward
        return doc


@Language.factory(
    "ner_tensor",
    default_config={"ner_component": "ontonotes_ner", "width": 64},
    requires=["doc.ents"],
    assigns=["doc.tensor"],
)
def make_ner_tensor(nlp: Language, name: str, ner_component: str, width: int) -> NERTensor:
    return NERTensor(nlp, name, ner_component, width)


@registry.misc("legal_anon.pipeline_lookups.v1")
def pipeline_lookups(name: str, tables: List[str]) -> Lookups:
    """Lookup tables copied from an installed pipeline (for ``[initialize] lookups``)."""
    import spacy

    source = spacy.load(name, exclude=["tagger", "parser", "senter", "attribute_ruler", "lemmatizer", "ner", "tok2vec"])
    lookups = Lookups()
    for table in tables:
        if not source.vocab.lookups.has_table(table):
            raise ValueError(f"legal_anon.pipeline_lookups.v1: {name!r} has no lookup table {table!r} "
                             f"(it has {source.vocab.lookups.tables})")
        lookups.set_table(table, source.vocab.lookups.get_table(table))
    return lookups
