"""Hostile input for lrkit's readers, and the one way every attempt is judged.

Shared by ``tests/test_fuzz.py`` (assertions, a fixed seed, a few hundred inputs)
and ``benchmarks/fuzz_long.py`` (counts over >= 100,000 inputs per entry point).

The strategies know the spec language only through :data:`lrkit.REGISTRY`: schedule
names, positional counts and field names come from the registered dataclasses, the
kind of value a field takes from its type annotation (``float``, ``Schedule``,
``tuple[float, ...]``, ...), so they follow renames without edits. Strings come from
the string defaults and the tuples of strings of the modules that define schedules.

* :func:`spec_texts`: grammar-aware spec text (valid, nearly valid, and hostile:
  long chains, deep nesting, huge literals, unsupported syntax), raw text (lone
  surrogates included) and mutations of spec text.
* :func:`schedule_data`: schedule dicts built the same way, JSON-like junk, and
  adversarial values (non-string keys, lists as types, huge ints, deep nesting,
  shared references).
* :func:`schedule_files`: ``(suffix, bytes)`` of JSON, YAML and TOML files: the data
  dumped in each format, mutated bytes, raw bytes, YAML alias bombs and deep nesting.

:func:`attempt` runs one call and says what happened: ``ok``, ``error`` (an
``lrkit.Error``), ``unexpected`` (any other exception, or a result whose spec does not
read back: ``parse(repr(s)) != s``), and how long it took.
"""

from __future__ import annotations

import dataclasses
import json
import math
import string
import sys
import time
from collections.abc import Callable
from typing import Any

import yaml
from hypothesis import strategies as st

import lrkit

SLOW = 2.0
"""Seconds: a call that takes longer is a failure (every input is bounded in size, so
each call must be quick; the bound is loose for a loaded machine)."""

CLASSES = sorted(lrkit.REGISTRY.items())


def _fields(cls: type) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if f.init]


def _string_pool() -> list[str]:
    """Every string default of a registered field, and every tuple of strings defined in a
    module that registers schedules (the shapes, modes, ... a field accepts)."""
    pool: set[str] = set()
    for _, cls in CLASSES:
        for f in _fields(cls):
            if isinstance(f.default, str):
                pool.add(f.default)
        for value in vars(sys.modules[cls.__module__]).values():
            if isinstance(value, tuple) and value and all(isinstance(v, str) for v in value):
                pool.update(value)
    return sorted(pool)


STRINGS = _string_pool()

# -- numbers -----------------------------------------------------------------------------
NICE = [0, 1, 2, 3, 5, 10, 100, 1000, 0.1, 0.5, 0.9, 1e-3, 1e-5, 2.5, 0.0, 1.0]
EXTREME = [-1, -0.0, -1e-300, 5e-324, 1e-320, 1e308, 1.7976931348623157e308, 2**53 + 1,
           2**63, 2**1023, 10**308, math.inf, -math.inf, math.nan, 1e20, 1e-20]


def numbers() -> st.SearchStrategy[float | int]:
    """Mostly values a schedule accepts, sometimes extreme ones (non-finite, huge, tiny,
    negative)."""
    return st.one_of(
        st.sampled_from(NICE), st.integers(1, 10_000), st.floats(0, 1),
        st.sampled_from(EXTREME), st.floats(), st.integers(-(2**70), 2**70),
        st.integers(10**300, 10**320),
    )


def _number_text(draw: st.DrawFn) -> str:
    x = draw(numbers())
    if isinstance(x, float) and not math.isfinite(x):
        return draw(st.sampled_from(["inf", "-inf", "1e999", "-1e999", "inf*0", "nan"]))
    text = repr(x)
    form = draw(st.integers(0, 9))
    if form == 0 and isinstance(x, float):
        text = f"{x:e}"
    elif form == 1 and isinstance(x, int) and x >= 0:
        text = draw(st.sampled_from([hex(x), f"{x:_}", oct(x)]))
    elif form == 2:
        text = draw(st.sampled_from(["1" + "0" * 400, "9" * 4400, ".5", "5.", "1E3", "0e0",
                                     "1_0", "1e-400", "0.000_1", "True", "False"]))
    return text


# -- spec text ---------------------------------------------------------------------------
OTHER_SYNTAX = [
    "lambda: 0", "x[0]", "a.b", "f'{1}'", "1 if 1 else 2", "[x for x in y]", "{}", "{1: 2}",
    "...", "b'x'", "1j", "not 1", "1 < 2", "__import__('os').system('true')", "a := 1",
    "(1).real", "print", "N", "P", "steps", "None", "none", "TRUE", "inf", "nan", "x", "é",
]


@st.composite
def _spec(draw: st.DrawFn, depth: int) -> str:
    """One spec expression, at most ``depth`` calls or operators deep."""
    kind = draw(st.integers(0, 9)) if depth > 0 else draw(st.integers(0, 2))
    if kind == 0:
        return _number_text(draw)
    if kind == 1:
        return draw(st.sampled_from(OTHER_SYNTAX))
    if kind == 2:
        return repr(draw(st.sampled_from(STRINGS)))
    if kind <= 6:
        return draw(_call(depth))
    if kind == 7:
        op = draw(st.sampled_from(["+", "*", "/", "+", "*", "-", "**", "%", "@", "//"]))
        left, right = draw(_spec(depth - 1)), draw(_spec(depth - 1))
        return f"{left} {op} {right}"
    if kind == 8:
        return f"({draw(_spec(depth - 1))})"
    items = draw(st.lists(_spec(depth - 1), max_size=4))
    return draw(st.sampled_from(["({},)", "[{}]", "({})", "-{}", "+{}"])).format(", ".join(items))


@st.composite
def _call(draw: st.DrawFn, depth: int) -> str:
    name, cls = draw(st.sampled_from(CLASSES))
    fields = _fields(cls)
    if draw(st.integers(0, 19)) == 0:  # a misspelt or unknown name
        name = draw(st.sampled_from([name[:-1], name + "s", name.upper(), "cosin", "Mul"]))
    n_pos = draw(st.integers(0, 4)) if cls.variadic else draw(st.integers(0, cls.positional))
    args: list[str] = []
    if cls.variadic:
        args = [draw(_spec(depth - 1)) for _ in range(n_pos)]
        rest = fields[1:]
    else:
        args = [draw(_value(f.type, depth - 1)) for f in fields[:n_pos]]
        rest = fields[n_pos:]
    if draw(st.integers(0, 9)) == 0:
        args.append(draw(_spec(depth - 1)))  # one positional argument too many
    for f in rest:
        required = f.default is dataclasses.MISSING
        if draw(st.integers(0, 9)) < (8 if required else 3):
            key = f.name if draw(st.integers(0, 29)) else f.name[:-1] or "x"
            args.append(f"{key}={draw(_value(f.type, depth - 1))}")
    return f"{name}({', '.join(args)})"


@st.composite
def _value(draw: st.DrawFn, annotation: Any, depth: int) -> str:
    """Spec text for a value of a field annotated ``annotation`` (sometimes anything)."""
    kind = str(annotation)
    if depth < 0:
        return _number_text(draw)
    if draw(st.integers(0, 14)) == 0:
        return draw(_spec(depth))
    if "None" in kind and draw(st.integers(0, 4)) == 0:
        return "None"
    if "Schedule" in kind and "tuple" in kind:
        items = draw(st.lists(_spec(depth), min_size=1, max_size=3))
        return f"({', '.join(items)},)"
    if "Schedule" in kind:
        return draw(_spec(depth))
    if "tuple[tuple" in kind:
        pairs = [f"({_number_text(draw)}, {_number_text(draw)})"
                 for _ in range(draw(st.integers(0, 4)))]
        return f"[{', '.join(pairs)}]" if draw(st.booleans()) else f"({', '.join(pairs)},)"
    if "tuple" in kind:
        items = sorted(draw(st.lists(st.integers(0, 1000), max_size=4)))
        texts = [str(i) if draw(st.integers(0, 4)) else _number_text(draw) for i in items]
        return f"({', '.join(texts)},)" if draw(st.booleans()) else f"[{', '.join(texts)}]"
    if "bool" in kind:
        return draw(st.sampled_from(["True", "False", "true", "1", "None"]))
    if "str" in kind:
        return repr(draw(st.sampled_from(STRINGS))) if draw(st.integers(0, 5)) else repr(
            draw(st.text(max_size=5)))
    return _number_text(draw)


@st.composite
def _extreme_text(draw: st.DrawFn) -> str:
    """Long chains, deep nesting and long literals, up to a few thousand levels."""
    n = draw(st.one_of(st.integers(0, 120), st.integers(0, 5000)))
    atom = draw(st.sampled_from(["0.001", "1", "constant(0.1)", "N", "(1)", "x"]))
    pattern = draw(st.integers(0, 7))
    if pattern == 0:
        return draw(st.sampled_from(["+", "*", "/"])).join([atom] * max(n, 1))
    if pattern == 1:
        return "(" * n + atom + ")" * n
    if pattern == 2:
        return "-" * n + atom
    if pattern == 3:
        name = draw(st.sampled_from([n for n, c in CLASSES if c.positional or c.variadic]))
        return f"{name}(" * n + atom + ")" * n
    if pattern == 4:
        return "1" + "0" * n + draw(st.sampled_from(["", "/1", "*10", ".0", "*1e300"]))
    if pattern == 5:
        return f"join({', '.join(['constant(0.1, steps=1)'] * n)}, constant(0.1))"
    if pattern == 6:
        return "[" * n + "]" * n
    return "min(" * n + "0.1, 0.2" + ")" * n


@st.composite
def _mutated(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    """``base`` text with a few edits: deleted, inserted, repeated or swapped slices."""
    text = draw(base)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 8)))
        edit = draw(st.integers(0, 3))
        if edit == 0:
            text = text[:i] + text[j:]
        elif edit == 1:
            text = text[:i] + draw(st.text(alphabet=_CHARS, max_size=3)) + text[i:]
        elif edit == 2:
            text = text[:j] + text[i:j] * draw(st.integers(2, 50)) + text[j:]
        else:
            text = text[:i] + text[j:] + text[i:j]
    return text


_CHARS = st.one_of(st.sampled_from(string.printable + "()[],=*+/-.\"'_éπ\u2028\x00"),
                   st.characters(), st.characters(categories=["Cs"]))  # Cs: lone surrogates


def spec_texts() -> st.SearchStrategy[str]:
    """Spec text: grammar-aware, extreme, mutated and raw (lone surrogates included)."""
    grammar = st.integers(0, 4).flatmap(_spec)
    return st.one_of(grammar, grammar, _extreme_text(), _mutated(grammar),
                     st.text(alphabet=_CHARS, max_size=60))


def names() -> st.SearchStrategy[dict[str, Any] | None]:
    """A binding for the names of a spec (sometimes none, sometimes bad numbers)."""
    return st.one_of(st.none(), st.fixed_dictionaries(
        {"N": st.one_of(st.integers(1, 10**6), numbers()), "P": numbers()}))


# -- the data form -----------------------------------------------------------------------
@st.composite
def _schedule_dict(draw: st.DrawFn, depth: int) -> Any:
    name, cls = draw(st.sampled_from(CLASSES))
    out: dict[Any, Any] = {"type": name}
    for f in _fields(cls):
        required = f.default is dataclasses.MISSING
        if draw(st.integers(0, 9)) < (8 if required else 3):
            out[f.name] = draw(_data_value(f.type, depth - 1))
    mutation = draw(st.integers(0, 19))
    if mutation == 0:
        out["type"] = draw(st.sampled_from([[name], {"name": name}, 1, None, name.upper(), ""]))
    elif mutation == 1:
        out[draw(st.sampled_from([1, None, True, 2.5, "bogus", "typ"]))] = 0.1
    elif mutation == 2:
        del out["type"]
    return out


@st.composite
def _data_value(draw: st.DrawFn, annotation: Any, depth: int) -> Any:
    kind = str(annotation)
    if depth < 0 or draw(st.integers(0, 14)) == 0:
        return draw(_junk())
    if "None" in kind and draw(st.integers(0, 4)) == 0:
        return None
    if "Schedule" in kind and "tuple" in kind:
        return draw(st.lists(_schedule_or_number(depth), min_size=1, max_size=3))
    if "Schedule" in kind:
        return draw(_schedule_or_number(depth))
    if "tuple[tuple" in kind:
        return [[draw(numbers()), draw(numbers())] for _ in range(draw(st.integers(0, 4)))]
    if "tuple" in kind:
        items = sorted(draw(st.lists(st.integers(0, 1000), max_size=4)))
        return [i if draw(st.integers(0, 4)) else draw(numbers()) for i in items]
    if "bool" in kind:
        return draw(st.sampled_from([True, False, 1, None, "true"]))
    if "str" in kind:
        return draw(st.sampled_from(STRINGS)) if draw(st.integers(0, 5)) else draw(st.text())
    return draw(numbers())


def _schedule_or_number(depth: int) -> st.SearchStrategy[Any]:
    return st.one_of(_schedule_dict(depth), numbers())


def _junk() -> st.SearchStrategy[Any]:
    """JSON-like values of any shape."""
    leaves = st.one_of(st.none(), st.booleans(), numbers(), st.text(max_size=8),
                       st.sampled_from(STRINGS))
    return st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
        max_leaves=12)


@st.composite
def _adversarial_data(draw: st.DrawFn) -> Any:
    """Deep nesting, shared references (a small DAG that is huge as a tree), cycles."""
    n = draw(st.integers(0, 3000))
    leaf: Any = {"type": "constant", "value": 0.1}
    pattern = draw(st.integers(0, 3))
    if pattern == 0:  # deep nesting through a field annotated Schedule
        name, cls = draw(st.sampled_from(
            [(k, c) for k, c in CLASSES if any(str(f.type) == "Schedule" for f in _fields(c))]))
        field = next(f.name for f in _fields(cls) if str(f.type) == "Schedule")
        for _ in range(n):
            leaf = {"type": name, field: leaf}
        return leaf
    if pattern == 1:  # the same dict twice at every level: 2**k leaves as a tree
        binary = [(k, c) for k, c in CLASSES
                  if [str(f.type) for f in _fields(c)][:2] == ["Schedule", "Schedule"]]
        name, cls = draw(st.sampled_from(binary))
        left, right = (f.name for f in _fields(cls)[:2])
        for _ in range(draw(st.integers(1, 30))):
            leaf = {"type": name, left: leaf, right: leaf}
        return leaf
    if pattern == 2:
        nested: Any = 0.1
        for _ in range(n):
            nested = [nested]
        return {"type": "constant", "value": nested}
    cycle: dict[str, Any] = {"type": "constant"}
    cycle["value"] = cycle
    return cycle


def schedule_data() -> st.SearchStrategy[Any]:
    """Schedule dicts (grammar-aware, from the registry), junk, and adversarial values."""
    grammar = st.integers(0, 3).flatmap(_schedule_dict)
    return st.one_of(grammar, grammar, grammar, _junk(), _adversarial_data())


# -- files -------------------------------------------------------------------------------
def _toml(data: Any) -> str:
    """``data`` in TOML (top-level keys as lines, nested values inline; None is left out,
    keys become quoted strings)."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(
                v) else repr(v)
        if isinstance(v, (int, str)):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v if x is not None) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(str(k))} = {value(x)}"
                                   for k, x in v.items() if x is not None) + "}"
        return json.dumps(str(v))

    if not isinstance(data, dict):
        return f"schedule = {value(data)}\n"
    return "".join(f"{json.dumps(str(k))} = {value(v)}\n" for k, v in data.items()
                   if v is not None)


def _dump(fmt: str, data: Any) -> str:
    if fmt == ".json":
        return json.dumps(data, skipkeys=True)
    if fmt == ".toml":
        return _toml(data)
    return yaml.safe_dump(data, sort_keys=False)


@st.composite
def _dumped(draw: st.DrawFn) -> tuple[str, bytes]:
    data = draw(st.one_of(st.integers(0, 3).flatmap(_schedule_dict), _junk()))
    fmt = draw(st.sampled_from([".json", ".yaml", ".yml", ".toml"]))
    if draw(st.integers(0, 4)) == 0:
        data = {"schedule": data}
    text = _dump(fmt, data)
    if draw(st.integers(0, 2)) == 0:
        text = draw(_mutated(st.just(text)))
    return fmt, text.encode("utf-8", errors="surrogatepass")


@st.composite
def _hostile_file(draw: st.DrawFn) -> tuple[str, bytes]:
    """Alias bombs, deep nesting in each format, invalid UTF-8 and raw bytes."""
    n = draw(st.integers(1, 3000))
    pattern = draw(st.integers(0, 5))
    if pattern == 0:
        lines = ["a0: &a0 {type: constant, value: 0.1}"]
        for i in range(1, min(n, 40)):
            lines.append(f"a{i}: &a{i} {{type: add, left: *a{i - 1}, right: *a{i - 1}}}")
        lines.append(f"schedule: *a{min(n, 40) - 1}")
        return ".yaml", "\n".join(lines).encode()
    if pattern == 1:
        fmt = draw(st.sampled_from([".json", ".yaml", ".toml"]))
        inner = "[" * n + "]" * n
        return fmt, (f"a = {inner}" if fmt == ".toml" else inner).encode()
    if pattern == 2:
        return ".yaml", "".join("  " * i + f"k{i}:\n" for i in range(min(n, 400))).encode()
    if pattern == 3:
        fmt, raw = draw(_dumped())
        i = draw(st.integers(0, len(raw)))
        return fmt, raw[:i] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"]))\
            + raw[i:]
    if pattern == 4:
        return draw(st.sampled_from([".json", ".yaml", ".toml"])), ("\ufeff" + json.dumps(
            {"type": "constant", "value": 0.1})).encode()
    return draw(st.sampled_from([".json", ".yaml", ".yml", ".toml"])), draw(st.binary(max_size=80))


def schedule_files() -> st.SearchStrategy[tuple[str, bytes]]:
    """``(suffix, content)`` of a schedule file."""
    return st.one_of(_dumped(), _dumped(), _hostile_file())


# -- judging one call --------------------------------------------------------------------
@dataclasses.dataclass
class Outcome:
    kind: str
    """``ok``, ``error`` (an lrkit.Error) or ``unexpected``."""
    seconds: float
    detail: str = ""

    @property
    def slow(self) -> bool:
        return self.seconds > SLOW


def attempt(call: Callable[[], Any]) -> Outcome:
    """Run ``call`` (a reader), and check what it returns: a schedule whose spec reads
    back to it, ``parse(repr(s)) == s``, and whose dict does, ``from_dict(s.to_dict())
    == s``."""
    start = time.perf_counter()
    try:
        s = call()
    except lrkit.Error as e:
        return Outcome("error", time.perf_counter() - start, str(e))
    except Exception as e:  # noqa: BLE001 - the point: anything else is a finding
        return Outcome("unexpected", time.perf_counter() - start, f"{type(e).__name__}: {e}")
    seconds = time.perf_counter() - start
    if not isinstance(s, lrkit.Schedule):
        return Outcome("unexpected", seconds, f"returned {s!r}")
    try:
        text = repr(s)
        back = lrkit.parse(text)
        data = lrkit.from_dict(s.to_dict())
    except Exception as e:  # noqa: BLE001
        return Outcome("unexpected", seconds, f"round trip of {s!r}: {type(e).__name__}: {e}")
    if back != s or data != s:
        return Outcome("unexpected", seconds, f"round trip of {text}: {back!r}, {data!r}")
    return Outcome("ok", seconds)


# -- constructors with extreme values, and evaluation ------------------------------------
#: steps at which :func:`evaluate` checks every schedule (besides its own numbers)
TIMES = [0.0, 5e-324, 1e-300, 0.5, 1.0, 2.0, 10.0, 1e3, 1e6, 1e9, 2.0**53, 2.0**53 + 2,
         1e18, 1e30, 1e100, 1e300, sys.float_info.max]
ULP_BOUND = 1e-12
"""``s(t)`` and ``s.values([t])`` agree to this relative bound (about 4,500 ulp; they are
most often identical: the two paths run the same formula on Python floats and on NumPy
arrays, whose ``pow``, ``exp`` and ``sin`` may round differently), or both are below
``TINY`` (where a relative bound means nothing)."""
TINY = 1e-290


def _extreme_number() -> st.SearchStrategy[float | int]:
    """A number a constructor may accept at the edge of float64: huge, tiny, subnormal,
    just under a bound."""
    return st.one_of(
        st.sampled_from(EXTREME), st.floats(allow_nan=False),
        st.floats(0, 1e-290), st.floats(1e15, 1.7976931348623157e308),
        st.sampled_from([1 - 1e-16, 1 + 2e-16, 0.5 - 1e-17, 0.9999999999, 1e-308, 2.0**-1074,
                         2.0**1023, 1e154, 1e-154, 2**53, 10**18, 10**300])).filter(
        lambda x: not (isinstance(x, float) and math.isnan(x)))


def _any_number() -> st.SearchStrategy[float | int]:
    return st.one_of(st.sampled_from(NICE), st.integers(1, 10_000), st.floats(0, 1),
                     _extreme_number(), _extreme_number())


@st.composite
def _argument(draw: st.DrawFn, annotation: Any, depth: int) -> Any:
    """A Python value for a field annotated ``annotation``: mostly of the right kind, with
    extreme numbers."""
    kind = str(annotation)
    if "None" in kind and draw(st.integers(0, 4)) == 0:
        return None
    if "Schedule" in kind and "tuple" in kind:
        return tuple(draw(st.lists(_schedule_arg(depth), min_size=1, max_size=3)))
    if "Schedule" in kind:
        return draw(_schedule_arg(depth))
    if "tuple[tuple" in kind:
        times = sorted(draw(st.lists(_any_number(), max_size=4)))
        return tuple((t, draw(_any_number())) for t in times)
    if "tuple" in kind:
        return tuple(sorted(draw(st.lists(_any_number(), max_size=4))))
    if "bool" in kind:
        return draw(st.booleans())
    if "str" in kind:
        return draw(st.sampled_from(STRINGS))
    if "int" in kind and "float" not in kind:
        return draw(st.one_of(st.integers(0, 20), st.sampled_from([2**53, 10**300]),
                              _extreme_number()))
    return draw(_any_number())


@st.composite
def _constructed(draw: st.DrawFn, depth: int) -> Any:
    """A schedule from a registered constructor with drawn arguments, or the error it
    raised (an ``lrkit.Error`` is a valid outcome; the caller judges the rest)."""
    name, cls = draw(st.sampled_from(CLASSES if depth > 0 else
                                     [(n, c) for n, c in CLASSES if not c.positional or
                                      "Schedule" not in str(_fields(c)[0].type)]))
    kwargs: dict[str, Any] = {}
    for f in _fields(cls):
        required = f.default is dataclasses.MISSING
        if required or draw(st.integers(0, 2)) == 0:
            kwargs[f.name] = draw(_argument(f.type, depth - 1))
    return cls, kwargs


@st.composite
def _schedule_arg(draw: st.DrawFn, depth: int) -> Any:
    """A schedule (built with extreme values, if they are accepted) or a number."""
    if depth <= 0 or draw(st.integers(0, 3)) == 0:
        return draw(_any_number())
    cls, kwargs = draw(_constructed(depth))
    try:
        return cls(**kwargs)
    except lrkit.Error:
        return draw(_any_number())


def constructor_calls() -> st.SearchStrategy[tuple[type, dict[str, Any]]]:
    """``(cls, kwargs)``: a registered schedule class and arguments for it, drawn from the
    field annotations, with extreme numbers (and schedules made of them) as values."""
    return st.integers(0, 2).flatmap(_constructed)


def _own_times(s: lrkit.Schedule) -> list[float]:
    """The numbers a schedule is made of (its boundaries, lengths, ...) and their
    neighbours: where formulas switch branches."""
    out: list[float] = []
    stack: list[Any] = [s]
    while stack and len(out) < 200:
        x = stack.pop()
        if isinstance(x, lrkit.Schedule):
            stack.extend(getattr(x, f.name) for f in _fields(type(x)))
            if x.length is not None:
                stack.append(x.length)
        elif isinstance(x, tuple):
            stack.extend(x)
        elif isinstance(x, (int, float)) and not isinstance(x, bool):
            v = abs(float(x))
            if math.isfinite(v):
                near = [v, math.nextafter(v, math.inf), math.nextafter(v, 0.0), v * 2, v / 2]
                out += [x for x in near if math.isfinite(x)]
    return out


def evaluate(s: lrkit.Schedule) -> str:
    """What is wrong with evaluating ``s`` ('' if nothing): every value at :data:`TIMES`
    and at its own numbers is finite and ``>= 0``, ``s(t)`` equals ``s.values([t])`` to
    :data:`ULP_BOUND`, and a ``t`` too large for a float is an ``lrkit.Error``."""
    n = s.length
    if n is not None and not (math.isfinite(n) and n >= 0):
        return f"length {n!r}"
    ts = sorted(set(TIMES + _own_times(s)))
    vec = s.values(ts)
    for t, v in zip(ts, vec.tolist()):
        x = s(t)
        if not (math.isfinite(x) and x >= 0):
            return f"s({t!r}) = {x!r}"
        if not (math.isfinite(v) and v >= 0):
            return f"values([{t!r}]) = {v!r}"
        if x != v and not (abs(x) < TINY and abs(v) < TINY) and not math.isclose(
                x, v, rel_tol=ULP_BOUND):
            return f"s({t!r}) = {x!r} but values([{t!r}]) = {v!r}"
    try:
        s(10**400)
    except lrkit.Error:
        pass
    else:
        return "s(10**400) was not refused"
    return ""


def attempt_constructor(cls: type, kwargs: dict[str, Any]) -> Outcome:
    """Build ``cls(**kwargs)``; if it is accepted, judge its evaluation (:func:`evaluate`)
    and its round trips, all within :data:`SLOW` seconds."""
    start = time.perf_counter()
    holder: list[Any] = []
    outcome = attempt(lambda: holder.append(cls(**kwargs)) or holder[-1])
    if outcome.kind != "ok":
        return outcome
    try:
        problem = evaluate(holder[0])
    except Exception as e:  # noqa: BLE001 - the point: any exception is a finding
        problem = f"evaluating {holder[0]!r}: {type(e).__name__}: {e}"
    seconds = time.perf_counter() - start
    if problem:
        return Outcome("unexpected", seconds, f"{holder[0]!r}: {problem}")
    return Outcome("ok", seconds)
