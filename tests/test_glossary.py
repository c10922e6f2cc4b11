"""One vocabulary: every parameter name of the catalogue has exactly one meaning.

``lrkit.glossary.GLOSSARY`` (name -> meaning, unit) and ``lrkit.REGISTRY`` pin each other:
every init field of every registered schedule is in the glossary, and every glossary name
is a field of some schedule. ``docs/catalogue.md`` carries the table as rendered from it.
"""

import dataclasses
from pathlib import Path

import pytest

import lrkit
from lrkit.glossary import GLOSSARY, table

DOCS = Path(__file__).resolve().parents[1] / "docs"
# other test modules may register schedules of their own: lrkit's are the ones pinned here
BUILTIN = {n: c for n, c in lrkit.REGISTRY.items() if c.__module__.startswith("lrkit.")}


def fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.init and f.name != "_"]


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_field_is_in_the_glossary(name):
    missing = [f for f in fields(BUILTIN[name]) if f not in GLOSSARY]
    assert not missing, f"{name}: add {missing} to lrkit/glossary.py (one meaning per name)"


def test_every_glossary_name_is_used():
    used = {f for cls in BUILTIN.values() for f in fields(cls)}
    assert sorted(set(GLOSSARY) - used) == []


def test_entries_are_a_meaning_and_a_unit():
    for name, entry in GLOSSARY.items():
        assert isinstance(entry, tuple) and len(entry) == 2, name
        meaning, unit = entry
        assert meaning and unit and "|" not in meaning + unit and "\n" not in meaning, name
    meanings = [m for m, _ in GLOSSARY.values()]
    assert len(set(meanings)) == len(meanings)  # no two names for one meaning


def test_retired_names_are_gone():
    """The 0.1 names that meant something else, or the same as another name (upgrading.md)."""
    retired = {"drop", "rate", "decay", "gamma", "timescale", "pct", "exponent", "k_decay",
               "cycle", "total", "low", "high", "up", "down", "mult"}
    assert retired & set(GLOSSARY) == set()
    shapes = {cls.__dataclass_fields__["shape"].default for cls in BUILTIN.values()
              if "shape" in fields(cls)}
    assert shapes <= {"linear", "cosine", "exponential", "1-sqrt"}


def test_the_catalogue_page_carries_the_table():
    page = (DOCS / "catalogue.md").read_text(encoding="utf-8")
    assert table() in page, "run docs/make_catalogue.py"
    assert table().splitlines()[0] == "| name | meaning | unit |"
    assert len(table().splitlines()) == 2 + len(GLOSSARY)


def test_the_glossary_module_is_a_leaf():
    import ast

    import lrkit.glossary as g

    tree = ast.parse(Path(g.__file__).read_text(encoding="utf-8"))
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert all(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in imports)
