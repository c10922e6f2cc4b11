"""Start-up time of the ``lrkit`` commands that train nothing, against ``import numpy``.

Whole processes, run side by side in rounds (each round runs every command once, in
turn, so a busy machine slows all of them alike); prints per command the median wall
time and the median CPU time (user + system of the child process, which a machine
busy with other work inflates far less than wall time), in ms, each with its
difference to ``python -c "import numpy"``.
The goal (issue 12): every command here within ``import numpy`` + 40 ms.

Two settings make the figures mean what a user sees, and apply to every command alike:

* lrkit's modules are compiled to ``.pyc`` first and the children may read them
  (``PYTHONDONTWRITEBYTECODE`` is dropped from their environment): an installed package
  has its bytecode, as NumPy's wheel does, whereas a source tree run with that variable
  set recompiles lrkit at every start (about +30 ms, which is not start-up time);
* ``OPENBLAS_NUM_THREADS=1``: NumPy's OpenBLAS threads spin on the other cores for a
  while after ``import numpy``, so the CPU time of a process counts them for as long as
  it runs, doubling every difference on two cores; with one thread, CPU time is the
  work the command does (and equals wall time on a quiet machine).

    PYTHONPATH=src python benchmarks/bench_startup.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

GOAL_MS = 40.0

_LRKIT = "from lrkit.cli import entry; entry()"


def commands(tmp: str) -> dict[str, list[str]]:
    spec = os.path.join(tmp, "s.json")
    with open(spec, "w") as f:
        f.write('{"type": "cosine", "init": 0.1, "steps": 100}')
    lrkit = [sys.executable, "-c", _LRKIT]
    return {
        "import numpy": [sys.executable, "-c", "import numpy"],
        "import lrkit": [sys.executable, "-c", "import lrkit"],
        "lrkit.cosine": [sys.executable, "-c", "import lrkit; lrkit.cosine"],
        "lrkit --help": [*lrkit, "--help"],
        "lrkit": lrkit,
        "lrkit list --plain": [*lrkit, "list", "--plain"],
        "lrkit list": [*lrkit, "list"],
        "lrkit values": [*lrkit, "values", "cosine(init=0.1, steps=N)", "--steps", "100"],
        "lrkit show FILE": [*lrkit, "show", spec],
        "lrkit plot": [*lrkit, "plot", "cosine(init=0.1, steps=100)", "--width", "60"],
        "lrkit compare --help": [*lrkit, "compare", "--help"],
        "lrkit find-lr --help": [*lrkit, "find-lr", "--help"],
        "lrkit tune --help": [*lrkit, "tune", "--help"],
    }


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """One whole process: (wall ms, CPU ms: user + system of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, env=env, check=False)
    wall = 1000 * (time.perf_counter() - t)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 2):  # 2: bare `lrkit` before it printed the help
        raise SystemExit(f"{argv} failed: {proc.stderr.decode()[-300:]}")
    return wall, 1000 * (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cmds = commands(tmp)
        numpy = cmds.pop("import numpy")
        times: dict[str, list[float]] = {k: [] for k in cmds}
        cpu: dict[str, list[float]] = {k: [] for k in cmds}
        base: list[tuple[float, float]] = []
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(COLUMNS="100", OPENBLAS_NUM_THREADS="1")
        import lrkit

        compileall.compile_dir(os.path.dirname(lrkit.__file__), quiet=1)
        for argv in [numpy, *cmds.values()]:  # warm the file caches once
            measure(argv, env)
        for _ in range(args.rounds):
            for name, argv in cmds.items():  # each right after its own `import numpy`
                b = measure(numpy, env)
                w, c = measure(argv, env)
                base.append(b)
                times[name].append(w - b[0])
                cpu[name].append(c - b[1])
    print(f"{args.rounds} rounds, each command right after an `import numpy`; medians of the "
          f"differences.\nGoal: within import numpy + {GOAL_MS:.0f} ms (judged on CPU time)")
    print(f"{'command':<22}{'wall ms':>9}{'- numpy':>9}{'CPU ms':>9}{'- numpy':>9}  goal")
    base_wall = statistics.median(b[0] for b in base)
    base_cpu = statistics.median(b[1] for b in base)
    print(f"{'import numpy':<22}{base_wall:>9.1f}{0:>+9.1f}{base_cpu:>9.1f}{0:>+9.1f}")
    for name in cmds:
        wall, c = statistics.median(times[name]), statistics.median(cpu[name])
        ok = "" if name.startswith(("import", "lrkit.")) else (
            "ok" if c <= GOAL_MS else "MISSED")
        print(f"{name:<22}{base_wall + wall:>9.1f}{wall:>+9.1f}{base_cpu + c:>9.1f}{c:>+9.1f}"
              f"  {ok}")


if __name__ == "__main__":
    main()
