"""Whole-document masking scores of predicted docs against gold docs (``doc.ents`` = the
mentions that must be masked): seqeval typed P/R/F1 (``seqeval_scores``), token-level
masking recall and precision whatever the type, mention-level masking recall, and, given a
word-piece tokenizer, the token recall inside and past the first 512 pieces of each
document (what a 512-piece model never reads). Used by ``scripts/compare_transformer.py``
and ``scripts/baseline_hf_512.py``.
"""
from __future__ import annotations

from typing import Dict, List, Set

from spacy.tokens import Doc
from spacy.training import Example

from legal_anon.eval.seqeval_scorer import example_iob2, seqeval_scores

MAX_PIECES = 512


def _masked_tokens(ref: Doc, pred: Doc) -> Set[int]:
    """Reference-token indices covered by the predicted entities (projected by characters)."""
    out: Set[int] = set()
    for ent in pred.ents:
        span = ref.char_span(ent.start_char, ent.end_char, alignment_mode="expand")
        if span is not None:
            out.update(range(span.start, span.end))
    return out


def first_pieces_cut(ref: Doc, tokenizer, max_pieces: int = MAX_PIECES) -> Set[int]:
    """Indices of the tokens that a 512-piece truncation reads (non-space tokens only)."""
    idx = [t.i for t in ref if not t.is_space]
    enc = tokenizer([ref[i].text for i in idx], is_split_into_words=True, truncation=True, max_length=max_pieces)
    return {idx[w] for w in enc.word_ids() if w is not None}


def score_docs(gold_docs: List[Doc], pred_docs: List[Doc], tokenizer=None) -> Dict:
    y_true, y_pred = [], []
    tok = {"gold": 0, "hit": 0, "pred": 0, "pred_ok": 0}
    pos = {"inside": [0, 0], "past": [0, 0]}
    mentions = [0, 0]
    for ref, pred in zip(gold_docs, pred_docs):
        if ref.text != pred.text:
            raise ValueError("gold and predicted docs are not aligned (different texts)")
        g, p = example_iob2(Example(pred, ref))
        y_true.append(g)
        y_pred.append(p)
        gold_tok = {i for e in ref.ents for i in range(e.start, e.end) if not ref[i].is_space}
        pred_tok = {i for i in _masked_tokens(ref, pred) if not ref[i].is_space}
        tok["gold"] += len(gold_tok)
        tok["hit"] += len(gold_tok & pred_tok)
        tok["pred"] += len(pred_tok)
        tok["pred_ok"] += len(pred_tok & gold_tok)
        for e in ref.ents:
            mentions[0] += 1
            mentions[1] += all(i in pred_tok for i in range(e.start, e.end) if not ref[i].is_space)
        if tokenizer is not None:
            read = first_pieces_cut(ref, tokenizer)
            for i in gold_tok:
                key = "inside" if i in read else "past"
                pos[key][0] += 1
                pos[key][1] += i in pred_tok
    seq = seqeval_scores(y_true, y_pred)
    out = {
        "seqeval": {"p": seq["seqeval_p"], "r": seq["seqeval_r"], "f": seq["seqeval_f"],
                    "per_type": seq["seqeval_per_type"]},
        "token": {"recall": tok["hit"] / max(1, tok["gold"]), "precision": tok["pred_ok"] / max(1, tok["pred"]),
                  "gold_tokens": tok["gold"]},
        "mention_recall": mentions[1] / max(1, mentions[0]),
        "mentions": mentions[0],
    }
    if tokenizer is not None:
        out["token"]["recall_first_512"] = pos["inside"][1] / max(1, pos["inside"][0])
        out["token"]["recall_past_512"] = pos["past"][1] / max(1, pos["past"][0])
        out["token"]["gold_tokens_first_512"] = pos["inside"][0]
        out["token"]["gold_tokens_past_512"] = pos["past"][0]
    return out
