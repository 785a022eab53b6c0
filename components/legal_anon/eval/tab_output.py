"""TAB's system-output format, ``{doc_id: [[start, end], ...]}``: the masked character
spans of a pipeline or of the anonymizer, written, read back and checked against the texts.
Overlapping spans are merged (``normalize_spans``) before writing and scoring.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from legal_anon.eval.tab_gold import CharSpan

SystemOutput = Mapping[str, Sequence[Sequence[int]]]


def normalize_spans(spans: Iterable[Sequence[int]]) -> List[CharSpan]:
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


def masked_spans_from_doc(doc, spans_key: Optional[str] = None) -> List[CharSpan]:
    """Character spans a pipeline masks: ``doc.ents`` or ``doc.spans[spans_key]``."""
    spans = doc.spans[spans_key] if spans_key is not None else doc.ents
    return normalize_spans((s.start_char, s.end_char) for s in spans)


def masked_spans_from_anonymizer(doc) -> List[CharSpan]:
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


def parse_tab_output(data: Any, source: str = "system output") -> Dict[str, List[CharSpan]]:
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a JSON object mapping doc_id to a list of [start, end]")
    out: Dict[str, List[CharSpan]] = {}
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


def read_tab_output(path: Union[str, Path]) -> Dict[str, List[CharSpan]]:
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
