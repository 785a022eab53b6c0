"""What the pipeline takes from a general-purpose NER sourced in front of our tagger.

* ``ents_to_spans`` (the ``ontonotes_spans`` component) copies ``doc.ents`` into a span
  group, so the general NER's spans stay readable after our tagger overwrites ``doc.ents``
  and the tagger reads its features (``legal_anon.ml.stacked_features``) from a place
  nobody else writes to.
* ``legal_anon.pipeline_lookups.v1`` copies lookup tables (``lexeme_norm``) from the source
  pipeline into ours at ``[initialize]``, so the sourced NER sees the same ``NORM`` values
  it was trained with (a blank English pipeline has no norm table without
  spacy-lookups-data).
"""
from __future__ import annotations

from typing import List

from spacy.language import Language
from spacy.lookups import Lookups
from spacy.tokens import Doc
from spacy.util import registry


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
