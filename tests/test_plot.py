"""lrkit.plot: matplotlib figures, PNG bytes for Jupyter, terminal charts."""

from __future__ import annotations

import io
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lrkit
from lrkit import plot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
WARM_COS = lrkit.warmup(lrkit.cosine(peak=0.1, steps=1000), steps=100)
STEP = lrkit.step_decay(0.1, drop=0.5, every=200)


def read_png(data: bytes) -> np.ndarray:
    import matplotlib.image

    assert data[:8] == PNG_MAGIC
    return matplotlib.image.imread(io.BytesIO(data), format="png")


def test_png_bytes_is_a_readable_png():
    img = read_png(plot.png_bytes(WARM_COS))
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    assert img[..., :3].std() > 0.05  # something is drawn on the white canvas


def test_horizon_shows_the_hold_or_a_span_from_the_parameters():
    assert plot.horizon(lrkit.cosine(peak=0.1, steps=1000)) == 1100
    assert plot.horizon(lrkit.one_cycle(peak=0.1, steps=101)) == 110  # length 100
    assert plot.horizon(lrkit.cyclic(init=0.001, peak=0.006, up=2000)) == 8000
    assert plot.horizon(lrkit.inverse_sqrt(peak=0.01, timescale=50)) == 200
    assert plot.horizon(lrkit.exponential(0.1, k=0.01)) == plot.DEFAULT_HORIZON
    assert plot.horizon(lrkit.constant(0.1)) == plot.DEFAULT_HORIZON


def test_plot_draws_each_schedule_at_its_values_with_a_legend():
    plt = pytest.importorskip("matplotlib.pyplot")
    ax = plot.plot([WARM_COS, "step_decay(0.1, drop=0.5, every=200)"], 1000,
                   labels=["warm cosine", "steps"])
    try:
        lines = ax.get_lines()
        assert len(lines) == 2
        ts = np.arange(1001.0)
        np.testing.assert_array_equal(lines[0].get_xdata(), ts)
        np.testing.assert_array_equal(lines[0].get_ydata(), WARM_COS.values(ts))
        np.testing.assert_array_equal(lines[1].get_ydata(), STEP.values(ts))
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["warm cosine", "steps"]
        assert ax.get_xlim() == (0.0, 1000.0) and ax.get_yscale() == "linear"
    finally:
        plt.close(ax.figure)


def test_plot_samples_long_horizons_and_log_scale():
    plt = pytest.importorskip("matplotlib.pyplot")
    ax = plot.plot(WARM_COS, 10_000_000, log=True)
    try:
        (line,) = ax.get_lines()
        assert len(line.get_xdata()) == plot.MAX_POINTS
        assert line.get_xdata()[-1] == 10_000_000 and ax.get_yscale() == "log"
        assert ax.get_legend().get_texts()[0].get_text() == repr(WARM_COS)
    finally:
        plt.close(ax.figure)


def test_save_writes_the_format_of_the_extension(tmp_path):
    png = plot.save([WARM_COS, STEP], 1000, tmp_path / "a.png", log=True)
    read_png(png.read_bytes())
    svg = plot.save(STEP, 1000, tmp_path / "a.svg")
    assert b"<svg" in svg.read_bytes()[:500]
    with pytest.raises(ValueError, match=r"unknown image format '\.xyz'"):
        plot.save(STEP, 1000, tmp_path / "a.xyz")
    assert not (tmp_path / "a.xyz").exists()


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (([], 10), {}, "at least one schedule"),
    ((STEP, 0), {}, "steps must be a finite number > 0, got 0"),
    ((STEP, math.inf), {}, "steps must be a finite number > 0"),
    ((STEP, 10), {"labels": ["a", "b"]}, "one label per schedule"),
    ((STEP, 10), {"width": 10}, "needs width >= 24"),
    (([STEP, WARM_COS], 10), {"height": 6}, "height >= 7"),
    (("cosin(peak=1, steps=2)", 10), {}, "did you mean 'cosine'"),
])
def test_terminal_rejects_bad_input(args, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        plot.terminal(*args, **kwargs)


def test_terminal_rejects_non_numbers():
    with pytest.raises(TypeError, match="steps must be a number > 0, got '10'"):
        plot.terminal(STEP, "10")


@settings(max_examples=40, deadline=None)
@given(width=st.integers(24, 140), extra=st.integers(3, 30), n=st.integers(1, 3),
       colour=st.booleans(), log=st.booleans())
def test_terminal_chart_has_the_requested_size(width, extra, n, colour, log):
    specs = [WARM_COS, STEP, lrkit.one_cycle(peak=0.05, steps=900)][:n]
    height = 2 + n + extra
    chart = plot.terminal(specs, 1000, width, height, log, color=colour)
    lines = chart.split("\n")
    assert len(lines) == height
    assert [len(ANSI.sub("", line)) for line in lines] == [width] * height
    assert ("\x1b[" in chart) == colour


def ylabel(line: str) -> str:
    return line.split("┤")[0].strip() if "┤" in line else ""


def body(line: str) -> str:
    return re.split("[┤│]", line, maxsplit=1)[1]


def test_terminal_labels_and_curve_positions():
    s = lrkit.linear(init=0.01, end=0.1, steps=100)
    lines = plot.terminal(s, 100, 50, 12, color=False).split("\n")
    rows = lines[:9]
    assert [ylabel(r) for r in rows] == ["0.1", "", "", "", "0.055", "", "", "", "0.01"]
    top, bottom = body(rows[0]), body(rows[-1])
    assert top[-1] != " " and top[0] == " "  # rises: top right, not top left
    assert bottom[0] != " " and bottom[-1] == " "
    assert lines[10].split() == ["0", "50", "100"]
    assert lines[11].strip() == "── linear(init=0.01, end=0.1, steps=100)"
    assert all(ch == " " or 0x2800 <= ord(ch) <= 0x28FF for row in rows for ch in body(row))


def test_terminal_draws_a_short_schedule_as_an_unbroken_staircase():
    # 11 steps across ~100 braille columns: the columns between steps hold the value
    s = lrkit.step_decay(0.1, drop=0.5, every=3)
    rows = plot.terminal(s, 10, 60, 12, color=False).split("\n")[:9]
    columns = ["".join(body(r)[c] for r in rows) for c in range(len(body(rows[0])))]
    assert all(col.strip() for col in columns)  # no empty column: no dotted line
    assert body(rows[0])[0] != " " and body(rows[-1])[-1] != " "  # falls from top left


def test_terminal_without_colour_uses_one_marker_per_schedule():
    chart = plot.terminal([WARM_COS, STEP], 1000, 60, 14, color=False, labels=["a", "b"])
    drawn = "".join(body(line) for line in chart.split("\n")[:10])
    assert set(drawn) == {" ", "*", "+"}
    assert [line.split() for line in chart.split("\n")[-2:]] == [["**", "a"], ["++", "b"]]


def test_terminal_log_scale_labels_the_positive_range():
    s = lrkit.exponential(1.0, rate=0.1, steps=10)  # 1 -> 1e-10 over 100 steps
    lines = plot.terminal(s, 100, 40, 9, log=True, color=False).split("\n")
    assert [ylabel(r) for r in lines[:6]] == ["1", "", "0.0001", "", "", "1e-10"]
    first = [len(body(r)) - len(body(r).lstrip()) for r in lines[:6]]
    assert first == sorted(first) and first[0] == 0  # a straight line falling left to right
    with pytest.raises(ValueError, match="no schedule has a value > 0"):
        plot.terminal(lrkit.constant(0.0), 10, log=True)


def test_the_catalogue_page_covers_the_registry():
    import importlib.util
    from pathlib import Path

    docs = Path(__file__).resolve().parents[1] / "docs"
    spec = importlib.util.spec_from_file_location("make_catalogue", docs / "make_catalogue.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    # other test modules may register schedules of their own: lrkit's are the ones to cover
    builtin = {n for n, c in lrkit.REGISTRY.items() if c.__module__.startswith("lrkit.")}
    assert set(mod.EXAMPLES) == builtin
    page = (docs / "catalogue.md").read_text(encoding="utf-8")
    for name, (text, steps) in mod.EXAMPLES.items():
        s = lrkit.parse(text)
        assert lrkit.parse(repr(s)) == s and steps > 0
        assert f"| `{name}` |" in page and f"`{text}`" in page, name  # page regenerated
        assert (docs / "img" / "catalogue" / f"{name}.png").is_file()
