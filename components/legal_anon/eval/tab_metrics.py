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

import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional, Set

from legal_anon.eval.tab_gold import GoldDocument, GoldEntity, CharSpan
from legal_anon.eval.tab_output import SystemOutput, normalize_spans

_WORD_RE = re.compile(r"\w+")


@dataclass
class Ratio:
    num: float
    den: float

    @property
    def value(self) -> Optional[float]:
        return self.num / self.den if self.den else None

    def to_dict(self) -> Dict[str, Any]:
        return {"value": self.value, "num": self.num, "den": self.den}


def _offsets(spans: Iterable[CharSpan]) -> Set[int]:
    return {i for s, e in spans for i in range(s, e)}


def is_mention_masked(start: int, end: int, masked: Set[int], forgiven: FrozenSet[int]) -> bool:
    """Every character of [start, end) is masked or forgiven (``forgiven_offsets``)."""
    return all(i in masked or i in forgiven for i in range(start, end))


def word_tokens(text: str, start: int, end: int) -> List[CharSpan]:
    """Word tokens (``\\w+``) inside [start, end) of ``text``."""
    return [(start + m.start(), start + m.end()) for m in _WORD_RE.finditer(text[start:end])]


def entity_is_protected(doc: GoldDocument, entity: GoldEntity, masked: Set[int]) -> bool:
    """Every mention of the entity that needs masking is masked."""
    return all(is_mention_masked(s, e, masked, doc.forgiven) for s, e in entity.mentions_to_mask)


def _system_spans(gold: Mapping[str, GoldDocument], system: SystemOutput) -> Dict[str, List[CharSpan]]:
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

TokenWeighting = Callable[[str, List[CharSpan]], List[float]]


def uniform_weighting(text: str, spans: List[CharSpan]) -> List[float]:
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
