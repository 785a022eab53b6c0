"""Convert TAB-schema JSON (character offsets, several annotators) into a spaCy DocBin.

``doc.ents`` holds the mentions that need masking (identifier_type DIRECT or QUASI),
labelled with their entity_type; every mention, NO_MASK included, is kept in
``doc.spans["tab"]`` with its annotator, identifier_type and entity_id (see legal_anon.corpus.tab).

Annotator policy (``--policy``):
  per-annotator  one example per annotator layer (default; for training)
  first          the first annotator layer gives doc.ents; all layers stay in doc.spans
  union          doc.ents from the masked mentions of all layers; all layers in doc.spans

Alignment: a mention whose offsets fall inside tokens is expanded to the smallest token
span that covers all of its non-space characters (counted as a repair). Overlapping
masked mentions in one layer: the longest is kept for doc.ents (ties: the earliest),
the others are counted; all stay in doc.spans["tab"].
"""
from __future__ import annotations

import json
from bisect import bisect_right
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import spacy
import typer
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from legal_anon.corpus.tab import (
    ANNOTATORS_KEY,
    DOC_ID_KEY,
    ENTITY_TYPES,
    IDENTIFIER_TYPES,
    MASKED_IDENTIFIER_TYPES,
    TAB_META_KEY,
    TAB_SPAN_KEY,
)
from legal_anon.corpus.report import ConversionError, ConversionReport, finish_conversion, read_utf8, run_converter

POLICIES = ("per-annotator", "first", "union")
REQUIRED_MENTION_KEYS = (
    "entity_type", "entity_id", "entity_mention_id", "start_offset", "end_offset",
    "span_text", "identifier_type",
)
REASON_NO_MASK = "identifier_type NO_MASK (kept in doc.spans['tab'] only)"
REASON_OVERLAP = "overlaps a longer masked mention of the same annotator (kept in doc.spans['tab'])"
REASON_OTHER_LAYER = "annotator layer not used for doc.ents by policy 'first' (kept in doc.spans['tab'])"
REASON_UNION_DUPLICATE = "same span as another annotator's mention (policy 'union': merged)"
REASON_UNION_OVERLAP = "overlaps a longer masked mention of another annotator (policy 'union')"
NOTE_NO_LAYER = "documents without an annotation layer (not converted by policy 'per-annotator')"
REASON_NO_TOKENS = "covers only whitespace: no token to align to (dropped entirely)"
REPAIR_EXPANDED = "offsets inside a token: expanded to token boundaries"


def load_tab_json(path: Path) -> List[dict]:
    """Read a TAB JSON file: a list of documents. Errors name the file and line."""
    path = Path(path)
    try:
        data = json.loads(read_utf8(path))
    except json.JSONDecodeError as e:
        raise ConversionError(f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    if not isinstance(data, list):
        raise ConversionError(f"{path}: expected a JSON list of documents, got {type(data).__name__}")
    return data


def validate_document(doc: dict, index: int, path: Path) -> None:
    """Raise ConversionError naming file, doc_id, annotator and mention for any schema error."""
    where = f"{path}: document #{index}"
    if not isinstance(doc, dict):
        raise ConversionError(f"{where}: expected an object, got {type(doc).__name__}")
    for key in ("doc_id", "text", "annotations"):
        if key not in doc:
            raise ConversionError(f"{where}: missing key {key!r}")
    where = f"{path}: doc_id {doc['doc_id']!r}"
    text = doc["text"]
    if not isinstance(text, str):
        raise ConversionError(f"{where}: 'text' is not a string")
    if not isinstance(doc["annotations"], dict):
        raise ConversionError(f"{where}: 'annotations' must map annotator names to layers")
    for annotator, layer in doc["annotations"].items():
        mentions = layer.get("entity_mentions") if isinstance(layer, dict) else None
        if not isinstance(mentions, list):
            raise ConversionError(f"{where}, annotator {annotator!r}: missing 'entity_mentions' list")
        for m in mentions:
            mid = m.get("entity_mention_id", "?") if isinstance(m, dict) else "?"
            at = f"{where}, annotator {annotator!r}, mention {mid!r}"
            if not isinstance(m, dict):
                raise ConversionError(f"{at}: expected an object")
            missing = [k for k in REQUIRED_MENTION_KEYS if k not in m]
            if missing:
                raise ConversionError(f"{at}: missing key(s) {missing}")
            start, end = m["start_offset"], m["end_offset"]
            if not isinstance(start, int) or not isinstance(end, int):
                raise ConversionError(f"{at}: offsets must be integers, got {start!r}, {end!r}")
            if not 0 <= start < end <= len(text):
                raise ConversionError(
                    f"{at}: offsets [{start}, {end}) outside the text (length {len(text)}) or empty"
                )
            if text[start:end] != m["span_text"]:
                raise ConversionError(
                    f"{at}: span_text {m['span_text']!r} differs from the text at "
                    f"[{start}, {end}): {text[start:end]!r}"
                )
            if m["identifier_type"] not in IDENTIFIER_TYPES:
                raise ConversionError(
                    f"{at}: unknown identifier_type {m['identifier_type']!r} (expected one of {IDENTIFIER_TYPES})"
                )
            if m["entity_type"] not in ENTITY_TYPES:
                raise ConversionError(
                    f"{at}: unknown entity_type {m['entity_type']!r} (expected one of {ENTITY_TYPES})"
                )


def align_to_tokens(
    doc: Doc, text: str, token_starts: Sequence[int], start: int, end: int
) -> Optional[Tuple[int, int, bool]]:
    """Token span covering every non-space character of [start, end).

    ``token_starts`` are the tokens' character offsets (for bisection).
    Returns (first token, last token + 1, expanded?) or None if only whitespace is covered.
    """
    i = max(bisect_right(token_starts, start) - 1, 0)
    tokens = []
    while i < len(doc) and doc[i].idx < end:
        t = doc[i]
        if t.idx + len(t) > start and not t.is_space:
            tokens.append(t)
        i += 1
    if not tokens:
        return None
    first, last = tokens[0], tokens[-1]
    text = text[start:end]
    core_start = start + (len(text) - len(text.lstrip()))
    core_end = end - (len(text) - len(text.rstrip()))
    expanded = first.idx != core_start or last.idx + len(last) != core_end
    return first.i, last.i + 1, expanded


def convert_document(
    nlp: Language, record: dict, policy: str, report: ConversionReport
) -> List[Doc]:
    """One TAB document -> one Doc per annotator layer (per-annotator) or one Doc."""
    text = record["text"]
    layers = list(record["annotations"].items())
    base = nlp.make_doc(text)
    token_starts = [t.idx for t in base]
    report.documents_in += 1
    # Align every mention once; one record per mention, in input order.
    aligned: Dict[str, List[Tuple[Optional[Span], dict]]] = {}
    for annotator, layer in layers:
        items = []
        for m in layer["entity_mentions"]:
            report.mentions_in[m["identifier_type"]] += 1
            al = align_to_tokens(base, text, token_starts, m["start_offset"], m["end_offset"])
            if al is None:
                report.not_entities[REASON_NO_TOKENS] += 1
                items.append((None, m))
                continue
            if al[2]:
                report.repaired[REPAIR_EXPANDED] += 1
            items.append((Span(base, al[0], al[1], label=m["entity_type"]), m))
        aligned[annotator] = items

    def build(annotators_for_spans: Sequence[str], ents: List[Span]) -> Doc:
        doc = base.copy()
        group, metas = [], []
        for annotator in annotators_for_spans:
            for span, m in aligned[annotator]:
                if span is None:
                    continue
                s = Span(doc, span.start, span.end, label=m["entity_type"],
                         kb_id=m["entity_id"], span_id=m["entity_mention_id"])
                group.append(s)
                metas.append({
                    "annotator": annotator,
                    "identifier_type": m["identifier_type"],
                    "entity_id": m["entity_id"],
                    "entity_mention_id": m["entity_mention_id"],
                    "start_offset": m["start_offset"],
                    "end_offset": m["end_offset"],
                    "confidential_status": m.get("confidential_status"),
                })
        doc.spans[TAB_SPAN_KEY] = group
        doc.user_data[TAB_META_KEY] = metas
        doc.user_data[DOC_ID_KEY] = record["doc_id"]
        doc.user_data[ANNOTATORS_KEY] = list(annotators_for_spans)
        doc.ents = [Span(doc, e.start, e.end, label=e.label_) for e in ents]
        for e in doc.ents:
            report.entities_out[e.label_] += 1
        report.tokens += len(doc)
        return doc

    def masked(annotator: str) -> List[Span]:
        out = []
        for span, m in aligned[annotator]:
            if span is None:
                continue
            if m["identifier_type"] in MASKED_IDENTIFIER_TYPES:
                out.append(span)
            else:
                report.not_entities[REASON_NO_MASK] += 1
        return out

    def resolve_overlaps(spans: List[Span], reason: str) -> List[Span]:
        kept = filter_spans(spans)  # longest wins, ties go to the earliest start
        if len(kept) < len(spans):
            report.not_entities[reason] += len(spans) - len(kept)
        return kept

    all_annotators = [a for a, _ in layers]
    docs: List[Doc] = []
    if policy == "per-annotator" and not all_annotators:
        # no layer says what to mask: as a training example it would teach "mask nothing"
        report.notes[NOTE_NO_LAYER] = report.notes.get(NOTE_NO_LAYER, 0) + 1
        return docs
    if policy == "per-annotator":
        for annotator in all_annotators:
            ents = resolve_overlaps(masked(annotator), REASON_OVERLAP)
            docs.append(build([annotator], ents))
    elif policy == "first":
        ents = resolve_overlaps(masked(all_annotators[0]), REASON_OVERLAP) if all_annotators else []
        unused = sum(1 for a in all_annotators[1:] for s, _ in aligned[a] if s is not None)
        if unused:
            report.not_entities[REASON_OTHER_LAYER] += unused
        docs.append(build(all_annotators, ents))
    elif policy == "union":
        per_layer = [resolve_overlaps(masked(a), REASON_OVERLAP) for a in all_annotators]
        seen, pool = set(), []
        for spans in per_layer:
            for s in spans:
                key = (s.start, s.end, s.label_)
                if key in seen:
                    report.not_entities[REASON_UNION_DUPLICATE] += 1
                    continue
                seen.add(key)
                pool.append(s)
        ents = resolve_overlaps(pool, REASON_UNION_OVERLAP)
        docs.append(build(all_annotators, ents))
    else:
        raise ValueError(f"unknown annotator policy {policy!r}; choose one of {POLICIES}")
    report.docs_out += len(docs)
    return docs


def merge_reviewed(records: List[dict], path: Path) -> Tuple[int, int]:
    """Add the documents of a reviewed TAB file (``legal-anon review``'s corrections.json)
    to ``records``: a document already there gets the reviewer's layer as one more
    annotator (its text must be the same); a new one is appended. Returns (merged, added)."""
    by_id = {r["doc_id"]: r for r in records}
    reviewed = load_tab_json(path)
    for i, record in enumerate(reviewed):
        validate_document(record, i, path)
    merged = added = 0
    for record in reviewed:
        known = by_id.get(record["doc_id"])
        if known is None:
            records.append(record)
            by_id[record["doc_id"]] = record
            added += 1
            continue
        if known["text"] != record["text"]:
            raise ConversionError(f"{path}: doc_id {record['doc_id']!r} has another text than the document of that "
                                  "id in the corpus it is added to")
        for layer, annotation in record["annotations"].items():
            if layer in known["annotations"]:
                raise ConversionError(f"{path}: doc_id {record['doc_id']!r}: annotator layer {layer!r} is already "
                                      "in the corpus it is added to")
            known["annotations"][layer] = annotation
        merged += 1
    return merged, added


def convert_tab_file(
    input_path: Path, output_path: Optional[Path], policy: str = "per-annotator", lang: str = "en",
    nlp: Optional[Language] = None, reviewed: Sequence[Path] = (),
) -> Tuple[List[Doc], ConversionReport]:
    """Validate the whole file first (and the ``reviewed`` files, merged into it), convert,
    check the report, then write atomically."""
    if policy not in POLICIES:
        raise ValueError(f"unknown annotator policy {policy!r}; choose one of {POLICIES}")
    input_path = Path(input_path)
    records = load_tab_json(input_path)
    for i, record in enumerate(records):
        validate_document(record, i, input_path)
    ids = Counter(r["doc_id"] for r in records)
    dupes = [d for d, n in ids.items() if n > 1]
    if dupes:
        raise ConversionError(f"{input_path}: duplicate doc_id(s) {dupes[:5]}")
    merged = added = 0
    for path in reviewed:
        m, a = merge_reviewed(records, Path(path))
        merged, added = merged + m, added + a
    nlp = nlp or spacy.blank(lang)
    report = ConversionReport(source=str(input_path), converter=f"TAB JSON (policy={policy})")
    docs: List[Doc] = []
    for record in records:
        docs.extend(convert_document(nlp, record, policy, report))
    report.notes["annotator layers"] = sum(len(r["annotations"]) for r in records)
    report.notes["mentions kept in doc.spans['tab']"] = sum(len(d.spans[TAB_SPAN_KEY]) for d in docs)
    if reviewed:
        report.notes["reviewed files"] = len(reviewed)
        report.notes["reviewed documents: a layer added to a known document"] = merged
        report.notes["reviewed documents: new documents"] = added
    return finish_conversion(docs, report, output_path)


def main(
    input_path: Path = typer.Argument(..., help="TAB JSON file (list of documents)", exists=True, dir_okay=False),
    output_path: Path = typer.Argument(..., help="Output .spacy file"),
    policy: str = typer.Option("per-annotator", "--policy", "-p", help=f"Annotator policy: {', '.join(POLICIES)}"),
    lang: str = typer.Option("en", "--lang", help="Language of the blank tokenizer"),
    report_json: Optional[Path] = typer.Option(None, "--report-json", help="Also save the report as JSON"),
    reviewed: str = typer.Option("", "--reviewed", help="Reviewed TAB JSON files (comma-separated; `legal-anon review`'s corrections.json) to add: the reviewer's layer joins a known document as one more annotator, a new document is added"),
):
    """Convert a TAB JSON file into a .spacy corpus and print the conversion report."""
    extra = [Path(p.strip()) for p in reviewed.split(",") if p.strip()]
    missing = [str(p) for p in extra if not p.is_file()]
    if missing:
        raise typer.BadParameter(f"no such reviewed file: {', '.join(missing)}", param_hint="--reviewed")
    run_converter(lambda: convert_tab_file(input_path, output_path, policy=policy, lang=lang, reviewed=extra),
                  report_json)
