"""`import lrkit` stays light: no framework, plotting or CLI library."""

import subprocess
import sys

HEAVY = ("torch", "keras", "jax", "optax", "matplotlib", "optuna", "rich", "click", "typer",
         "pandas", "yaml", "sklearn", "lightning")


def test_import_lrkit_imports_no_heavy_module():
    code = (
        "import sys, lrkit\n"
        "s = lrkit.parse('warmup(cosine(peak=0.1, steps=100), steps=10)')\n"
        "s.values(10); s(3)\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
