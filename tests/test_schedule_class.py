"""``schedule_class``: every schedule is a frozen dataclass value, with the ``__init__``
the ``dataclasses`` module would write, and equality and hashing by its compared fields.

``schedule_class`` compiles one ``__init__`` per class and leaves equality, hashing and
immutability to :class:`lrkit.Schedule` (start-up time, issue 12); these tests pin that
nothing a dataclass promises was lost on the way.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle

import pytest
from hypothesis import given, settings

import lrkit
from lrkit import REGISTRY, Schedule  # the face: every built-in name is registered
from lrkit.schedule import schedule_class
from strategies import schedules

BUILTIN = {n: c for n, c in REGISTRY.items() if c.__module__.startswith("lrkit.")}
assert len(BUILTIN) > 25


def dataclass_signature(cls: type) -> list[tuple[str, object, object]]:
    """(name, kind, default) of the ``__init__`` a dataclass of these fields has."""
    fields = [f for f in dataclasses.fields(cls) if f.init]
    ordered = [f for f in fields if not f.kw_only] + [f for f in fields if f.kw_only]
    P = inspect.Parameter
    return [(f.name, P.KEYWORD_ONLY if f.kw_only else P.POSITIONAL_OR_KEYWORD,
             P.empty if f.default is dataclasses.MISSING else f.default) for f in ordered]


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_init_is_the_dataclass_init(name):
    cls = BUILTIN[name]
    params = list(inspect.signature(cls).parameters.values())
    assert [(p.name, p.kind, p.default) for p in params] == dataclass_signature(cls)
    assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"
    assert dataclasses.is_dataclass(cls)


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_equality_compares_the_compared_fields(name):
    cls = BUILTIN[name]
    assert cls._compared == tuple(f.name for f in dataclasses.fields(cls) if f.compare)


@settings(max_examples=200, deadline=None)
@given(schedules())
def test_a_schedule_is_a_value(s):
    twin = lrkit.parse(repr(s))
    assert twin == s and hash(twin) == hash(s) and not (twin != s)
    assert pickle.loads(pickle.dumps(s)) == s
    assert copy.deepcopy(s) == s and copy.copy(s) == s
    assert (s == object()) is False and s.__eq__(object()) is NotImplemented
    for f in dataclasses.fields(s):
        with pytest.raises(dataclasses.FrozenInstanceError, match=f"field {f.name!r}"):
            setattr(s, f.name, 1.0)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(s, f.name)


def test_different_classes_with_equal_fields_differ():
    assert lrkit.minimum(0.1, 0.2) != lrkit.maximum(0.1, 0.2)
    assert lrkit.constant(0.1) * 1.0 != lrkit.constant(0.1) + 1.0
    assert hash(lrkit.join(lrkit.constant(0.1, steps=5), 0.2)) == hash(
        lrkit.join(lrkit.constant(0.1, steps=5), 0.2))  # join's bounds: compare=False


def test_replace_checks_again():
    s = lrkit.cosine(0.1, steps=100)
    assert s.replace(steps=10) == lrkit.cosine(0.1, steps=10)
    with pytest.raises(lrkit.InputError, match="steps"):
        s.replace(steps=-1)


def test_a_user_schedule_class_works_the_same():
    @schedule_class
    class Halves(Schedule):
        """``init / 2**t``."""

        name = "test_halves"
        value_fields = ("init",)
        init: float
        _: dataclasses.KW_ONLY
        floor: float = 0.0

        def _f(self, t, xp):
            return xp.maximum(self.init * 0.5**t, t * 0.0 + self.floor)

    try:
        s = Halves(1.0, floor=0.125)
        assert (s(1), s(10), repr(s)) == (0.5, 0.125, "test_halves(init=1.0, floor=0.125)")
        assert lrkit.parse(repr(s)) == s
        assert str(inspect.signature(Halves)) == "(init: 'float', *, floor: 'float' = 0.0) -> None"
        with pytest.raises(TypeError, match="takes 2 positional arguments"):
            Halves(1.0, 0.5)  # keyword-only
    finally:
        del REGISTRY["test_halves"]


def test_a_default_factory_is_refused():
    with pytest.raises(TypeError, match="default_factory"):
        @schedule_class
        class Bad(Schedule):
            levels: tuple = dataclasses.field(default_factory=tuple)
