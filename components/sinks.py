"""Where the command line writes: anonymized outputs, review material apart, errors recorded.

Default outputs (``-o OUT``, formats chosen with ``-f``) hold anonymized material only:

  text     OUT/text/<name>.txt            the anonymized text
  json     OUT/spans.jsonl                per document: the anonymized text, the NER's entities
                                          and the replacements as offsets and labels (no
                                          original text)
  tab      OUT/tab_predictions.json       TAB's system-output format {doc_id: [[start, end], ...]}
  html     OUT/html/<name>.html + index   the anonymized text with its replacements highlighted
  parquet  OUT/anonymized.parquet         one row per document: doc_id, source, anonymized,
                                          replacements (JSON, no original text)

  OUT/errors.jsonl                        every input or document that was not processed, with
                                          the reason (written when there is one)

Review material, which shows the original identifiers, is written only when asked for
(``--review-dir DIR``, which must lie outside OUT) into DIR: ``html/<name>.html`` (the
original with the masked spans highlighted, under a warning banner) and
``spans_with_text.jsonl`` (replacements and entities with their original text).

``<name>`` is the document id percent-encoded (``a/b`` -> ``a%2Fb``): one id, one file name.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, TextIO
from urllib.parse import quote

from .engine import AnonymizedRecord, DocumentError
from .html_pages import REVIEW_WARNING, anonymized_body, anonymized_page, index_page, page, review_page

FORMATS = ("text", "json", "tab", "html", "parquet")
ORIGINAL_TEXT_KEYS = ("text",)


def file_name(doc_id: str) -> str:
    """A file name for a document id: percent-encoded (injective), long ids shortened with a hash."""
    name = quote(doc_id, safe="-_.")
    if name.startswith("."):
        name = "%2E" + name[1:]
    if len(name) > 150:
        name = name[:130] + "~" + hashlib.sha256(doc_id.encode("utf8")).hexdigest()[:16]
    return name or "%00"


def public_replacements(record: AnonymizedRecord) -> List[Dict]:
    """Replacements without the original text they replaced."""
    return [{k: v for k, v in r.items() if k not in ORIGINAL_TEXT_KEYS} for r in record.replacements]


def public_record(record: AnonymizedRecord) -> Dict:
    """What spans.jsonl and the Parquet output say about a document: nothing original."""
    return {
        "doc_id": record.doc_id,
        "source": record.source,
        "anonymized": record.anonymized,
        "entities": [{k: v for k, v in e.items() if k not in ORIGINAL_TEXT_KEYS} for e in record.entities],
        "replacements": public_replacements(record),
    }


class Outputs:
    """Writes the records of one run to OUT (or the first format to stdout)."""

    def __init__(self, out_dir: Optional[Path], formats: Sequence[str], review_dir: Optional[Path] = None,
                 stdout: Optional[TextIO] = None):
        bad = [f for f in formats if f not in FORMATS]
        if bad or not formats:
            raise ValueError(f"unknown output format(s) {bad}; choose from {', '.join(FORMATS)}")
        if review_dir is not None and out_dir is not None:
            out, rev = out_dir.resolve(), review_dir.resolve()
            if rev == out or out in rev.parents:
                raise ValueError(f"--review-dir {review_dir} must lie outside the output folder {out_dir}: "
                                 "review material shows the original identifiers")
        self.out_dir = out_dir
        self.formats = list(formats)
        self.review_dir = review_dir
        self.stdout = stdout or sys.stdout
        self.tab: Dict[str, List[List[int]]] = {}
        self.index: List[tuple] = []
        self.review_index: List[tuple] = []
        self.rows: List[Dict] = []
        self.n_errors = 0
        self._stdout_parts: List[str] = []
        self._files: Dict[str, TextIO] = {}
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            for fmt in ("text", "html"):
                if fmt in self.formats:
                    (out_dir / fmt).mkdir(exist_ok=True)
            if "json" in self.formats:
                self._files["json"] = (out_dir / "spans.jsonl").open("w", encoding="utf8")
        if review_dir is not None:
            (review_dir / "html").mkdir(parents=True, exist_ok=True)
            self._files["review"] = (review_dir / "spans_with_text.jsonl").open("w", encoding="utf8")

    # ------------------------------------------------------------------ per document
    def write(self, record: AnonymizedRecord) -> None:
        self.tab[record.doc_id] = [[r["start"], r["end"]] for r in record.replacements]
        if self.review_dir is not None:
            self._review(record)
        if self.out_dir is None:
            self._to_stdout(record)
            return
        name = file_name(record.doc_id)
        if "text" in self.formats:
            (self.out_dir / "text" / f"{name}.txt").write_text(record.anonymized, encoding="utf8")
        if "json" in self.formats:
            self._files["json"].write(json.dumps(public_record(record), ensure_ascii=False) + "\n")
        if "html" in self.formats:
            page_ = anonymized_page(record.doc_id, record.anonymized, record.replacements)
            (self.out_dir / "html" / f"{name}.html").write_text(page_, encoding="utf8")
            self.index.append((record.doc_id, f"{name}.html"))
        if "parquet" in self.formats:
            row = public_record(record)
            row["replacements"] = json.dumps(row["replacements"], ensure_ascii=False)
            row["entities"] = json.dumps(row["entities"], ensure_ascii=False)
            self.rows.append(row)

    def error(self, problem: DocumentError) -> None:
        """An input or document not processed: one line in OUT/errors.jsonl."""
        self.n_errors += 1
        if self.out_dir is None:
            return
        if "errors" not in self._files:
            self._files["errors"] = (self.out_dir / "errors.jsonl").open("w", encoding="utf8")
        self._files["errors"].write(json.dumps({"doc_id": problem.doc_id, "source": problem.source,
                                                "reason": problem.reason}, ensure_ascii=False) + "\n")

    def _review(self, record: AnonymizedRecord) -> None:
        name = file_name(record.doc_id)
        page_ = review_page(record.doc_id, record.original, record.anonymized, record.replacements)
        (self.review_dir / "html" / f"{name}.html").write_text(page_, encoding="utf8")
        self.review_index.append((record.doc_id, f"{name}.html"))
        data = {"doc_id": record.doc_id, "source": record.source, "entities": record.entities,
                "replacements": record.replacements}
        self._files["review"].write(json.dumps(data, ensure_ascii=False) + "\n")

    def _to_stdout(self, record: AnonymizedRecord) -> None:
        fmt = self.formats[0]
        if fmt == "text":
            self.stdout.write(record.anonymized if record.anonymized.endswith("\n") else record.anonymized + "\n")
        elif fmt == "json":
            self.stdout.write(json.dumps(public_record(record), ensure_ascii=False) + "\n")
        elif fmt == "html":
            self._stdout_parts.append(anonymized_body(record.doc_id, record.anonymized, record.replacements))
        elif fmt == "parquet":
            raise ValueError("the parquet format needs an output folder (-o)")
        self.stdout.flush()

    # ------------------------------------------------------------------ end of run
    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files = {}
        if self.review_dir is not None:
            (self.review_dir / "html" / "index.html").write_text(
                index_page("legal_anon review material", self.review_index, REVIEW_WARNING), encoding="utf8")
            (self.review_dir / "README.txt").write_text(REVIEW_WARNING + "\n", encoding="utf8")
        if self.out_dir is None:
            if self.formats[0] == "tab":
                self.stdout.write(json.dumps(self.tab, ensure_ascii=False) + "\n")
            elif self.formats[0] == "html":
                self.stdout.write(page("legal_anon", "<hr>".join(self._stdout_parts)) + "\n")
            self.stdout.flush()
            return
        if "tab" in self.formats:
            (self.out_dir / "tab_predictions.json").write_text(json.dumps(self.tab, ensure_ascii=False), encoding="utf8")
        if "html" in self.formats:
            (self.out_dir / "html" / "index.html").write_text(
                index_page("Anonymized documents", self.index), encoding="utf8")
        if "parquet" in self.formats:
            write_parquet(self.rows, self.out_dir / "anonymized.parquet")


def write_parquet(rows: List[Dict], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = ("doc_id", "source", "anonymized", "entities", "replacements")
    table = pa.table({c: [r[c] for r in rows] for c in columns},
                     schema=pa.schema([(c, pa.string()) for c in columns]))
    pq.write_table(table, path)
