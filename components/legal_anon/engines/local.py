"""Engines: what runs the pipeline over documents and writes each one's outputs.

The command line reads documents (``legal_anon.io.sources``) and hands them to an engine with a
writer (``legal_anon.io.sinks``). For every document the engine builds an ``AnonymizedRecord``
(plain data, no Doc), gives it to the writer and reports a ``DocumentDone`` (counts only) or
a ``DocumentError``. The same ``anonymize_batch`` runs everywhere, so every engine writes the
same bytes: ``LocalEngine`` runs ``nlp.pipe`` in this process (``n_process`` for spaCy's
multiprocessing, long documents split and rejoined by ``legal_anon.pipeline.split_long``); the Ray
engine (``legal_anon.engines.ray_data``) runs it in one actor per worker, each with the pipeline
loaded once.

A document that is not processed (empty, longer than ``max_chars``, a line of its file that
cannot be read) becomes a ``DocumentError`` with the reason: recorded, never fatal; ``at``
(input index, position) puts the errors of either engine in the same order. In the local
engine an exception inside the pipeline stops the run; the Ray engine isolates the document
that raised.

``pipeline_fingerprint`` names what decides the outputs besides the text (config, weights,
the hash salt through a keyed digest); an output folder holds one fingerprint's documents.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from legal_anon.io.documents import DocumentCopy, DocumentOptions, DocumentWriteError, document_copy
from legal_anon.io.sources import Input, InputDoc

if TYPE_CHECKING:  # spaCy is imported where a pipeline is loaded: importing the command line stays quick,
    from spacy.language import Language  # so a Ctrl-C at its start lands where the command handles it


class UsageError(Exception):
    """A bad option, a model that does not load, a hash operator without salt."""


@dataclass
class AnonymizedRecord:
    """What the pipeline made of one document. ``original`` and the ``text`` of
    replacements and entities are kept for review outputs only; the default outputs
    drop them (``legal_anon.io.sinks``)."""

    doc_id: str
    source: str
    anonymized: str
    replacements: List[Dict[str, Any]]
    entities: List[Dict[str, Any]]
    words: int
    chars: int
    original: str = field(repr=False, default="")
    # the recall control's candidates with their confidence, for the review material only
    candidates: List[Dict[str, Any]] = field(repr=False, default_factory=list)
    # a Word or HTML input: its anonymized copy, made from the same Doc
    document: Optional[DocumentCopy] = field(repr=False, default=None)
    content_sha256: str = ""  # what a rerun compares (InputDoc.content_sha256)


@dataclass
class DocumentError:
    doc_id: str
    source: str
    reason: str
    at: Tuple[int, int] = (-1, -1)  # (input index, position in it): the order of errors.jsonl


@dataclass
class DocumentDone:
    """What the driver learns about a document that was anonymized and written."""

    doc_id: str
    words: int
    chars: int
    labels: Dict[str, int]
    sources: Dict[str, int]
    resumed: bool = False  # written by an earlier run of the same pipeline: skipped
    kind: str = ""  # docx | html for a Word or HTML input
    report: Dict[str, int] = field(default_factory=dict)  # its copy's counts (media, scrubbed, ...)

    @classmethod
    def of(cls, record: "AnonymizedRecord") -> "DocumentDone":
        labels: Dict[str, int] = {}
        sources: Dict[str, int] = {}
        for r in record.replacements:
            labels[r["label"]] = labels.get(r["label"], 0) + 1
            sources[r["source"]] = sources.get(r["source"], 0) + 1
        copy = record.document
        return cls(record.doc_id, record.words, record.chars, labels, sources,
                   kind=copy.kind if copy else "", report=dict(copy.report) if copy else {})


Result = Union[DocumentDone, DocumentError]


def pipeline_config(model: str):
    """The config of a pipeline directory or installed package, without loading it."""
    from spacy import util

    path = Path(model)
    if not path.exists():
        if not util.is_package(model):
            raise OSError(f"{model!r} is neither an installed pipeline package nor a directory")
        path = util.get_package_path(model)
    config_path = path / "config.cfg"
    if not config_path.exists():
        found = sorted(path.glob("*/config.cfg"))
        if not found:
            raise OSError(f"no config.cfg in {path}")
        config_path = found[0]
    try:
        config = util.load_config(config_path, interpolate=False)
    except Exception as e:  # thinc/configparser raise several types for a damaged file
        raise OSError(f"{config_path} cannot be read as a spaCy config: {e}") from None
    if not isinstance(config.get("components"), dict):
        raise OSError(f"{config_path} has no [components] section: not a trained spaCy pipeline")
    return config


def parse_mask_threshold(value: Optional[str]) -> Any:
    """--mask-threshold: unset -> ``...`` (as the pipeline is configured), "off" -> None
    (no low-confidence candidates), or a probability in (0, 1]."""
    if value is None:
        return ...
    if value == "off":
        return None
    try:
        return float(value)
    except ValueError:
        raise UsageError(f"--mask-threshold expects a probability in (0, 1] or 'off', got {value!r}") from None


def load_pipeline(model: str, anonymizer: Dict[str, Any], mask_threshold: Any = ..., *,
                  add_anonymizer: bool = True, new_anonymizer: Optional[Dict[str, Any]] = None):
    """spacy.load(model) with the anonymizer's and the tagger's settings as config overrides
    (``mask_threshold``: see ``parse_mask_threshold``). When the pipeline has no anonymizer,
    one is added with ``new_anonymizer`` and those settings, unless ``add_anonymizer`` is off."""
    import spacy

    try:
        components = pipeline_config(model)["components"]
    except OSError as e:
        raise UsageError(f"cannot load pipeline {model!r}: {e}") from None
    overrides: Dict[str, Any] = {}
    anon_names = [n for n, c in components.items() if c.get("factory") == "anonymizer"]
    if anon_names and anonymizer:
        overrides[anon_names[0]] = dict(anonymizer)
    if mask_threshold is not ...:
        taggers = [n for n, c in components.items() if c.get("factory") in ("bilstm_crf_ner", "crf_ner")]
        if not taggers:
            raise UsageError("--mask-threshold needs a pipeline with a CRF tagger (bilstm_crf_ner or crf_ner)")
        overrides[taggers[0]] = {"mask_threshold": mask_threshold}
    try:
        nlp = spacy.load(model, config={"components": overrides} if overrides else {})
        if not anon_names and add_anonymizer:
            nlp.add_pipe("anonymizer", config={**(new_anonymizer or {}), **anonymizer}, last=True)
    except Exception as e:  # a bad operator, a missing salt, an invalid threshold, damaged weights
        raise UsageError(f"cannot load pipeline {model!r}: {e}") from None
    return nlp


def check_recognizer(nlp: Language) -> None:
    """Refuse a pipeline in which no enabled component finds what the anonymizer masks
    (``doc.ents``, or ``doc.spans`` with a spans_key): it would write the input unchanged
    as "anonymized"."""
    anonymizers = [n for n in nlp.pipe_names if nlp.get_pipe_meta(n).factory == "anonymizer"]
    settings = getattr(nlp.get_pipe(anonymizers[0]), "settings", None) if anonymizers else None
    wanted = "doc.spans" if getattr(settings, "spans_key", None) else "doc.ents"
    before = nlp.pipe_names[:nlp.pipe_names.index(anonymizers[0])] if anonymizers else nlp.pipe_names
    if not any(wanted in nlp.get_pipe_meta(n).assigns for n in before):
        disabled = f" (disabled: {', '.join(nlp.disabled)})" if nlp.disabled else ""
        raise UsageError(f"the pipeline has no entity recognizer: no enabled component before the anonymizer sets "
                         f"{wanted} (components: {', '.join(nlp.pipe_names) or 'none'}{disabled}); its output "
                         "would be the input unchanged")


def pipeline_fingerprint(nlp) -> str:
    """What decides the outputs besides the text: the pipeline's name, version and config,
    a digest of its serialized weights (``nlp.to_bytes()``: a model retrained into the same
    path differs), and for a hash operator a keyed digest of the salt (HMAC with the salt as
    key over a fixed message: the salt itself is never part of it, nor recoverable from it).
    Computed once per run; an output folder written with another fingerprint is refused."""
    import hashlib

    digest = hashlib.sha256()
    digest.update(f"{nlp.meta.get('name')} {nlp.meta.get('version')}\n{nlp.config.to_str()}\n".encode("utf8"))
    digest.update(hashlib.sha256(nlp.to_bytes()).digest())
    for name, pipe in nlp.pipeline:
        salt_digest = pipe.salt_digest() if hasattr(pipe, "salt_digest") else None
        if salt_digest:
            digest.update(name.encode("utf8"))
            digest.update(salt_digest)
    return digest.hexdigest()[:16]


def record_from_doc(item: InputDoc, doc, nlp: Optional[Language] = None) -> AnonymizedRecord:
    """The record of a processed Doc (its anonymizer output and the NER's entities); for a
    Word or HTML input, its anonymized copy made from this Doc (``DocumentWriteError``)."""
    if doc._.anonymized is None:
        raise ValueError("the pipeline has no anonymizer: doc._.anonymized is None")
    return AnonymizedRecord(
        doc_id=item.doc_id,
        source=item.source,
        anonymized=doc._.anonymized,
        replacements=[dict(r) for r in doc._.anon_replacements or []],
        entities=[{"start": e.start_char, "end": e.end_char, "label": e.label_, "text": e.text} for e in doc.ents],
        words=sum(1 for t in doc if not t.is_space),
        chars=len(doc.text),
        original=doc.text,
        candidates=candidates_of(doc),
        document=document_copy(nlp, doc, item.document) if item.document is not None else None,
        content_sha256=item.content_sha256,
    )


def write_document(nlp: Language, item: InputDoc, doc, writer) -> Result:
    """Record and write one processed document. A Word or HTML file whose copy cannot be made
    (changed since it was read, a check that failed) is a DocumentError; the run goes on."""
    try:
        record = record_from_doc(item, doc, nlp)
    except DocumentWriteError as e:
        return DocumentError(item.doc_id, item.source, str(e), item.at)
    writer.write(record)
    return DocumentDone.of(record)


def candidates_of(doc, key: str = "ent_candidates") -> List[Dict[str, Any]]:
    """The recall control's candidates (``doc.spans[key]``) with their scores, if any."""
    if key not in doc.spans:
        return []
    group = doc.spans[key]
    scores = list(group.attrs.get("scores", [None] * len(group)))
    return [{"start": s.start_char, "end": s.end_char, "label": s.label_,
             "score": None if p is None else float(p)} for s, p in zip(group, scores)]


def precheck(item: InputDoc, max_chars: Optional[int]) -> Optional[DocumentError]:
    """Why a document is not processed at all (None when it is fine)."""
    if item.error:
        return DocumentError(item.doc_id, item.source, item.error, item.at)
    if not item.text.strip():
        return DocumentError(item.doc_id, item.source, "empty document (no text)", item.at)
    if max_chars is not None and len(item.text) > max_chars:
        return DocumentError(item.doc_id, item.source,
                             f"{len(item.text)} characters, over the limit of {max_chars} (--max-chars)", item.at)
    return None


def anonymize_batch(nlp: Language, items: Sequence[InputDoc], writer, max_chars: Optional[int] = None,
                    batch_size: int = 16, max_length: Optional[int] = None) -> List[Result]:
    """Anonymize and write a batch; a document the pipeline raises on is isolated (the batch
    is run again one document at a time) and recorded with the reason, never fatal. The
    batch runs in a spaCy memory zone (the records are plain data), so the strings of an
    archive's millions of names and case numbers do not pile up in the vocab."""
    from legal_anon.pipeline.split_long import pipe_long

    errors: List[DocumentError] = []
    good = []
    for item in items:
        problem = precheck(item, max_chars)
        (errors.append(problem) if problem is not None else good.append(item))
    results: List[Result] = []
    with nlp.memory_zone():
        try:
            done = list(pipe_long(nlp, ((i.text, i) for i in good), as_tuples=True, batch_size=batch_size,
                                  max_length=max_length))
        except Exception:
            done = []
            for item in good:
                try:
                    done.extend(pipe_long(nlp, [(item.text, item)], as_tuples=True, max_length=max_length))
                except Exception as e:
                    errors.append(DocumentError(item.doc_id, item.source,
                                                f"the pipeline raised {type(e).__name__}: {e}", item.at))
        for doc, item in done:
            result = write_document(nlp, item, doc, writer)
            (errors if isinstance(result, DocumentError) else results).append(result)
    return results + errors


class LocalEngine:
    """``nlp.pipe`` in this process; long documents split and rejoined.

    ``run`` reads the inputs, makes repeated ids unique (``order`` and ``renamed`` say what
    it did), skips documents an earlier run of the same pipeline already wrote, and
    anonymizes and writes the rest, yielding what happened in input order."""

    name = "local"
    ZONE_DOCS = 1000  # documents per memory zone

    def __init__(self, nlp: Language, batch_size: int = 16, n_process: int = 1, max_length: Optional[int] = None,
                 max_chars: Optional[int] = None, options: DocumentOptions = DocumentOptions()):
        self.nlp = nlp
        self.options = options  # how Word files are read and written
        self.batch_size = batch_size
        self.n_process = n_process
        self.max_length = max_length
        self.max_chars = max_chars
        self.order: List[str] = []
        self.renamed: List[Dict[str, str]] = []

    def run(self, inputs: Sequence[Input], writer, input_format: str = "auto", text_key: str = "text"
            ) -> Iterator[Result]:
        from legal_anon.pipeline.split_long import pipe_long
        from legal_anon.io.sources import UniqueIds, iter_documents

        ids = UniqueIds()
        self.renamed = ids.renamed
        pending: List[Result] = []  # what happened to documents that were not processed

        def on_error(name: str, reason: str, index: int) -> None:
            pending.append(DocumentError("", name, reason, (index, -1)))

        def good() -> Iterator[Tuple[str, InputDoc]]:
            for item in iter_documents(inputs, input_format, text_key, on_error, ids, self.options):
                if not item.error:
                    self.order.append(item.doc_id)
                problem = precheck(item, self.max_chars)
                if problem is not None:
                    pending.append(problem)
                elif hasattr(writer, "is_done") and writer.is_done(item.doc_id, item.content_sha256):
                    pending.append(DocumentDone(item.doc_id, 0, 0, {}, {}, resumed=True))
                else:
                    yield item.text, item

        # one process: chunks of documents, each in a spaCy memory zone (flat memory over an
        # archive); spaCy's worker processes manage their own vocab
        chunk = self.ZONE_DOCS if self.n_process == 1 else None
        stream = good()
        while True:
            part = list(islice(stream, chunk)) if chunk else stream
            if chunk and not part:
                break
            with self.nlp.memory_zone() if chunk else nullcontext():
                for doc, item in pipe_long(self.nlp, part, as_tuples=True, batch_size=self.batch_size,
                                           n_process=self.n_process, max_length=self.max_length):
                    while pending:
                        yield pending.pop(0)
                    yield write_document(self.nlp, item, doc, writer)
            if not chunk:
                break
        yield from pending
