"""The torch module and input of one case: the reference every contender must match.

On ``device="cuda"`` the module and input are moved there after they are drawn on the CPU (the
same weights and input as a CPU run), and every timed call waits for the GPU before it returns.
"""

import jax.numpy as jnp
import torch

from .cases import Case
from .layout import named_outputs

TORCH_MODULES = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


def torch_module(case: Case) -> torch.nn.Module:
    """``torch.nn.RNN``, ``LSTM`` (with ``proj_size`` when projected) or ``GRU``; float32, CPU."""
    options = {"proj_size": case.proj_size} if case.kind.projected else {}
    module = TORCH_MODULES[case.kind.cell]
    shape = case.shape
    return module(shape.H_in, shape.H, shape.layers, bidirectional=case.bidirectional, **options)


def _no_wait() -> None:
    """A CPU call has finished when it returns."""


class TorchReference:
    """torch's module of one case, with its input ``x`` ``(L, N, H_in)``; zero initial state.

    ``device`` is ``"cpu"`` or ``"cuda"``; on ``"cuda"`` :meth:`forward` and :meth:`train`
    return only once the GPU has finished (``torch.cuda.synchronize``).
    """

    def __init__(self, case: Case, seed: int, device: str = "cpu"):
        torch.manual_seed(seed)
        self.module = torch_module(case).to(device)
        shape = case.shape
        self.x = torch.randn(shape.L, shape.N, shape.H_in).to(device)
        self.x_train = self.x.clone().requires_grad_(True)
        self._wait = torch.cuda.synchronize if device == "cuda" else _no_wait

    def forward(self):
        """``(output, h_n)`` or ``(output, (h_n, c_n))`` under ``no_grad``."""
        with torch.no_grad():
            result = self.module(self.x)
        self._wait()
        return result

    def train(self):
        """Forward and backward of ``output.sum() + h_n.sum() [+ c_n.sum()]``, fresh ``.grad``."""
        for p in self.module.parameters():
            p.grad = None
        self.x_train.grad = None
        loss = sum(value.sum() for value in named_outputs(*self.module(self.x_train)).values())
        loss.backward()
        self._wait()
        return loss

    def state_dict(self) -> dict:
        """The module's weights as jnp arrays, under torch's names."""
        state = self.module.state_dict().items()
        return {k: jnp.asarray(v.detach().cpu().numpy()) for k, v in state}

    def reference(self) -> dict:
        """Numpy results: output, h_n [, c_n], loss, grads by torch name, dx."""
        reference = {k: v.cpu().numpy() for k, v in named_outputs(*self.forward()).items()}
        reference["loss"] = self.train().item()
        reference["grads"] = {k: p.grad.cpu().numpy() for k, p in self.module.named_parameters()}
        reference["dx"] = self.x_train.grad.cpu().numpy()
        return reference
