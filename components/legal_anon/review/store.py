"""What a reviewer works on, and what a review leaves behind, on disk.

``legal-anon anonymize ... --review-dir REVIEW`` writes, per document, a review record
(``REVIEW/records/<name>.json``: the original text, the masked regions with their source
and the recall control's confidence) and ``REVIEW/run.json`` (where the anonymized outputs
went, in which formats, and the anonymizer's settings; never a salt). This module reads
them and keeps the review's own state beside them, in ``REVIEW/review/``:

  state/<name>.json      the reviewer's current masks, status and version of one document
  corrections.json       every reviewed document as TAB JSON: the reviewer's masks as one
                         annotator layer (DIRECT/QUASI), the masks they removed as NO_MASK,
                         ready for ``convert_tab`` (``vars.reviewed_json``)
  audit.jsonl            one line per save: reviewer, time, version, what changed

All of it shows the original identifiers: it stays in the review folder, never in the
anonymized output folder. Saves are atomic and versioned: a save made from a stale page
(another tab saved in between) is refused with ``VersionConflict``.
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from legal_anon.corpus.tab import ENTITY_TYPES
from legal_anon.io.atomic import write_atomic
from legal_anon.io.sinks import file_name

STATUS_TO_REVIEW = "to review"
STATUS_REVIEWED = "reviewed"
# identifier_type of a reviewer's mask: names and case numbers identify directly (TAB's DIRECT)
DIRECT_LABELS = ("PERSON", "CODE")


def write_run_manifest(review_dir: Path, *, output: Path, formats: Sequence[str], anonymizer: Dict,
                       fingerprint: str, doc_ids: Sequence[str], model: str) -> None:
    """``REVIEW/run.json``: what a review needs to recompute a document's outputs as the
    run did. The anonymizer's settings name the salt's variable or file, never the salt."""
    run = {"output": str(Path(output).resolve()), "formats": list(formats), "model": model,
           "anonymizer": {k: v for k, v in dict(anonymizer).items() if k != "factory"},
           "fingerprint": fingerprint, "doc_ids": list(doc_ids)}
    write_atomic(Path(review_dir) / "run.json", json.dumps(run, ensure_ascii=False, indent=1), private=True)


class ReviewError(ValueError):
    """A request the store cannot honour (bad spans, unknown document)."""


class VersionConflict(ReviewError):
    """The document was saved since the page that asks to save it was loaded."""


@dataclass(frozen=True)
class Mask:
    """One masked region as the reviewer sees it."""

    start: int
    end: int
    label: str
    source: str = "reviewer"  # ner | candidate | occurrence | repair | reviewer
    confidence: Optional[float] = None  # the recall control's probability, for candidates

    def as_dict(self) -> Dict:
        return {"start": self.start, "end": self.end, "label": self.label, "source": self.source,
                "confidence": self.confidence}


def masks_from_record(record: Dict) -> List[Mask]:
    """The masks of an anonymize run: its replacements, each candidate with the highest
    confidence of the recall-control candidates it covers."""
    candidates = record.get("candidates", [])
    masks = []
    for r in record["replacements"]:
        conf = None
        if r["source"] == "candidate":
            scores = [c["score"] for c in candidates if c["start"] < r["end"] and r["start"] < c["end"]]
            conf = max(scores) if scores else None
        masks.append(Mask(r["start"], r["end"], r["label"], r["source"], conf))
    return masks


def check_masks(text: str, masks: Sequence[Mask], labels: Sequence[str]) -> List[Mask]:
    """Masks sorted, inside the text, non-empty, not overlapping, with a known label."""
    out = sorted(masks, key=lambda m: (m.start, m.end))
    end = 0
    for m in out:
        if not (0 <= m.start < m.end <= len(text)):
            raise ReviewError(f"mask [{m.start}, {m.end}) is outside the text (0..{len(text)}) or empty")
        if m.label not in labels:
            raise ReviewError(f"mask [{m.start}, {m.end}): unknown label {m.label!r}; choose from {', '.join(labels)}")
        if m.start < end:
            raise ReviewError(f"mask [{m.start}, {m.end}) overlaps the mask before it")
        end = m.end
    return out


class ReviewStore:
    """The documents of one review folder; thread-safe for the web app's worker threads."""

    def __init__(self, review_dir: Path, labels: Sequence[str] = ENTITY_TYPES):
        self.dir = Path(review_dir)
        self.labels = tuple(labels)
        run_path = self.dir / "run.json"
        if not run_path.exists():
            raise ReviewError(f"{self.dir}: no run.json - not a folder written by "
                              "`legal-anon anonymize ... --review-dir` (or written before review support)")
        self.run = json.loads(run_path.read_text(encoding="utf8"))
        self.state_dir = self.dir / "review" / "state"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # documents of the run that were anonymized (a failed one has no review record)
        self.doc_ids: List[str] = [d for d in self.run["doc_ids"]
                                   if (self.dir / "records" / f"{file_name(d)}.json").exists()]
        self._names = {doc_id: file_name(doc_id) for doc_id in self.doc_ids}
        self._corrections: Optional[Dict[str, Dict]] = None  # doc_id -> TAB document, read at the first save

    # ------------------------------------------------------------------ reading

    def has(self, doc_id: str) -> bool:
        return doc_id in self._names

    def record(self, doc_id: str) -> Dict:
        if doc_id not in self._names:
            raise KeyError(doc_id)
        return json.loads((self.dir / "records" / f"{self._names[doc_id]}.json").read_text(encoding="utf8"))

    def state(self, doc_id: str, record: Optional[Dict] = None) -> Dict:
        """The document's current masks, status and version (the run's masks, version 0, at
        first; from ``record`` when the caller has read it already)."""
        path = self.state_dir / f"{self._names[doc_id]}.json"
        if path.exists():
            return json.loads(path.read_text(encoding="utf8"))
        masks = masks_from_record(record or self.record(doc_id))
        return {"doc_id": doc_id, "version": 0, "status": STATUS_TO_REVIEW,
                "masks": [m.as_dict() for m in masks]}

    def summary(self, doc_id: str) -> Dict:
        """A row of the document list: status, masks per label, uncertain masks."""
        state = self.state(doc_id)
        per_label: Dict[str, int] = {}
        for m in state["masks"]:
            per_label[m["label"]] = per_label.get(m["label"], 0) + 1
        confidences = [m["confidence"] for m in state["masks"] if m["confidence"] is not None]
        return {"doc_id": doc_id, "status": state["status"], "version": state["version"],
                "masks": len(state["masks"]), "per_label": per_label,
                "uncertain": len(confidences), "least_confidence": min(confidences) if confidences else None}

    # ------------------------------------------------------------------ saving

    def save(self, doc_id: str, version: int, masks: Sequence[Mask], reviewer: str, accept: bool,
             write_outputs) -> Dict:
        """Check the version, write the outputs (``write_outputs(doc_id, text, masks, source)``, the
        anonymizer's job), then the state, the corrections and the audit line. The state
        moves to the new version only when the outputs were written."""
        with self._lock:
            record = self.record(doc_id)
            current = self.state(doc_id, record)
            if version != current["version"]:
                raise VersionConflict(
                    f"document {doc_id!r} was saved (version {current['version']}) after this page loaded it "
                    f"(version {version}); reload the page to see that save, then redo your changes")
            text = record["text"]
            masks = check_masks(text, masks, self.labels)
            write_outputs(doc_id, text, masks, record["source"])
            before = [Mask(**m) for m in current["masks"]]
            state = {"doc_id": doc_id, "version": version + 1,
                     "status": STATUS_REVIEWED if accept else current["status"],
                     "reviewer": reviewer, "masks": [m.as_dict() for m in masks]}
            write_atomic(self.state_dir / f"{self._names[doc_id]}.json", json.dumps(state, ensure_ascii=False), private=True)
            self._write_corrections(doc_id, tab_document(doc_id, record, state))
            self._audit(doc_id, reviewer, version + 1, accept, before, masks, text)
            return state

    def _write_corrections(self, doc_id: str, document: Dict) -> None:
        """corrections.json: every document saved at least once, as TAB JSON, in run order.
        The other documents' entries are read from their states once, at the first save."""
        if self._corrections is None:
            self._corrections = {}
            for other in self.doc_ids:
                path = self.state_dir / f"{self._names[other]}.json"
                if other != doc_id and path.exists():
                    state = json.loads(path.read_text(encoding="utf8"))
                    self._corrections[other] = tab_document(other, self.record(other), state)
        self._corrections[doc_id] = document
        docs = [self._corrections[d] for d in self.doc_ids if d in self._corrections]
        write_atomic(self.dir / "review" / "corrections.json", json.dumps(docs, ensure_ascii=False, indent=1), private=True)

    def _audit(self, doc_id: str, reviewer: str, version: int, accept: bool, before: Sequence[Mask],
               after: Sequence[Mask], text: str) -> None:
        key = lambda m: (m.start, m.end)  # noqa: E731
        old, new = {key(m): m for m in before}, {key(m): m for m in after}
        line = {
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "reviewer": reviewer,
            "doc_id": doc_id, "version": version, "accepted": accept,
            "unmasked": [_change(m, text) for k, m in old.items() if k not in new],
            "added": [_change(m, text) for k, m in new.items() if k not in old],
            "relabelled": [{**_change(m, text), "from": old[k].label} for k, m in new.items()
                           if k in old and old[k].label != m.label],
        }
        path = self.dir / "review" / "audit.jsonl"
        with open(path, "a", encoding="utf8") as f:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())


def _change(m: Mask, text: str) -> Dict:
    return {"start": m.start, "end": m.end, "label": m.label, "text": text[m.start:m.end]}


def tab_document(doc_id: str, record: Dict, state: Dict) -> Dict:
    """One reviewed document in TAB's schema: the reviewer's masks (DIRECT for names and
    codes, QUASI otherwise) and the run's masks they removed (NO_MASK), one layer."""
    text = record["text"]
    reviewer = state.get("reviewer") or "reviewer"
    kept = {(m["start"], m["end"]) for m in state["masks"]}
    mentions = []
    for i, m in enumerate(state["masks"]):
        mentions.append(_mention(doc_id, reviewer, i, m, text,
                                 "DIRECT" if m["label"] in DIRECT_LABELS else "QUASI"))
    removed = [m for m in masks_from_record(record) if (m.start, m.end) not in kept]
    for j, m in enumerate(removed, start=len(mentions)):
        if not any(k[0] < m.end and m.start < k[1] for k in kept):
            mentions.append(_mention(doc_id, reviewer, j, m.as_dict(), text, "NO_MASK"))
    mentions.sort(key=lambda x: (x["start_offset"], x["end_offset"]))
    return {"doc_id": doc_id, "text": text, "dataset_type": "reviewed", "quality_checked": False,
            "task": None, "meta": {"reviewer": reviewer, "status": state["status"], "version": state["version"]},
            "annotations": {reviewer: {"entity_mentions": mentions}}}


def _mention(doc_id: str, reviewer: str, i: int, m: Dict, text: str, identifier_type: str) -> Dict:
    surface = text[m["start"]:m["end"]]
    return {
        "entity_type": m["label"], "entity_mention_id": f"{doc_id}_{reviewer}_{i}",
        "entity_id": f"{doc_id}_{reviewer}_{m['label']}_{' '.join(surface.split()).casefold()}",
        "start_offset": m["start"], "end_offset": m["end"], "span_text": surface,
        "identifier_type": identifier_type, "confidential_status": "NOT_CONFIDENTIAL",
        "edit_type": "check",
    }
