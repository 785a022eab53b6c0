"""Convert token/tag JSONL (``{"tokens": [...], "ner_tags": [...]}`` per line) into a DocBin.

Tags are IOB1/IOB2/BIOES strings, or integers indexing a label list (``--labels``).
I- tags without their B- are repaired and counted; a length mismatch, an unknown tag or
invalid JSON stops the conversion with the file and line named; nothing is written then.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

import spacy
import typer
from spacy.tokens import Doc

from legal_anon.corpus.report import ConversionError, ConversionReport, finish_conversion, read_utf8, run_converter
from legal_anon.corpus.tokens import Sentence, sentences_to_docs


def parse_label_list(labels: Optional[str]) -> Optional[List[str]]:
    """A comma-separated list, or a file with one label per line or a JSON list."""
    if not labels:
        return None
    path = Path(labels)
    if path.exists():
        text = path.read_text(encoding="utf8").strip()
        if text.startswith("["):
            return [str(x) for x in json.loads(text)]
        return [line.strip() for line in text.splitlines() if line.strip()]
    return [x.strip() for x in labels.split(",")]


def read_jsonl(path: Path, label_list: Optional[Sequence[str]] = None) -> Iterator[Sentence]:
    path = Path(path)
    for lineno, line in enumerate(read_utf8(path).split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise ConversionError(f"{where}: invalid JSON ({e.msg}, column {e.colno})") from None
        if not isinstance(record, dict) or "tokens" not in record or "ner_tags" not in record:
            raise ConversionError(f"{where}: expected an object with 'tokens' and 'ner_tags'")
        tokens, tags = record["tokens"], record["ner_tags"]
        if not isinstance(tokens, list) or not isinstance(tags, list):
            raise ConversionError(f"{where}: 'tokens' and 'ner_tags' must be lists")
        yield Sentence(tokens=tokens, tags=[_tag_name(t, label_list, where) for t in tags], where=where)


def _tag_name(tag, label_list: Optional[Sequence[str]], where: str) -> str:
    if isinstance(tag, bool):
        raise ConversionError(f"{where}: tag {tag!r} is neither a string nor an integer")
    if isinstance(tag, int):
        if label_list is None:
            raise ConversionError(f"{where}: integer tag {tag} but no label list given (--labels)")
        if not 0 <= tag < len(label_list):
            raise ConversionError(f"{where}: integer tag {tag} outside the label list (0..{len(label_list) - 1})")
        return label_list[tag]
    if not isinstance(tag, str):
        raise ConversionError(f"{where}: tag {tag!r} is neither a string nor an integer")
    return tag


def convert_jsonl_file(
    input_path: Path, output_path: Optional[Path], scheme: str = "auto", n_sents: int = 1,
    labels: Optional[Sequence[str]] = None, lang: str = "en",
) -> Tuple[List[Doc], ConversionReport]:
    """Read and check everything before writing; the report must add up."""
    vocab = spacy.blank(lang).vocab
    report = ConversionReport(source=str(input_path), converter=f"token/tag JSONL (scheme={scheme})")
    sentences = list(read_jsonl(input_path, labels))
    report.documents_in = len(sentences)
    docs = list(sentences_to_docs(vocab, sentences, report, scheme=scheme, n_sents=n_sents))
    return finish_conversion(docs, report, output_path)


def main(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSONL file"),
    output_path: Path = typer.Argument(..., help="Output .spacy file"),
    scheme: str = typer.Option("auto", "--scheme", help="auto, iob1, iob2 or bioes"),
    n_sents: int = typer.Option(1, "--n-sents", "-n", help="Sentences per Doc"),
    labels: Optional[str] = typer.Option(None, "--labels", help="Label list for integer tags: comma-separated or a file"),
    report_json: Optional[Path] = typer.Option(None, "--report-json"),
):
    """Convert token/tag JSONL into a .spacy corpus and print the conversion report."""
    run_converter(lambda: convert_jsonl_file(input_path, output_path, scheme, n_sents, parse_label_list(labels)), report_json)
