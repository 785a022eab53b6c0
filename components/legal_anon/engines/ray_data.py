"""The Ray Data engine: the same anonymization, on a local Ray cluster or a real one.

    legal-anon anonymize archive/ -o out/ --engine ray [--ray-address ADDR] [--workers N]

Two passes over a Ray Dataset, each stage a Ray Data operator:

1. **read** (tasks): the input files are parsed where they are read, by the readers of
   ``legal_anon.io.sources`` (txt, jsonl, TAB JSON, Parquet, Word, HTML); a file that cannot be
   read becomes an error row. A Word or HTML file's row carries its text and its
   ``DocumentRef`` (JSON: path, options, digest); the actor that anonymizes the text rewrites
   the file from the same Doc (``legal_anon.io.documents``), so the path must be readable
   on every node. Only the ids come back to the driver, which makes repeated ids unique
   exactly as the local engine does (input order, ``ID#2``) and records the order of the
   collections.
2. **anonymize** (an actor pool of ``--workers`` actors, each loading the pipeline once):
   documents already written by an earlier run of the same pipeline on the same text are
   skipped (``DocumentWriter.is_done``: resumable), the others go through ``nlp.pipe``
   and ``legal_anon.engines.local.anonymize_batch``, and each worker writes its documents' files
   itself with the same ``DocumentWriter`` as the local engine: the same bytes. A document
   that raises is isolated and recorded with the reason; an actor that dies is restarted
   and its batch retried by Ray (``max_restarts``, ``max_task_retries``); rewriting a file
   is idempotent (atomic rename), so every good document ends written once.

The driver receives counts per document (``DocumentDone``/``DocumentError``), never the
texts, and rebuilds the collections from ``records/`` at the end (``legal_anon.io.sinks.finish``).
On a multi-node cluster the inputs and OUT must be on storage every node sees.

The hash operator's salt reaches the workers only through their own environment and is
never part of a task, an actor's arguments, a dataset or an output. A local cluster started
here inherits this process's environment (``$LEGAL_ANON_SALT`` or the ``salt_env`` given);
on a real cluster, export the variable on every node before ``ray start``, or give
``--salt-file`` on storage every node reads (only the path travels). Ray's ``runtime_env``
is *not* used for it: its runtime-env agent writes ``env_vars`` in clear text into
``runtime_env_agent.log`` (seen with Ray 2.60), and keeps them in the cluster's metadata.
An actor that finds no salt fails when it loads the pipeline, with the anonymizer's
message, before any document is processed.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

from legal_anon.engines.local import (DocumentDone, DocumentError, Result, UsageError, anonymize_batch, load_pipeline,
                                      pipeline_fingerprint)
from legal_anon.io.documents import DocumentOptions, DocumentRef
from legal_anon.io.sinks import DocumentWriter
from legal_anon.io.sources import Input, InputDoc, InputError, UniqueIds, read_documents

READ_COLUMNS = ("input_index", "position", "doc_id", "source", "text", "error", "document")


def read_input_rows(row: Dict[str, Any], fmt: str, text_key: str,
                    options: DocumentOptions = DocumentOptions()) -> List[Dict[str, Any]]:
    """One input file -> one row per document (or one error row)."""
    item = Input(row["name"], Path(row["path"]), Path(row["root"]) if row["root"] is not None else None)
    try:
        docs = read_documents(item, fmt, text_key, options)
    except InputError as e:
        return [{"input_index": row["input_index"], "position": -1, "doc_id": "", "source": item.name, "text": "",
                 "error": str(e), "document": ""}]
    # a line/row that cannot be read keeps its position: an error row of its own (position >= 0)
    return [{"input_index": row["input_index"], "position": i, "doc_id": d.doc_id, "source": d.source,
             "text": d.text, "error": d.error, "document": d.document.to_json() if d.document else ""}
            for i, d in enumerate(docs)]


class AnonymizerActor:
    """One per worker: the pipeline loaded once, documents anonymized and written here."""

    def __init__(self, model: str, anonymizer: Dict[str, Any], mask_threshold: Any, writer: DocumentWriter,
                 max_chars: Optional[int], max_length: Optional[int], renames: Dict[str, str]):
        self.nlp = load_pipeline(model, anonymizer, mask_threshold)
        if pipeline_fingerprint(self.nlp) != writer.fingerprint:  # another model on this node, another salt
            raise UsageError(f"the pipeline {model!r} a worker loaded differs from the driver's (fingerprint "
                             f"{pipeline_fingerprint(self.nlp)}, driver {writer.fingerprint}): install the same model "
                             "and give the same hash salt on every node")
        self.max_length = max_length  # pieces of long documents, as the local engine splits them
        self.writer = writer
        self.max_chars = max_chars
        self.renames = renames

    def __call__(self, batch: Dict[str, Any]) -> Dict[str, List[Any]]:
        items, skipped = [], []
        for index, position, doc_id, source, text, error, document in zip(
                batch["input_index"], batch["position"], batch["doc_id"], batch["source"], batch["text"],
                batch["error"], batch["document"]):
            if error and position < 0:  # an input that could not be read: reported by the driver
                continue
            at = (int(index), int(position))
            if error:  # one line/row of a file: an error under the id it has (anonymize_batch's precheck)
                items.append(InputDoc(str(doc_id), "", str(source), str(error), at))
                continue
            doc_id = self.renames.get(f"{index}:{position}", str(doc_id))
            item = InputDoc(doc_id, str(text), str(source), at=at, document=DocumentRef.from_json(str(document)))
            (skipped if self.writer.is_done(item.doc_id, item.content_sha256) else items).append(item)
        results: List[Result] = list(anonymize_batch(self.nlp, items, self.writer, self.max_chars,
                                                                 max_length=self.max_length))
        out: Dict[str, List[Any]] = {"doc_id": [], "status": [], "words": [], "chars": [], "labels": [],
                                     "sources": [], "reason": [], "at": [], "kind": [], "report": []}
        for item in skipped:
            self._row(out, item.doc_id, "resumed")
        for r in results:
            if isinstance(r, DocumentError):
                self._row(out, r.doc_id, "error", reason=r.reason, source=r.source, at=r.at)
            else:
                self._row(out, r.doc_id, "done", r.words, r.chars, r.labels, r.sources, kind=r.kind, report=r.report)
        return out

    @staticmethod
    def _row(out, doc_id, status, words=0, chars=0, labels=None, sources=None, reason="", source="", at=(-1, -1),
             kind="", report=None):
        out["at"].append(json.dumps(list(at)))
        out["kind"].append(kind)
        out["report"].append(json.dumps(report or {}))
        out["doc_id"].append(doc_id)
        out["status"].append(status)
        out["words"].append(words)
        out["chars"].append(chars)
        out["labels"].append(json.dumps(labels or {}))
        out["sources"].append(json.dumps(sources or {}) if status != "error" else source)
        out["reason"].append(reason)


class RayEngine:
    """Ray Data over a local cluster (``ray.init()``) or an existing one (``address``)."""

    name = "ray"

    def __init__(self, model: str, anonymizer: Dict[str, Any], mask_threshold: Any = ..., workers: int = 2,
                 batch_size: int = 16, address: Optional[str] = None, max_chars: Optional[int] = None,
                 max_length: Optional[int] = None, max_restarts: int = 3, num_cpus: Optional[int] = None,
                 options: DocumentOptions = DocumentOptions()):
        self.model = model
        self.options = options  # how Word files are read and written
        self.anonymizer = dict(anonymizer)
        self.mask_threshold = mask_threshold
        self.workers = workers
        self.batch_size = batch_size
        self.address = address
        self.max_chars = max_chars
        self.max_length = max_length
        self.max_restarts = max_restarts
        self.num_cpus = num_cpus
        self.order: List[str] = []
        self.renamed: List[Dict[str, str]] = []
        self.input_errors: List[DocumentError] = []
        self._started = False

    def start(self) -> None:
        """Join the cluster at ``address``, or start a local one, unless Ray already runs here."""
        import logging

        import ray

        logging.getLogger("ray.data").setLevel(logging.WARNING)
        if ray.is_initialized():
            return
        kwargs: Dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
        if self.address:
            ray.init(address=self.address, **kwargs)
        else:
            ray.init(num_cpus=self.num_cpus or max(self.workers, 1), **kwargs)
        self._started = True

    def run(self, inputs: Sequence[Input], writer: DocumentWriter, input_format: str = "auto",
            text_key: str = "text") -> Iterator[Result]:
        """Read, deduplicate ids, anonymize and write; yield what happened per document."""
        import ray
        import ray.data

        if any(i.path is None for i in inputs):
            raise UsageError("the Ray engine reads files and folders, not stdin")
        self.start()
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        files = ray.data.from_items([
            {"input_index": i, "name": item.name, "path": str(item.path),
             "root": str(item.root) if item.root is not None else None} for i, item in enumerate(inputs)
        ], override_num_blocks=max(1, min(len(inputs), 8 * self.workers)))
        docs = files.flat_map(read_input_rows, fn_kwargs={"fmt": input_format, "text_key": text_key,
                                                         "options": self.options}).materialize()
        meta = sorted(docs.select_columns(["input_index", "position", "doc_id", "source", "error"]).take_all(),
                      key=lambda r: (r["input_index"], r["position"]))
        renames = self._unique_ids(meta)
        # renames and error rows are handled inside the actors: with every CPU held by the
        # pool, a separate task stage between the read and the actors would never be scheduled
        results = docs.map_batches(
            AnonymizerActor,
            fn_constructor_kwargs={"model": self.model, "anonymizer": self.anonymizer,
                                   "mask_threshold": self.mask_threshold, "writer": writer,
                                   "max_chars": self.max_chars, "max_length": self.max_length, "renames": renames},
            batch_size=self.batch_size, compute=ray.data.ActorPoolStrategy(size=self.workers), num_cpus=1,
            max_restarts=self.max_restarts, max_task_retries=self.max_restarts,
        )
        yield from self.input_errors
        for row in results.iter_rows():
            yield _result(row)

    def _unique_ids(self, meta: List[Dict[str, Any]]) -> Dict[str, str]:
        """Repeated ids renamed in input order (the local engine's rule); error rows kept aside."""
        ids = UniqueIds()
        renames: Dict[str, str] = {}
        for row in meta:
            if row["error"] and row["position"] < 0:
                self.input_errors.append(DocumentError("", row["source"], row["error"], (row["input_index"], -1)))
                continue
            if row["error"]:  # a line/row that cannot be read: not a document, no id of its own
                continue
            new = ids(InputDoc(row["doc_id"], "", row["source"])).doc_id
            self.order.append(new)
            if new != row["doc_id"]:
                renames[f"{row['input_index']}:{row['position']}"] = new
        self.renamed = ids.renamed
        return renames

    def stop(self) -> None:
        """Shut down the local cluster this engine started (a joined or given one keeps running)."""
        import ray

        if self._started and ray.is_initialized():
            ray.shutdown()
        self._started = False


def _result(row: Dict[str, Any]) -> Result:
    if row["status"] == "error":
        return DocumentError(row["doc_id"], row["sources"], row["reason"], tuple(json.loads(row["at"])))
    if row["status"] == "resumed":
        return DocumentDone(row["doc_id"], 0, 0, {}, {}, resumed=True)
    return DocumentDone(row["doc_id"], int(row["words"]), int(row["chars"]), json.loads(row["labels"]),
                        json.loads(row["sources"]), kind=row["kind"], report=json.loads(row["report"]))
