"""A stand-in NER for the document tests: a TAB judgment's own gold masked mentions.

Tests of a document format (HTML, Word) check the format, not the model: the pipeline
``gold_pipeline(record)`` sets the first annotator's masked mentions as ``doc.ents`` of that
judgment's text, and the packaged anonymizer masks them."""
from __future__ import annotations

from typing import Dict, List, Tuple

import spacy
from spacy.language import Language

from legal_anon.corpus.tab import MASKED_IDENTIFIER_TYPES

GOLD: Dict[str, List[Tuple[int, int, str]]] = {}


@Language.component("test_gold_spans")
def test_gold_spans(doc):
    """The gold masked mentions of the judgment whose text this is (offsets as in TAB)."""
    mentions = GOLD.get(doc.text, GOLD.get(doc.text.rstrip("\n"), []))
    doc.ents = [doc.char_span(s, e, label=label, alignment_mode="expand") for s, e, label in mentions]
    return doc


def masked_mentions(record) -> List[Tuple[int, int, str]]:
    """The first annotator's mentions that need masking, overlaps dropped (the first, longest kept)."""
    layer = next(iter(record["annotations"].values()))
    mentions = sorted({(m["start_offset"], m["end_offset"], m["entity_type"]) for m in layer["entity_mentions"]
                       if m["identifier_type"] in MASKED_IDENTIFIER_TYPES}, key=lambda m: (m[0], -m[1]))
    kept, end = [], -1
    for m in mentions:
        if m[0] >= end:
            kept.append(m)
            end = m[1]
    return kept


def gold_pipeline(record):
    """A blank English pipeline whose NER is ``record``'s gold, then the anonymizer (pseudonyms for persons)."""
    GOLD[record["text"]] = masked_mentions(record)
    nlp = spacy.blank("en")
    nlp.add_pipe("test_gold_spans")
    nlp.add_pipe("anonymizer", config={"operators": {"PERSON": "pseudonym"}})
    return nlp
