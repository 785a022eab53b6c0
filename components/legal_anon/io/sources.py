"""Document sources for the batch command line: files, folders and stdin in, documents out.

Reads ``.txt`` (one document per file), ``.jsonl`` (one object per line with a ``text`` key
and an optional ``doc_id``/``id``), TAB JSON (a list of ``{doc_id, text, ...}``),
Parquet (one row per document: a text column and an optional ``doc_id``/``id`` column) and
Word (``.docx``, ``.docm``) and HTML (``.html``, ``.htm``) files, one document each: their
text in reading order, with a ``DocumentRef`` to write the same format back
(``legal_anon.io.documents``);
folders are searched recursively, following links to folders once (a folder reached twice,
a link loop, a broken link or a folder that cannot be listed becomes an input with an
``error``: reported, never skipped silently); ``-`` reads stdin (format guessed). A problem
with a whole file is an ``InputError`` that names the file and the byte or line; a problem
with one line, row or document of a file makes that document an ``InputDoc`` with an
``error`` (its id is its own when it can be read, else ``FILE:LINE``), and the file's other
documents go on. Document ids are made unique in one place (``UniqueIds``: a repeated id
becomes ``ID#2``, ``ID#3`` ... and is counted), so every output of a run names a document
the same way. ``at`` = (input index, position in the input) orders errors as the inputs are.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from legal_anon.io.documents import DOCUMENT_SUFFIXES, DocumentOptions, DocumentReadError, DocumentRef
from legal_anon.io.documents import read_text as read_document_text

INPUT_SUFFIXES = {".txt": "txt", ".text": "txt", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "tab",
                  ".parquet": "parquet", **DOCUMENT_SUFFIXES}
FORMATS = ("auto", "txt", "jsonl", "tab", "parquet", "docx", "html")


class InputError(Exception):
    """An input that cannot be read as documents; the message says where and why."""


@dataclass
class InputDoc:
    doc_id: str
    text: str
    source: str
    error: str = ""  # a line/row/document of the file that cannot be read: why
    at: Tuple[int, int] = (-1, -1)  # (input index, position in that input)
    document: Optional[DocumentRef] = None  # a Word or HTML file: written back in its own format

    @property
    def content_sha256(self) -> str:
        """What must be unchanged for a rerun to skip the document: the text, or for a Word or
        HTML file its bytes and options (an image or a setting changes the output file)."""
        import hashlib

        return self.document.digest if self.document is not None else hashlib.sha256(self.text.encode("utf8")).hexdigest()


@dataclass
class Input:
    """One input: a file (``path``; ``root`` is the folder it was found in) or stdin, or a
    folder entry that cannot be read (``error``: a broken link, a loop, ...)."""

    name: str
    path: Optional[Path]
    root: Optional[Path] = None
    error: Optional[str] = None

    @property
    def base_id(self) -> str:
        if self.path is None:
            return "stdin"
        if self.root is not None:
            return str(self.path.relative_to(self.root).with_suffix(""))
        return self.path.stem


def expand_inputs(paths: Sequence[str]) -> List[Input]:
    """Files as given, folders searched recursively (hidden entries skipped, links to folders
    followed once), '-' = stdin. Folder entries that cannot be read come back with an ``error``."""
    out: List[Input] = []
    for p in paths:
        if p == "-":
            out.append(Input("<stdin>", None))
            continue
        path = Path(p)
        if path.is_dir():
            found: List[Tuple[Tuple[str, ...], Input]] = []
            seen, links = {_real(path): path}, []
            _walk(path, path, seen, found, links)
            while links:  # the folders reached through links, after every real one is known
                link = links.pop(0)
                real = _real(link)
                if real in seen:
                    found.append((link.relative_to(path).parts, Input(
                        str(link), link, path, f"links to a folder already read ({seen[real]}): its files are read once")))
                else:
                    seen[real] = link
                    _walk(link, path, seen, found, links)
            out.extend(item for _, item in sorted(found, key=lambda x: x[0]))
        else:
            out.append(Input(str(path), path))
    return out


def _real(path: Path) -> str:
    return os.path.realpath(path)


def _walk(folder: Path, root: Path, seen: Dict[str, Path], found: List, links: List[Path]) -> None:
    """Depth first, links to folders put aside in ``links``; ``seen``: the real path of every
    folder read so far (a folder is read once, under its own path when it has one, so a link
    back to an ancestor or to a folder read already ends there, reported)."""

    def add(path: Path, error: Optional[str] = None) -> None:
        found.append((path.relative_to(root).parts, Input(str(path), path, root, error)))

    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as e:
        add(folder, f"cannot list the folder: {e.strerror or e}")
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        link = entry.is_symlink()
        if link and not os.path.exists(path):
            try:
                path.resolve(strict=True)
                reason = "broken symbolic link"
            except RuntimeError:
                reason = "symbolic link loop"
            except OSError as e:
                reason = "symbolic link loop" if e.errno == 40 else f"broken symbolic link (to {os.readlink(path)})"
            add(path, reason)
        elif path.is_dir() and link:
            links.append(path)
        elif path.is_dir():
            seen[_real(path)] = path
            _walk(path, root, seen, found, links)
        elif path.is_file() and path.suffix.lower() in INPUT_SUFFIXES:
            add(path)


def guess_format(text: str) -> str:
    stripped = text.lstrip()
    if stripped.startswith("["):
        return "tab"
    if stripped.startswith("{"):
        first = stripped.split("\n", 1)[0]
        try:
            json.loads(first)
            return "jsonl"
        except json.JSONDecodeError:
            return "tab"
    return "txt"


def input_format(item: Input, fmt: str, text: Optional[str] = None) -> str:
    if fmt != "auto":
        return fmt
    by_suffix = INPUT_SUFFIXES.get(item.path.suffix.lower()) if item.path is not None else None
    return by_suffix or guess_format(text or "")


def _doc_from_obj(obj, where: str, default_id: str, text_key: str, source: str) -> InputDoc:
    """The document of one JSON object, or one with an ``error`` naming ``where``."""
    if not isinstance(obj, dict):
        return InputDoc(default_id, "", source, f"{where}: expected a JSON object, got {type(obj).__name__}")
    doc_id = str(obj.get("doc_id", obj.get("id", default_id)))
    if text_key not in obj:
        return InputDoc(doc_id, "", source, f"{where}: no {text_key!r} key")
    if not isinstance(obj[text_key], str):
        return InputDoc(doc_id, "", source, f"{where}: {text_key!r} is not a string")
    return InputDoc(doc_id, obj[text_key], source)


def decode(raw: bytes) -> str:
    """UTF-8 text (a BOM dropped); an InputError naming the first bad byte otherwise."""
    try:
        text = raw.decode("utf8")
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text (byte {e.start}: {raw[e.start:e.start + 1]!r})") from None
    return text[1:] if text.startswith("\ufeff") else text


def read_parquet(item: Input, text_key: str) -> List[InputDoc]:
    """Rows of a Parquet file: ``text_key`` column, ids from ``doc_id`` or ``id`` if present."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(item.path)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise InputError(f"cannot read as Parquet: {e}") from None
    if text_key not in table.column_names:
        raise InputError(f"no {text_key!r} column (columns: {', '.join(table.column_names)})")
    texts = table.column(text_key).to_pylist()
    id_col = next((c for c in ("doc_id", "id") if c in table.column_names), None)
    ids = table.column(id_col).to_pylist() if id_col else [None] * len(texts)
    docs = []
    for row, (doc_id, text) in enumerate(zip(ids, texts)):
        doc_id = str(doc_id) if doc_id is not None else f"{item.base_id}:{row}"
        if not isinstance(text, str):
            docs.append(InputDoc(doc_id, "", item.name, f"row {row}: {text_key!r} is {type(text).__name__}, not a string"))
        else:
            docs.append(InputDoc(doc_id, text, item.name))
    return docs


def read_documents(item: Input, fmt: str = "auto", text_key: str = "text",
                   options: DocumentOptions = DocumentOptions()) -> List[InputDoc]:
    """All documents of one input; raises InputError for anything wrong with it."""
    if item.error:
        raise InputError(item.error)
    if fmt not in FORMATS:
        raise InputError(f"unknown input format {fmt!r}; choose from {', '.join(FORMATS)}")
    if input_format(item, fmt) == "parquet" and item.path is not None:
        return read_parquet(item, text_key)
    kind = input_format(item, fmt)
    if kind in ("docx", "html"):
        if item.path is None:
            raise InputError(f"cannot read {kind!r} from stdin: give the file")
        try:
            text, ref = read_document_text(kind, item.path, item.name, options)
        except DocumentReadError as e:
            raise InputError(str(e)) from None
        return [InputDoc(item.base_id, text, item.name, document=ref)]
    try:
        raw = sys.stdin.buffer.read() if item.path is None else item.path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}") from None
    text = decode(raw)
    kind = input_format(item, fmt, text)
    if kind == "txt":
        return [InputDoc(item.base_id, text, item.name)]
    if kind == "jsonl":
        docs = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                docs.append(InputDoc(f"{item.base_id}:{lineno}", "", item.name,
                                     f"line {lineno}: invalid JSON ({e.msg}, column {e.colno})"))
                continue
            docs.append(_doc_from_obj(obj, f"line {lineno}", f"{item.base_id}:{lineno}", text_key, item.name))
        return docs
    if kind == "tab":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
        if isinstance(data, dict) and text_key in data:
            data = [data]
        if not isinstance(data, list):
            raise InputError(f"expected a list of documents (TAB JSON), got {type(data).__name__}")
        return [_doc_from_obj(obj, f"document #{i}", f"{item.base_id}:{i}", text_key, item.name)
                for i, obj in enumerate(data)]
    raise InputError(f"cannot read {kind!r} from stdin" if item.path is None else f"unknown input format {kind!r}")


def count_documents(inputs: Sequence[Input], fmt: str) -> Optional[int]:
    """Cheap pre-count for the progress bar (None if stdin is among the inputs)."""
    total = 0
    for item in inputs:
        if item.path is None:
            return None
        if item.error:
            continue
        kind = input_format(item, fmt)
        try:
            if kind in ("txt", "docx", "html"):
                total += 1
            elif kind == "jsonl":
                with item.path.open("rb") as f:
                    total += sum(1 for line in f if line.strip())
            elif kind == "parquet":
                import pyarrow.parquet as pq

                total += pq.ParquetFile(item.path).metadata.num_rows
            else:
                data = json.loads(item.path.read_bytes())
                total += len(data) if isinstance(data, list) else 1
        except Exception:
            continue  # the real read reports the problem
    return total


class UniqueIds:
    """The one place document ids are made unique: the second "a" becomes "a#2"."""

    def __init__(self) -> None:
        self.seen: Dict[str, int] = {}
        self.renamed: List[Dict[str, str]] = []

    def __call__(self, doc: InputDoc) -> InputDoc:
        n = self.seen.get(doc.doc_id, 0) + 1
        self.seen[doc.doc_id] = n
        if n == 1:
            return doc
        new = f"{doc.doc_id}#{n}"
        while new in self.seen:
            n += 1
            new = f"{doc.doc_id}#{n}"
        self.seen[new] = 1
        self.renamed.append({"doc_id": doc.doc_id, "renamed_to": new, "source": doc.source})
        return replace(doc, doc_id=new)


def iter_documents(inputs: Sequence[Input], fmt: str, text_key: str, on_error, ids: UniqueIds,
                   options: DocumentOptions = DocumentOptions()) -> Iterator[InputDoc]:
    """Every document of every input with its ``at``, ids made unique (not those of documents
    with an ``error``: they are reported under the id they have); ``on_error(name, message,
    input_index)`` for a bad input, which is skipped."""
    for index, item in enumerate(inputs):
        try:
            docs = read_documents(item, fmt, text_key, options)
        except InputError as e:
            on_error(item.name, str(e), index)
            continue
        for position, doc in enumerate(docs):
            doc = replace(doc, at=(index, position))
            yield doc if doc.error else ids(doc)
