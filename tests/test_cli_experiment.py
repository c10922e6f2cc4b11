"""``lrkit compare`` / ``lrkit find-lr`` from the command line: output, resume, bad input."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from lrkit.cli import run
from lrkit.experiment import compare as cmp
from lrkit.experiment.progress import Silent
from lrkit.experiment.store import Store

TINY = ["-s", "cosine", "-s", "constant", "--epochs", "2", "--seeds", "2", "--peaks", "0.05"]


def test_help_lists_the_commands_without_heavy_imports():
    code = ("import sys\nfrom lrkit.cli import run\nrun(['--help'])\nrun(['compare', '--help'])\n"
            "print('HEAVY', [m for m in ('torch', 'optuna', 'matplotlib', 'rich', 'sklearn') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "compare" in out and "find-lr" in out and "--peaks" in out
    assert out.strip().endswith("HEAVY []")


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    """A storage holding a finished tiny comparison, and what it printed."""
    d = tmp_path_factory.mktemp("pop")
    url = f"sqlite:///{d / 'keep.db'}"
    assert run(["compare", *TINY, "--out", str(d / "out"), "--storage", url, "-q"]) == 0
    return d, url


def _snapshot(d, url):
    return hashlib.sha256((d / "keep.db").read_bytes()).hexdigest(), Store(url).load()


def test_compare_writes_the_report_and_resumes_without_training(populated, capsys):
    d, url = populated
    out = d / "out"
    first = json.loads((out / "results.json").read_text())
    assert {r["label"] for r in first["schedules"]} == {"cosine", "constant"}
    assert {p.name for p in out.iterdir()} >= {"compare.png", "results.json", "report.html"}
    assert Store(url).count() == 4
    assert run(["compare", *TINY, "--out", str(out), "--storage", url, "--json", "-q"]) == 0
    assert json.loads(capsys.readouterr().out) == first

    class Count(Silent):
        totals: dict[str, int] = {}

        def phase(self, name, total):
            self.totals[name] = total
            return super().phase(name, total)

    spy = Count()
    again = cmp.run_compare(cmp.Options(schedules=["cosine", "constant"], epochs=2, seeds=2,
                                        peaks="0.05", out=str(out), storage=url,
                                        command=first["command"]), spy)
    assert spy.totals == {"training": 0}  # everything was stored: nothing trained
    assert again.to_dict() == first
    assert Store(url).count() == 4


def test_table_and_paths_on_the_terminal(tmp_path, capsys):
    assert run(["compare", *TINY, "--out", str(tmp_path)]) == 0
    cap = capsys.readouterr()
    assert "val loss" in cap.out and "best peak" in cap.out and "cosine" in cap.out
    assert "winner:" in cap.err and "report.html" in cap.err


def _csv(path, text):
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("case", [
    "missing data file", "missing column", "bad spec", "failing import", "empty dataset",
    "bad storage", "bad peaks", "bad seeds", "zero epochs", "both lengths", "target without data",
    "zero chunk size", "bad device", "bad betas", "bad grad clip", "zero eval every",
])
def test_bad_input_is_one_line_exit_2_and_storage_untouched(case, populated, tmp_path, capsys):
    d, url = populated
    before = _snapshot(d, url)
    rows = "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40))
    good = _csv(tmp_path / "t.csv", "a,b,y\n" + rows)
    args = {
        "missing data file": ["--data", str(tmp_path / "nope.csv"), "--target", "y"],
        "missing column": ["--data", good, "--target", "label"],
        "bad spec": ["-s", "cosine(init=1, steps=N"],
        "failing import": ["--task", "no_such_module_xyz:make"],
        "empty dataset": ["--data", _csv(tmp_path / "e.csv", "a,b,y\n"), "--target", "y"],
        "bad storage": ["--storage", "nosuchdb://nowhere/x"],
        "bad peaks": ["--peaks", "fast"],
        "bad seeds": ["--seeds", "0"],
        "zero epochs": ["--epochs", "0"],
        "both lengths": ["--steps", "10"],
        "target without data": ["--target", "y"],
        "zero chunk size": ["--chunk-size", "0"],
        "bad device": ["--device", "gpu"],
        "bad betas": ["--betas", "0.9"],
        "bad grad clip": ["--grad-clip", "-1"],
        "zero eval every": ["--eval-every", "0"],
    }[case]
    argv = ["compare", *TINY, "--out", str(tmp_path / "o"), "-q", *args]
    if case != "bad storage":
        argv += ["--storage", url]
    capsys.readouterr()
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("lrkit: error: ") and err.count("\n") == 1, err
    assert _snapshot(d, url) == before


def test_find_lr_prints_a_suggestion_and_writes_the_plot(tmp_path, capsys):
    pytest.importorskip("lrkit.experiment.lr_find")
    assert run(["find-lr", "--seeds", "2", "--out", str(tmp_path), "-q"]) == 0
    lr = float(capsys.readouterr().out.strip())
    assert 1e-4 < lr < 10
    assert (tmp_path / "find_lr.png").read_bytes()[:4] == b"\x89PNG"


def test_find_lr_bad_input(tmp_path, capsys):
    assert run(["find-lr", "--data", str(tmp_path / "none.csv"), "--target", "y"]) == 2
    assert capsys.readouterr().err.startswith("lrkit: error: data file not found")
    assert run(["find-lr", "--device", "cuda:7", "-q"]) == 2
    assert "cuda" in capsys.readouterr().err


def test_find_lr_on_tiny_lm_uses_its_recipe_and_options(tmp_path, capsys, monkeypatch):
    """find-lr on a task with its own recipe (AdamW, clipping): the options reach the
    trainer; --device cpu is accepted."""
    from lrkit.experiment import tasks

    small = lambda: tasks.tiny_lm_task(context=8, d=8, layers=1, heads=1,  # noqa: E731
                                       max_bytes=20_000, max_val=8)
    monkeypatch.setitem(tasks.BUILTIN, "tiny-lm", small)
    argv = ["find-lr", "--task", "tiny-lm", "--seeds", "1", "--steps", "20", "--device", "cpu",
            "--betas", "0.9,0.99", "--grad-clip", "0.5", "--out", str(tmp_path), "-q"]
    assert run(argv) == 0
    assert 1e-8 < float(capsys.readouterr().out.strip()) < 10


FACTORY = """
import torch


def make():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(160, 4, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return {"model": lambda: torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                                                 torch.nn.Linear(8, 2)),
            "data": (x[:128], y[:128], x[128:], y[128:]), "name": "xor-ish"}


def broken():
    d = make()
    d["model"] = lambda: torch.nn.Linear(3, 2)  # wrong input width: fails in training
    return d
"""


def test_compare_on_a_csv_file_and_on_a_user_factory(tmp_path, monkeypatch, capsys):
    rows = "".join(f"{i % 7},{(i * 3) % 5},{int(i % 7 > 3)}\n" for i in range(120))
    data = _csv(tmp_path / "table.csv", "a,b,label\n" + rows)
    base = ["compare", "-s", "constant", "-s", "cosine", "--epochs", "10", "--seeds", "2",
            "--peaks", "0.05", "-q", "--json"]
    assert run([*base, "--data", data, "--target", "label", "--out", str(tmp_path / "a")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["task"]["name"] == "table.csv:label" and report["target"] == {"acc": 0.95}
    assert report["task"]["id"].startswith("file:")

    (tmp_path / "h4b_user_task.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert run([*base, "--task", "h4b_user_task:make", "--out", str(tmp_path / "b")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["task"]["name"] == "xor-ish" and len(report["schedules"]) == 2
    assert run([*base, "--task", "h4b_user_task:broken", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lrkit: error: training task 'h4b_user_task:broken' failed")
    assert err.count("\n") == 1
