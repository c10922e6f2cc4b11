"""The report: table, compare.png, results.json, a self-contained report.html."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

import lrkit
from lrkit.experiment import report as rep
from lrkit.experiment.grid import Planned
from lrkit.experiment.summary import summarize


def _report(with_acc=True, diverged_label=None):
    planned, results = [], {}
    rng = np.random.default_rng(1)
    for label, peak, base in (("cosine", 0.1, 0.2), ("constant", 0.03, 0.3), ("wsd", 0.1, 0.25)):
        for seed in range(3):
            key = f"{label}/{seed}"
            s = lrkit.cosine(init=peak, steps=40) if label == "cosine" else lrkit.constant(peak)
            planned.append(Planned(key, label, peak, seed, s))
            div = label == diverged_label
            vl = [2.3, 1.0 + rng.random() * 0.1, base + rng.random() * 0.05]
            results[key] = {
                "key": key, "train_loss": list(np.abs(rng.normal(1, 0.2, 40))),
                "eval_steps": [0, 20, 40], "val_loss": [2.3, None, None] if div else vl,
                "val_metric": ([0.1, 0.8, 0.96] if not div else [0.1, None, None])
                if with_acc else None,
                "lr": list(s.values(40)), "diverged": div,
            }
    order = ["cosine", "constant", "wsd"]
    target = {"acc": 0.95} if with_acc else None
    return {
        "lrkit": "0", "command": "lrkit compare", "order": order, "target": target,
        "task": {"name": "digits-mlp", "description": "digits", "loss": "cross_entropy",
                 "metric": "accuracy" if with_acc else None, "id": "builtin:digits-mlp"},
        "config": {"steps": 40, "epochs": 2.0, "steps_per_epoch": 20, "batch_size": 64,
                   "optimizer": "sgd", "momentum": 0.9, "seeds": [0, 1, 2],
                   "peaks": [0.03, 0.1], "peak_mode": "fixed"},
        "lr_find": None,
        "schedules": [r.to_dict() for r in summarize(planned, results, order, target)],
    }


def test_table_rows_are_ranked_and_formatted():
    header, body = rep.rows(_report())
    assert header[:4] == ["#", "schedule", "val loss", "val acc"]
    assert [r[1] for r in body] == ["cosine", "wsd", "constant"]
    assert re.fullmatch(r"0\.2\d{3} ± 0\.\d{3}", body[0][2])
    assert body[0][3] == "96.0% ± 0.0" and body[0][4] == "—" and body[0][5] == "40"
    assert body[0][-1] == "0/3" and body[1][4].startswith("+")
    header, body = rep.rows(_report(with_acc=False))
    assert "val acc" not in header and body[0][3] == "—"


def test_a_diverged_schedule_is_shown_as_such():
    rpt = _report(diverged_label="cosine")
    header, body = rep.rows(rpt)
    last = body[-1]
    assert last[1] == "cosine" and last[2] == "—" and last[-1] == "3/3"


def test_print_table_in_the_terminal():
    from rich.console import Console

    con = Console(file=io.StringIO(), width=120)
    rep.print_table(_report(), con)
    out = con.file.getvalue()
    assert out.index("cosine") < out.index("wsd") < out.index("constant")
    assert "95% CI" in out


def test_json_is_standard_and_round_trips():
    rpt = _report(diverged_label="wsd")
    text = rep.to_json(rpt)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == json.loads(json.dumps(rpt))


def test_files_png_and_self_contained_html(tmp_path):
    paths = rep.write_report(_report(), str(tmp_path))
    png = open(paths["png"], "rb").read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    page = open(paths["html"], encoding="utf-8").read()
    assert not re.search(r"(src|href)=\"(?!data:)", page)  # nothing fetched
    assert "<script" not in page and "<link" not in page and "@import" not in page
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(imgs) == 1 and base64.b64decode(imgs[0]) == png
    assert page.index(">cosine<") < page.index(">wsd<") < page.index(">constant<")
    assert "Oscillation" in page and "t(0.975" in page
    assert json.load(open(paths["json"]))["schedules"][0]["label"] == "cosine"


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="needs Debian's chromium")
def test_report_renders_in_headless_chromium(tmp_path):
    """Chromium draws the page (screenshot not blank) and its DOM has the table."""
    paths = rep.write_report(_report(), str(tmp_path))
    flags = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]
    url = "file://" + paths["html"]
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True,
                         timeout=60).stdout
    assert dom.count("<tr") == 4 and "winner: cosine" in dom
    shot = tmp_path / "shot.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1000,900", url],
                   capture_output=True, timeout=60)
    from matplotlib.image import imread

    img = imread(str(shot))
    assert img.shape[:2] == (900, 1000) and img[..., :3].std() > 0.05
