"""Where the command line writes: anonymized outputs, review material apart, errors recorded.

Default outputs (``-o OUT``, formats chosen with ``-f``) hold anonymized material only:

  text     OUT/text/<name>.txt            the anonymized text
  json     OUT/spans.jsonl                per document: the anonymized text, the NER's entities
                                          and the replacements as offsets and labels (no
                                          original text)
  tab      OUT/tab_predictions.json       TAB's system-output format {doc_id: [[start, end], ...]}
  html     OUT/html/<name>.html + index   the anonymized text with its replacements highlighted
  parquet  OUT/anonymized.parquet/        one row per document: doc_id, source, anonymized,
                                          entities, replacements (JSON, no original text)

  OUT/errors.jsonl                        every input or document of the run that was not
                                          processed, with the reason (when there is one)
  OUT/records/<name>.json                 per document: its spans.jsonl record, the SHA-256 of
                                          its text and the pipeline's fingerprint. Written
                                          last, it marks the document done: a rerun of the
                                          same command skips it (``DocumentWriter.is_done``)

Per-document files are written by ``DocumentWriter`` (in this process, or in a Ray worker:
the same bytes either way); the collections (spans.jsonl, tab_predictions.json, Parquet,
the HTML index) are rebuilt from ``records/`` at the end of every run, in input order
(``finish``), so a resumed run ends with the same files as an uninterrupted one.

Review material, which shows the original identifiers, is written only when asked for
(``--review-dir DIR``, which must lie outside OUT) into DIR: ``html/<name>.html`` (the
original with the masked spans highlighted, under a warning banner) and
``spans_with_text.jsonl`` (replacements and entities with their original text).

``<name>`` is the document id percent-encoded (``a/b`` -> ``a%2Fb``): one id, one file name.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, TextIO
from urllib.parse import quote

from legal_anon.engines.local import AnonymizedRecord, DocumentError
from legal_anon.io.html_pages import REVIEW_WARNING, anonymized_body, anonymized_page, index_page, page, review_page

FORMATS = ("text", "json", "tab", "html", "parquet")
PER_DOCUMENT_FORMATS = {"text": ("text", ".txt"), "html": ("html", ".html")}
ORIGINAL_TEXT_KEYS = ("text",)


def file_name(doc_id: str) -> str:
    """A file name for a document id: percent-encoded (injective), long ids shortened with a hash."""
    name = quote(doc_id, safe="-_.")
    if name.startswith("."):
        name = "%2E" + name[1:]
    if len(name) > 150:
        name = name[:130] + "~" + hashlib.sha256(doc_id.encode("utf8")).hexdigest()[:16]
    return name or "%00"


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf8")).hexdigest()


def public_record(record: AnonymizedRecord) -> Dict:
    """What spans.jsonl and the Parquet output say about a document: nothing original."""
    return {
        "doc_id": record.doc_id,
        "source": record.source,
        "anonymized": record.anonymized,
        "entities": [{k: v for k, v in e.items() if k not in ORIGINAL_TEXT_KEYS} for e in record.entities],
        "replacements": [{k: v for k, v in r.items() if k not in ORIGINAL_TEXT_KEYS} for r in record.replacements],
    }


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and a rename: a crash leaves the old file or the new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    with os.fdopen(fd, "w", encoding="utf8") as f:
        f.write(text)
    os.replace(tmp, path)


def check_formats(formats: Sequence[str], out_dir: Optional[Path], review_dir: Optional[Path]) -> None:
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"unknown output format(s) {bad}; choose from {', '.join(FORMATS)}")
    if out_dir is None and formats[0] == "parquet":
        raise ValueError("the parquet format needs an output folder (-o)")
    if review_dir is not None and out_dir is not None:
        out, rev = out_dir.resolve(), review_dir.resolve()
        if rev == out or out in rev.parents:
            raise ValueError(f"--review-dir {review_dir} must lie outside the output folder {out_dir}: "
                             "review material shows the original identifiers")


class DocumentWriter:
    """The per-document files of one output folder; plain data, so it pickles to Ray workers."""

    def __init__(self, out_dir: Path, formats: Sequence[str], fingerprint: str, review_dir: Optional[Path] = None):
        self.out_dir = Path(out_dir)
        self.formats = list(formats)
        self.fingerprint = fingerprint
        self.review_dir = Path(review_dir) if review_dir is not None else None

    def prepare(self) -> None:
        for fmt, (folder, _) in PER_DOCUMENT_FORMATS.items():
            if fmt in self.formats:
                (self.out_dir / folder).mkdir(parents=True, exist_ok=True)
        (self.out_dir / "records").mkdir(parents=True, exist_ok=True)
        if self.review_dir is not None:
            (self.review_dir / "records").mkdir(parents=True, exist_ok=True)
            (self.review_dir / "html").mkdir(parents=True, exist_ok=True)

    def is_done(self, doc_id: str, sha256: str) -> bool:
        """Written by an earlier run of the same pipeline, from the same text, every file there."""
        name = file_name(doc_id)
        try:
            stored = json.loads((self.out_dir / "records" / f"{name}.json").read_text(encoding="utf8"))
        except (OSError, ValueError):
            return False
        if stored.get("content_sha256") != sha256 or stored.get("pipeline") != self.fingerprint:
            return False
        if self.review_dir is not None and not (self.review_dir / "records" / f"{name}.json").exists():
            return False
        return all((self.out_dir / folder / f"{name}{suffix}").exists()
                   for fmt, (folder, suffix) in PER_DOCUMENT_FORMATS.items() if fmt in self.formats)

    def write(self, record: AnonymizedRecord) -> None:
        name = file_name(record.doc_id)
        if "text" in self.formats:
            write_atomic(self.out_dir / "text" / f"{name}.txt", record.anonymized)
        if "html" in self.formats:
            write_atomic(self.out_dir / "html" / f"{name}.html",
                         anonymized_page(record.doc_id, record.anonymized, record.replacements))
        if self.review_dir is not None:
            write_atomic(self.review_dir / "html" / f"{name}.html",
                         review_page(record.doc_id, record.original, record.anonymized, record.replacements))
            review = {"doc_id": record.doc_id, "source": record.source, "entities": record.entities,
                      "replacements": record.replacements, "text": record.original,
                      "candidates": record.candidates}
            write_atomic(self.review_dir / "records" / f"{name}.json", json.dumps(review, ensure_ascii=False))
        stored = {**public_record(record), "content_sha256": content_hash(record.original), "pipeline": self.fingerprint}
        write_atomic(self.out_dir / "records" / f"{name}.json", json.dumps(stored, ensure_ascii=False))


def read_records(folder: Path, doc_ids: Iterable[str]) -> Iterable[Dict]:
    for doc_id in doc_ids:
        path = folder / "records" / f"{file_name(doc_id)}.json"
        if path.exists():
            yield json.loads(path.read_text(encoding="utf8"))


def finish(out_dir: Path, formats: Sequence[str], doc_ids: Sequence[str], errors: Sequence[DocumentError],
           review_dir: Optional[Path] = None) -> None:
    """The collections, rebuilt from records/ in input order, and the errors of this run."""
    records = list(read_records(out_dir, doc_ids))
    keys = ("doc_id", "source", "anonymized", "entities", "replacements")
    if "json" in formats:
        write_atomic(out_dir / "spans.jsonl",
                     "".join(json.dumps({k: r[k] for k in keys}, ensure_ascii=False) + "\n" for r in records))
    if "tab" in formats:
        tab = {r["doc_id"]: [[x["start"], x["end"]] for x in r["replacements"]] for r in records}
        write_atomic(out_dir / "tab_predictions.json", json.dumps(tab, ensure_ascii=False))
    if "html" in formats:
        links = [(r["doc_id"], f"{file_name(r['doc_id'])}.html") for r in records]
        write_atomic(out_dir / "html" / "index.html", index_page("Anonymized documents", links))
    if "parquet" in formats:
        write_parquet(records, out_dir / "anonymized.parquet")
    errors_path = out_dir / "errors.jsonl"
    if errors:
        write_atomic(errors_path, "".join(json.dumps({"doc_id": e.doc_id, "source": e.source, "reason": e.reason},
                                                     ensure_ascii=False) + "\n" for e in errors))
    elif errors_path.exists():
        errors_path.unlink()
    if review_dir is not None:
        reviewed = list(read_records(review_dir, doc_ids))
        write_atomic(review_dir / "spans_with_text.jsonl",
                     "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in reviewed))
        links = [(r["doc_id"], f"{file_name(r['doc_id'])}.html") for r in reviewed]
        write_atomic(review_dir / "html" / "index.html", index_page("legal_anon review material", links, REVIEW_WARNING))
        write_atomic(review_dir / "README.txt", REVIEW_WARNING + "\n")


def write_parquet(records: List[Dict], folder: Path, rows_per_file: int = 10000) -> None:
    """A Parquet dataset (a folder of part files) with one row per document."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("part-*.parquet"):
        old.unlink()
    columns = ("doc_id", "source", "anonymized", "entities", "replacements")
    schema = pa.schema([(c, pa.string()) for c in columns])
    for i in range(0, max(len(records), 1), rows_per_file):
        chunk = records[i:i + rows_per_file]
        table = pa.table({
            "doc_id": [r["doc_id"] for r in chunk], "source": [r["source"] for r in chunk],
            "anonymized": [r["anonymized"] for r in chunk],
            "entities": [json.dumps(r["entities"], ensure_ascii=False) for r in chunk],
            "replacements": [json.dumps(r["replacements"], ensure_ascii=False) for r in chunk],
        }, schema=schema)
        pq.write_table(table, folder / f"part-{i // rows_per_file:05d}.parquet")


class StdoutWriter:
    """Without -o: the first format, streamed to stdout (nothing is resumed)."""

    def __init__(self, fmt: str, stdout: Optional[TextIO] = None):
        self.fmt = fmt
        self.stdout = stdout or sys.stdout
        self.tab: Dict[str, List[List[int]]] = {}
        self.parts: List[str] = []

    def write(self, record: AnonymizedRecord) -> None:
        if self.fmt == "text":
            self.stdout.write(record.anonymized if record.anonymized.endswith("\n") else record.anonymized + "\n")
        elif self.fmt == "json":
            self.stdout.write(json.dumps(public_record(record), ensure_ascii=False) + "\n")
        elif self.fmt == "tab":
            self.tab[record.doc_id] = [[r["start"], r["end"]] for r in record.replacements]
        elif self.fmt == "html":
            self.parts.append(anonymized_body(record.doc_id, record.anonymized, record.replacements))
        self.stdout.flush()

    def close(self) -> None:
        if self.fmt == "tab":
            self.stdout.write(json.dumps(self.tab, ensure_ascii=False) + "\n")
        elif self.fmt == "html":
            self.stdout.write(page("legal_anon", "<hr>".join(self.parts)) + "\n")
        self.stdout.flush()
