"""The ``Schedule`` value type, the registry of spec names, and arithmetic.

A schedule is an immutable value: a frozen dataclass holding numbers (and
other schedules), with one formula ``_f(t, xp)`` written once, branch-free in
``t``, against an :class:`lrkit.xp.Ops` namespace.

Conventions shared by every schedule (stated once here, pinned by tests):

* ``t`` counts completed optimizer updates (or epochs, if an adapter says so):
  the first update uses ``s(0)``. ``t`` may be fractional.
* A piecewise change happens *at* ``t == boundary``.
* A finite schedule (``s.length`` is a number) holds its final value for every
  ``t >= s.length``: it never errors, never rises again, never goes negative.
* Values are computed in float64; ``s(t)`` returns a Python ``float``.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from . import _check
from .errors import InputError, InputTypeError, shown
from .xp import MATH, Array, Ops, namespace

REGISTRY: dict[str, type[Schedule]] = {}
"""Spec name -> schedule class, filled as classes are defined: every built-in name once
:mod:`lrkit.spec` is imported (as ``lrkit.REGISTRY``, or any public name of ``lrkit``, does)."""

_NUMPY: Ops | None = None
_CHUNK = 1 << 15

S = TypeVar("S", bound="type[Schedule]")

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:  # the decorator only informs type checkers

    def dataclass_transform(**kwargs):
        return lambda f: f


@dataclass_transform(frozen_default=True, kw_only_default=False)
def schedule_class(cls: S) -> S:
    """Make ``cls`` a frozen dataclass and register its spec ``name``.

    The fields (``dataclasses.fields``, ``dataclasses.replace``) are the ``dataclasses``
    module's; ``__init__`` is compiled here, one function per class, and equality, hashing
    and immutability are :class:`Schedule`'s, written once. ``@dataclass(frozen=True)``
    compiles five functions per class, which took half of ``import lrkit`` (28 classes;
    ``benchmarks/bench_startup.py``). The ``__init__`` is the one ``dataclasses`` writes:
    the positional fields, then the keyword-only ones, each stored as given (``_validate``
    normalises them), then ``__post_init__``.
    """
    cls = dataclasses.dataclass(init=False, repr=False, eq=False)(cls)  # type: ignore[assignment]
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    cls.__init__ = _init(cls, fields)  # type: ignore[method-assign]
    cls._compared = tuple(f.name for f in fields if f.compare)
    name = cls.__dict__.get("name")
    if name:
        if name in REGISTRY:
            raise RuntimeError(f"schedule name {name!r} registered twice")
        REGISTRY[name] = cls
    return cls


def _init(cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> Callable[..., None]:
    """The ``__init__`` of a schedule class with these fields (see :func:`schedule_class`)."""
    if any(f.default_factory is not dataclasses.MISSING for f in fields):
        raise TypeError(f"{cls.__name__}: schedule fields take a default, not a default_factory")
    names: dict[str, Any] = {"_set": object.__setattr__}
    params: list[str] = []
    body: list[str] = []
    init = [f for f in fields if f.init and not f.kw_only] + [f for f in fields
                                                               if f.init and f.kw_only]
    for f in init:
        if f.kw_only and "*" not in params:
            params.append("*")
        if f.default is not dataclasses.MISSING:
            names[f"_d_{f.name}"] = f.default
            params.append(f"{f.name}=_d_{f.name}")
        else:
            params.append(f.name)
        body.append(f"    _set(self, {f.name!r}, {f.name})")
    source = (f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body)
              + "\n    self.__post_init__()\n")
    exec(compile(source, f"<{cls.__qualname__}.__init__>", "exec"), names)
    fn: Callable[..., None] = names["__init__"]
    fn.__qualname__ = f"{cls.__qualname__}.__init__"
    fn.__module__ = cls.__module__
    fn.__annotations__ = {f.name: f.type for f in init} | {"return": None}
    return fn


def _numpy_ops() -> Ops:
    global _NUMPY
    if _NUMPY is None:
        _NUMPY = namespace("numpy")
    return _NUMPY


T_MAX = 2.0**53
"""The largest step a schedule tells apart: ``s(t)`` and ``s.values(t)`` evaluate any
``t > T_MAX`` as ``T_MAX`` (9.007e15). Beyond it float64 cannot hold consecutive whole
steps, and no training reaches it (a billion updates a second for 104 days); the clamp
keeps every formula's intermediate values (``t / steps``, cycle counts, ``lgamma``)
finite. ``Schedule.evaluate`` (traced, unchecked) does not clamp."""


def check_t(t: Any) -> float:
    """Validate one step value: a finite real number ``>= 0`` (an int too large for a
    float is refused), clamped to :data:`T_MAX`.

    >>> check_t(3), check_t(1e300) == T_MAX
    (3.0, True)
    """
    if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)):
        raise InputTypeError(f"t must be a number >= 0, got {t!r}")
    try:
        x = float(t)
    except OverflowError:  # an int beyond float64: no formula can evaluate it
        raise InputError(f"t must be a finite number >= 0 (at most {sys.float_info.max!r}), "
                         f"got {shown(t)}") from None
    if not (x >= 0.0) or x == math.inf:
        raise InputError(f"t must be a finite number >= 0, got {shown(t)}")
    return x if x <= T_MAX else T_MAX


class Schedule:
    """Base class of every schedule.

    Subclasses are frozen dataclasses registered under a spec ``name`` and
    implement ``_f(t, xp)``: the formula, branch-free in ``t``.

    >>> from lrkit import cosine
    >>> s = cosine(0.1, steps=100)
    >>> s
    cosine(init=0.1, steps=100)
    >>> s(0), s(100), s(10**9)
    (0.1, 0.0, 0.0)
    >>> round(s(50), 15)
    0.05
    >>> s.values(3).tolist()
    [0.1, 0.09997532801828658, 0.09990133642141359]
    """

    name: ClassVar[str] = ""
    positional: ClassVar[int] = 0
    """How many leading fields are accepted positionally (in Python and in a spec): 1 for a
    leaf, its starting value (``value``, ``init``, ``peak``, ``levels``, ``knots``), and for a
    combinator, its schedule (2 for ``left``, ``right``); none for ``plateau``. The other
    fields are keyword-only."""
    written: ClassVar[int] = 0
    """How many leading fields ``repr`` writes positionally: none for a leaf (its starting
    value is written by name, ``cosine(init=0.1, steps=100)``) except ``constant(0.1)``;
    a combinator's schedule(s) (``warmup(cosine(init=0.1, steps=100), warmup_steps=10)``)."""
    variadic: ClassVar[bool] = False
    """Whether the spec takes any number of positional arguments (``join``)."""

    _compared: ClassVar[tuple[str, ...]] = ()
    """The fields that equality and hashing compare (set by :func:`schedule_class`)."""

    # -- a value: equal by fields, hashable, immutable --------------------------
    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._compared)

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    # -- the formula ---------------------------------------------------------
    def _f(self, t: Array, xp: Ops) -> Array:
        raise NotImplementedError

    _sup: float
    """The upper bound of the values, from :meth:`_ceiling` (set by the constructor)."""
    value_fields: ClassVar[tuple[str, ...]] = ()
    """The fields that hold values of the schedule (``init``, ``end``, ``peak``, ``levels``,
    ...), as opposed to lengths and factors: its values never exceed the largest of them
    or of its schedules' (see :meth:`_ceiling`)."""

    def __post_init__(self) -> None:
        self._validate()
        top = self._ceiling()
        if not top <= sys.float_info.max:  # inf (or nan): some value would overflow
            raise InputError(self._overflow())
        object.__setattr__(self, "_sup", top)
        n = self.length
        if n is not None and not math.isfinite(n):
            raise InputError(f"{self.name}: its length (the step from which it holds its final "
                             f"value) must be a finite number of steps, got {n!r}: "
                             f"{shown(self)}")

    def _ceiling(self) -> float:
        """An upper bound of ``s(t)`` over every ``t`` (computed once, by the constructor,
        which refuses a schedule whose bound is not a finite float): the largest of its
        :attr:`value_fields` and its schedules' bounds. Combinators that multiply or add
        (``mul``, ``add``) and schedules whose values go beyond their fields
        (``one_cycle``'s ``peak / div``) override it."""
        tops = [c._sup for c in self.children()]
        for name in self.value_fields:
            v = getattr(self, name)
            tops.extend(float(x) for x in (v if isinstance(v, tuple) else (v,)) if x is not None)
        return max(tops, default=0.0)

    def _overflow(self) -> str:
        """The message refusing a schedule whose values can exceed the largest float."""
        return (f"{self.name}: its values can exceed the largest float "
                f"({sys.float_info.max!r}): {shown(self)}")

    def _validate(self) -> None:
        """Check and normalise fields (``self._set`` rewrites a frozen field)."""

    def _set(self, field: str, value: Any) -> None:
        object.__setattr__(self, field, value)

    @property
    def length(self) -> float | None:
        """The step from which the value never changes, or ``None`` if it keeps changing."""
        return None

    # -- evaluation ----------------------------------------------------------
    def __call__(self, t: Any) -> float:
        """The value at step ``t`` (int or float ``>= 0``) as a Python float; ``t`` beyond
        :data:`T_MAX` (2**53) is evaluated as ``T_MAX``."""
        return float(self._f(check_t(t), MATH))

    def values(self, t: Any) -> np.ndarray:
        """Values at ``t = 0 .. n-1`` (a count ``n``) or at an array of ``t``, as float64.

        A single number is always a count: an int, or a float that is a whole number
        (``values(1e4)`` is ``values(10000)``); any other float is refused (the value at
        one ``t`` is ``s(t)``; at given steps, pass them as a list or array). Computed
        vectorised with NumPy, in cache-sized chunks; ``t`` beyond :data:`T_MAX` is
        evaluated as ``T_MAX``, as in ``s(t)``.

        >>> from lrkit import linear
        >>> linear(1.0, end=0.0, steps=4).values(4.0).tolist()
        [1.0, 0.75, 0.5, 0.25]
        """
        if isinstance(t, (int, float, np.integer, np.floating)) and not isinstance(t, bool):
            if isinstance(t, (float, np.floating)):
                if not float(t).is_integer():
                    hint = (f"; for the value at t={t!r} use s({t!r}), for values at given "
                            f"steps pass them as a list: s.values([{t!r}])"
                            if math.isfinite(t) else "")
                    raise InputError(
                        f"values: a single number is a count of steps (values(n) evaluates "
                        f"t = 0 .. n-1), so it must be a whole number, got {t!r}{hint}")
                t = int(t)
            if t < 0:
                raise InputError(f"values: n must be >= 0, got {t!r}")
            if t > sys.maxsize // 8:  # NumPy cannot even describe such an array
                raise InputError(f"values: n must be at most {sys.maxsize // 8:,} (an array "
                                 f"of n float64 values), got {shown(t)}")
            ts = np.arange(int(t), dtype=np.float64)
        elif isinstance(t, bool):
            raise InputTypeError(f"values: n must be a count of steps or an array of t, got {t!r}")
        else:
            try:
                ts = np.asarray(t, dtype=np.float64)
            except OverflowError:  # an int beyond float64
                raise InputError(f"t must be finite numbers >= 0 (at most "
                                 f"{sys.float_info.max!r}), got {shown(t)}") from None
            if ts.size and not (np.all(ts >= 0) and np.all(np.isfinite(ts))):
                bad = ts[~((ts >= 0) & np.isfinite(ts))].flat[0]
                raise InputError(f"t must be finite numbers >= 0, got {bad!r}")
        # Formulas are pointwise: evaluating cache-sized chunks gives the same
        # values as one pass and keeps the temporaries in cache (about 2x faster).
        flat = ts.reshape(-1)
        result = np.empty(flat.shape, dtype=np.float64)
        ops = _numpy_ops()
        with np.errstate(all="ignore"):
            for i in range(0, flat.size, _CHUNK):
                result[i : i + _CHUNK] = self._f(np.minimum(flat[i : i + _CHUNK], T_MAX), ops)
        return result.reshape(ts.shape)

    def evaluate(self, t: Array, xp: Any = None) -> Array:
        """Evaluate on an array namespace: ``numpy``, ``torch``, ``jax.numpy``,
        ``keras.ops`` (module or name), or inferred from ``t`` when ``xp`` is None.

        No validation happens here (``t`` may be a traced value under
        ``jax.jit``); pass ``t >= 0``. Integer torch and Keras tensors are cast
        to float64 first; float32 input is computed in float32.
        """
        ops = namespace(xp, like=t)
        return self._f(ops.as_float(t), ops)

    # -- structure -----------------------------------------------------------
    def _fields(self) -> list[dataclasses.Field[Any]]:
        return [f for f in dataclasses.fields(self) if f.init]  # type: ignore[arg-type]

    def children(self) -> tuple[Schedule, ...]:
        """The schedules this one is built from (empty for a leaf)."""
        out: list[Schedule] = []
        for f in self._fields():
            v = getattr(self, f.name)
            if isinstance(v, Schedule):
                out.append(v)
            elif isinstance(v, tuple):
                out.extend(x for x in v if isinstance(x, Schedule))
        return tuple(out)

    def replace(self, **changes: Any) -> Schedule:
        """A copy with some parameters changed (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    # -- data form -----------------------------------------------------------
    def _params(self) -> dict[str, Any]:
        """The parameters that rebuild this schedule, by name (defaults left out)."""
        out: dict[str, Any] = {}
        for i, f in enumerate(self._fields()):
            v = getattr(self, f.name)
            if i < self.written or f.default is dataclasses.MISSING or v != f.default:
                out[f.name] = v
        return out

    def _spec_args(self) -> tuple[list[Any], dict[str, Any]]:
        """Positional and keyword arguments of the spec form (``repr``)."""
        params = self._params()
        names = [f.name for f in self._fields()[: self.written]]
        return [params.pop(n) for n in names], params

    @classmethod
    def _from_args(cls, args: list[Any], kwargs: dict[str, Any]) -> Schedule:
        return cls(*args, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``{"type": name, param: value, ...}``; nested schedules are dicts.

        >>> from lrkit import step_decay, from_dict
        >>> d = step_decay(0.1, factor=0.5, every=10).to_dict()
        >>> d
        {'type': 'step_decay', 'init': 0.1, 'factor': 0.5, 'every': 10}
        >>> from_dict(d) == step_decay(0.1, factor=0.5, every=10)
        True
        """
        out: dict[str, Any] = {"type": self.name}
        for name, v in self._params().items():
            out[name] = _to_data(v)
        return out

    def __repr__(self) -> str:
        args, kwargs = self._spec_args()
        parts = [_spec(v) for v in args] + [f"{k}={_spec(v)}" for k, v in kwargs.items()]
        return f"{self.name}({', '.join(parts)})"

    def __str__(self) -> str:
        return repr(self)

    # -- arithmetic ----------------------------------------------------------
    def __mul__(self, other: Any) -> Schedule:
        return Mul(self, as_schedule(other, "other"))

    def __rmul__(self, other: Any) -> Schedule:
        return Mul(as_schedule(other, "other"), self)

    def __add__(self, other: Any) -> Schedule:
        return Add(self, as_schedule(other, "other"))

    def __radd__(self, other: Any) -> Schedule:
        return Add(as_schedule(other, "other"), self)

    def __truediv__(self, other: Any) -> Schedule:
        d = _check.positive("division", "divisor", other)
        return Mul(self, Constant(1.0 / d))


def _to_data(v: Any) -> Any:
    if isinstance(v, Schedule):
        return v.to_dict()
    if isinstance(v, tuple):
        return [_to_data(x) for x in v]
    return v


def _spec(v: Any) -> str:
    if isinstance(v, tuple):
        inner = ", ".join(_spec(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    return repr(v)


def as_schedule(x: Any, what: str = "schedule") -> Schedule:
    """A schedule, or a number (-> ``constant``).

    The core does not read text: a spec string is refused with the way to read
    it (:func:`lrkit.parse`); the adapters accept strings through
    :func:`lrkit.spec.as_schedule`.
    """
    if isinstance(x, Schedule):
        return x
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return Constant(x)
    if isinstance(x, str):
        raise InputTypeError(f"{what} must be a schedule or a number, got the string {x!r}; "
                        f"read it with lrkit.parse({x!r}) first")
    raise InputTypeError(f"{what} must be a schedule or a number, got {x!r}")


def schedule_field(owner: str, name: str, value: Any) -> Schedule:
    return as_schedule(value, f"{owner}: {name}")


@schedule_class
class Constant(Schedule):
    """``value`` at every step.

    ``steps`` gives the constant a length, so that it can be a piece of
    :func:`lrkit.join`; without it the constant is simply ``value`` forever.

    >>> from lrkit import constant
    >>> constant(0.05)(123)
    0.05
    """

    name = "constant"
    value_fields = ("value",)
    positional = written = 1
    value: float
    _: dataclasses.KW_ONLY
    steps: float | None = None

    def _validate(self) -> None:
        self._set("value", _check.nonneg(self.name, "value", self.value))
        if self.steps is not None:
            self._set("steps", _check.length(self.name, "steps", self.steps))

    @property
    def length(self) -> float | None:
        return self.steps if self.steps is not None else 0.0

    def _f(self, t: Array, xp: Ops) -> Array:
        return t * 0.0 + self.value


def _combined_length(*parts: Schedule) -> float | None:
    lengths = [p.length for p in parts]
    if any(n is None for n in lengths):
        return None
    return max(n for n in lengths if n is not None)


@schedule_class
class _Binary(Schedule):
    """A node combining two schedules pointwise."""

    positional = written = 2
    symbol: ClassVar[str] = ""
    left: Schedule
    right: Schedule

    def _validate(self) -> None:
        self._set("left", schedule_field(self.name, "left", self.left))
        self._set("right", schedule_field(self.name, "right", self.right))

    @property
    def length(self) -> float | None:
        return _combined_length(self.left, self.right)

    def __repr__(self) -> str:
        if not self.symbol:
            return super().__repr__()
        left = self._operand(self.left, right=False)
        if _is_number_constant(self.left) and _is_number_constant(self.right):
            left = repr(self.left)  # "0.5 * 0.2" would parse as the number 0.1
        return f"{left} {self.symbol} {self._operand(self.right, right=True)}"

    def _operand(self, s: Schedule, right: bool) -> str:
        """An operand's spec, in parentheses where Python's precedence and left
        associativity would otherwise regroup it (``a * (b + c)``, ``a + (b + c)``)."""
        if _is_number_constant(s):
            return repr(s.value)  # type: ignore[attr-defined]
        if isinstance(s, _Binary) and s.symbol and (
            (isinstance(s, Add) and self.symbol == "*") or (right and type(s) is type(self))
        ):
            return f"({s!r})"
        return repr(s)


def _is_number_constant(s: Schedule) -> bool:
    """A constant that the spec writes as a bare number."""
    return isinstance(s, Constant) and s.steps is None


@schedule_class
class Mul(_Binary):
    """``left(t) * right(t)``; written ``a * b`` (a number stands for a constant)."""

    name = "mul"
    symbol = "*"

    def _ceiling(self) -> float:
        return self.left._sup * self.right._sup

    def _overflow(self) -> str:
        return (f"{self.name}: left * right can exceed the largest float "
                f"({sys.float_info.max!r}): left reaches {self.left._sup!r}, right "
                f"{self.right._sup!r}")

    def _f(self, t: Array, xp: Ops) -> Array:
        return self.left._f(t, xp) * self.right._f(t, xp)


@schedule_class
class Add(_Binary):
    """``left(t) + right(t)``; written ``a + b``."""

    name = "add"
    symbol = "+"

    def _ceiling(self) -> float:
        return self.left._sup + self.right._sup

    def _overflow(self) -> str:
        return (f"{self.name}: left + right can exceed the largest float "
                f"({sys.float_info.max!r}): left reaches {self.left._sup!r}, right "
                f"{self.right._sup!r}")

    def _f(self, t: Array, xp: Ops) -> Array:
        return self.left._f(t, xp) + self.right._f(t, xp)


@schedule_class
class Min(_Binary):
    """``min(left(t), right(t))``."""

    name = "min"

    def _ceiling(self) -> float:
        return min(self.left._sup, self.right._sup)

    def _f(self, t: Array, xp: Ops) -> Array:
        return xp.minimum(self.left._f(t, xp), self.right._f(t, xp))


@schedule_class
class Max(_Binary):
    """``max(left(t), right(t))``."""

    name = "max"

    def _f(self, t: Array, xp: Ops) -> Array:
        return xp.maximum(self.left._f(t, xp), self.right._f(t, xp))


def minimum(a: Any, b: Any) -> Schedule:
    """Pointwise minimum of two schedules (or a schedule and a number)."""
    return Min(as_schedule(a, "a"), as_schedule(b, "b"))


def maximum(a: Any, b: Any) -> Schedule:
    """Pointwise maximum of two schedules (or a schedule and a number)."""
    return Max(as_schedule(a, "a"), as_schedule(b, "b"))


def clip(s: Any, low: float = 0.0, high: float = math.inf) -> Schedule:
    """``min(max(s(t), low), high)``: keep a schedule inside ``[low, high]``."""
    low = _check.nonneg("clip", "low", low)
    if high != math.inf:
        high = _check.nonneg("clip", "high", high)
        if high < low:
            raise InputError(f"clip: high must be >= low={low!r}, got {high!r}")
    out = as_schedule(s, "clip: s")
    if low > 0:
        out = Max(out, Constant(low))
    if high != math.inf:
        out = Min(out, Constant(high))
    return out


Fn = Callable[[Array, Ops], Array]
