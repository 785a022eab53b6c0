"""Train domain word vectors with gensim Word2Vec on the texts of .spacy corpora.

Legal judgments use words GloVe (Wikipedia + Gigaword) rarely sees ("Government's",
"Article", case numbers' context); vectors trained on the training texts themselves give
the BiLSTM-CRF an in-domain starting point. The output is a gensim ``KeyedVectors`` file
that ``scripts.init_vectors`` turns into the spaCy vectors table:

    python -m scripts.train_domain_vectors corpus/train.spacy --output training/vectors/domain.kv --size 50
    python -m scripts.init_vectors training/vectors/domain.kv training/vectors/domain --max-rows 50000

Words are lowercased (as the GloVe lookup: ``lowercase_vectors = true``) and whitespace
tokens skipped; each sentence-like segment (a doc's sentences, or the doc) is one
Word2Vec sentence. Deterministic for a fixed ``--seed`` with ``--workers 1``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, List, Sequence

import typer


def corpus_sentences(paths: Sequence[Path], lowercase: bool = True) -> List[List[str]]:
    """Token lists of the corpora's sentences (or whole docs without sentence starts)."""
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    sentences: List[List[str]] = []
    for path in paths:
        if not Path(path).exists():
            raise FileNotFoundError(f"{path}: corpus not found")
        for doc in DocBin().from_disk(path).get_docs(nlp.vocab):
            spans: Iterator = doc.sents if doc.has_annotation("SENT_START") else iter([doc[:]])
            for span in spans:
                words = [(t.lower_ if lowercase else t.text) for t in span if not t.is_space]
                if words:
                    sentences.append(words)
    return sentences


def train_word2vec(sentences: List[List[str]], size: int, window: int, min_count: int, epochs: int, seed: int, workers: int):
    from gensim.models import Word2Vec

    if not sentences:
        raise ValueError("no tokens to train on")
    model = Word2Vec(
        sentences=sentences, vector_size=size, window=window, min_count=min_count,
        sg=1, epochs=epochs, seed=seed, workers=workers,
    )
    return model.wv


def main(
    corpora: List[Path] = typer.Argument(..., help=".spacy corpora whose texts to train on"),
    output: Path = typer.Option(..., "--output", "-o", help="gensim KeyedVectors file to write (.kv)"),
    size: int = typer.Option(50, help="vector width"),
    window: int = typer.Option(5, help="Word2Vec context window"),
    min_count: int = typer.Option(2, help="ignore rarer words"),
    epochs: int = typer.Option(10, help="passes over the texts"),
    seed: int = typer.Option(0),
    workers: int = typer.Option(1, help="threads (1 = deterministic)"),
    lowercase: bool = typer.Option(True),
) -> None:
    sentences = corpus_sentences(corpora, lowercase=lowercase)
    n_tokens = sum(len(s) for s in sentences)
    wv = train_word2vec(sentences, size, window, min_count, epochs, seed, workers)
    output.parent.mkdir(parents=True, exist_ok=True)
    wv.save(str(output))
    typer.echo(f"{len(sentences)} sentences, {n_tokens} tokens -> {len(wv.index_to_key)} words x {wv.vector_size}; saved {output}")


if __name__ == "__main__":
    typer.run(main)
