"""BIOES-constrained linear-chain CRF (pytorch-crf) and the sequence batching the CRF taggers share.

Two taggers use it: the Char-CNN + BiLSTM + CRF (``legal_anon.CharCNNBiLSTMCRF.v1``) and
the CRF output layer over any token-vector model, e.g. the transformer listener
(``legal_anon.Tok2VecCRF.v1``). Both cut docs into sentences or windows, group them by
length into padded sub-batches of bounded size, train with the CRF negative
log-likelihood and decode with Viterbi restricted to valid BIOES sequences.
"""
from __future__ import annotations

import contextlib
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from spacy.attrs import IS_LOWER, LIKE_NUM, ORTH
from spacy.strings import hash_string
from spacy.tokens import Doc
from thinc.api import ArgsKwargs
from thinc.shims import PyTorchShim
from thinc.util import torch2xp, xp2torch
from torchcrf import CRF

IMPOSSIBLE = -10000.0


# --------------------------------------------------------------------------- tag scheme


def bioes_tags(labels: Sequence[str]) -> List[str]:
    """Tag inventory for entity labels: 'O' first, then B/I/E/S for each label in order."""
    tags = ["O"]
    for label in labels:
        tags.extend(f"{p}-{label}" for p in "BIES")
    return tags


def allowed_transitions(tags: Sequence[str]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean (start[K], trans[K, K], end[K]) of what BIOES allows."""
    parsed = [(t, None) if t == "O" else (t[0], t[2:]) for t in tags]
    n = len(tags)
    start = np.zeros(n, dtype=bool)
    end = np.zeros(n, dtype=bool)
    trans = np.zeros((n, n), dtype=bool)
    for j, (pj, lj) in enumerate(parsed):
        start[j] = pj in ("O", "B", "S")
        end[j] = pj in ("O", "E", "S")
        for i, (pi, li) in enumerate(parsed):
            if pi in ("O", "E", "S"):
                trans[i, j] = pj in ("O", "B", "S")
            else:  # B or I: must continue the same entity
                trans[i, j] = pj in ("I", "E") and lj == li
    return start, trans, end


def is_valid_bioes(tag_seq: Sequence[str]) -> bool:
    """True if the tag sequence is a well-formed BIOES sequence."""
    if not tag_seq:
        return True
    full = bioes_tags(sorted({t[2:] for t in tag_seq if t != "O"}))
    start, trans, end = allowed_transitions(full)
    ids = [full.index(t) for t in tag_seq]
    if not start[ids[0]] or not end[ids[-1]]:
        return False
    return all(trans[a, b] for a, b in zip(ids, ids[1:]))


# --------------------------------------------------------------------------- CRF


class ConstrainedCRF(CRF):
    """pytorch-crf's CRF with the transitions BIOES forbids pinned to -10000.

    ``O -> I-X``, ``B-X -> O``, ``B-X -> I-Y``, start ``-> I/E``, ``B/I ->`` end, ... are
    re-pinned before every use, so neither the likelihood nor Viterbi can use them.
    The parameter names are pytorch-crf's (``start_transitions``, ``transitions``,
    ``end_transitions``); the masks are non-persistent buffers rebuilt from the tags.
    """

    def __init__(self, tags: Sequence[str]):
        super().__init__(len(tags), batch_first=True)
        start, trans, end = allowed_transitions(tags)
        self.register_buffer("bad_start", torch.from_numpy(~start), persistent=False)
        self.register_buffer("bad_trans", torch.from_numpy(~trans), persistent=False)
        self.register_buffer("bad_end", torch.from_numpy(~end), persistent=False)
        self.constrain()

    @torch.no_grad()
    def constrain(self) -> None:
        """Pin transitions that BIOES forbids to a large negative score."""
        self.start_transitions.masked_fill_(self.bad_start, IMPOSSIBLE)
        self.transitions.masked_fill_(self.bad_trans, IMPOSSIBLE)
        self.end_transitions.masked_fill_(self.bad_end, IMPOSSIBLE)

    def _compute_normalizer(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Log-partition per sequence ([T, B, K] emissions, seq-first as pytorch-crf calls it).

        The same forward algorithm as pytorch-crf's, computed with one [B, K] x [K, K]
        matrix product in exp space per step (float64, rescaled by the running maximum)
        instead of a log-sum-exp over a [B, K, K] tensor: with many tags (MultiCoNER's 33
        types = 133 BIOES tags) that log-sum-exp dominated training time. Forbidden
        transitions (-10000) become exact zeros. Tested against pytorch-crf's values and
        gradients in tests/test_crf.py."""
        seq_length = emissions.size(0)
        em = emissions.to(torch.float64)
        trans = self.transitions.to(torch.float64)
        trans_max = trans.max()
        exp_trans = torch.exp(trans - trans_max)
        score = self.start_transitions.to(torch.float64) + em[0]
        for i in range(1, seq_length):
            top = score.max(dim=1, keepdim=True).values
            total = torch.exp(score - top) @ exp_trans
            nxt = torch.log(total.clamp_min(1e-300)) + top + trans_max + em[i]
            score = torch.where(mask[i].unsqueeze(1).bool(), nxt, score)
        score = score + self.end_transitions.to(torch.float64)
        return torch.logsumexp(score, dim=1).to(emissions.dtype)

    def marginals(self, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Token marginals P(tag_t = k | sentence): [B, T, K], rows summing to 1 (0 at padding).

        Forward-backward over the same constrained transitions as Viterbi and the
        likelihood (forbidden ones are exact zeros), in exp space with the running maximum
        factored out, float64: the forward pass is ``_compute_normalizer``'s recursion,
        the backward pass its mirror image. ``mask`` is right-padded."""
        self.constrain()
        B, T, K = scores.shape
        em = scores.to(torch.float64)
        trans = self.transitions.to(torch.float64)
        trans_max = trans.max()
        exp_trans = torch.exp(trans - trans_max)
        lengths = mask.long().sum(dim=1)
        alpha = torch.empty((B, T, K), dtype=torch.float64, device=scores.device)
        alpha[:, 0] = self.start_transitions.to(torch.float64) + em[:, 0]
        for t in range(1, T):
            prev = alpha[:, t - 1]
            top = prev.max(dim=1, keepdim=True).values
            total = torch.exp(prev - top) @ exp_trans
            alpha[:, t] = torch.log(total.clamp_min(1e-300)) + top + trans_max + em[:, t]
        beta = torch.empty((B, T, K), dtype=torch.float64, device=scores.device)
        end = self.end_transitions.to(torch.float64).expand(B, K)
        beta[:, T - 1] = end
        for t in range(T - 2, -1, -1):
            nxt = beta[:, t + 1] + em[:, t + 1]
            top = nxt.max(dim=1, keepdim=True).values
            total = torch.exp(nxt - top) @ exp_trans.T
            inner = torch.log(total.clamp_min(1e-300)) + top + trans_max
            beta[:, t] = torch.where((lengths - 1 == t).unsqueeze(1), end, inner)
        last = alpha[torch.arange(B, device=scores.device), (lengths - 1).clamp_min(0)]
        log_z = torch.logsumexp(last + end, dim=1)
        probs = torch.exp(alpha + beta - log_z[:, None, None])
        return (probs * mask.unsqueeze(2)).to(torch.float32)

    def decode_or_loss(self, scores, mask, gold=None, norm: float = 1.0, marginals: bool = False):
        """What the taggers' torch modules return: the loss when ``gold`` is given, else the
        Viterbi tag ids, or (tag ids, marginals) when ``marginals`` is set."""
        if gold is not None:
            return self.nll(scores, gold, mask, norm)
        if marginals:
            return self.viterbi(scores, mask), self.marginals(scores, mask)
        return self.viterbi(scores, mask)

    def nll(self, scores: torch.Tensor, gold: torch.Tensor, mask: torch.Tensor, norm: float) -> torch.Tensor:
        """Summed negative log-likelihood of the gold tags, divided by ``norm``."""
        self.constrain()
        return -self(scores, gold, mask=mask, reduction="sum") / norm

    def viterbi(self, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Batched Viterbi decoding: [B, T] tag ids (0 at padding)."""
        self.constrain()
        B, T, K = scores.shape
        score = self.start_transitions + scores[:, 0]
        history = []
        trans = self.transitions.unsqueeze(0)
        for t in range(1, T):
            nxt, idx = (score.unsqueeze(2) + trans).max(dim=1)
            nxt = nxt + scores[:, t]
            score = torch.where(mask[:, t].unsqueeze(1), nxt, score)
            history.append(idx)
        score = score + self.end_transitions
        last = score.argmax(dim=1)
        lengths = mask.long().sum(dim=1)
        out = torch.zeros((B, T), dtype=torch.long, device=scores.device)
        cur = last
        for t in range(T - 1, -1, -1):
            cur = torch.where(lengths - 1 == t, last, cur)
            out[:, t] = cur
            if t > 0:
                prev = history[t - 1].gather(1, cur.unsqueeze(1)).squeeze(1)
                cur = torch.where(lengths - 1 >= t, prev, cur)
        return out


# --------------------------------------------------------------------------- outputs


class CRFOutput(NamedTuple):
    """What the CRF taggers predict for a batch of docs: BIOES tag ids per doc, and with
    ``model.attrs["marginals"]`` the token marginals per doc ([n_tokens, n_tags])."""

    tags: List[np.ndarray]
    probs: Optional[List[np.ndarray]] = None


def split_by_doc(flat: np.ndarray, lengths: Sequence[int]) -> List[np.ndarray]:
    """Cut a flat per-token array back into one array per doc."""
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return [flat[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]


# --------------------------------------------------------------------------- batching

_SENT_END = (".", "!", "?")


def segments(doc: Doc, window: int) -> np.ndarray:
    """(start, end) token offsets of sentences, each at most `window` tokens long.

    Sentences come from the doc's sentence starts when it has them (a parser/senter ran
    or the doc was built with sent_starts), otherwise a token "." "!" or "?" ends one (the
    same rule in training and prediction, vectorised over token attributes) unless the
    next token is a number or a lowercase word; longer stretches are cut into windows of
    `window` tokens."""
    n = len(doc)
    if n == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if doc.has_annotation("SENT_START"):
        starts = np.flatnonzero(doc.to_array("SENT_START").astype(np.int64) == 1)
    else:
        feats = doc.to_array([ORTH, IS_LOWER, LIKE_NUM]).astype(np.uint64)
        ends_at = np.isin(feats[:, 0], np.asarray([hash_string(p) for p in _SENT_END], dtype=np.uint64))
        # "Prison No. 10", "no. 49", "e.g. the": a number or lowercase word goes on the sentence
        continues = (feats[1:, 1] == 1) | (feats[1:, 2] == 1)
        starts = np.flatnonzero(ends_at[:-1] & ~continues) + 1
    if starts.size == 0 or starts[0] != 0:
        starts = np.concatenate([[0], starts]).astype(np.int64)
    ends = np.concatenate([starts[1:], [n]])
    lens = ends - starts
    if (lens <= window).all():
        return np.stack([starts, ends], axis=1).astype(np.int64)
    out = []
    for s, e in zip(starts.tolist(), ends.tolist()):
        for w in range(s, e, window):
            out.append((w, min(w + window, e)))
    return np.asarray(out, dtype=np.int64)


def group_by_length(lengths: np.ndarray, max_batch_tokens: int) -> List[np.ndarray]:
    """Sort segments by length; greedy sub-batches with at most max_batch_tokens padded tokens."""
    order = np.argsort(lengths, kind="stable")
    groups: List[np.ndarray] = []
    cur: List[int] = []
    for i in order.tolist():
        if cur and (len(cur) + 1) * lengths[i] > max_batch_tokens:
            groups.append(np.asarray(cur, dtype=np.int64))
            cur = []
        cur.append(i)
    if cur:
        groups.append(np.asarray(cur, dtype=np.int64))
    return groups


def segment_table(docs: Sequence[Doc], window: int) -> np.ndarray:
    """[n, 2] (start, end) of every segment of the docs, as offsets into their tokens
    flattened in doc order (empty docs contribute nothing)."""
    lengths = np.asarray([len(d) for d in docs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    segs = [segments(d, window) + off for d, off in zip(docs, offsets.tolist()) if len(d)]
    return np.concatenate(segs) if segs else np.zeros((0, 2), dtype=np.int64)


def padded_batches(seg: np.ndarray, max_batch_tokens: int):
    """Yield (flat_idx [b, T], mask [b, T]) for the segments of ``segment_table``, grouped
    by length. Every token is in exactly one segment; ``flat_idx`` is 0 at padding."""
    seg_len = seg[:, 1] - seg[:, 0]
    for g in group_by_length(seg_len, max_batch_tokens):
        starts = seg[g, 0]
        lens = seg_len[g]
        ar = np.arange(int(lens.max()), dtype=np.int64)
        mask = ar[None, :] < lens[:, None]
        yield np.where(mask, starts[:, None] + ar[None, :], 0), mask


def repair_segment_edges(gold: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Make padded gold BIOES ids [b, T] valid inside each segment of length ``lengths[i]``.

    Where a sentence or window boundary cuts an entity, the piece before the cut ends
    with B/I and the piece after it starts with I/E: invalid BIOES, whose path the
    constrained CRF scores at -10000 (the loss would be dominated by these cuts). The
    pieces become entities of their own: a leading I -> B and E -> S, a trailing B -> S
    and I -> E. Ids: 0 = O, 1 + 4 * label + {0: B, 1: I, 2: E, 3: S}."""
    gold = gold.copy()
    rows = np.arange(gold.shape[0])
    first = gold[:, 0]
    kind = np.where(first > 0, (first - 1) % 4, -1)
    gold[:, 0] = np.where(kind == 1, first - 1, np.where(kind == 2, first + 1, first))
    last_pos = lengths - 1
    last = gold[rows, last_pos]
    kind = np.where(last > 0, (last - 1) % 4, -1)
    gold[rows, last_pos] = np.where(kind == 0, last + 3, np.where(kind == 1, last + 1, last))
    return gold


def convert_crf_outputs(model, X_Y, is_train: bool):
    """PyTorchWrapper output conversion for the CRF layers: the torch output (a scalar
    loss, [b, T] tag ids, or a tuple of tag ids and [b, T, K] marginals) as numpy;
    backprop starts from d(loss) = 1."""
    _, Ytorch = X_Y
    if isinstance(Ytorch, tuple):
        return tuple(y.detach().cpu().numpy() for y in Ytorch), lambda dY: None
    Y = Ytorch.detach().cpu().numpy()

    def backprop(dY):
        return ArgsKwargs(args=((Ytorch,),), kwargs={"grad_tensors": (torch.ones_like(Ytorch),)})

    return Y, backprop


# --------------------------------------------------------------------------- thinc shim


class PatchedPyTorchShim(PyTorchShim):
    """thinc 8.3's PyTorchShim with two fixes our CRF taggers need.

    * ``use_params``: ``finish_update`` keys parameters as ``(shim.id, name)`` but thinc's
      ``use_params`` looks for string keys ``"pytorch_{id}_{name}"``, so with
      ``[training.optimizer] use_averages = true`` spaCy would evaluate and save the raw
      weights, never the averages. This one reads the keys that are actually written.
    * ``finish_update``: writes the optimizer's result into the parameter tensors in
      place instead of replacing ``param.data`` (which leaked memory on CPU, see below).
    """

    @contextlib.contextmanager
    def use_params(self, params):
        state = {
            name: xp2torch(params[(self.id, name)], device=self.device)
            for name, _ in self._model.named_parameters()
            if (self.id, name) in params
        }
        if not state:
            yield
            return
        backup = {k: v.detach().clone() for k, v in self._model.state_dict().items()}
        self._model.load_state_dict(state, strict=False)
        try:
            yield
        finally:
            self._model.load_state_dict(backup)


    def finish_update(self, optimizer) -> None:
        """thinc's update, but written into the existing parameter tensors.

        thinc 8.3 replaces ``param.data`` with a tensor made from the optimizer's numpy
        result through DLPack; on CPU that tensor keeps the previous one alive through
        numpy views, so training grew by megabytes per step (about 4 MB per update with
        a 20,000 x 50 embedding table; 9-14 GB after an hour of CoNLL/TAB training).
        Copying into the tensor in place keeps memory flat."""
        for name, param in self._model.named_parameters():
            if param.grad is None:
                continue
            if not self._grad_scaler.found_inf:
                new, _ = optimizer((self.id, name), torch2xp(param.data), torch2xp(param.grad))
                with torch.no_grad():
                    new_t = xp2torch(new, device=param.device)
                    if new_t.data_ptr() != param.data_ptr():
                        param.copy_(new_t)
            param.grad.zero_()
        self._grad_scaler.update()


def use_patched_shim(wrapped) -> None:
    """Give a PyTorchWrapper the patched shim (averages applied, in-place updates)."""
    wrapped.shims[0].__class__ = PatchedPyTorchShim
