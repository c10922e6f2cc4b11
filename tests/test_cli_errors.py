"""How the ``lrkit`` command reports errors: bad input (an ``lrkit.Error``, a usage error,
an OSError about a path or the machine, a missing optional dependency) is one line and exit
2; anything else is a bug, one line asking for a report and exit 1, with the traceback
behind ``--debug`` or ``LRKIT_DEBUG=1``.

The bugs are raised by small commands this module adds to the real command group (and
removes again), so the path through the group is the one every sub-command takes."""

import errno

import click
import pytest

import lrkit
from lrkit.cli import DEBUG_VARIABLE, INTERNAL_ERROR_EXIT, main, run

HINT = f"-- please report it (run with --debug or {DEBUG_VARIABLE}=1 for the traceback)"


def _raise(e: BaseException) -> None:
    raise e


RAISED = {
    "spec-error": lambda: lrkit.parse("cosin(0.1)"),
    "input-error": lambda: lrkit.cosine(init=0.1, steps=0),
    "input-type-error": lambda: lrkit.constant("0.1"),
    "value-error": lambda: int("ten"),
    "type-error": lambda: len(5),
    "zero-division": lambda: 1 / 0,
    "key-error": lambda: {}["steps"],
    "path-error": lambda: open("/no/such/dir/x.json"),
    "disk-full": lambda: _raise(OSError(errno.ENOSPC, "No space left on device")),
    "other-os-error": lambda: _raise(OSError(errno.EINVAL, "Invalid argument")),
    "missing-dependency": lambda: __import__("no_such_package_h4b"),
    "lrkit-import-bug": lambda: _raise(ImportError("cannot import name 'x'", name="lrkit.spec")),
    "memory": lambda: _raise(MemoryError()),
}


@pytest.fixture(scope="module", autouse=True)
def commands():
    for name, fn in RAISED.items():
        main.add_command(click.Command(name, callback=fn))
    yield
    for name in RAISED:
        main.commands.pop(name)


def cli(capsys, *argv):
    code = run(list(argv))
    out, err = capsys.readouterr()
    assert out == ""
    return code, err


@pytest.mark.parametrize(("name", "line"), [
    ("spec-error", "unknown schedule 'cosin' at column 1; did you mean 'cosine'?"),
    ("input-error", "cosine: steps must be > 0, got 0"),
    ("input-type-error", "constant: value must be a number, got '0.1'"),
    ("path-error", "/no/such/dir/x.json: No such file or directory"),
    ("disk-full", "No space left on device"),
    ("missing-dependency", "No module named 'no_such_package_h4b'"),
    ("memory", "not enough memory for that; ask for fewer steps"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, monkeypatch, name, line):
    monkeypatch.delenv(DEBUG_VARIABLE, raising=False)
    assert cli(capsys, name) == (2, f"lrkit: error: {line}\n")


@pytest.mark.parametrize(("name", "kind"), [
    ("value-error", "ValueError: invalid literal for int() with base 10: 'ten'"),
    ("type-error", "TypeError: object of type 'int' has no len()"),
    ("zero-division", "ZeroDivisionError: division by zero"),
    ("key-error", "KeyError: 'steps'"),
    ("other-os-error", "OSError: [Errno 22] Invalid argument"),
    ("lrkit-import-bug", "ImportError: cannot import name 'x'"),
])
def test_anything_else_is_a_bug_reported_as_such(capsys, monkeypatch, name, kind):
    monkeypatch.delenv(DEBUG_VARIABLE, raising=False)
    code, err = cli(capsys, name)
    assert code == INTERNAL_ERROR_EXIT == 1
    assert err == f"lrkit: internal error: {kind} {HINT}\n"


@pytest.mark.parametrize("how", ["option", "variable"])
def test_debug_prints_the_traceback_above_the_line(capsys, monkeypatch, how):
    monkeypatch.delenv(DEBUG_VARIABLE, raising=False)
    if how == "variable":
        monkeypatch.setenv(DEBUG_VARIABLE, "1")
    code, err = cli(capsys, *(["--debug"] if how == "option" else []), "zero-division")
    lines = err.splitlines()
    assert code == 1
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-2] == "ZeroDivisionError: division by zero"
    assert lines[-1] == ("lrkit: internal error: ZeroDivisionError: division by zero "
                         "-- please report it")
    code, err = cli(capsys, *(["--debug"] if how == "option" else []), "spec-error")
    assert code == 2 and err.startswith("Traceback (most recent call last):\n")
    assert err.endswith("\nlrkit: error: unknown schedule 'cosin' at column 1; "
                        "did you mean 'cosine'?\n")


def test_debug_is_off_for_an_empty_or_zero_variable(capsys, monkeypatch):
    for value in ("", "0"):
        monkeypatch.setenv(DEBUG_VARIABLE, value)
        assert cli(capsys, "key-error") == (1, f"lrkit: internal error: KeyError: 'steps' {HINT}\n")


def test_a_real_bad_spec_file_is_one_line_exit_2(capsys, tmp_path):
    bad = tmp_path / "t.json"
    bad.write_bytes(b'{"type": "constant", "value": 0.1\xff}')
    listed = tmp_path / "l.json"
    listed.write_text('{"type": ["constant"], "value": 0.1}')
    assert cli(capsys, "show", str(bad)) == (
        2, f"lrkit: error: schedule file {str(bad)!r} is not UTF-8 text: byte 0xff at offset "
           "33 cannot be decoded (invalid start byte)\n")
    assert cli(capsys, "show", str(listed)) == (
        2, f"lrkit: error: schedule file {str(listed)!r}: 'type' must be a schedule name "
           "(a string), got ['constant']\n")
    code, err = cli(capsys, "values", "+".join(["0.001"] * 600), "--steps", "3")
    assert code == 2 and err.startswith("lrkit: error: spec nested more than 100 levels deep")
    code, err = cli(capsys, "values", "1" + "0" * 400 + "/1", "--steps", "3")
    assert (code, err) == (2, "lrkit: error: integer of 401 digits is too large for a float; "
                              "a number in a schedule is at most 1.7976931348623157e+308 "
                              "at column 1\n")


# -- the bad-input matrix: every option of every sub-command --------------------------------
# (command, option, bad arguments, what the one error line must contain). A value-taking
# option missing here fails test_the_matrix_covers_every_option. Training commands get a
# --storage and --out of their own: nothing may be stored, and --out stays empty.
_C = ["--epochs", "1", "--seeds", "1", "--peaks", "0.1"]
MATRIX = [
    ("compare", "specs", ["cosine(init=P"], "'cosine(init=P'"),
    ("compare", "--schedules", ["-s", ""], "--schedules: an empty schedule spec"),
    ("compare", "--task", ["--task", "no_such_mod_h4c:make"], "task module 'no_such_mod_h4c'"),
    ("compare", "--data", ["--data", "{tmp}/none.csv", "--target", "y"], "data file not found"),
    ("compare", "--target", ["--target", "y"], "--target goes with --data"),
    ("compare", "--batch-size", ["--batch-size", "0"], "--batch-size must be an integer from 1"),
    ("compare", "--device", ["--device", "gpu"], "device must be cpu, cuda or cuda:N"),
    ("compare", "--epochs", ["--epochs", "99999999999999999999"], "--epochs must be an integer"),
    ("compare", "--steps", ["--steps", "0"], "--steps must be an integer from 1"),
    ("compare", "--eval-every", ["--eval-every", "-3"], "--eval-every must be an integer from 1"),
    ("compare", "--seeds", ["--seeds", "99999999999999999999"], "--seeds must be at most 1000"),
    ("compare", "--peaks", ["--peaks", "0.1,,0.2"], "--peaks has an empty item"),
    ("compare", "--optimizer", ["--optimizer", "lion"], "'lion' is not one of 'sgd'"),
    ("compare", "--momentum", ["--momentum", "inf"], "--momentum must be a finite number >= 0"),
    ("compare", "--nesterov", ["--nesterov", "--optimizer", "adam"], "--nesterov needs"),
    ("compare", "--weight-decay", ["--weight-decay", "inf"], "--weight-decay must be a finite"),
    ("compare", "--betas", ["--betas", "0.9,nan"], "--betas[1] must be a finite number"),
    ("compare", "--eps", ["--eps", "-1"], "--eps must be a finite number > 0"),
    ("compare", "--grad-clip", ["--grad-clip", "nan"], "--grad-clip must be a finite number"),
    ("compare", "--jobs", ["--jobs", "0"], "--jobs must be an integer from 1 to 256"),
    ("compare", "--chunk-size", ["--chunk-size", "100000"], "--chunk-size must be an integer"),
    ("compare", "--out", ["-o", "/proc/lrkit"], "--out '/proc/lrkit' is not a writable folder"),
    ("compare", "--storage", ["--storage", ""], "--storage must be a storage URL"),
    ("compare", "--no-train", ["--no-train"], "--no-train needs a shared --storage"),
    ("compare", "--predict", ["--predict", "--peaks", "spec"], "--predict needs peaks"),
    ("compare", "--top-k", ["--predict", "--top-k", "-1"], "--top-k must be an integer"),
    ("tune", "--task", ["--task", "nosuch"], "unknown task 'nosuch'"),
    ("tune", "--data", ["--data", "{tmp}/none.csv", "--target", "y"], "data file not found"),
    ("tune", "--target", ["--target", "y"], "--target goes with --data"),
    ("tune", "--batch-size", ["--batch-size", "0"], "--batch-size must be an integer"),
    ("tune", "--device", ["--device", "tpu"], "device must be cpu, cuda or cuda:N"),
    ("tune", "--family", ["--family", "nope"], "--family must be one of"),
    ("tune", "--trials", ["--trials", "0"], "--trials must be an integer >= 1"),
    ("tune", "--batch", ["--batch", "0"], "--batch must be an integer >= 1"),
    ("tune", "--jobs", ["--jobs", "0"], "--jobs must be an integer >= 1"),
    ("tune", "--peaks", ["--peaks", "0.1"], "--peaks must be 'auto' or a range"),
    ("tune", "--epochs", ["--epochs", "0"], "--epochs must be an integer"),
    ("tune", "--steps", ["--steps", "0"], "--steps must be an integer"),
    ("tune", "--eval-every", ["--eval-every", "0"], "--eval-every must be an integer"),
    ("tune", "--seeds", ["--seeds", "1,1"], "--seeds must be a count like 3"),
    ("tune", "--optimizer", ["--optimizer", "rmsprop"], "'rmsprop' is not one of"),
    ("tune", "--momentum", ["--momentum", "1"], "--momentum must be a finite number"),
    ("tune", "--nesterov", ["--nesterov", "--momentum", "0"], "--nesterov needs"),
    ("tune", "--weight-decay", ["--weight-decay", "-1"], "--weight-decay must be"),
    ("tune", "--betas", ["--betas", "a,b"], "give two numbers like 0.9,0.95"),
    ("tune", "--eps", ["--eps", "0"], "--eps must be a finite number > 0"),
    ("tune", "--grad-clip", ["--grad-clip", "0"], "--grad-clip must be a finite number > 0"),
    ("tune", "--storage", ["--storage", "mysql://h/d"], "unknown scheme or driver"),
    ("tune", "--study", ["--study", ""], "--study must be a name"),
    ("tune", "--seed", ["--seed", "-1"], "--seed must be an integer >= 0"),
    ("tune", "--heartbeat", ["--heartbeat", "0"], "--heartbeat must be an integer >= 1"),
    ("tune", "--grace", ["--grace", "0"], "--grace must be an integer >= 1"),
    ("tune", "--out", ["--out", "{tmp}/afile"], "is a file, not a folder"),
    ("predict", "--from", ["--from", "{tmp}/none"], "no lrkit.db in it"),
    ("predict", "specs", ["--storage", "sqlite:///{tmp}/p.db", "cosin(init=P, steps=N)"],
     "did you mean 'cosine'"),
    ("predict", "--schedules", ["--storage", "sqlite:///{tmp}/p.db", "-s", "P + "],
     "--schedules"),
    ("predict", "--storage", ["--storage", ""], "--storage must be"),
    ("predict", "--study", ["--storage", "sqlite:///{tmp}/p.db", "--study", ""],
     "--study must be a name"),
    ("predict", "--out", ["--storage", "sqlite:///{tmp}/p.db", "--out", "{tmp}/afile"],
     "is a file, not a folder"),
    ("worker", "--storage", ["--storage", ""], "--storage must be a storage URL"),
    ("worker", "--study", ["--storage", "journal:///{tmp}/j.log", "--study", " "],
     "--study must be a name"),
    ("worker", "--lease", ["--storage", "journal:///{tmp}/j.log", "--lease", "-1"],
     "--lease must be a positive number"),
    ("worker", "--device", ["--storage", "journal:///{tmp}/j.log", "--device", "tpu"],
     "device must be cpu, cuda or cuda:N"),
    ("worker", "--out", ["--storage", "journal:///{tmp}/j.log", "--out", "{tmp}/afile"],
     "is a file, not a folder"),
    ("status", "--storage", ["--storage", "mysql://u@h/db"], "unknown scheme or driver"),
    ("status", "--study", ["--storage", "journal:///{tmp}/j.log", "--study", ""],
     "--study must be a name"),
    ("report", "--storage", ["--storage", "journal://j.log"], "a journal URL names an absolute"),
    ("report", "--study", ["--storage", "journal:///{tmp}/j.log", "--study", ""],
     "--study must be a name"),
    ("report", "--out", ["--storage", "journal:///{tmp}/j.log", "--out", "{tmp}/afile"],
     "is a file, not a folder"),
    ("compare", "--lease", ["--lease", "0"], "--lease must be a positive number of seconds"),
    ("compare", "--study", ["--study", " "], "--study must be a name of 1 to 512 characters"),
    ("compare", "--target-acc", ["--target-acc", "1.5"], "--target-acc must be a finite number"),
    ("compare", "--target-loss", ["--target-loss", "-1"], "--target-loss must be a finite number"),
    ("find-lr", "--task", ["--task", "nosuch"], "unknown task 'nosuch'"),
    ("find-lr", "--data", ["--data", "{tmp}/none.csv", "--target", "y"], "data file not found"),
    ("find-lr", "--target", ["--target", "y"], "--target goes with --data"),
    ("find-lr", "--batch-size", ["--batch-size", "-1"], "--batch-size must be an integer"),
    ("find-lr", "--device", ["--device", "tpu"], "device must be cpu, cuda or cuda:N"),
    ("find-lr", "--seeds", ["--seeds", "1,1"], "--seeds must be a count like 3"),
    ("find-lr", "--start", ["--start", "0"], "--start must be a finite number > 0"),
    ("find-lr", "--end", ["--start", "1", "--end", "0.5"], "--end must be > --start=1.0"),
    ("find-lr", "--steps", ["--steps", "1"], "--steps must be an integer from 2"),
    ("compare", "--method", ["--method", "best"], "'best' is not one of 'valley'"),
    ("find-lr", "--method", ["--method", "best"], "'best' is not one of 'valley'"),
    ("find-lr", "--optimizer", ["--optimizer", "rmsprop"], "'rmsprop' is not one of"),
    ("find-lr", "--momentum", ["--momentum", "1"], "--momentum must be a finite number >= 0"),
    ("find-lr", "--nesterov", ["--nesterov", "--momentum", "0"], "--nesterov needs"),
    ("find-lr", "--weight-decay", ["--weight-decay", "-0.1"], "--weight-decay must be"),
    ("find-lr", "--betas", ["--betas", "a,b"], "give two numbers like 0.9,0.95"),
    ("find-lr", "--eps", ["--eps", "inf"], "--eps must be a finite number > 0"),
    ("find-lr", "--grad-clip", ["--grad-clip", "0"], "--grad-clip must be a finite number > 0"),
    ("find-lr", "--out", ["-o", "{tmp}/afile"], "is a file, not a folder"),
    ("plot", "specs", ["cosin(1)"], "did you mean 'cosine'"),
    ("plot", "--steps", ["constant(1)", "--steps", "0"], "--steps must be a positive integer"),
    ("plot", "--peak", ["constant(P)", "--peak", "nan"], "--peak must be a finite number"),
    ("plot", "--out", ["constant(1)", "--out", "{tmp}/x.nope"], "unknown image format"),
    ("plot", "--label", ["constant(1)", "--label", "a", "--label", "b"], "--label given 2 times"),
    ("plot", "--width", ["constant(1)", "--width", "5"], "needs width >= 24"),
    ("plot", "--height", ["constant(1)", "--height", "2"], "height >= 6"),
    ("values", "spec", ["{tmp}/none.json", "--steps", "3"], "does not exist"),
    ("values", "--steps", ["constant(1)", "--steps", "-5"], "--steps must be a positive integer"),
    ("values", "--peak", ["constant(P)", "--steps", "3", "--peak", "inf"], "--peak must be"),
    ("show", "spec", ["constant(1"], "cannot parse spec"),
    ("show", "--format", ["constant(1)", "--format", "xml"], "'xml' is not one of"),
    ("show", "--steps", ["constant(1)", "--steps", "0"], "--steps must be a positive integer"),
    ("show", "--peak", ["constant(P)", "--peak", "-inf"], "--peak must be a finite number"),
]
FLAGS = {"--help", "--quiet", "--json", "--linear", "--plain", "--log", "--version", "--debug",
         "--warm-start"}  # flags that take no value and cannot be wrong


def test_the_matrix_covers_every_option():
    import click as _click

    from lrkit.cli import COMMANDS

    covered = {(c, o) for c, o, _, _ in MATRIX}
    for name in COMMANDS:
        cmd = main.get_command(None, name)
        for p in cmd.params:
            if isinstance(p, _click.Argument):
                opt = p.name
            else:
                opt = next(o for o in p.opts if o.startswith("--"))
            assert (name, opt) in covered or opt in FLAGS, f"{name} {opt} has no bad value"
    assert not [o for o in main.params if o.name != "debug" and not o.is_flag]


@pytest.mark.parametrize(("command", "option", "args", "part"), MATRIX,
                         ids=[f"{c} {o}" for c, o, _, _ in MATRIX])
def test_every_option_refuses_a_bad_value_storing_nothing(capsys, tmp_path, command, option,
                                                          args, part):
    (tmp_path / "afile").write_text("x")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    db = tmp_path / "s.db"
    base: list[str] = []  # a small valid run; the bad arguments come last, so they win
    if command == "compare":
        base = [*(_C if option != "--steps" else _C[2:]), "--storage", f"sqlite:///{db}"]
    elif command == "find-lr":
        base = ["--seeds", "1"]
    elif command == "tune":
        base = ["--storage", f"sqlite:///{db}"]
    if command in ("compare", "find-lr", "tune"):
        base += ["-q", "-o", str(tmp_path / "o")]
    argv = [command, *base, *args]
    code = run(argv)
    out, err = capsys.readouterr()
    assert (code, out) == (2, ""), err
    assert err.startswith("lrkit: error: ") and err.count("\n") == 1, err
    assert part in err, err
    assert not db.exists()
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())
