"""`import lrkit` stays light: no framework, plotting or CLI library."""

import subprocess
import sys

HEAVY = ("torch", "keras", "jax", "optax", "matplotlib", "optuna", "rich", "click", "typer",
         "pandas", "yaml", "sklearn", "lightning")


def test_import_lrkit_imports_no_heavy_module():
    code = (
        "import sys, lrkit\n"
        "s = lrkit.parse('warmup(cosine(init=0.1, steps=100), warmup_steps=10)')\n"
        "s.values(10); s(3)\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_one_public_name_per_schedule():
    """``lrkit.<spec name>`` is the schedule's class (``join`` builds one); no CamelCase."""
    import lrkit

    builtin = {n: c for n, c in lrkit.REGISTRY.items() if c.__module__.startswith("lrkit.")}
    operators = {"mul", "add", "min", "max"}  # written a * b, a + b, min(...), max(...)
    for name, cls in builtin.items():
        if name in operators:
            continue
        assert name in lrkit.__all__, name
        if name == "join":
            assert isinstance(lrkit.join(lrkit.constant(1.0)), cls)
        else:
            assert getattr(lrkit, name) is cls, name
    classes = {n for n in dir(lrkit) if isinstance(getattr(lrkit, n), type)
               and issubclass(getattr(lrkit, n), lrkit.Schedule)}
    assert classes == {"Schedule"} | set(builtin) - operators - {"join"}
    assert sorted(n for n in lrkit.__all__ if not hasattr(lrkit, n)) == []
    assert len(set(lrkit.__all__)) == len(lrkit.__all__)


def test_version_is_the_package_version():
    import re
    from pathlib import Path

    import lrkit

    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert re.search(r'^version = "(.*)"$', pyproject, re.M).group(1) == lrkit.__version__
    assert lrkit.__version__ == "0.2.0"


def test_import_lrkit_alone_loads_nothing_until_a_name_is_used():
    """The face is lazy (PEP 562): ``import lrkit`` (and so every ``lrkit`` command, which
    imports ``lrkit.cli``) loads neither NumPy nor the schedules; the first public name
    does."""
    code = (
        "import sys, lrkit\n"
        "before = sorted(m for m in sys.modules if m.startswith('lrkit') or m == 'numpy')\n"
        "lrkit.cosine\n"
        "after = {'numpy', 'lrkit.spec', 'lrkit.schedules'} <= set(sys.modules)\n"
        "print(before, after)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['lrkit', 'lrkit._version'] True"


def test_no_public_name_is_a_submodule():
    """Importing ``lrkit.X`` binds the module to ``lrkit.X``, so a public name that is also a
    module's would be the module whenever that module loaded first (``lrkit.plateau`` was,
    after ``import lrkit.torch``, until the module became ``lrkit._plateau``)."""
    import importlib
    import pkgutil

    import lrkit
    from lrkit import _public

    modules = {m.name for m in pkgutil.iter_modules(lrkit.__path__)}
    assert set(lrkit.__all__) & modules == set()
    for name in sorted(modules - {"__main__"}):
        importlib.import_module(f"lrkit.{name}")  # every submodule, then every name
    for name in lrkit.__all__:
        assert getattr(lrkit, name) is getattr(_public, name), name
    assert isinstance(lrkit.plateau, type) and lrkit.find_lr.__module__.startswith("lrkit.")
    assert set(lrkit.__all__) <= set(dir(lrkit))


def test_missing_names_say_so():
    import pytest

    import lrkit

    with pytest.raises(AttributeError, match="no attribute 'consine'"):
        lrkit.consine  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute '_nothing'"):
        lrkit._nothing  # noqa: B018
