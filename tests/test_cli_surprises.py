"""Issue 12 item 3: the command line never surprises (each test failed before the fix).

The compare table at 80 and 120 columns, bare ``lrkit``, "did you mean" for commands and
options, ``lrkit list`` keeping square brackets, ``--out`` checked before training,
Ctrl-C on a real process (exit 130, what is stored), progress bars ending at their
total, ``--task`` from the current folder, CSV cells, the regression footer, the flat
terminal plot, and the light commands' imports."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrkit.cli import COMMANDS, main, run
from lrkit.experiment.table import fit
from test_kill_resume import _complete

SRC = str(Path(__file__).resolve().parent.parent / "src")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
LONG = "warmup(cosine(init=P, steps=N), warmup_steps=N/10)"


def cli(capsys, *argv):
    code = run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _process(argv, cwd=None, **kw):
    """``lrkit`` as the console script runs it: the current folder not on sys.path (-P)."""
    env = {**os.environ, "PYTHONPATH": SRC}
    return [sys.executable, "-P", "-c", "from lrkit.cli import entry; entry()", *argv], env


# -- the compare table -----------------------------------------------------------------
@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A real, small comparison of four schedules, one an unlabelled long spec."""
    out = tmp_path_factory.mktemp("table")
    argv = ["compare", "-s", "cosine", "-s", "wsd", "-s", "constant", "-s", LONG,
            "--epochs", "1", "--seeds", "2", "--peaks", "0.05,0.1", "-q", "-o", str(out)]
    assert run(argv) == 0
    return json.loads((out / "results.json").read_text())


def _render(report, width):
    from rich.console import Console

    from lrkit.experiment.report import print_table

    buf = io.StringIO()
    print_table(report, Console(file=buf, width=width, color_system=None))
    return buf.getvalue()


@pytest.mark.parametrize("width", [80, 120])
def test_the_compare_table_reads_at_80_and_120_columns(report, width):
    text = _render(report, width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    for r in report["schedules"]:
        row = next(line for line in lines if re.match(rf"{r['rank']}\s{{3}}\S", line))
        cells = re.split(r"\s{3,}", row)
        label = cells[1]
        assert cells[0] == str(r["rank"])
        if label.endswith("\u2026"):  # cut: given in full under the table
            assert r["label"].startswith(label[:-1])
            assert f"#{r['rank']} = {r['label']}" in text
        else:
            assert label == r["label"]
        assert cells[2].startswith(f"{r['val_loss']['mean']:.4f} \u00b1 ")  # the score stays
    assert LONG in text  # the unlabelled spec is never wrapped over several lines
    assert sum(LONG[:8] in line for line in lines) == 2  # its cut row and its note
    if width == 80:
        assert "left out at 80 columns: steps to acc\u22650.95, oscill." in text
    else:
        assert "left out" not in text


@settings(max_examples=60, deadline=None)
@given(labels=st.lists(st.text(st.characters(min_codepoint=33, max_codepoint=126),
                               min_size=1, max_size=90), min_size=1, max_size=8, unique=True),
       width=st.integers(60, 200))
def test_fit_keeps_every_rank_and_label_within_the_width(labels, width):
    header = ["#", "schedule", "val loss", "val acc", "vs #1", "steps to acc\u22650.95",
              "best peak", "oscill.", "diverged"]
    body = [[str(i + 1), lab, "0.1148 \u00b1 0.223", "97.2% \u00b1 7.1", "+0.0156 \u00b1 0.084",
             "46 (1/2)", "0.1*", "0.695", "0/4"] for i, lab in enumerate(labels)]
    lay = fit(header, body, width)
    assert lay.header[:3] == ["#", "schedule", "val loss"]
    widths = [max(len(x) for c in [h, *(r[i] for r in lay.body)] for x in c.split("\n"))
              for i, h in enumerate(lay.header)]
    assert sum(widths) + 3 * (len(widths) - 1) <= width
    for lab, row in zip(labels, lay.body):
        assert row[1] == lab or (row[1].endswith("\u2026") and lab.startswith(row[1][:-1])
                                 and f"#{row[0]} = {lab}" in lay.notes)


def test_the_regression_footer_does_not_mention_accuracy(report):
    regression = {**report, "schedules": [{**r, "val_acc": None} for r in report["schedules"]]}
    from lrkit.experiment.report import caption

    assert caption(report).startswith("final val loss/acc: ")
    assert caption(regression).startswith("final val loss: mean")


# -- usage ------------------------------------------------------------------------------
def test_bare_lrkit_prints_the_usage_and_the_commands(capsys):
    code, out, err = cli(capsys)
    assert (code, err) == (0, "")
    assert out.startswith("Usage: lrkit [OPTIONS] COMMAND [ARGS]...\n")
    listed = re.findall(r"^  (\S+)  ", out.split("Commands:\n")[1], flags=re.M)
    assert listed == sorted(COMMANDS)


@pytest.mark.parametrize(("argv", "line"), [
    (["comprae"], "No such command 'comprae'; did you mean 'compare'? (see 'lrkit --help')"),
    (["lsit"], "No such command 'lsit'; did you mean 'list'? (see 'lrkit --help')"),
    (["compare", "--seed", "3"],
     "No such option '--seed'; did you mean '--seeds'? (see 'lrkit compare --help')"),
    (["plot", "constant(1)", "--widht", "50"],
     "No such option '--widht'; did you mean '--width'? (see 'lrkit plot --help')"),
    (["values", "constant(1)", "--zzz"], "No such option '--zzz' (see 'lrkit values --help')"),
])
def test_typos_get_a_did_you_mean(capsys, argv, line):
    assert cli(capsys, *argv) == (2, "", f"lrkit: error: {line}\n")


def test_the_command_table_matches_the_commands(capsys):
    """COMMANDS (what ``lrkit --help`` lists without importing) is every command, each with
    its own one-line help."""
    for name in COMMANDS:
        assert main.get_command(None, name) is not None  # loads its module
    assert set(main.commands) == set(COMMANDS)
    for name, (module, short) in COMMANDS.items():
        cmd = main.commands[name]
        assert cmd.callback.__module__ == f"lrkit.cli.{module}"
        assert cmd.get_short_help_str(limit=200) == short


def test_list_keeps_square_brackets(capsys):
    code, out, _ = cli(capsys, "list")
    assert code == 0
    assert "levels[i] for at[i-1] <= t < at[i]" in " ".join(out.split())


def test_plot_of_a_constant_in_the_terminal(capsys):
    code, out, err = cli(capsys, "plot", "constant(0.1)", "--width", "40", "--height", "8")
    lines = ANSI.sub("", out).splitlines()
    labels = [line.split("\u2524")[0].strip() for line in lines if "\u2524" in line]
    assert (code, err, labels) == (0, "", ["0.1", "0.05", "0"])
    assert lines[0].split("\u2524")[1].strip()  # the line is drawn at the top row
    assert not any(re.split("[\u2524\u2502]", line)[1].strip() for line in lines[1:5])


# -- imports of the light commands ------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["--help"], [], ["list"], ["list", "--plain"], ["values", "constant(1)", "--steps", "3"],
    ["show", "cosine(init=1, steps=10)"], ["plot", "cosine(init=1, steps=10)"],
    ["comprae"], ["compare", "--help"], ["find-lr", "--help"], ["tune", "--help"],
])
def test_light_commands_do_not_import_the_experiments(argv):
    """Start-up (issue 12): the light commands import no framework, no rich and none of the
    experiments but the recipe; the help and a mistyped command not even NumPy."""
    code = ("import sys\nfrom lrkit.cli import run\nrun(sys.argv[1:])\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'optuna', 'matplotlib', 'sklearn', 'keras', 'jax', 'rich', 'yaml')]\n"
            "exp = sorted(m for m in sys.modules if m.startswith('lrkit.experiment.'))\n"
            "print('IMPORTED', heavy, exp, 'numpy' in sys.modules, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": SRC}, timeout=60)
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("IMPORTED [] "), line
    schedules = argv[:1] in (["list"], ["values"], ["show"], ["plot"])
    options = {"compare": ["lrkit.experiment.recipe"], "find-lr": ["lrkit.experiment.recipe"],
               "tune": ["lrkit.experiment.families", "lrkit.experiment.recipe"]}
    assert line == f"IMPORTED [] {options.get(argv[0] if argv else '', [])} {schedules}"


# -- --out, Ctrl-C, progress --------------------------------------------------------------
@pytest.mark.parametrize(("out", "line"), [
    ("/proc/lrkit", "--out '/proc/lrkit' is not a writable folder: No such file or directory"),
    ("{file}", "--out '{file}' is a file, not a folder; give a folder for the outputs"),
])
def test_out_is_checked_before_any_training(capsys, tmp_path, out, line):
    afile = tmp_path / "afile"
    afile.write_text("x")
    out = out.format(file=afile)
    db = tmp_path / "s.db"
    code, _, err = cli(capsys, "compare", "--epochs", "1", "--seeds", "1", "-o", out,
                       "--storage", f"sqlite:///{db}")
    assert (code, err) == (2, f"lrkit: error: {line.format(file=afile)}\n")
    assert not db.exists()  # refused before the store opened, hence before any training
    assert afile.read_text() == "x"


def test_out_is_made_when_missing(capsys, tmp_path):
    from lrkit.experiment.options import check_out

    assert check_out(str(tmp_path / "a" / "b")) == str(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir() and not list((tmp_path / "a" / "b").iterdir())


def test_ctrl_c_exits_130_and_says_what_is_stored(tmp_path):
    out = tmp_path / "o"
    argv = ["compare", "-s", "cosine", "-s", "constant", "--steps", "150", "--seeds", "4",
            "--peaks", "0.05", "--chunk-size", "1", "-q", "-o", str(out)]
    cmd, env = _process(argv)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 120
        while _complete(out / "lrkit.db") < 2 and proc.poll() is None:
            assert time.monotonic() < deadline, "no run finished in time"
            time.sleep(0.05)
        assert proc.poll() is None, "finished before the interrupt"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    stored = _complete(out / "lrkit.db")
    assert 2 <= stored < 8
    url = "sqlite:///" + str(out / "lrkit.db")
    assert proc.returncode == 130
    assert err.splitlines()[-1] == (
        f"lrkit: interrupted; {stored} finished runs stored in study 'lrkit-compare' at {url}; "
        "run the same command again to resume")


def test_progress_bars_end_at_their_total():
    from lrkit.cli.experiment import _Bars
    from lrkit.experiment.progress import per_run, steps_progress

    bars = _Bars(quiet=False)
    with bars:
        advance = per_run(bars.phase("training", 175), 46)  # 175 runs of 46 steps, batched
        for _ in range(46):
            for _ in range(25):
                advance(7)  # a chunk of 7 runs moves one step: 7/46 of a run each time
        sweep = steps_progress(bars, "range test")
        for step in range(1, 23):  # a range test that stopped at divergence, 22 of 30
            sweep(step, 30)
    done = {t.description: (t.completed, t.total) for t in bars.bars.tasks}
    assert done == {"training": (175, 175), "range test": (30, 30)}


# -- --task from the current folder; CSV cells -----------------------------------------
FACTORY = """
import torch


def make():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 3, generator=g)
    y = (x[:, 0] > 0).long()
    return {"model": lambda: torch.nn.Linear(3, 2), "data": (x[:64], y[:64], x[64:], y[64:]),
            "name": "here"}
"""


def test_task_from_a_module_in_the_current_folder(tmp_path):
    (tmp_path / "mytask_h4c.py").write_text(FACTORY)
    cmd, env = _process(["compare", "--task", "mytask_h4c:make", "-s", "constant", "--epochs",
                         "30", "--seeds", "1", "--peaks", "0.5", "-q", "--json", "-o", "out"])
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["task"]["name"] == "here"


@pytest.mark.parametrize(("body", "line"), [
    ("1,2,0\n3,,1\n4,5,0\n", "column 'b' has an empty cell in data row 2"),
    ("1,2,0\n3,nan,1\n4,5,0\n", "column 'b' has a missing or non-finite value (nan) "
                                "in data row 2"),
    ("1,2,0\n3,4,\n4,5,0\n", "column 'y' has an empty cell in data row 2"),
    ("1,2,0\n3,4,1\n4,5,inf\n", "column 'y' has a missing or non-finite value (inf) in data "
                                "row 3"),
    ("1,2,3\n3,4,3\n4,5,3\n", "target 'y' is 3.0 in every row; nothing to learn"),
    ("1,2,0.5\n3,4,0.5\n4,5,0.5\n", "target 'y' is 0.5 in every row; nothing to learn"),
    ("1,x,0\n3,4,1\n4,5,0\n", "column 'b' is not numeric ('x';"),
])
def test_csv_cells_are_named(capsys, tmp_path, body, line):
    data = tmp_path / "t.csv"
    data.write_text("a,b,y\n" + body)
    code, out, err = cli(capsys, "compare", "--data", str(data), "--target", "y", "-q",
                         "-o", str(tmp_path / "o"), "--storage", f"sqlite:///{tmp_path}/s.db")
    assert (code, out) == (2, "")
    assert err.startswith(f"lrkit: error: data file {str(data)!r}: {line}")
    assert err.count("\n") == 1
    assert not (tmp_path / "s.db").exists()
