"""The BIOES-constrained linear-chain CRF (pytorch-crf) the CRF taggers share, and the
conversion of its outputs for thinc.

Two taggers use it: the Char-CNN + BiLSTM + CRF (``legal_anon.CharCNNBiLSTMCRF.v1``) and
the CRF output layer over any token-vector model, e.g. the transformer listener
(``legal_anon.Tok2VecCRF.v1``). Both train with the CRF negative log-likelihood and decode
with Viterbi restricted to valid BIOES sequences (``legal_anon.ml.bioes``), on sequences
batched by ``legal_anon.ml.segments``.
"""
from __future__ import annotations

from typing import List, NamedTuple, Optional, Sequence

import numpy as np
import torch
from thinc.api import ArgsKwargs
from torchcrf import CRF

from legal_anon.ml.bioes import allowed_transitions

IMPOSSIBLE = -10000.0


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


class CRFOutput(NamedTuple):
    """What the CRF taggers predict for a batch of docs: BIOES tag ids per doc, and with
    ``model.attrs["marginals"]`` the token marginals per doc ([n_tokens, n_tags])."""

    tags: List[np.ndarray]
    probs: Optional[List[np.ndarray]] = None


def split_by_doc(flat: np.ndarray, lengths: Sequence[int]) -> List[np.ndarray]:
    """Cut a flat per-token array back into one array per doc."""
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return [flat[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]


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
