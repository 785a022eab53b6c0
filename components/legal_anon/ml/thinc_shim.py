"""A patched thinc PyTorchShim: averaged weights that are really used, updates in place.

Written for thinc 8.3 (pinned in constraints.txt); ``use_patched_shim`` warns once on
another version, where the two bugs below may be fixed or the internals may differ.
"""
from __future__ import annotations

import contextlib
import warnings

import thinc
import torch
from thinc.shims import PyTorchShim
from thinc.util import torch2xp, xp2torch

PATCHED_THINC = (8, 3)


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
    if tuple(int(x) for x in thinc.__version__.split(".")[:2]) != PATCHED_THINC:
        warnings.warn(
            f"legal_anon.ml.thinc_shim patches thinc {PATCHED_THINC[0]}.{PATCHED_THINC[1]}'s PyTorchShim; "
            f"thinc {thinc.__version__} is installed: check that use_params and finish_update still match",
            stacklevel=2,
        )
    wrapped.shims[0].__class__ = PatchedPyTorchShim
