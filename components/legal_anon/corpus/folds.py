"""K-fold splits of a training corpus by judgment, for cross-fitted predictions.

A model scored on the documents it was trained on is over-confident there, so anything
learnt from its predictions (the masking decision of ``legal_anon.eval.mention_decision``)
must see predictions on documents the model never saw. This splits a ``.spacy`` corpus
into K folds *by doc_id* (a judgment annotated twice is two docs with one id, and both go
to the same fold) and writes, per fold, the corpus without it: the training set of the
model that will predict that fold.

    python -m legal_anon.corpus.folds corpus/train_teacher.spacy corpus/folds --k 5 --seed 0

writes ``fold{i}_train.spacy`` for i < K and ``folds.json`` (the doc_ids of each fold).
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Dict, List

import typer

from legal_anon.corpus.tab import DOC_ID_KEY
from legal_anon.io.atomic import write_atomic


def split_ids(doc_ids: List[str], k: int, seed: int) -> List[List[str]]:
    """The distinct ids shuffled with ``seed`` and dealt into ``k`` folds (sizes differ by at most one)."""
    unique = sorted(set(doc_ids))
    if k < 2:
        raise ValueError(f"--k must be at least 2, got {k}")
    if len(unique) < k:
        raise ValueError(f"{len(unique)} distinct doc_ids cannot fill {k} folds")
    random.Random(seed).shuffle(unique)
    return [sorted(unique[i::k]) for i in range(k)]


def write_folds(in_path: Path, out_dir: Path, k: int, seed: int) -> Dict[str, object]:
    """Write the per-fold training corpora and folds.json; returns the report's counts."""
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    docs = list(DocBin(store_user_data=True).from_disk(in_path).get_docs(nlp.vocab))
    missing = [i for i, d in enumerate(docs) if not d.user_data.get(DOC_ID_KEY)]
    if missing:
        raise ValueError(f"{in_path}: doc #{missing[0]} (and {len(missing) - 1} more) has no "
                         f"user_data[{DOC_ID_KEY!r}]; convert the corpus with legal_anon.corpus.convert_tab")
    folds = split_ids([d.user_data[DOC_ID_KEY] for d in docs], k, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    fold_of = {doc_id: i for i, ids in enumerate(folds) for doc_id in ids}
    sizes = []
    for i in range(k):
        kept = DocBin(store_user_data=True)
        for d in docs:
            if fold_of[d.user_data[DOC_ID_KEY]] != i:
                kept.add(d)
        write_atomic(out_dir / f"fold{i}_train.spacy", kept.to_bytes())
        sizes.append({"fold": i, "heldout_ids": len(folds[i]), "heldout_docs": len(docs) - len(kept),
                      "train_docs": len(kept)})
    write_atomic(out_dir / "folds.json", json.dumps({"source": str(in_path), "k": k, "seed": seed,
                                                     "folds": folds}, indent=1) + "\n")
    return {"docs": len(docs), "doc_ids": sum(len(f) for f in folds), "folds": sizes}


def main(
    in_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Training corpus (.spacy, with doc_ids)"),
    out_dir: Path = typer.Argument(..., file_okay=False, help="Folder for fold{i}_train.spacy and folds.json"),
    k: int = typer.Option(5, "--k", help="Number of folds"),
    seed: int = typer.Option(0, "--seed", help="Shuffling seed of the split"),
):
    """Split a training corpus into K folds by judgment (for cross-fitted predictions)."""
    report = write_folds(in_path, out_dir, k, seed)
    typer.echo(f"{in_path}: {report['docs']} docs, {report['doc_ids']} judgments in {k} folds")
    for f in report["folds"]:
        typer.echo(f"  fold {f['fold']}: {f['heldout_ids']} judgments ({f['heldout_docs']} docs) held out, "
                   f"{f['train_docs']} docs to train on")
    held = sum(f["heldout_docs"] for f in report["folds"])
    typer.echo(f"  total held out {held} docs = {report['docs']} docs")


if __name__ == "__main__":
    typer.run(main)
