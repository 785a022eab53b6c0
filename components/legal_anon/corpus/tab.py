"""The Text Anonymization Benchmark (TAB) schema and how its mentions are stored on a Doc.

Converted documents keep every annotated mention, NO_MASK included, in the span group
``doc.spans[TAB_SPAN_KEY]``; the per-mention metadata (annotator, identifier_type,
entity_id, original offsets) sits in ``doc.user_data[TAB_META_KEY]`` in the same order,
so it survives DocBin serialization. ``tab_mentions(doc)`` reads both back together.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

from spacy.tokens import Doc, Span

ENTITY_TYPES = ("PERSON", "CODE", "LOC", "ORG", "DEM", "DATETIME", "QUANTITY", "MISC")
IDENTIFIER_TYPES = ("DIRECT", "QUASI", "NO_MASK")
MASKED_IDENTIFIER_TYPES = ("DIRECT", "QUASI")

TAB_SPAN_KEY = "tab"
TAB_META_KEY = "tab_mentions"
DOC_ID_KEY = "doc_id"
ANNOTATORS_KEY = "annotators"


@dataclass(frozen=True)
class TabMention:
    span: Span
    annotator: str
    identifier_type: str
    entity_type: str
    entity_id: str
    entity_mention_id: str
    start_offset: int
    end_offset: int
    confidential_status: Optional[str] = None

    @property
    def needs_masking(self) -> bool:
        return self.identifier_type in MASKED_IDENTIFIER_TYPES


def doc_id(doc: Doc) -> Optional[str]:
    return doc.user_data.get(DOC_ID_KEY)


def tab_mentions(doc: Doc) -> List[TabMention]:
    """All TAB mentions stored on a converted doc, with their metadata."""
    if TAB_SPAN_KEY not in doc.spans:
        return []
    spans = list(doc.spans[TAB_SPAN_KEY])
    metas = doc.user_data.get(TAB_META_KEY, [])
    if len(metas) != len(spans):
        raise ValueError(
            f"doc {doc_id(doc)!r}: {len(spans)} spans in doc.spans[{TAB_SPAN_KEY!r}] but "
            f"{len(metas)} metadata records in doc.user_data[{TAB_META_KEY!r}]"
        )
    return [
        TabMention(
            span=span,
            annotator=meta["annotator"],
            identifier_type=meta["identifier_type"],
            entity_type=span.label_,
            entity_id=meta["entity_id"],
            entity_mention_id=meta["entity_mention_id"],
            start_offset=meta["start_offset"],
            end_offset=meta["end_offset"],
            confidential_status=meta.get("confidential_status"),
        )
        for span, meta in zip(spans, metas)
    ]
