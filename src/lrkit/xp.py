"""Array namespaces: the few operations a schedule formula may use.

Every schedule writes its formula once, against an ``Ops`` object, using Python
operators (``+ - * / **``) and the methods below. Five namespaces implement
them: plain Python floats (``MATH``, the fast path of ``s(t)``), NumPy,
PyTorch, ``jax.numpy`` and ``keras.ops``. Frameworks are imported only when
their namespace is asked for.

Formulas must be *branch-free in t*: a condition on ``t`` is written with
``where``, and both branches must be safe to evaluate everywhere (clip before
``log``/``sqrt``), because array namespaces evaluate both.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import InputError

Array = Any

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
_STIRLING = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156)


class Ops:
    """The operations a formula may use; subclasses bind them to a namespace."""

    name = "abstract"
    pi = math.pi

    def asarray(self, x: Any) -> Array:
        raise NotImplementedError

    def as_float(self, t: Array) -> Array:
        """``t`` as floating point (integer step tensors become float64 where possible)."""
        return t

    def where(self, cond: Array, a: Array, b: Array) -> Array:
        raise NotImplementedError

    def minimum(self, a: Array, b: Array) -> Array:
        raise NotImplementedError

    def maximum(self, a: Array, b: Array) -> Array:
        raise NotImplementedError

    def floor(self, x: Array) -> Array:
        raise NotImplementedError

    def cos(self, x: Array) -> Array:
        raise NotImplementedError

    def sin(self, x: Array) -> Array:
        raise NotImplementedError

    def exp(self, x: Array) -> Array:
        raise NotImplementedError

    def log(self, x: Array) -> Array:
        raise NotImplementedError

    def sqrt(self, x: Array) -> Array:
        raise NotImplementedError

    def tanh(self, x: Array) -> Array:
        raise NotImplementedError

    def abs(self, x: Array) -> Array:
        raise NotImplementedError

    def mod(self, a: Array, b: float) -> Array:
        """``a mod b`` for ``a >= 0``, ``b > 0``."""
        return a - b * self.floor(a / b)

    def power(self, base: Array, exponent: Array) -> Array:
        """``base ** exponent`` for ``base >= 0`` (inf on overflow, never an error)."""
        return base**exponent

    def expm1(self, x: Array) -> Array:
        """``exp(x) - 1``, accurate near ``x = 0``."""
        raise NotImplementedError

    def log1p(self, x: Array) -> Array:
        """``log(1 + x)`` for ``x > -1``, accurate near ``x = 0``."""
        raise NotImplementedError

    def one_minus_pow(self, z: Array, rest: Array, k: float) -> Array:
        """``1 - z ** k`` for ``z`` in ``[0, 1]``, given ``rest = 1 - z`` computed directly.

        Where ``z ** k > 1/2`` it is ``-expm1(k * log1p(-rest))``, which keeps full
        relative precision near ``z = 1`` (the end of a k-decay), where ``1 - z ** k``
        cancels: at ``z = 0.99999`` one ulp of ``pow`` is already 4e-12 relative.
        Elsewhere ``1 - z ** k`` is the accurate form. ``z = 1`` gives exactly 0.
        """
        p = self.power(z, k)
        near_end = self.log1p(-self.where(rest >= 1.0, 0.0, rest))  # never log1p(-1) = -inf
        return self.where(p <= 0.5, 1.0 - p, 0.0 - self.expm1(k * near_end))

    def clip(self, x: Array, low: float, high: float) -> Array:
        return self.minimum(self.maximum(x, low), high)

    def lerp(self, a: Array, b: Array, z: Array, rest: Array) -> Array:
        """``a + (b - a) * z`` for ``z`` in ``[0, 1]``, given ``rest = 1 - z``.

        Written from the nearer end (``b + (a - b) * rest`` for ``z > 1/2``), so
        that a line falling to ``b = 0`` keeps full relative precision near its end.
        """
        return self.where(z <= 0.5, a + (b - a) * z, b + (a - b) * rest)

    def cos_bell(self, z: Array, rest: Array) -> Array:
        """``(1 + cos(pi * z)) / 2`` for ``z`` in ``[0, 1]``, given ``rest = 1 - z``.

        Written as the equal ``sin(pi rest / 2) ** 2``, which keeps full relative
        precision near ``z = 1``, where ``1 + cos(pi z)`` cancels (at
        ``z = 1 - 1e-4`` that form has already lost six digits), and costs one
        transcendental call. Callers compute ``rest`` directly (e.g.
        ``(steps - t) / steps``), not as ``1 - z``.
        """
        b = self.sin(self.pi / 2 * rest)
        return b * b

    def lgamma(self, x: Array) -> Array:
        """``log Gamma(x)`` for ``x > 0``, to about 1e-15 relative, in plain arithmetic.

        Shifts the argument by 8 (``Gamma(x) = Gamma(x + 8) / (x (x+1) ... (x+7))``)
        and applies Stirling's series with seven correction terms, so the same
        code runs in every namespace (``keras.ops`` has no ``lgamma``).
        """
        log_prod = self.log(x)  # a sum of logs: the product overflows float32 past x ~ 6e4
        for k in range(1, 8):
            log_prod = log_prod + self.log(x + k)
        z = x + 8.0
        zi = 1.0 / z
        zi2 = zi * zi
        series = 0.0
        for c in _STIRLING[::-1]:
            series = series * zi2 + c
        series = series * zi
        return (z - 0.5) * self.log(z) - z + _HALF_LOG_2PI + series - log_prod

    def __repr__(self) -> str:
        return f"<lrkit ops {self.name}>"


class _MathOps(Ops):
    """Python floats in, Python floats out: the scalar fast path."""

    name = "math"

    def asarray(self, x: Any) -> float:
        return float(x)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        return a if cond else b

    def minimum(self, a: Any, b: Any) -> Any:
        return a if a < b else b

    def maximum(self, a: Any, b: Any) -> Any:
        return a if a > b else b

    def floor(self, x: float) -> float:
        return float(math.floor(x)) if math.isfinite(x) else x

    def cos(self, x: float) -> float:
        return math.cos(x)

    def sin(self, x: float) -> float:
        return math.sin(x)

    def exp(self, x: float) -> float:
        try:
            return math.exp(x)
        except OverflowError:
            return math.inf

    def log(self, x: float) -> float:
        return math.log(x) if x > 0 else -math.inf

    def sqrt(self, x: float) -> float:
        return math.sqrt(x)

    def tanh(self, x: float) -> float:
        return math.tanh(x)

    def abs(self, x: float) -> float:
        return abs(x)

    def expm1(self, x: float) -> float:
        try:
            return math.expm1(x)
        except OverflowError:
            return math.inf

    def log1p(self, x: float) -> float:
        return math.log1p(x) if x > -1.0 else -math.inf

    def power(self, base: float, exponent: float) -> float:
        try:
            return float(base**exponent)
        except OverflowError:
            return math.inf
        except ZeroDivisionError:
            return math.inf


class _ModuleOps(Ops):
    """A namespace whose functions carry NumPy's names (NumPy, jax.numpy)."""

    def __init__(self, module: Any, name: str) -> None:
        self.m = module
        self.name = name

    def asarray(self, x: Any) -> Array:
        return self.m.asarray(x)

    def where(self, cond: Array, a: Array, b: Array) -> Array:
        return self.m.where(cond, a, b)

    def minimum(self, a: Array, b: Array) -> Array:
        return self.m.minimum(a, b)

    def maximum(self, a: Array, b: Array) -> Array:
        return self.m.maximum(a, b)

    def floor(self, x: Array) -> Array:
        return self.m.floor(x)

    def cos(self, x: Array) -> Array:
        return self.m.cos(x)

    def sin(self, x: Array) -> Array:
        return self.m.sin(x)

    def exp(self, x: Array) -> Array:
        return self.m.exp(x)

    def log(self, x: Array) -> Array:
        return self.m.log(x)

    def sqrt(self, x: Array) -> Array:
        return self.m.sqrt(x)

    def tanh(self, x: Array) -> Array:
        return self.m.tanh(x)

    def abs(self, x: Array) -> Array:
        return self.m.abs(x)

    def expm1(self, x: Array) -> Array:
        return self.m.expm1(x)

    def log1p(self, x: Array) -> Array:
        return self.m.log1p(x)

    def clip(self, x: Array, low: float, high: float) -> Array:
        return self.m.clip(x, low, high)


class _TorchOps(_ModuleOps):
    """PyTorch: scalars are lifted to tensors where torch insists on tensors."""

    def __init__(self, module: Any) -> None:
        super().__init__(module, "torch")

    def _t(self, x: Any, like: Any) -> Any:
        if isinstance(x, self.m.Tensor):
            return x
        if isinstance(like, self.m.Tensor):
            return self.m.as_tensor(x, dtype=like.dtype, device=like.device)
        return self.m.as_tensor(x, dtype=self.m.float64)

    def asarray(self, x: Any) -> Array:
        return self.m.as_tensor(x)

    def as_float(self, t: Array) -> Array:
        if isinstance(t, self.m.Tensor) and not t.is_floating_point():
            return t.to(self.m.float64)
        return t

    def where(self, cond: Array, a: Array, b: Array) -> Array:
        like = a if isinstance(a, self.m.Tensor) else b
        return self.m.where(self._t(cond, None), self._t(a, like), self._t(b, like))

    def minimum(self, a: Array, b: Array) -> Array:
        like = a if isinstance(a, self.m.Tensor) else b
        return self.m.minimum(self._t(a, like), self._t(b, like))

    def maximum(self, a: Array, b: Array) -> Array:
        like = a if isinstance(a, self.m.Tensor) else b
        return self.m.maximum(self._t(a, like), self._t(b, like))

    def clip(self, x: Array, low: float, high: float) -> Array:
        return self.m.clamp(self._t(x, None), low, high)

    def _unary(self, fn: Any, x: Any) -> Array:
        return fn(self._t(x, None))

    def floor(self, x: Array) -> Array:
        return self._unary(self.m.floor, x)

    def cos(self, x: Array) -> Array:
        return self._unary(self.m.cos, x)

    def sin(self, x: Array) -> Array:
        return self._unary(self.m.sin, x)

    def exp(self, x: Array) -> Array:
        return self._unary(self.m.exp, x)

    def log(self, x: Array) -> Array:
        return self._unary(self.m.log, x)

    def sqrt(self, x: Array) -> Array:
        return self._unary(self.m.sqrt, x)

    def tanh(self, x: Array) -> Array:
        return self._unary(self.m.tanh, x)

    def abs(self, x: Array) -> Array:
        return self._unary(self.m.abs, x)


class _KerasOps(_ModuleOps):
    """``keras.ops``: traceable inside a compiled Keras train step.

    Keras converts a Python float to a ``floatx`` (float32) tensor before every
    op, and its type promotion (``result_type``) maps float64 to float32, so
    ``minimum``/``maximum``/``floor`` would return float32 and every scalar
    constant would be rounded to float32. Here scalars are lifted to the dtype
    of the tensor they meet (float64 stays float64), ``minimum``/``maximum``
    are ``where`` selections, ``floor`` is ``trunc`` corrected for negatives,
    and a function of a Python scalar is computed in Python.
    """

    def __init__(self, module: Any) -> None:
        super().__init__(module, "keras.ops")

    def asarray(self, x: Any) -> Array:
        return self.m.convert_to_tensor(x)

    def as_float(self, t: Array) -> Array:
        import keras

        dtype = getattr(t, "dtype", None)
        if dtype is not None and "float" not in keras.backend.standardize_dtype(dtype):
            return self.m.cast(t, self._default_float())
        return t

    def _default_float(self) -> str:
        import keras

        if keras.backend.backend() == "jax":
            import jax
            import numpy

            return str(jax.dtypes.canonicalize_dtype(numpy.float64))
        return "float64"

    def _lift(self, x: Any, like: Any = None) -> Any:
        if not isinstance(x, (int, float)):
            return x
        import keras

        dtype = (keras.backend.standardize_dtype(like.dtype) if like is not None
                 else self._default_float())
        return self.m.convert_to_tensor(x, dtype=dtype)

    def _pair(self, a: Any, b: Any) -> tuple[Any, Any]:
        like = b if isinstance(a, (int, float)) else a
        if isinstance(like, (int, float)):
            like = None
        return self._lift(a, like), self._lift(b, like)

    def where(self, cond: Array, a: Array, b: Array) -> Array:
        a, b = self._pair(a, b)
        return self.m.where(cond, a, b)

    def minimum(self, a: Array, b: Array) -> Array:
        a, b = self._pair(a, b)
        return self.m.where(a <= b, a, b)

    def maximum(self, a: Array, b: Array) -> Array:
        a, b = self._pair(a, b)
        return self.m.where(a >= b, a, b)

    def clip(self, x: Array, low: float, high: float) -> Array:
        return self.minimum(self.maximum(x, low), high)

    def power(self, base: Array, exponent: Array) -> Array:
        base, exponent = self._pair(base, exponent)
        return self.m.power(base, exponent)

    def floor(self, x: Array) -> Array:
        if isinstance(x, (int, float)):
            return MATH.floor(float(x))
        t = self.m.trunc(x)
        return self.m.where(x < t, t - 1.0, t)

    def _unary(self, name: str, x: Any) -> Array:
        if isinstance(x, (int, float)):
            return getattr(MATH, name)(float(x))
        return getattr(self.m, name)(x)

    def cos(self, x: Array) -> Array:
        return self._unary("cos", x)

    def sin(self, x: Array) -> Array:
        return self._unary("sin", x)

    def exp(self, x: Array) -> Array:
        return self._unary("exp", x)

    def log(self, x: Array) -> Array:
        return self._unary("log", x)

    def sqrt(self, x: Array) -> Array:
        return self._unary("sqrt", x)

    def tanh(self, x: Array) -> Array:
        return self._unary("tanh", x)

    def abs(self, x: Array) -> Array:
        return self._unary("abs", x)


MATH: Ops = _MathOps()

_cache: dict[str, Ops] = {}


def namespace(xp: Any = None, like: Any = None) -> Ops:
    """Return the ``Ops`` for ``xp``: an ``Ops``, a module, or a name.

    Accepted: ``math``/``None`` (Python floats), ``numpy``, ``torch``,
    ``jax.numpy``, ``keras.ops`` (modules or these names). With ``xp=None`` and
    an array ``like``, the namespace is inferred from its type.

    >>> namespace("numpy").name
    'numpy'
    """
    if isinstance(xp, Ops):
        return xp
    if xp is None and like is not None:
        xp = _infer(like)
    if xp is None:
        return MATH
    key = xp if isinstance(xp, str) else getattr(xp, "__name__", type(xp).__name__)
    key = {"keras.src.ops": "keras.ops", "jax.numpy": "jax.numpy", "np": "numpy"}.get(key, key)
    if key.startswith("keras"):
        key = "keras.ops"
    if key in _cache:
        return _cache[key]
    ops: Ops
    if key == "math":
        ops = MATH
    elif key == "numpy":
        import numpy

        ops = _ModuleOps(numpy, "numpy")
    elif key == "torch":
        import torch

        ops = _TorchOps(torch)
    elif key == "jax.numpy":
        import jax.numpy

        ops = _ModuleOps(jax.numpy, "jax.numpy")
    elif key == "keras.ops":
        from keras import ops as kops

        ops = _KerasOps(kops)
    else:
        raise InputError(
            f"xp={xp!r} is not a known array namespace; "
            "expected one of 'math', 'numpy', 'torch', 'jax.numpy', 'keras.ops'"
        )
    _cache[key] = ops
    return ops


def _infer(x: Any) -> str | None:
    mod = type(x).__module__.split(".")[0]
    if mod in ("builtins", "math"):
        return None
    if mod == "numpy":
        return "numpy"
    if mod == "torch":
        return "torch"
    if mod in ("jax", "jaxlib"):
        return "jax.numpy"
    if mod in ("keras", "tensorflow"):
        return "keras.ops"
    return None
