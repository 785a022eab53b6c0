"""Word and HTML files through the command line: their text in, the same format out.

A ``.docx`` (``.docm`` with ``--allow-macros``) or ``.html``/``.htm`` input is read twice, at
two ends of the run, by the modules that own the format (``legal_anon.io.docx_document``,
``legal_anon.io.html_document``):

1. the source (``legal_anon.io.sources``) reads the file's text in reading order
   (``read_text``); that text is the document the engines batch through ``nlp.pipe``, and
   every offset in spans.jsonl, the TAB JSON and ``-f text`` is an offset into it;
2. while the Doc the pipeline made of that text is still alive (inside the engine's
   memory zone), ``write_back`` reads the file again and gives it and the Doc to
   ``anonymize_docx``/``anonymize_html`` through ``ProducedDoc``: a stand-in for ``nlp``
   whose call returns that Doc, so the file is rewritten from the same masks the text
   outputs show and the model runs once. A file whose bytes changed since it was read
   fails with that reason instead of being masked with offsets that may not fit.

Only a ``DocumentRef`` travels with a document (kind, path, options, a digest of the file's
bytes and the options: what decides the output file, so a rerun redoes a document whose
image or setting changed though its text did not); it is plain data for Ray rows.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

DOCUMENT_SUFFIXES = {".docx": "docx", ".docm": "docx", ".html": "html", ".htm": "html"}
# where each kind's anonymized copy goes under -o (``-f html`` already means OUT/html/: the
# anonymized *text* as a page, so an HTML input's own page goes to html_document/)
DOCUMENT_FOLDERS = {"docx": "docx", "html": "html_document"}
TRACKED_CHANGES = ("refuse", "accept")


class DocumentReadError(ValueError):
    """A Word or HTML file whose text cannot be read; the message names the file and the part."""


class DocumentWriteError(ValueError):
    """A document whose anonymized copy cannot be made (changed file, a check that failed)."""


@dataclass(frozen=True)
class DocumentOptions:
    """What the run was told about Word files (``--tracked-changes``, ``--drop-media``,
    ``--allow-macros``); HTML takes none."""

    tracked_changes: str = "refuse"
    drop_media: bool = False
    allow_macros: bool = False

    def __post_init__(self) -> None:
        if self.tracked_changes not in TRACKED_CHANGES:
            raise ValueError(f"--tracked-changes must be accept or refuse, not {self.tracked_changes!r}")


@dataclass(frozen=True)
class DocumentRef:
    """A structured input: enough to rewrite it once the pipeline has run."""

    kind: str  # docx | html
    path: str
    name: str  # as the user gave it, for messages
    digest: str  # SHA-256 of the file's bytes and the options
    options: DocumentOptions = DocumentOptions()

    @property
    def suffix(self) -> str:
        """The copy's suffix: the input's when it is one of the kind's, else .docx / .html
        (``--input-format docx`` on a file named otherwise)."""
        suffix = Path(self.path).suffix.lower()
        return suffix if DOCUMENT_SUFFIXES.get(suffix) == self.kind else f".{self.kind}"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, data: str) -> Optional["DocumentRef"]:
        if not data:
            return None
        obj = json.loads(data)
        return cls(**{**obj, "options": DocumentOptions(**obj["options"])})


def read_text(kind: str, path: Path, name: str, options: DocumentOptions) -> Tuple[str, DocumentRef]:
    """The text of a Word or HTML file, and its ``DocumentRef``; ``DocumentReadError`` (the
    file and the part) when it cannot be read."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise DocumentReadError(f"{name}: cannot read: {e.strerror or e}") from None
    try:
        if kind == "docx":
            from legal_anon.io.docx_document import read_docx_text

            text = read_docx_text(data, tracked_changes=options.tracked_changes, allow_macros=options.allow_macros,
                                  name=name)
        elif kind == "html":
            text = html_text(data)
        else:
            raise DocumentReadError(f"{name}: unknown document kind {kind!r}")
    except DocumentReadError:
        raise
    except Exception as e:  # DocxError, a damaged zip or XML part, an undecodable page
        message = str(e)
        raise DocumentReadError(message if name in message else f"{name}: {message}") from None
    return text, DocumentRef(kind, str(path), name, file_digest(data, options), options)


def file_digest(data: bytes, options: DocumentOptions) -> str:
    """What decides a Word or HTML copy besides the pipeline: the file's bytes and the options."""
    digest = hashlib.sha256(data)
    digest.update(json.dumps(asdict(options), sort_keys=True).encode("utf8"))
    return digest.hexdigest()


def html_text(data: bytes) -> str:
    """The text ``anonymize_html`` gives the pipeline (same parse, same reading order)."""
    import io

    from lxml import html as lxml_html

    from legal_anon.io.html_document import declared_encoding, read_text as html_read_text

    if not data.strip():
        raise ValueError("not an HTML document: the file is empty")
    if b"\x00" in data[:4096]:
        raise ValueError("not an HTML document: binary data (NUL bytes)")
    tree = lxml_html.parse(io.BytesIO(data), parser=lxml_html.HTMLParser(encoding=declared_encoding(data)))
    if tree.getroot() is None:
        raise ValueError("not an HTML document: nothing to parse")
    return html_read_text(tree).text


class ProducedDoc:
    """``nlp`` for the document functions, with the Doc the engine's pipeline already made:
    calling it with that Doc's text returns the Doc (the model does not run again); any other
    text means the file changed since it was read. Everything else is the real pipeline's."""

    def __init__(self, nlp, doc, name: str):
        self._nlp = nlp
        self._doc = doc
        self._name = name

    def __call__(self, text: str, **_: Any):
        if text != self._doc.text:
            raise DocumentWriteError(f"{self._name}: the file's text changed since it was read "
                                     f"({len(text)} characters now, {len(self._doc.text)} then): run it again")
        return self._doc

    def pipe(self, texts, **kwargs: Any):
        return (self(t) for t in texts)

    @property
    def pipe_names(self):
        """Every component, the disabled ones too: ``split_long`` disables the whole-document
        components (the anonymizer) while it pipes, and they have run on this Doc already."""
        return self._nlp.component_names

    def __getattr__(self, attr: str):
        return getattr(self._nlp, attr)


def write_back(nlp, doc, ref: DocumentRef) -> Tuple[bytes, Dict[str, int]]:
    """The anonymized copy of ``ref``'s file from the pipeline's ``doc``, and its report
    (counts: media, scrubbed attributes, ...); ``DocumentWriteError`` when it cannot be made."""
    from legal_anon.pipeline.anonymizer import AnonymizationError

    produced = ProducedDoc(nlp, doc, ref.name)
    try:
        data = Path(ref.path).read_bytes()
        if file_digest(data, ref.options) != ref.digest:  # the record will name the bytes that were read
            raise DocumentWriteError(f"{ref.name}: the file changed since it was read: run it again")
        if ref.kind == "docx":
            from legal_anon.io.docx_document import anonymize_docx

            o = ref.options
            result = anonymize_docx(produced, data, tracked_changes=o.tracked_changes, drop_media=o.drop_media,
                                    allow_macros=o.allow_macros, name=ref.name)
            out, report = result.data, dict(result.report)
        else:
            from legal_anon.io.html_document import anonymize_html

            result = anonymize_html(produced, data)
            out, report = result.html, {"scrubbed": result.scrubbed}
    except DocumentWriteError:
        raise
    except OSError as e:
        raise DocumentWriteError(f"{ref.name}: cannot read it again to write its copy: {e.strerror or e}") from None
    except (AnonymizationError, ValueError) as e:  # DocxError is a ValueError
        message = str(e)
        raise DocumentWriteError(message if ref.name in message else f"{ref.name}: {message}") from None
    if result.anonymized != doc._.anonymized:  # the copy was made from other masks than the text outputs
        raise DocumentWriteError(f"{ref.name}: the anonymized copy's text differs from the pipeline's output")
    return out, report


@dataclass
class DocumentCopy:
    """The anonymized copy of a Word or HTML input, ready to write (``OUT/<folder>/<name><suffix>``)."""

    kind: str
    suffix: str
    data: bytes
    report: Dict[str, int]

    @property
    def folder(self) -> str:
        return DOCUMENT_FOLDERS[self.kind]


def document_copy(nlp, doc, ref: DocumentRef) -> DocumentCopy:
    data, report = write_back(nlp, doc, ref)
    return DocumentCopy(ref.kind, ref.suffix, data, report)


class DocumentTally:
    """The run summary's part on Word and HTML files: how many of each kind, and their
    reports' counts added up (per document they are in ``records/<name>.json``)."""

    def __init__(self) -> None:
        self.files: Dict[str, int] = {}
        self.report: Dict[str, int] = {}

    def add(self, done) -> None:
        if not getattr(done, "kind", ""):
            return
        self.files[done.kind] = self.files.get(done.kind, 0) + 1
        for key, value in done.report.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.report[key] = self.report.get(key, 0) + value

    def as_dict(self) -> Dict[str, Any]:
        return {"files": dict(self.files), "report": dict(self.report)}

    def line(self) -> str:
        files = ", ".join(f"{n} {kind}" for kind, n in sorted(self.files.items()))
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.report.items())) or "nothing to report"
        return f"  files:     {files} written in their own format ({counts})"


def document_inputs(items, input_format: str = "auto"):
    """The names of the inputs that are Word or HTML files (by ``--input-format`` or suffix)."""
    if input_format in ("docx", "html"):
        return [i.name for i in items if i.path is not None]
    return [i.name for i in items if i.path is not None and i.path.suffix.lower() in DOCUMENT_SUFFIXES]
