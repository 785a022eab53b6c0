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

  Word and HTML inputs, whatever -f says: the same file anonymized in place
  OUT/docx/<name>.docx (.docm)            (``legal_anon.io.docx_document``)
  OUT/html_document/<name>.html (.htm)    (``legal_anon.io.html_document``; -f html is a page
                                          of the anonymized *text*). The other formats hold
                                          the file's extracted text: every offset is into it.

  OUT/errors.jsonl                        every input or document of the run that was not
                                          processed, with the reason (when there is one)
  OUT/records/<name>.json                 per document: its spans.jsonl record, the SHA-256 of
                                          its text (Word, HTML: its bytes and options), the
                                          pipeline's fingerprint, a Word or HTML file's copy
                                          and report (``document``). Written
                                          last, it marks the document done: a rerun of the
                                          same command skips it (``DocumentWriter.is_done``)

Per-document files are written by ``DocumentWriter`` (in this process, or in a Ray worker:
the same bytes either way) with the project's atomic writer (``legal_anon.io.atomic``); the
collections (spans.jsonl, tab_predictions.json, Parquet, the HTML index, errors.jsonl) are
rebuilt at the end of a complete run (``finish``) from the records of the documents this run
anonymized or found done, in input order, so a resumed run ends with the same files as an
uninterrupted one. One folder holds one pipeline's output: ``OUT/records/.pipeline.json``
holds its fingerprint, and ``DocumentWriter.start_run`` refuses a folder written by another
pipeline (model, weights, settings or hash salt) unless told to overwrite it. A document that
fails or is skipped in a run loses its old files (``finish``); the collections of an earlier
run are removed when a run starts, so an interrupted run never leaves stale ones behind.

Review material, which shows the original identifiers, is written only when asked for
(``--review-dir DIR``, which must lie outside OUT) into DIR: ``html/<name>.html`` (the
original with the masked spans highlighted, under a warning banner) and
``spans_with_text.jsonl`` (replacements and entities with their original text).

``<name>`` is the document id percent-encoded (``a/b`` -> ``a%2Fb``): one id, one file name.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, TextIO
from urllib.parse import quote

from legal_anon.engines.local import AnonymizedRecord, DocumentError
from legal_anon.io.atomic import TEMP_PREFIX, current_umask, sync_folder, write_atomic
from legal_anon.io.documents import DOCUMENT_FOLDERS, DOCUMENT_SUFFIXES
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


PIPELINE_MARKER = ".pipeline.json"  # in records/: never a document's file name (those never start with ".")
COLLECTIONS = ("spans.jsonl", "tab_predictions.json", "errors.jsonl", "html/index.html")
PARQUET_DIR = "anonymized.parquet"


class OutputError(Exception):
    """The output folder cannot be used or written; the message names the path and the reason."""


class FolderInUse(OutputError):
    """The output folder holds the output of another pipeline (another fingerprint)."""


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
        # documents whose record this writer wrote in this process: what an interrupted run
        # reports (a Ctrl-C can land after a record is written and before the engine reports it)
        self.written = 0

    def prepare(self) -> None:
        for fmt, (folder, _) in PER_DOCUMENT_FORMATS.items():
            if fmt in self.formats:
                (self.out_dir / folder).mkdir(parents=True, exist_ok=True)
        (self.out_dir / "records").mkdir(parents=True, exist_ok=True)
        if self.review_dir is not None:
            (self.review_dir / "records").mkdir(parents=True, exist_ok=True)
            (self.review_dir / "html").mkdir(parents=True, exist_ok=True)

    def start_run(self, overwrite: bool = False) -> int:
        """Before a run: refuse a folder written by another pipeline (or, with ``overwrite``,
        remove its outputs: returns how many files), remove the temp files of a killed run and
        the collections of the last run, and mark the folder with this fingerprint."""
        removed = 0
        for folder in self._folders():
            other = stored_fingerprints(folder) - {self.fingerprint}
            if other and not overwrite:
                raise FolderInUse(
                    f"{folder} holds documents written by another pipeline (fingerprint {', '.join(sorted(other))}, "
                    f"this run {self.fingerprint}): another model, other weights, other settings or another hash "
                    "salt. Write to a new folder, or add --overwrite to remove those outputs and recompute everything")
            if other:
                removed += remove_outputs(folder)
        self.prepare()
        for folder in self._folders():
            sweep_temp_files(folder)
            for name in (*COLLECTIONS, "spans_with_text.jsonl"):
                if (folder / name).exists():
                    (folder / name).unlink()
            if (folder / PARQUET_DIR).is_dir():
                shutil.rmtree(folder / PARQUET_DIR)
            write_atomic(folder / "records" / PIPELINE_MARKER, json.dumps({"pipeline": self.fingerprint}) + "\n",
                         private=folder == self.review_dir)
        return removed

    def _folders(self) -> List[Path]:
        return [self.out_dir] + ([self.review_dir] if self.review_dir is not None else [])

    def is_done(self, doc_id: str, sha256: str) -> bool:
        """Written by an earlier run of the same pipeline, from the same text, every file there."""
        name = file_name(doc_id)
        try:
            stored = json.loads((self.out_dir / "records" / f"{name}.json").read_text(encoding="utf8"))
        except (OSError, ValueError):
            return False
        if stored.get("content_sha256") != sha256 or stored.get("pipeline") != self.fingerprint:
            return False
        if stored.get("document") and not (self.out_dir / stored["document"]["file"]).exists():
            return False
        if self.review_dir is not None and not (self.review_dir / "records" / f"{name}.json").exists():
            return False
        return all((self.out_dir / folder / f"{name}{suffix}").exists()
                   for fmt, (folder, suffix) in PER_DOCUMENT_FORMATS.items() if fmt in self.formats)

    def write(self, record: AnonymizedRecord) -> None:
        """The document's files, its record last (what marks it done); an OSError (a full
        disk, a folder made read-only) becomes an OutputError naming the file."""
        name = file_name(record.doc_id)
        files = []
        if "text" in self.formats:
            files.append((self.out_dir / "text" / f"{name}.txt", record.anonymized, False))
        if "html" in self.formats:
            files.append((self.out_dir / "html" / f"{name}.html",
                          anonymized_page(record.doc_id, record.anonymized, record.replacements), False))
        if self.review_dir is not None:
            review = {"doc_id": record.doc_id, "source": record.source, "entities": record.entities,
                      "replacements": record.replacements, "text": record.original,
                      "candidates": record.candidates}
            files.append((self.review_dir / "html" / f"{name}.html",
                          review_page(record.doc_id, record.original, record.anonymized, record.replacements), True))
            files.append((self.review_dir / "records" / f"{name}.json", json.dumps(review, ensure_ascii=False), True))
        stored = {**public_record(record), "content_sha256": record.content_sha256 or content_hash(record.original),
                  "pipeline": self.fingerprint}
        copy = record.document
        if copy is not None:  # the Word or HTML file itself, anonymized
            relative = f"{copy.folder}/{name}{copy.suffix}"
            (self.out_dir / copy.folder).mkdir(exist_ok=True)
            files.insert(0, (self.out_dir / relative, copy.data, False))
            stored["document"] = {"kind": copy.kind, "file": relative, "report": copy.report}
        files.append((self.out_dir / "records" / f"{name}.json", json.dumps(stored, ensure_ascii=False), False))
        for path, data, private in files:
            try:
                write_atomic(path, data, private=private)
            except OSError as e:
                raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
        self.written += 1


def stored_fingerprints(folder: Path) -> Set[str]:
    """The fingerprint(s) of the pipeline that wrote ``folder``: its marker, or (a folder
    written before markers existed) those of its records."""
    try:
        marker = json.loads((folder / "records" / PIPELINE_MARKER).read_text(encoding="utf8"))
        return {marker["pipeline"]}
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError):
        return {"(unreadable marker)"}
    found: Set[str] = set()
    if (folder / "records").is_dir():
        for path in (folder / "records").glob("*.json"):
            try:
                stored = json.loads(path.read_text(encoding="utf8"))
            except (OSError, ValueError):
                continue  # a damaged record is not a document done: it is recomputed
            if isinstance(stored, dict) and "pipeline" in stored:  # review records carry none
                found.add(str(stored["pipeline"]))
    return found


def document_files(folder: Path, doc_id: str) -> List[Path]:
    name = file_name(doc_id)
    copies = [folder / DOCUMENT_FOLDERS[kind] / f"{name}{suffix}" for suffix, kind in DOCUMENT_SUFFIXES.items()]
    return [folder / "text" / f"{name}.txt", folder / "html" / f"{name}.html", *copies,
            folder / "records" / f"{name}.json"]


def remove_outputs(folder: Path) -> int:
    """Every file this module writes into ``folder`` (and nothing else): ``--overwrite``."""
    n = 0
    copies = tuple((DOCUMENT_FOLDERS[kind], f"*{suffix}") for suffix, kind in DOCUMENT_SUFFIXES.items())
    for sub, pattern in (("text", "*.txt"), ("html", "*.html"), *copies, ("records", "*.json"),
                         ("records", PIPELINE_MARKER)):
        for path in (folder / sub).glob(pattern) if (folder / sub).is_dir() else []:
            path.unlink()
            n += 1
    for name in (*COLLECTIONS, "spans_with_text.jsonl", "README.txt"):
        if (folder / name).is_file():
            (folder / name).unlink()
            n += 1
    if (folder / PARQUET_DIR).is_dir():
        n += sum(1 for _ in (folder / PARQUET_DIR).glob("*"))
        shutil.rmtree(folder / PARQUET_DIR)
    return n


def sweep_temp_files(folder: Path) -> None:
    """The temp files and folders a killed run left (the writer removes its own otherwise)."""
    copies = tuple(folder / f for f in sorted(set(DOCUMENT_FOLDERS.values())))
    for sub in (folder, folder / "text", folder / "html", *copies, folder / "records"):
        for path in sub.glob(f"{TEMP_PREFIX}*") if sub.is_dir() else []:
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def read_records(folder: Path, doc_ids: Iterable[str], fingerprint: Optional[str] = None) -> Iterable[Dict]:
    for doc_id in doc_ids:
        path = folder / "records" / f"{file_name(doc_id)}.json"
        if path.exists():
            record = json.loads(path.read_text(encoding="utf8"))
            if fingerprint is None or record.get("pipeline") in (None, fingerprint):
                yield record


def finish(out_dir: Path, formats: Sequence[str], doc_ids: Sequence[str], errors: Sequence[DocumentError],
           review_dir: Optional[Path] = None, done: Optional[Iterable[str]] = None,
           fingerprint: Optional[str] = None) -> None:
    """The collections, rebuilt in input order from the records of ``done`` (the documents
    this run anonymized or found done; default: every id in ``doc_ids``), and the errors of
    this run in input order. A document that failed in this run loses its old files."""
    done_ids = set(doc_ids if done is None else done)
    for doc_id in {e.doc_id for e in errors if e.doc_id} - done_ids:
        for folder in [out_dir] + ([review_dir] if review_dir is not None else []):
            for path in document_files(folder, doc_id):
                if path.exists():
                    path.unlink()
    ids = [d for d in doc_ids if d in done_ids]
    records = list(read_records(out_dir, ids, fingerprint))
    keys = ("doc_id", "source", "anonymized", "entities", "replacements")
    if "json" in formats:  # a Word or HTML file's line also says where its copy is, and its report
        write_atomic(out_dir / "spans.jsonl", "".join(json.dumps(
            {k: r[k] for k in (*keys, "document") if k in r}, ensure_ascii=False) + "\n" for r in records))
    if "tab" in formats:
        tab = {r["doc_id"]: [[x["start"], x["end"]] for x in r["replacements"]] for r in records}
        write_atomic(out_dir / "tab_predictions.json", json.dumps(tab, ensure_ascii=False))
    if "html" in formats:
        links = [(r["doc_id"], f"{file_name(r['doc_id'])}.html") for r in records]
        write_atomic(out_dir / "html" / "index.html", index_page("Anonymized documents", links))
    if "parquet" in formats:
        write_parquet(records, out_dir / PARQUET_DIR)
    errors_path = out_dir / "errors.jsonl"
    if errors:
        ordered = sorted(errors, key=lambda e: getattr(e, "at", (-1, -1)))  # input order, whichever engine
        write_atomic(errors_path, "".join(json.dumps({"doc_id": e.doc_id, "source": e.source, "reason": e.reason},
                                                     ensure_ascii=False) + "\n" for e in ordered))
    elif errors_path.exists():
        errors_path.unlink()
    if review_dir is not None:
        reviewed = list(read_records(review_dir, ids))
        write_atomic(review_dir / "spans_with_text.jsonl",
                     "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in reviewed), private=True)
        links = [(r["doc_id"], f"{file_name(r['doc_id'])}.html") for r in reviewed]
        write_atomic(review_dir / "html" / "index.html", index_page("legal_anon review material", links, REVIEW_WARNING),
                     private=True)
        write_atomic(review_dir / "README.txt", REVIEW_WARNING + "\n", private=True)
        sync_folder(review_dir)
    sync_folder(out_dir)


def write_parquet(records: List[Dict], folder: Path, rows_per_file: int = 10000) -> None:
    """A Parquet dataset (a folder of part files) with one row per document, replacing the old
    one whole: the parts are written into a temp folder beside it, which is then swapped in."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = ("doc_id", "source", "anonymized", "entities", "replacements")
    schema = pa.schema([(c, pa.string()) for c in columns])
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f"{TEMP_PREFIX}{folder.name}-"))
    try:
        os.chmod(tmp, 0o777 & ~current_umask())
        for i in range(0, max(len(records), 1), rows_per_file):
            chunk = records[i:i + rows_per_file]
            table = pa.table({
                "doc_id": [r["doc_id"] for r in chunk], "source": [r["source"] for r in chunk],
                "anonymized": [r["anonymized"] for r in chunk],
                "entities": [json.dumps(r["entities"], ensure_ascii=False) for r in chunk],
                "replacements": [json.dumps(r["replacements"], ensure_ascii=False) for r in chunk],
            }, schema=schema)
            buffer = io.BytesIO()
            pq.write_table(table, buffer)
            write_atomic(tmp / f"part-{i // rows_per_file:05d}.parquet", buffer.getvalue())
        sync_folder(tmp)
        swap_folders(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def swap_folders(new: Path, target: Path) -> None:
    """Put folder ``new`` at ``target``; the old ``target`` ends at ``new`` (removed by the
    caller). Linux: one atomic exchange (renameat2 RENAME_EXCHANGE); elsewhere, two renames
    (for a moment there is no ``target``, never a mixed one)."""
    if not target.exists():
        os.rename(new, target)
        return
    if _exchange(new, target):
        return
    old = target.parent / f"{TEMP_PREFIX}{target.name}-old"
    if old.exists():
        shutil.rmtree(old)
    os.rename(target, old)
    os.rename(new, target)
    os.rename(old, new)


def _exchange(a: Path, b: Path) -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


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
