"""Engines: what runs the pipeline over documents and turns each into an ``AnonymizedRecord``.

The command line reads documents (``legal_anon.sources``), hands them to an engine and
gives the engine's records to the sinks (``legal_anon.sinks``). A record is plain data (no
Doc), so any engine produces the same outputs: ``LocalEngine`` runs ``nlp.pipe`` in this
process (``n_process`` for spaCy's multiprocessing, long documents split and rejoined by
``legal_anon.split_long``); the Ray engine (``legal_anon.engine_ray``) runs the same
``record_from_doc`` inside one actor per worker.

A document that is not processed (empty, or longer than ``max_chars``) becomes a
``DocumentError`` with the reason: recorded, never fatal. In the local engine an exception
inside the pipeline stops the run; the Ray engine isolates the document that raised.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from spacy.language import Language

from .sources import InputDoc


@dataclass
class AnonymizedRecord:
    """What the pipeline made of one document. ``original`` and the ``text`` of
    replacements and entities are kept for review outputs only; the default outputs
    drop them (``legal_anon.sinks``)."""

    doc_id: str
    source: str
    anonymized: str
    replacements: List[Dict[str, Any]]
    entities: List[Dict[str, Any]]
    words: int
    chars: int
    original: str = field(repr=False, default="")

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass
class DocumentError:
    doc_id: str
    source: str
    reason: str


Result = Union[AnonymizedRecord, DocumentError]


def record_from_doc(item: InputDoc, doc) -> AnonymizedRecord:
    """The record of a processed Doc (its anonymizer output and the NER's entities)."""
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
    )


def precheck(item: InputDoc, max_chars: Optional[int]) -> Optional[DocumentError]:
    """Why a document is not processed at all (None when it is fine)."""
    if not item.text.strip():
        return DocumentError(item.doc_id, item.source, "empty document (no text)")
    if max_chars is not None and len(item.text) > max_chars:
        return DocumentError(item.doc_id, item.source,
                             f"{len(item.text)} characters, over the limit of {max_chars} (--max-chars)")
    return None


class LocalEngine:
    """``nlp.pipe`` in this process; long documents split and rejoined."""

    name = "local"

    def __init__(self, nlp: Language, batch_size: int = 16, n_process: int = 1, max_length: Optional[int] = None,
                 max_chars: Optional[int] = None):
        self.nlp = nlp
        self.batch_size = batch_size
        self.n_process = n_process
        self.max_length = max_length
        self.max_chars = max_chars

    def run(self, items: Iterable[InputDoc]) -> Iterator[Result]:
        from .split_long import pipe_long

        errors: List[DocumentError] = []

        def good() -> Iterator[Tuple[str, InputDoc]]:
            for item in items:
                problem = precheck(item, self.max_chars)
                if problem is not None:
                    errors.append(problem)
                    continue
                yield item.text, item

        for doc, item in pipe_long(self.nlp, good(), as_tuples=True, batch_size=self.batch_size,
                                   n_process=self.n_process, max_length=self.max_length):
            while errors:
                yield errors.pop(0)
            yield record_from_doc(item, doc)
        yield from errors
