"""``lrkit plot``, ``values``, ``show`` and ``list``, run in-process and once as a process."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys

import pytest

import lrkit
from lrkit.cli import run

WARM_COS = "warmup(cosine(init=0.1, steps=1000), warmup_steps=100)"
SPECS = [
    WARM_COS,
    "time_decay(0.05, k=0.0001, compounding=True)",
    "one_cycle(peak=0.1, steps=300, three_phase=True)",
    "0.5 * cosine_restarts(init=0.1, cycle_steps=7, cycle_mult=1.5) + 1e-05",
]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def lrkit_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path, name: str, text: str):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("spec", SPECS)
def test_values_are_the_exact_floats(capsys, spec):
    s = lrkit.parse(spec)
    code, out, err = lrkit_cli(capsys, "values", spec, "--steps", "1234")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == 1234
    assert [float(x) for x in lines] == s.values(1234).tolist()
    assert lines == [repr(v) for v in s.values(1234).tolist()]


def test_values_json(capsys):
    code, out, _ = lrkit_cli(capsys, "values", WARM_COS, "--steps", "500", "--json")
    assert code == 0
    assert json.loads(out) == lrkit.parse(WARM_COS).values(500).tolist()


@pytest.mark.parametrize("fmt", ["json", "yaml", "toml"])
def test_spec_files_are_read(capsys, tmp_path, fmt):
    s = lrkit.parse(SPECS[2])
    if fmt == "toml":
        text = f'schedule = "{SPECS[2]}"\n'
    else:
        text = lrkit.dumps(s, fmt)
    path = write(tmp_path, f"sched.{fmt}", text)
    code, out, _ = lrkit_cli(capsys, "values", str(path), "--steps", "300")
    assert code == 0
    assert [float(x) for x in out.split()] == s.values(300).tolist()


@pytest.mark.parametrize("spec", SPECS)
def test_show_round_trips_in_every_format(capsys, spec):
    import yaml

    s = lrkit.parse(spec)
    for fmt, read in [("dsl", lrkit.parse), ("json", lambda t: lrkit.from_dict(json.loads(t))),
                      ("yaml", lambda t: lrkit.from_dict(yaml.safe_load(t)))]:
        code, out, _ = lrkit_cli(capsys, "show", spec, "--format", fmt)
        assert code == 0
        assert read(out) == s, fmt
    assert lrkit_cli(capsys, "show", spec)[1] == repr(s) + "\n"


@pytest.mark.parametrize("plain", [False, True])
def test_list_shows_every_registered_name(capsys, monkeypatch, plain):
    monkeypatch.delenv("COLUMNS", raising=False)  # and stdout is not a terminal
    code, out, _ = lrkit_cli(capsys, "list", *(["--plain"] if plain else []))  # --plain: old
    assert code == 0
    for name in lrkit.REGISTRY:
        assert re.search(rf"^{name}( |$)", out, re.M), name
    # not a terminal: one line per summary and per signature, for grep
    lines = [line.strip() for line in out.splitlines()]
    assert "cosine(init, *, steps, end=0.0, power=1.0, progress_power=1.0)" in lines
    assert "join(*pieces, at=None)" in out
    assert "plateau(*, mode='min'," in out
    assert "Cosine annealing from init to end over steps" in out


def test_list_reads_at_80_columns(capsys, monkeypatch):
    """In an 80-column terminal every line fits, and each summary and signature is whole
    once the wrapped lines are joined."""
    from lrkit.cli.schedules import catalogue

    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = lrkit_cli(capsys, "list")
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 80
    flat = " ".join(out.split())
    for _, name, text, sig in catalogue():
        assert " ".join(text.split()) in flat, name
        assert " ".join(sig.split()) in flat, name
    assert len(out.splitlines()) > len(catalogue()) * 2  # it did wrap


def test_a_long_name_has_a_line_of_its_own():
    from lrkit.cli.schedules import catalogue_text

    rows = [("schedule", "a_user_schedule_with_a_long_name", "Made by a user.", "x(init)"),
            ("schedule", "linear", "Linear.", "linear(init, *, end, steps)")]
    assert catalogue_text(rows, 80).splitlines()[2:] == [
        "a_user_schedule_with_a_long_name", "                  Made by a user.",
        "                    x(init)",
        "linear            Linear.", "                    linear(init, *, end, steps)"]


def test_list_rows_come_from_the_docstrings():
    from lrkit.cli.schedules import catalogue, signature, summary

    rows = catalogue()
    assert sorted(r[1] for r in rows) == sorted(lrkit.REGISTRY)
    assert summary(lrkit.linear) == "Linear from init to end over steps, then held."
    assert summary(lrkit.linear, markdown=True) == (
        "Linear from `init` to `end` over `steps`, then held."
    )
    assert signature(lrkit.step_decay) == "step_decay(init, *, factor, every, offset=0)"
    assert signature(lrkit.warmup) == ("warmup(schedule, *, warmup_steps, init=0.0, "
                                       "shape='linear', fit=True)")
    assert all(not r[2].endswith("::") and "``" not in r[2] for r in rows)


def test_plot_writes_a_png(capsys, tmp_path):
    import matplotlib.image

    out_path = tmp_path / "s.png"
    code, out, err = lrkit_cli(capsys, "plot", WARM_COS, "step_decay(0.1, factor=0.5, every=200)",
                               "--steps", "1000", "--out", str(out_path), "--log",
                               "--label", "warm", "--label", "step")
    assert (code, err, out) == (0, "", f"wrote {out_path}\n")
    data = out_path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = matplotlib.image.imread(io.BytesIO(data), format="png")
    assert img.shape[:2] == (400, 700)


def test_plot_in_the_terminal_with_the_default_steps(capsys, tmp_path):
    lin = lrkit.linear(init=0.0, end=0.1, steps=40)
    path = write(tmp_path, "lin.json", lrkit.dumps(lin, "json"))
    code, out, err = lrkit_cli(capsys, "plot", "cosine(init=0.1, steps=250)", str(path),
                               "--width", "70", "--height", "16")
    assert (code, err) == (0, "")
    lines = ANSI.sub("", out).rstrip("\n").split("\n")
    assert len(lines) == 16 and {len(line) for line in lines} == {70}
    assert lines[-3].split() == ["0", "125", "250"]  # --steps: the longest finite length
    assert "cosine(init=0.1, steps=250)" in lines[-2]
    assert "linear(init=0.0, end=0.1, steps=40)" in lines[-1]


def test_plot_without_steps_of_a_schedule_that_never_settles_uses_its_horizon(capsys):
    from lrkit.plot import horizon

    s = lrkit.parse("inverse_sqrt(init=0.1, every=10)")
    code, out, err = lrkit_cli(capsys, "plot", repr(s), "--width", "70", "--height", "16")
    assert (code, err) == (0, "")
    axis = ANSI.sub("", out).rstrip("\n").split("\n")[-2].split()  # above the legend
    assert axis[0] == "0" and int(axis[-1]) == horizon(s)


@pytest.mark.parametrize(("argv", "message"), [
    (["values", "cosine(init=0.1, steps=)", "--steps", "3"], "cannot parse spec at column"),
    (["values", "cosin(peak=0.1, steps=10)", "--steps", "3"], "did you mean 'cosine'"),
    (["plot", "cosine(init=0.1, stepz=10)"], "has no parameter 'stepz'"),
    (["values", "cosine(init=-1, steps=10)", "--steps", "3"], "init must be >= 0, got -1"),
    (["values", "missing.json", "--steps", "3"], "'missing.json' does not exist"),
    (["values", "cosine(init=0.1, steps=10)", "--steps", "0"], "got 0"),
    (["values", "cosine(init=0.1, steps=10)", "--steps", "-5"], "got -5"),
    (["values", "cosine(init=0.1, steps=10)"], "--steps is required"),
    (["values", "cosine(init=0.1, steps=10)", "--steps", "ten"], "'ten' is not a valid integer"),
    (["plot", "cosine(init=0.1, steps=10)", "--steps", "0"], "got 0"),
    (["plot", "cosine(init=0.1, steps=10)", "--label", "a", "--label", "b"], "2 times for 1"),
    (["plot", "cosine(init=0.1, steps=10)", "--out", "{tmp}/no/such/dir/x.png"],
     "No such file or directory"),
    (["plot", "cosine(init=0.1, steps=10)", "--out", "{tmp}/x.nope"], "unknown image format"),
    (["plot", "cosine(init=0.1, steps=10)", "--out", "{tmp}"], "is a directory"),
    (["plot", "cosine(init=0.1, steps=10)", "--width", "5"], "needs width >= 24"),
    (["show", "cosine(init=0.1, steps=10)", "--format", "xml"], "'xml' is not one of"),
    (["values", "{tmp}/bad.json", "--steps", "3"], "is not valid json"),
    (["values", "{tmp}/bad.json", "--steps", "3", "--json"], "is not valid json"),
    (["values", "{tmp}/bad.txt", "--steps", "3"], "unknown extension '.txt'"),
    (["frobnicate"], "No such command 'frobnicate'"),
])
def test_user_errors_exit_2_with_one_line(capsys, tmp_path, argv, message):
    write(tmp_path, "bad.json", "{not json")
    write(tmp_path, "bad.txt", "cosine(init=0.1, steps=10)")
    code, out, err = lrkit_cli(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("lrkit: error: ")
    assert message in err
    assert "Traceback" not in err


def test_a_real_process_exits_2_with_one_stderr_line():
    proc = subprocess.run(
        [sys.executable, "-m", "lrkit", "values", "cosin(peak=0.1, steps=10)", "--steps", "3"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "lrkit: error: unknown schedule 'cosin' at column 1; did you mean 'cosine'?"
    ]


# -- names: N is --steps, P is --peak --------------------------------------------------
def test_plot_binds_n_to_steps(capsys):
    code, out, err = lrkit_cli(capsys, "plot", "cosine(init=1, steps=N)", "--steps", "460",
                               "--width", "50", "--height", "8")
    assert (code, err) == (0, "")
    lines = ANSI.sub("", out).rstrip("\n").split("\n")
    assert lines[-2].split() == ["0", "230", "460"]
    assert lines[-1].split() == ["──", "cosine(init=1,", "steps=460)"]


def test_values_bind_n_and_p(capsys):
    spec = "warmup(cosine(init=P, steps=N), warmup_steps=N/4)"
    code, out, err = lrkit_cli(capsys, "values", spec,
                               "--steps", "8", "--peak", "0.5", "--json")
    want = lrkit.warmup(lrkit.cosine(init=0.5, steps=8), warmup_steps=2.0).values(8).tolist()
    assert (code, err) == (0, "")
    assert json.loads(out) == want and want[:3] == [0.0, 0.25, 0.5]


def test_peak_defaults_to_one(capsys):
    assert lrkit_cli(capsys, "values", "constant(P)", "--steps", "2") == (0, "1.0\n1.0\n", "")


def test_show_binds_n_and_p(capsys):
    code, out, err = lrkit_cli(capsys, "show", "warmup(cosine(init=P, steps=N), warmup_steps=N/10)",
                               "--steps", "1000", "--peak", "0.1")
    assert (code, out, err) == (0, "warmup(cosine(init=0.1, steps=1000), warmup_steps=100.0)\n", "")


def test_names_reach_a_spec_string_in_a_file(capsys, tmp_path):
    path = write(tmp_path, "run.yaml", "schedule: 'cosine(init=P, steps=N)'\n")
    code, out, err = lrkit_cli(capsys, "values", str(path), "--steps", "3", "--peak", "0.2")
    assert (code, err) == (0, "")
    assert out == "0.2\n0.15\n0.04999999999999999\n"


@pytest.mark.parametrize(("argv", "line"), [
    (["plot", "cosine(init=1, steps=N)"],
     "unbound name 'N' at column 22 in 'cosine(init=1, steps=N)'; give it a number: "
     "names={'N': ...}, or --steps on the command line"),
    (["show", "cosine(init=P, steps=N)"],
     "unbound name 'N' at column 22 in 'cosine(init=P, steps=N)' with P=1.0; give it a "
     "number: names={'N': ...}, or --steps on the command line"),
    (["values", "cosine(init=P, steps=W)", "--steps", "3"],
     "unbound name 'W' at column 22 in 'cosine(init=P, steps=W)' with P=1.0; give it a "
     "number: names={'W': ...}"),
    (["values", "cosine(init=P, steps=N)", "--steps", "3", "--peak", "-1"],
     "cosine: init must be >= 0, got -1.0 at column 1 in 'cosine(init=P, steps=N)' "
     "with N=3, P=-1.0"),
    (["values", "constant(P)", "--steps", "3", "--peak", "inf"],
     "--peak must be a finite number, got inf"),
])
def test_unbound_and_bad_names_are_one_line_exit_2(capsys, argv, line):
    assert lrkit_cli(capsys, *argv) == (2, "", f"lrkit: error: {line}\n")
