"""Document sources for the batch command line: files, folders and stdin in, documents out.

Reads ``.txt`` (one document per file), ``.jsonl`` (one object per line with a ``text`` key
and an optional ``doc_id``/``id``), TAB JSON (a list of ``{doc_id, text, ...}``) and
Parquet (one row per document: a text column and an optional ``doc_id``/``id`` column);
folders are searched recursively; ``-`` reads stdin (format guessed). Every problem is an
``InputError`` that names the file and the line, byte or row; the caller reports it and
goes on with the other inputs. Document ids are made unique in one place
(``UniqueIds``: a repeated id becomes ``ID#2``, ``ID#3`` ... and is counted), so every
output of a run names a document the same way.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

INPUT_SUFFIXES = {".txt": "txt", ".text": "txt", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "tab",
                  ".parquet": "parquet"}
FORMATS = ("auto", "txt", "jsonl", "tab", "parquet")


class InputError(Exception):
    """An input that cannot be read as documents; the message says where and why."""


@dataclass
class InputDoc:
    doc_id: str
    text: str
    source: str


@dataclass
class Input:
    """One input: a file (``path``; ``root`` is the folder it was found in) or stdin."""

    name: str
    path: Optional[Path]
    root: Optional[Path] = None

    @property
    def base_id(self) -> str:
        if self.path is None:
            return "stdin"
        if self.root is not None:
            return str(self.path.relative_to(self.root).with_suffix(""))
        return self.path.stem


def expand_inputs(paths: Sequence[str]) -> List[Input]:
    """Files as given, folders searched recursively (hidden entries skipped), '-' = stdin."""
    out: List[Input] = []
    for p in paths:
        if p == "-":
            out.append(Input("<stdin>", None))
            continue
        path = Path(p)
        if path.is_dir():
            files = sorted(
                f for f in path.rglob("*")
                if f.is_file() and f.suffix.lower() in INPUT_SUFFIXES
                and not any(part.startswith(".") for part in f.relative_to(path).parts)
            )
            out.extend(Input(str(f), f, path) for f in files)
        else:
            out.append(Input(str(path), path))
    return out


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
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if text_key not in obj:
        raise InputError(f"{where}: no {text_key!r} key")
    if not isinstance(obj[text_key], str):
        raise InputError(f"{where}: {text_key!r} is not a string")
    doc_id = obj.get("doc_id", obj.get("id", default_id))
    return InputDoc(str(doc_id), obj[text_key], source)


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
        if not isinstance(text, str):
            raise InputError(f"row {row}: {text_key!r} is {type(text).__name__}, not a string")
        docs.append(InputDoc(str(doc_id) if doc_id is not None else f"{item.base_id}:{row}", text, item.name))
    return docs


def read_documents(item: Input, fmt: str = "auto", text_key: str = "text") -> List[InputDoc]:
    """All documents of one input; raises InputError for anything wrong with it."""
    if fmt not in FORMATS:
        raise InputError(f"unknown input format {fmt!r}; choose from {', '.join(FORMATS)}")
    if input_format(item, fmt) == "parquet" and item.path is not None:
        return read_parquet(item, text_key)
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
                raise InputError(f"line {lineno}: invalid JSON ({e.msg}, column {e.colno})") from None
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
        kind = input_format(item, fmt)
        try:
            if kind == "txt":
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
        return InputDoc(new, doc.text, doc.source)


def iter_documents(inputs: Sequence[Input], fmt: str, text_key: str, on_error, ids: UniqueIds) -> Iterator[InputDoc]:
    """Every document of every input, ids made unique; ``on_error(name, message)`` for a
    bad input, which is skipped."""
    for item in inputs:
        try:
            docs = read_documents(item, fmt, text_key)
        except InputError as e:
            on_error(item.name, str(e))
            continue
        for doc in docs:
            yield ids(doc)
