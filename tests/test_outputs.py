"""Atomic output files (issue 9, class 9): every file lrkit writes for a user is written
to a temporary file in its folder and renamed over the target (``lrkit._files``), so a
write that fails midway leaves the old file (or none), never a partial one, and no
temporary file behind.

The failures are real: an exception raised while the content is being written, a
process whose file size limit (``RLIMIT_FSIZE``) stops its write, a full tmpfs, a
read-only folder (a read-only bind mount as root, ``chmod`` otherwise).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from faults import read_only, small_disk
from lrkit import _files
from lrkit.cli import run
from lrkit.experiment import report as rep
from lrkit.experiment.store import Store

TINY = ["-s", "cosine", "-s", "constant", "--epochs", "2", "--seeds", "2", "--peaks", "0.05"]
PNG = b"\x89PNG\r\n\x1a\n"


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_write_that_fails_midway_leaves_the_old_file(tmp_path):
    path = tmp_path / "results.json"
    path.write_text('{"old": true}\n')
    os.chmod(path, 0o640)

    def half_then_fail(f):
        f.write(b'{"new": ')
        raise RuntimeError("drawing failed")

    with pytest.raises(RuntimeError, match="drawing failed"):
        _files.replace(path, half_then_fail)
    assert path.read_text() == '{"old": true}\n' and listing(tmp_path) == ["results.json"]
    _files.write_text(path, '{"new": 1}\n')
    assert path.read_text() == '{"new": 1}\n' and listing(tmp_path) == ["results.json"]
    assert path.stat().st_mode & 0o777 == 0o640  # the old file's mode is kept


def test_a_new_file_gets_the_mode_open_would_give_it(tmp_path):
    umask = os.umask(0o027)
    try:
        _files.write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640


def test_a_process_stopped_by_its_file_size_limit_leaves_the_old_file(tmp_path):
    """A real write failure in a real process: ``RLIMIT_FSIZE`` of 10 kB, 100 kB to write."""
    path = tmp_path / "report.html"
    path.write_text("<html>old</html>\n")
    code = ("import resource, signal, sys\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, 10_000))\n"
            "from lrkit import _files\n"
            "try:\n"
            f"    _files.write_text({str(path)!r}, 'x' * 100_000)\n"
            "except OSError as e:\n"
            "    print(e.errno, e.filename)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == [str(__import__("errno").EFBIG), str(path)]
    assert path.read_text() == "<html>old</html>\n" and listing(tmp_path) == ["report.html"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A stored tiny comparison and the report it wrote."""
    d = tmp_path_factory.mktemp("finished")
    assert run(["compare", *TINY, "--out", str(d / "out"), "--storage",
                f"sqlite:///{d / 'keep.db'}", "-q"]) == 0
    return d


def whole(folder):
    """Each report file, checked to be complete: the PNG ends with its IEND chunk, the JSON
    parses, the page ends with ``</html>``."""
    out = {}
    for name in listing(folder):
        if name == "filler":
            continue
        data = (folder / name).read_bytes()
        if name.endswith(".png"):
            assert data.startswith(PNG) and data.endswith(b"IEND\xaeB`\x82"), name
        elif name.endswith(".json"):
            json.loads(data)
        else:
            assert data.rstrip().endswith(b"</html>"), name
        out[name] = data
    return out


def test_a_full_disk_while_reporting_leaves_whole_files_only(finished, tmp_path):
    report = json.loads((finished / "out" / "results.json").read_text())
    old = {n: (finished / "out" / n).read_bytes() for n in ("results.json", "report.html")}
    with small_disk(tmp_path / "disk", 160) as disk:
        for name, data in old.items():
            (disk / name).write_bytes(data)
        # fill what is left, but for the size of the new PNG and JSON: the page cannot fit
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        need = len((finished / "out" / "compare.png").read_bytes()) + len(old["results.json"])
        (disk / "filler").write_bytes(b"\0" * max(free - need - 8192, 0))
        with pytest.raises(OSError) as e:
            rep.write_report(report, str(disk))
        assert e.value.filename in {str(disk / n) for n in
                                    ("compare.png", "results.json", "report.html")}
        got = whole(disk)  # whatever is there is complete
        assert not [n for n in got if n.endswith(".tmp")]
        assert got["report.html"] == old["report.html"]  # the old page, not a partial one


def test_a_read_only_output_folder_is_one_line_and_keeps_the_runs(finished, tmp_path, capsys):
    url = f"sqlite:///{finished / 'keep.db'}"
    runs = Store(url).load()
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("<html>old</html>\n")
    with read_only(out):
        code = run(["compare", *TINY, "--out", str(out), "--storage", url, "-q"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1, err
        # refused before anything trains (the --out check), not midway while reporting
        assert err[0].startswith(f"lrkit: error: --out '{out}' is not a writable folder: ") and (
            "Read-only file system" in err[0] or "Permission denied" in err[0])
        code = run(["plot", "cosine(init=0.1, steps=100)", "--out", str(out / "p.png")])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and str(out / "p.png") in err[0], err
    assert listing(out) == ["report.html"] and (out / "report.html").read_text() == (
        "<html>old</html>\n")
    assert Store(url).load() == runs


def test_plot_out_replaces_the_old_image_whole(tmp_path):
    path = tmp_path / "s.png"
    path.write_bytes(b"old")
    assert run(["plot", "cosine(init=0.1, steps=100)", "--out", str(path)]) == 0
    data = path.read_bytes()
    assert data.startswith(PNG) and data.endswith(b"IEND\xaeB`\x82")
    assert listing(tmp_path) == ["s.png"]
