"""What every converter prints: documents, tokens, mentions in, entities out, and why the rest is not.

Each input mention gets exactly one outcome: an entity in ``doc.ents``, or a reason in
``not_entities``. ``check()`` refuses a report whose totals do not add up.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from spacy.tokens import Doc, DocBin
from wasabi import msg

from legal_anon.io.atomic import write_atomic  # the project's one atomic writer (converters and outputs)


class ConversionError(ValueError):
    """Malformed input: the message names the file and the line or document."""


def read_utf8(path: Path) -> str:
    """The file's text; a ConversionError naming the file, the byte and its line if it is
    not UTF-8 (a BOM is dropped)."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ConversionError(
            f"{path}: not UTF-8 text: byte {e.start} (line {line}) is {raw[e.start:e.start + 1]!r}; "
            "convert the file to UTF-8 first (e.g. iconv -f latin1 -t utf-8)") from None
    return text[1:] if text.startswith("\ufeff") else text


@dataclass
class ConversionReport:
    source: str
    converter: str
    documents_in: int = 0
    docs_out: int = 0
    tokens: int = 0
    mentions_in: Counter = field(default_factory=Counter)
    entities_out: Counter = field(default_factory=Counter)
    not_entities: Counter = field(default_factory=Counter)
    repaired: Counter = field(default_factory=Counter)
    notes: Dict[str, int] = field(default_factory=dict)

    def check(self) -> None:
        """Every mention in is accounted for: an entity out, or a counted reason."""
        n_in = sum(self.mentions_in.values())
        n_out = sum(self.entities_out.values()) + sum(self.not_entities.values())
        if n_in != n_out:
            raise AssertionError(
                f"{self.source}: report does not add up: {n_in} mentions in, but "
                f"{sum(self.entities_out.values())} entities out + "
                f"{sum(self.not_entities.values())} accounted otherwise = {n_out}"
            )

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "converter": self.converter,
            "documents_in": self.documents_in,
            "docs_out": self.docs_out,
            "tokens": self.tokens,
            "mentions_in": dict(self.mentions_in),
            "mentions_in_total": sum(self.mentions_in.values()),
            "entities_out": dict(self.entities_out),
            "entities_out_total": sum(self.entities_out.values()),
            "not_entities": dict(self.not_entities),
            "repaired": dict(self.repaired),
            **self.notes,
        }

    def print(self) -> None:
        self.check()
        msg.divider(f"{self.converter}: {self.source}")
        rows = [
            ("documents in", self.documents_in),
            ("docs out", self.docs_out),
            ("tokens", self.tokens),
            *[(f"note: {k}", v) for k, v in self.notes.items()],
        ]
        msg.table(rows, widths=(max(len(str(k)) for k, _ in rows), 8))
        _counter_table("mentions in", self.mentions_in)
        _counter_table("entities out (doc.ents)", self.entities_out)
        _counter_table("mentions not in doc.ents, by reason", self.not_entities)
        _counter_table("repaired (still converted), by reason", self.repaired)
        n_in = sum(self.mentions_in.values())
        msg.good(
            f"{n_in} mentions in = {sum(self.entities_out.values())} entities out + "
            f"{sum(self.not_entities.values())} accounted for by reason"
        )

    def save(self, path: Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(Path(path), json.dumps(self.to_dict(), indent=2).encode("utf8"))


def _counter_table(title: str, counter: Counter) -> None:
    if not counter:
        msg.text(f"{title}: none")
        return
    rows = sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))
    rows.append(("total", sum(counter.values())))
    msg.table(rows, header=(title, "n"), divider=True, widths=(max(len(title), *(len(str(k)) for k, _ in rows)), 7))


def write_docbin(docs: Iterable[Doc], path: Path) -> int:
    """Serialize docs (with span groups and user data) to a .spacy file, atomically."""
    db = DocBin(store_user_data=True)
    n = 0
    for doc in docs:
        db.add(doc)
        n += 1
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(Path(path), db.to_bytes())
    return n


def finish_conversion(docs: List[Doc], report: ConversionReport, output_path: Optional[Path]
                      ) -> Tuple[List[Doc], ConversionReport]:
    """Every converter's last step: the report must add up before anything is written."""
    report.check()
    if output_path is not None:
        write_docbin(docs, output_path)
    return docs, report


def run_converter(convert: Callable[[], Tuple[List[Doc], ConversionReport]], report_json: Optional[Path]) -> None:
    """Every converter's command line: convert, print the report (and save it as JSON), or
    exit 1 with the error that names the file and line or document."""
    import typer

    try:
        _, report = convert()
    except ConversionError as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(1)
    report.print()
    if report_json:
        report.save(report_json)
