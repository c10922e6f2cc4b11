"""R runs of one architecture as one model: stacked parameters, batched layers.

A :class:`BatchedModel` holds R copies of a module, each with its own parameters
(``params[name]`` has shape ``[R, *shape]``), and evaluates all of them at once on
``x`` of shape ``[R, B, ...]`` (one batch per run) or ``[B, ...]`` (``shared=True``).
Run ``r`` computes exactly what the module built for it computes alone (tested in
float64, outputs and gradients). Two ways to get there:

* **Batched layers** (fast): when every sub-module is one of :data:`LAYERS` or
  defines ``forward_batched(call, x)``, the model is interpreted layer by layer:
  ``Linear`` as one ``baddbmm`` over runs (``y_r = b_r + x_r W_r^T``); ``Conv1d``
  and ``Conv2d`` as one *grouped* convolution (``groups = R``: the runs' channels
  side by side, in channels-last memory; activations kept in the layout ``[B, R*C, ...]`` through
  consecutive convolution, activation and pooling layers); ``LayerNorm`` as the
  plain normalisation times each run's weight plus its bias; ``Embedding`` as one
  lookup in the runs' tables laid end to end (index ``i`` of run ``r`` reads row
  ``r * V + i``); activations element-wise. Attention needs no layer of its own:
  ``torch.nn.functional.scaled_dot_product_attention`` takes any leading batch
  dimensions, so ``[R, B]`` is just a larger batch (see
  :class:`~lrkit.experiment.models.CausalSelfAttention`).
* **vmap** (general): ``torch.func.vmap(functional_call)`` over the stacked
  parameters, for any other module (BatchNorm with its running statistics too).
  A model that draws random numbers in ``forward`` (dropout, augmentation) is
  run once per run instead (see *Randomness*).

``forward_batched(call, x)`` is how a custom module joins the fast path: ``call(m,
x)`` applies sub-module ``m`` batched, and ``call.param(self, "name")`` gives the
module's own parameter stacked, shaped ``[R, 1, *shape]`` to broadcast against
activations ``[R, B, ...]``. The plain forward can share the code: write the
layer once as ``f(x, call)`` and call it with :data:`PLAIN` (``PLAIN(m, x) =
m(x)``, ``PLAIN.param(m, n) = getattr(m, n)``) from ``forward``.

**Randomness.** Every forward gets a ``key`` (the trainer passes the optimizer
step, or a negative number for evaluations); a run's random draws in that forward
come from torch's global generator seeded with :func:`stream_seed` ``(seed, key)``,
alone (``train_one``) and batched alike, so a run with dropout gives the same
numbers whether it trains alone or beside others. A model whose forward draws
random numbers is detected (vmap with ``randomness="error"`` refuses it) and then
run one run at a time under that seed.

This module imports torch.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from ..errors import InputError

ELEMENTWISE = (nn.ReLU, nn.GELU, nn.Tanh, nn.SiLU, nn.Sigmoid, nn.Identity, nn.LeakyReLU)
POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)
CONVS = (nn.Conv1d, nn.Conv2d)
#: the layer types the fast path runs batched (besides modules with ``forward_batched``)
LAYERS = (nn.Sequential, nn.Linear, *CONVS, nn.Flatten, nn.LayerNorm, nn.Embedding,
          *ELEMENTWISE, *POOLS)


def stream_seed(seed: int, key: int) -> int:
    """The seed of run ``seed``'s random draws in forward number ``key``: 64 bits from
    ``numpy.random.SeedSequence([seed, key mod 2**32, 0x5EED])``.

    >>> stream_seed(0, 0) == stream_seed(0, 0) != stream_seed(0, 1)
    True
    """
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(key) & 0xFFFFFFFF,
                                    0x5EED]).generate_state(2)
    return (int(state[0]) << 32 | int(state[1])) & 0x7FFFFFFFFFFFFFFF


RNG_LOCK = threading.RLock()  # one generator per process: one seeded block at a time


@contextlib.contextmanager
def seeded(seed: int, key: int, device: torch.device) -> Iterator[None]:
    """Run the block with torch's generator (of ``device``) seeded by
    :func:`stream_seed`; the caller's generator state is restored afterwards. Threads
    (``compare --jobs``) take turns: the generator is the process's."""
    devices = [] if device.type != "cuda" else [device.index or 0]
    with RNG_LOCK, torch.random.fork_rng(devices=devices, device_type=device.type
                               if device.type != "cpu" else "cuda"):
        s = stream_seed(seed, key)
        torch.default_generator.manual_seed(s)
        if device.type == "cuda":
            torch.cuda.manual_seed(s)
        yield


class _Plain:
    """The plain (one-run) caller: ``PLAIN(m, x) = m(x)``."""

    def __call__(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = module(x)
        return out

    def param(self, module: nn.Module, name: str) -> torch.Tensor:
        out: torch.Tensor = getattr(module, name)
        return out


PLAIN = _Plain()


def fast_path(module: nn.Module) -> bool:
    """Whether :class:`BatchedModel` runs ``module`` with batched layers: every
    sub-module is one of :data:`LAYERS` or has ``forward_batched``, it has no
    buffers, no ``Conv`` uses a padding mode other than zeros, and no ``Flatten``
    starts at another dimension than 1."""
    if any(True for _ in module.buffers()):
        return False
    for m in module.modules():
        if hasattr(m, "forward_batched"):
            continue
        if type(m) not in LAYERS:
            return False
        if isinstance(m, CONVS) and m.padding_mode != "zeros":
            return False
        if isinstance(m, nn.Flatten) and (m.start_dim, m.end_dim) != (1, -1):
            return False
        if isinstance(m, nn.Embedding) and (m.max_norm is not None or m.sparse):
            return False
    return True


class _Grouped:
    """An activation in the grouped layout ``[B, R*C, *S]`` (channels of run r at
    ``r*C .. r*C + C - 1``), between convolutions."""

    def __init__(self, t: torch.Tensor) -> None:
        self.t = t


class _Batched:
    """The batched caller of :meth:`BatchedModel.forward`'s fast path."""

    def __init__(self, base: nn.Module, params: dict[str, torch.Tensor], size: int) -> None:
        self.p, self.R = params, size
        self.names = {id(m): n for n, m in base.named_modules()}

    def _w(self, m: nn.Module, name: str) -> torch.Tensor:
        prefix = self.names[id(m)]
        return self.p[f"{prefix}.{name}" if prefix else name]

    def param(self, module: nn.Module, name: str) -> torch.Tensor:
        w = self._w(module, name)
        return w.view(self.R, 1, *w.shape[1:])

    def __call__(self, m: nn.Module, x: Any) -> Any:
        if isinstance(m, nn.Sequential):
            for child in m:
                x = self(child, x)
            return x
        if isinstance(m, ELEMENTWISE):
            if isinstance(x, _Grouped):
                return _Grouped(m(x.t))
            return m(x)
        if isinstance(m, POOLS):
            return _Grouped(m(self.grouped(x).t))
        if isinstance(m, CONVS):
            return self.conv(m, self.grouped(x))
        x = self.per_run(x)
        if isinstance(m, nn.Linear):
            return self.linear(x, self._w(m, "weight"),
                               None if m.bias is None else self._w(m, "bias"))
        if isinstance(m, nn.Flatten):
            return x.reshape(*x.shape[:2], -1)
        if isinstance(m, nn.LayerNorm):
            y = F.layer_norm(x, m.normalized_shape, eps=m.eps)
            ones = [1] * (x.dim() - 1 - len(m.normalized_shape))
            if m.weight is not None:
                y = y * self._w(m, "weight").view(self.R, *ones, *m.normalized_shape)
            if m.bias is not None:
                y = y + self._w(m, "bias").view(self.R, *ones, *m.normalized_shape)
            return y
        if isinstance(m, nn.Embedding):
            w = self._w(m, "weight")  # [R, V, d]
            offset = torch.arange(self.R, device=x.device).mul_(w.shape[1])
            idx = x + offset.view(self.R, *([1] * (x.dim() - 1)))
            return F.embedding(idx, w.reshape(-1, w.shape[2]), padding_idx=None)
        out = m.forward_batched(self, x)  # type: ignore[operator]
        return out

    def linear(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        """``y_r = x_r W_r^T + b_r`` for ``x`` [R, *B, in], ``w`` [R, out, in], ``b`` [R, out]."""
        lead = x.shape[1:-1]
        x3 = x.reshape(self.R, -1, x.shape[-1])
        if b is None:
            y = torch.bmm(x3, w.transpose(1, 2))
        else:
            y = torch.baddbmm(b.unsqueeze(1), x3, w.transpose(1, 2))
        return y.view(self.R, *lead, w.shape[1])

    def grouped(self, x: Any) -> _Grouped:
        """``[R, B, C, *S]`` -> ``[B, R*C, *S]``."""
        if isinstance(x, _Grouped):
            return x
        t = x.transpose(0, 1)
        return _Grouped(t.reshape(t.shape[0], -1, *t.shape[3:]))

    def per_run(self, x: Any) -> torch.Tensor:
        """``[B, R*C, *S]`` -> ``[R, B, C, *S]``; anything else as it is."""
        if not isinstance(x, _Grouped):
            out: torch.Tensor = x
            return out
        t = x.t
        return t.view(t.shape[0], self.R, -1, *t.shape[2:]).transpose(0, 1)

    def conv(self, m: nn.Module, x: _Grouped) -> _Grouped:
        """One grouped ``conv2d`` in channels-last memory (the fastest of grouped
        ``conv1d``/``conv2d``, channels-last or not, an ``unfold`` + ``bmm`` and a loop
        over runs, measured on CPU); a ``Conv1d`` is a ``Conv2d`` of height 1."""
        assert isinstance(m, CONVS)
        w = self._w(m, "weight")  # [R, O, C/g, *k]
        b = None if m.bias is None else self._w(m, "bias").reshape(-1)
        w = w.reshape(-1, *w.shape[2:])
        groups = m.groups * self.R
        if isinstance(m, nn.Conv1d):
            pad = m.padding if isinstance(m.padding, str) else (0, *m.padding)
            x4 = x.t.unsqueeze(2).contiguous(memory_format=torch.channels_last)
            y = F.conv2d(x4, w.unsqueeze(2), b, (1, *m.stride), pad, (1, *m.dilation), groups)
            return _Grouped(y.squeeze(2))
        x4 = x.t.contiguous(memory_format=torch.channels_last)
        return _Grouped(F.conv2d(x4, w, b, m.stride, m.padding, m.dilation, groups))


class BatchedModel:
    """R copies of one architecture, each with its own parameters, run as one model.

    ``params`` maps each parameter name of the base module to a leaf tensor of
    shape ``[R, *shape]`` (requiring grad); ``forward(x)`` takes ``x`` of shape
    ``[R, B, ...]`` (one batch per run), or ``[B, ...]`` with ``shared=True`` (the
    same batch for every run), and returns ``[R, B, ...]``. Run ``r`` computes
    exactly what ``modules[r]`` computes on its batch; ``seeds[r]`` seeds its
    random draws (see the module docstring). ``path`` says how: ``"layers"`` or
    ``"vmap"`` (``"loop"`` once a random draw was seen).
    """

    def __init__(self, modules: Sequence[nn.Module], seeds: Sequence[int] | None = None) -> None:
        if not modules:
            raise InputError("BatchedModel: need at least one module")
        params, buffers = stack_module_state(list(modules))
        self.params: dict[str, torch.Tensor] = {
            k: v.detach().clone().requires_grad_(True) for k, v in params.items()
        }
        self.buffers: dict[str, torch.Tensor] = {k: v.detach().clone() for k, v in buffers.items()}
        self.base = copy.deepcopy(modules[0]).to("meta")
        self.size = len(modules)
        self.seeds = list(range(self.size)) if seeds is None else [int(s) for s in seeds]
        if len(self.seeds) != self.size:
            raise InputError(f"BatchedModel: {self.size} modules but {len(self.seeds)} seeds")
        self.path = "layers" if fast_path(self.base) else "vmap"
        self._random: dict[bool, bool] = {}  # training mode -> forward draws random numbers

        def one(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor) -> Any:
            return functional_call(self.base, (p, b), (x,))

        self._one = one
        self._per_run = vmap(one, in_dims=(0, 0, 0), randomness="error")
        self._shared = vmap(one, in_dims=(0, 0, None), randomness="error")

    @property
    def device(self) -> torch.device:
        return next(iter(self.params.values())).device

    def train(self, mode: bool = True) -> BatchedModel:
        self.base.train(mode)
        return self

    def forward(self, x: torch.Tensor, params: dict[str, torch.Tensor] | None = None, *,
                shared: bool = False, key: int = 0) -> torch.Tensor:
        p = self.params if params is None else params
        if self.path == "layers":
            call = _Batched(self.base, p, self.size)
            xs = x.expand(self.size, *x.shape) if shared else x
            return call.per_run(call(self.base, xs))
        mode = self.base.training
        if not self._random.get(mode, False):
            try:
                out: torch.Tensor = (self._shared if shared else self._per_run)(
                    p, self.buffers, x)
                return out
            except RuntimeError as e:
                if "randomness" not in str(e):
                    raise
                self._random[mode] = True
        return self._loop(p, x, shared, key)

    def _loop(self, p: dict[str, torch.Tensor], x: torch.Tensor, shared: bool,
              key: int) -> torch.Tensor:
        """One run at a time, each under its own seeded stream (a random forward)."""
        outs = []
        for r, seed in enumerate(self.seeds):
            with seeded(seed, key, x.device):
                pr = {k: v[r] for k, v in p.items()}
                br = {k: v[r] for k, v in self.buffers.items()}
                # buffers (BatchNorm's running statistics) are views: updated in place
                outs.append(functional_call(self.base, (pr, br), (x if shared else x[r],)))
        return torch.stack(outs)

    __call__ = forward
