"""A reviewed document's anonymized outputs, recomputed the way the run computed them.

The reviewer decides *what* is masked; the anonymizer of the run, with the run's
operators and settings (``run.json``; the hash salt, if any, from the environment as at
anonymize time), decides *how*, and its guarantee holds for the reviewer's masks too
(other occurrences and name parts are masked, the output is checked). The files are
written by the same writer as ``legal-anon anonymize``, in the formats the run wrote, and
the collections (spans.jsonl, tab_predictions.json, Parquet, HTML index) are rebuilt.
Nothing here edits text in the browser's way: no string surgery.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from legal_anon.engines.local import AnonymizedRecord, DocumentError
from legal_anon.io.sinks import DocumentWriter, finish
from legal_anon.pipeline.anonymizer import Anonymizer
from legal_anon.pipeline.anonymizer_settings import AnonymizerSettings
from legal_anon.review.store import Mask

REVIEWED_SOURCE = "ner"  # a reviewer's mask is a decision, like the tagger's doc.ents


class ReviewOutputs:
    """``outputs(doc_id, text, masks, source)``: the run's anonymizer over the reviewer's masks."""

    def __init__(self, run: Dict):
        self.run = run
        self.out_dir = Path(run["output"])
        self.formats: List[str] = list(run["formats"])
        settings = {k: v for k, v in run["anonymizer"].items() if k != "factory"}
        self.anonymizer = Anonymizer(None, settings=AnonymizerSettings(**settings))
        self.writer = DocumentWriter(self.out_dir, self.formats, run["fingerprint"])
        self.writer.prepare()

    def anonymize(self, text: str, masks: Sequence[Mask]) -> Tuple[str, List[dict]]:
        return self.anonymizer.anonymize(text, [(m.start, m.end, m.label, REVIEWED_SOURCE) for m in masks])

    def __call__(self, doc_id: str, text: str, masks: Sequence[Mask], source: str = "") -> None:
        anonymized, replacements = self.anonymize(text, masks)
        record = AnonymizedRecord(
            doc_id=doc_id, source=source, anonymized=anonymized,
            replacements=replacements,
            entities=[{"start": m.start, "end": m.end, "label": m.label, "text": text[m.start:m.end]} for m in masks],
            words=len(text.split()), chars=len(text), original=text,
        )
        self.writer.write(record)
        finish(self.out_dir, self.formats, self.run["doc_ids"], self._run_errors())

    def _run_errors(self) -> List[DocumentError]:
        """The run's errors.jsonl, kept as it was (a review changes no other document)."""
        path = self.out_dir / "errors.jsonl"
        if not path.exists():
            return []
        return [DocumentError(**json.loads(line)) for line in path.read_text(encoding="utf8").splitlines() if line]
