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
