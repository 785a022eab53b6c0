"""Convert CoNLL column files (token first, NER tag last) into a DocBin.

Reads CoNLL-2003 (4 columns, IOB1 tags, ``-DOCSTART-`` lines) and MultiCoNER
(``# id ...`` header lines, ``token _ _ tag``). Sentences are grouped ``--n-sents`` to a
Doc, never across ``-DOCSTART-``. spaCy's own ``spacy convert -c ner`` reads CoNLL-2003
too, but neither MultiCoNER's header lines nor a per-reason report; the test suite
checks that both give the same entities on CoNLL-2003.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import spacy
import typer
from spacy.tokens import Doc

from legal_anon.corpus.report import ConversionError, ConversionReport, finish_conversion, read_utf8, run_converter
from legal_anon.corpus.tokens import DOC_BOUNDARY, Sentence, sentences_to_docs


def read_conll(path: Path) -> Iterator[Optional[Sentence]]:
    """Yield Sentences, and DOC_BOUNDARY at each -DOCSTART- line."""
    path = Path(path)
    tokens: List[str] = []
    tags: List[str] = []
    lines: List[int] = []
    start_line = 1

    def sentence() -> Sentence:
        return Sentence(tokens=list(tokens), tags=list(tags), where=f"{path}:{start_line}", lines=list(lines))

    for lineno, raw in enumerate(read_utf8(path).split("\n"), start=1):
        line = raw.strip()
        if line.startswith("-DOCSTART-") or line.startswith("# id") or not line:
            if tokens:
                yield sentence()
                tokens.clear()
                tags.clear()
                lines.clear()
            if line.startswith("-DOCSTART-"):
                yield DOC_BOUNDARY
            start_line = lineno + 1
            continue
        cols = line.split()
        if len(cols) < 2:
            raise ConversionError(f"{path}:{lineno}: expected at least 2 columns (token ... tag), got {line!r}")
        tokens.append(cols[0])
        tags.append(cols[-1])
        lines.append(lineno)
    if tokens:
        yield sentence()


def convert_conll_file(
    input_path: Path, output_path: Optional[Path], scheme: str = "auto", n_sents: int = 10, lang: str = "en",
) -> Tuple[List[Doc], ConversionReport]:
    vocab = spacy.blank(lang).vocab
    report = ConversionReport(source=str(input_path), converter=f"CoNLL columns (scheme={scheme})")
    items = list(read_conll(input_path))
    report.documents_in = sum(1 for s in items if s is DOC_BOUNDARY) or 1
    docs = list(sentences_to_docs(vocab, items, report, scheme=scheme, n_sents=n_sents))
    return finish_conversion(docs, report, output_path)


def main(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="CoNLL file"),
    output_path: Path = typer.Argument(..., help="Output .spacy file"),
    scheme: str = typer.Option("auto", "--scheme", help="auto, iob1 (CoNLL-2003 original), iob2 or bioes"),
    n_sents: int = typer.Option(10, "--n-sents", "-n", help="Sentences per Doc"),
    report_json: Optional[Path] = typer.Option(None, "--report-json"),
):
    """Convert a CoNLL column file into a .spacy corpus and print the conversion report."""
    run_converter(lambda: convert_conll_file(input_path, output_path, scheme, n_sents), report_json)
