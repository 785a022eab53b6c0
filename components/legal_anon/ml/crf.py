"""The BIOES-constrained linear-chain CRF (pytorch-crf) the CRF taggers share, and the
CRF over a batch of docs: loss and its gradient, Viterbi tags and token marginals from
the emission scores the taggers' models return.

Two taggers use it: the Char-CNN + BiLSTM + CRF (``legal_anon.CharCNNBiLSTMCRF.*``) and
the CRF output layer over any token-vector model, e.g. the transformer listener
(``legal_anon.Tok2VecCRF.*``). Both train with the CRF negative log-likelihood and decode
with Viterbi restricted to valid BIOES sequences (``legal_anon.ml.bioes``), over the same
sentence segments their encoders read (``legal_anon.ml.segments``).
"""
from __future__ import annotations

from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from spacy.tokens import Doc
from torchcrf import CRF

from legal_anon.ml.bioes import allowed_transitions
from legal_anon.ml.segments import padded_batches, repair_segment_edges, segment_table

IMPOSSIBLE = -10000.0
# An exp-space step whose sum falls below this may have lost its dominant term to underflow
# (terms are scaled by the step's best score; float64 keeps about 1e-308): such rows are
# recomputed exactly in log space. Above it, what underflowed is < 1e-55 of the sum.
UNDERFLOW = 1e-250


def _log_step(score: torch.Tensor, trans: torch.Tensor, exp_trans: torch.Tensor, trans_max: torch.Tensor) -> torch.Tensor:
    """log sum_i exp(score[b, i] + trans[i, j]) for every row b and tag j ([B, K] -> [B, K]).

    One [B, K] x [K, K] matrix product in exp space, the row's maximum and ``trans_max``
    factored out (``exp_trans = exp(trans - trans_max)``, exact zeros where ``trans`` is
    -inf). Where a row's sum underflows -- scores spread by more than ~700, e.g. emissions
    of +-1000 -- that row is recomputed with a log-sum-exp over [K, K], exact at any spread."""
    top = score.max(dim=1, keepdim=True).values
    total = torch.exp(score - top) @ exp_trans
    out = torch.log(total.clamp_min(UNDERFLOW)) + top + trans_max
    if float(total.detach().min()) < UNDERFLOW:
        rows = (total < UNDERFLOW).any(dim=1).nonzero().squeeze(1)
        exact = torch.logsumexp(score[rows].unsqueeze(2) + trans.unsqueeze(0), dim=1)
        out = out.index_put((rows,), exact)
    return out


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

    def _log_potentials(self):
        """(start, trans, exp(trans - max), max, end) in float64 with the forbidden
        transitions at -inf, so that they contribute exact zeros at any emission spread
        (the pinned -10000 is only "small" next to emissions well under 10000)."""
        neg_inf = float("-inf")
        start = self.start_transitions.to(torch.float64).masked_fill(self.bad_start, neg_inf)
        trans = self.transitions.to(torch.float64).masked_fill(self.bad_trans, neg_inf)
        end = self.end_transitions.to(torch.float64).masked_fill(self.bad_end, neg_inf)
        trans_max = trans.max()
        return start, trans, torch.exp(trans - trans_max), trans_max, end

    def _compute_normalizer(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Log-partition per sequence ([T, B, K] emissions, seq-first as pytorch-crf calls it).

        The same forward algorithm as pytorch-crf's, computed with one [B, K] x [K, K]
        matrix product in exp space per step (float64, ``_log_step``) instead of a
        log-sum-exp over a [B, K, K] tensor: with many tags (MultiCoNER's 33 types = 133
        BIOES tags) that log-sum-exp dominated training time. Forbidden transitions are
        -inf, i.e. exact zeros. Tested against pytorch-crf's values and gradients in
        tests/test_crf.py."""
        start, trans, exp_trans, trans_max, end = self._log_potentials()
        em = emissions.to(torch.float64)
        score = start + em[0]
        for i in range(1, emissions.size(0)):
            nxt = _log_step(score, trans, exp_trans, trans_max) + em[i]
            score = torch.where(mask[i].unsqueeze(1).bool(), nxt, score)
        return torch.logsumexp(score + end, dim=1).to(emissions.dtype)

    def marginals(self, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Token marginals P(tag_t = k | sentence): [B, T, K], rows summing to 1, 0 at padding.

        Forward-backward over the same constrained transitions as Viterbi and the
        likelihood, float64: the forward pass is ``_compute_normalizer``'s recursion, the
        backward pass its mirror image (``_log_step`` both ways). Forbidden tags (an I/E
        first, a B/I last, anything but I/E after B) get exactly 0.0 and padding exactly
        0.0 at any emission spread: the recursion stops at each row's length (``mask`` is
        right-padded) and the emissions at padding are never read."""
        self.constrain()
        B, T, K = scores.shape
        mask = mask.bool()
        em = scores.to(torch.float64).masked_fill(~mask.unsqueeze(2), 0.0)
        start, trans, exp_trans, trans_max, end = self._log_potentials()
        lengths = mask.long().sum(dim=1)
        alpha = torch.empty((B, T, K), dtype=torch.float64, device=scores.device)
        alpha[:, 0] = start + em[:, 0]
        for t in range(1, T):
            nxt = _log_step(alpha[:, t - 1], trans, exp_trans, trans_max) + em[:, t]
            alpha[:, t] = torch.where(mask[:, t].unsqueeze(1), nxt, alpha[:, t - 1])
        beta = torch.empty((B, T, K), dtype=torch.float64, device=scores.device)
        end = end.expand(B, K)
        beta[:, T - 1] = end
        for t in range(T - 2, -1, -1):
            inner = _log_step(beta[:, t + 1] + em[:, t + 1], trans.T, exp_trans.T, trans_max)
            beta[:, t] = torch.where((t >= lengths - 1).unsqueeze(1), end, inner)
        last = alpha[torch.arange(B, device=scores.device), (lengths - 1).clamp_min(0)]
        log_z = torch.logsumexp(last + end, dim=1)
        probs = torch.exp(alpha + beta - log_z[:, None, None])
        return torch.where(mask.unsqueeze(2), probs, torch.zeros_like(probs)).to(torch.float32)

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


class CRFOutput(NamedTuple):
    """What the CRF taggers predict for a batch of docs: BIOES tag ids per doc, and, when
    asked for, the token marginals per doc ([n_tokens, n_tags])."""

    tags: List[np.ndarray]
    probs: Optional[List[np.ndarray]] = None


def split_by_doc(flat: np.ndarray, lengths: Sequence[int]) -> List[np.ndarray]:
    """Cut a flat per-token array back into one array per doc."""
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return [flat[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]


def _batches(crf: ConstrainedCRF, table: np.ndarray, scores: np.ndarray, max_batch_tokens: int):
    """(flat_idx, mask, padded emission tensor, torch mask) per sub-batch of the segments
    in ``table`` (``segment_table``)."""
    device = crf.start_transitions.device
    for flat_idx, mask in padded_batches(table, max_batch_tokens):
        yield flat_idx, mask, torch.from_numpy(scores[flat_idx]).to(device), torch.from_numpy(mask).to(device)


def sequence_loss(
    crf: ConstrainedCRF, docs: Sequence[Doc], scores: Sequence[np.ndarray], gold: Sequence[np.ndarray],
    window: int, max_batch_tokens: int,
) -> Tuple[float, List[np.ndarray]]:
    """The CRF negative log-likelihood of the gold tag ids given the emission scores (one
    ``[n_tokens, n_tags]`` array per doc), summed over the docs' segments and divided by
    their number, and its gradient with respect to the scores. The gradient of the
    transition weights accumulates in ``crf``'s parameters, for the optimizer's next step.
    Where a segment cuts a gold entity, each piece becomes an entity of its own."""
    lengths = [len(d) for d in docs]
    flat = np.concatenate([np.asarray(s, dtype=np.float32) for s in scores], axis=0)
    gold_flat = np.concatenate([np.asarray(g, dtype=np.int64) for g in gold])
    d_flat = np.zeros_like(flat)
    table = segment_table(docs, window)
    norm = float(len(table))
    total = 0.0
    for flat_idx, mask, emissions, mask_t in _batches(crf, table, flat, max_batch_tokens):
        emissions.requires_grad_()
        tags = repair_segment_edges(np.where(mask, gold_flat[flat_idx], 0), mask.sum(axis=1))
        loss = crf.nll(emissions, torch.from_numpy(tags).to(emissions.device), mask_t, norm)
        loss.backward()
        total += float(loss.detach())
        d_flat[flat_idx[mask]] = emissions.grad.cpu().numpy()[mask]
    return total, split_by_doc(d_flat, lengths)


@torch.no_grad()
def sequence_decode(
    crf: ConstrainedCRF, docs: Sequence[Doc], scores: Sequence[np.ndarray], window: int, max_batch_tokens: int,
    marginals: bool = False,
) -> CRFOutput:
    """Viterbi tag ids per doc (and the token marginals when ``marginals``) from the
    emission scores, over the same segments the encoder read."""
    lengths = [len(d) for d in docs]
    n_tags = crf.num_tags
    flat = np.concatenate([np.asarray(s, dtype=np.float32).reshape(-1, n_tags) for s in scores], axis=0)
    tags_flat = np.zeros((len(flat),), dtype=np.int64)
    probs_flat = np.zeros((len(flat), n_tags), dtype=np.float32) if marginals else None
    for flat_idx, mask, emissions, mask_t in _batches(crf, segment_table(docs, window), flat, max_batch_tokens):
        tags_flat[flat_idx[mask]] = crf.viterbi(emissions, mask_t).cpu().numpy()[mask]
        if probs_flat is not None:
            probs_flat[flat_idx[mask]] = crf.marginals(emissions, mask_t).cpu().numpy()[mask]
    probs = split_by_doc(probs_flat, lengths) if probs_flat is not None else None
    return CRFOutput(split_by_doc(tags_flat, lengths), probs)
