"""Build spaCy Docs from tokenized sentences with tags; shared by the JSONL and CoNLL converters.

A sentence is (tokens, tags, where); ``where`` names its file and line for errors.
Sentences are grouped ``n_sents`` to a Doc (never across a document boundary), with
sentence starts set; an empty sentence is kept as an empty Doc of its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, List, Optional, Sequence

from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

from legal_anon.corpus.tags import TagError, tags_to_spans
from legal_anon.corpus.report import ConversionError, ConversionReport

DOC_BOUNDARY = None  # yielded between documents (e.g. CoNLL's -DOCSTART-)


@dataclass
class Sentence:
    tokens: List[str]
    tags: List[str]
    where: str  # "file:line" for error messages
    lines: Optional[List[int]] = None  # each token's line (CoNLL: one token per line)

    def where_token(self, index: Optional[int]) -> str:
        """``where`` for the token at ``index``: its own line when known."""
        if index is None or not self.lines or not 0 <= index < len(self.lines):
            return self.where
        return f"{self.where.rsplit(':', 1)[0]}:{self.lines[index]}"


def check_sentence(sent: Sentence) -> None:
    if len(sent.tokens) != len(sent.tags):
        raise ConversionError(
            f"{sent.where}: {len(sent.tokens)} tokens but {len(sent.tags)} tags"
        )
    for tok in sent.tokens:
        if not isinstance(tok, str) or not tok or any(c.isspace() for c in tok):
            raise ConversionError(f"{sent.where}: invalid token {tok!r} (empty, not a string, or contains whitespace)")


def sentences_to_docs(
    vocab: Vocab,
    sentences: Iterable[Optional[Sentence]],
    report: ConversionReport,
    scheme: str = "auto",
    n_sents: int = 10,
) -> Iterator[Doc]:
    """Group sentences into Docs with entities; DOC_BOUNDARY items close a group."""
    if n_sents < 1:
        raise ValueError("n_sents must be at least 1")
    group: List[tuple] = []

    def flush() -> Iterator[Doc]:
        if not group:
            return
        words, ents, sent_starts = [], [], []
        for tokens, spans in group:
            offset = len(words)
            sent_starts.extend([True] + [False] * (len(tokens) - 1))
            words.extend(tokens)
            ents.extend((offset + s, offset + e, label) for s, e, label in spans)
        group.clear()
        yield _make_doc(vocab, words, sent_starts, ents, report)

    for sent in sentences:
        if sent is DOC_BOUNDARY:
            yield from flush()
            continue
        check_sentence(sent)
        report.notes["sentences"] = report.notes.get("sentences", 0) + 1
        try:
            spans, repairs = tags_to_spans(sent.tags, scheme=scheme)
        except TagError as e:
            raise ConversionError(f"{sent.where_token(e.index)}: {e}") from None
        report.repaired.update(repairs)
        for _, _, label in spans:
            report.mentions_in[label] += 1
        if not sent.tokens:
            report.notes["empty sequences (kept as empty docs)"] = (
                report.notes.get("empty sequences (kept as empty docs)", 0) + 1
            )
            yield from flush()
            yield _make_doc(vocab, [], [], [], report)
            continue
        group.append((sent.tokens, spans))
        if len(group) >= n_sents:
            yield from flush()
    yield from flush()


def _make_doc(vocab: Vocab, words: Sequence[str], sent_starts: Sequence[bool], ents, report: ConversionReport) -> Doc:
    spaces = [True] * len(words)
    if words:
        spaces[-1] = False
    doc = Doc(vocab, words=list(words), spaces=spaces, sent_starts=list(sent_starts) or None)
    doc.ents = [Span(doc, s, e, label=label) for s, e, label in ents]
    for ent in doc.ents:
        report.entities_out[ent.label_] += 1
    report.docs_out += 1
    report.tokens += len(doc)
    return doc
