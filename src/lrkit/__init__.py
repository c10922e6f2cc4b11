"""lrkit: learning-rate schedules as portable values.

A schedule is an immutable value with one formula, evaluated on Python
floats (``s(t)``), NumPy (``s.values(n)``), and PyTorch, ``jax.numpy`` or
``keras.ops`` (``s.evaluate(t, xp)``). ``t`` counts completed optimizer
updates: the first update uses ``s(0)``. Finite schedules hold their last
value forever. ``repr(s)`` is a spec that :func:`parse` reads back.

Each schedule has one public name, its spec name, which is its class:

>>> import lrkit
>>> s = lrkit.warmup(lrkit.cosine(0.1, steps=1000), warmup_steps=100)
>>> s
warmup(cosine(init=0.1, steps=1000), warmup_steps=100)
>>> lrkit.parse(repr(s)) == s, isinstance(s, lrkit.warmup)
(True, True)
"""

from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__

if TYPE_CHECKING:
    from ._public import *  # noqa: F403
    from ._public import __all__ as __all__

# The schedules, the spec language and the errors live in ``lrkit._public``, imported on
# the first use of any name (PEP 562): ``import lrkit`` alone, and every ``lrkit``
# command's import of ``lrkit.cli``, costs nothing until a schedule is needed
# (``benchmarks/bench_startup.py``).


def __getattr__(name: str) -> Any:
    """Load the public names on first use; ``lrkit.find_lr`` (the range test, which imports
    torch) on its own first use."""
    if name == "find_lr":
        from .experiment.lr_find import find_lr

        return find_lr
    if name != "__all__" and (name.startswith("_") or _submodule(name)):
        raise _missing(name)  # __path__, __wrapped__, a submodule not imported yet
    from . import _public

    here = globals()
    here.update({n: getattr(_public, n) for n in _public.__all__}, __all__=_public.__all__)
    if name in here:
        return here[name]
    raise _missing(name)


def _missing(name: str) -> AttributeError:
    """The error for a name lrkit does not have (Python's traceback adds "Did you mean"
    from ``name``, ``obj`` and :func:`__dir__`)."""
    import sys

    return AttributeError(f"module 'lrkit' has no attribute {name!r}", name=name,
                          obj=sys.modules[__name__])


def _submodule(name: str) -> bool:
    """Whether ``lrkit.<name>`` is a module (``from . import spec`` asks the package for it
    before importing it: that must not load every public name). No public name is one."""
    from importlib.util import find_spec

    return find_spec(f"{__name__}.{name}") is not None


def __dir__() -> list[str]:
    from . import _public

    return sorted({*globals(), *_public.__all__, "find_lr"})
