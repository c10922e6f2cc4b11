"""Names in the spec language (``parse(text, names=...)``) and ``Shape``: a spec parsed once."""

import ast
import pickle

import pytest

import lrkit
from lrkit import Shape, SpecError

WARM_COS = "warmup(cosine(init=P, steps=N), warmup_steps=N/5)"


# -- parse(text, names=) --------------------------------------------------------------
def test_a_bound_name_reads_as_its_number():
    s = lrkit.parse("cosine(init=P, steps=N)", names={"N": 460, "P": 0.1})
    assert s == lrkit.cosine(init=0.1, steps=460)
    assert s(0) == 0.1 and s(460) == 0.0


@pytest.mark.parametrize("text, want", [
    ("warmup(cosine(init=P, steps=N), warmup_steps=N/5)",
     lrkit.warmup(lrkit.cosine(init=0.1, steps=460), warmup_steps=92.0)),
    ("cosine(init=0.5*P, steps=N)", lrkit.cosine(init=0.05, steps=460)),
    ("cosine(init=P, steps=N) + 9/N", lrkit.cosine(init=0.1, steps=460) + 9 / 460),
    ("shift(cosine(init=P, steps=N), delay=-N)",
     lrkit.shift(lrkit.cosine(init=0.1, steps=460), delay=-460)),
    ("piecewise(levels=(P, P/10), at=(N/2,))",
     lrkit.piecewise(levels=(0.1, 0.01), at=(230.0,))),
    ("P", lrkit.constant(0.1)),
])
def test_names_work_through_the_number_arithmetic(text, want):
    assert lrkit.parse(text, names={"N": 460, "P": 0.1}) == want


def test_names_the_text_does_not_use_are_ignored():
    s = lrkit.parse("cosine(init=0.1, steps=100)", names={"N": 460, "P": 1.0, "W": 3})
    assert s == lrkit.cosine(init=0.1, steps=100)


def test_constants_and_schedule_names_are_not_names():
    s = lrkit.parse("interpolate(knots=((0, 0.1), (N, 0.0)), shape='cosine') * plateau(eps=0)",
                    names={"N": 10})
    assert s == lrkit.interpolate(knots=((0, 0.1), (10, 0.0)), shape="cosine") * lrkit.plateau(
        eps=0)
    assert lrkit.parse("exponential(0.1, k=0.5, end=0)", names={}) == lrkit.exponential(
        0.1, k=0.5, end=0)


def test_an_unbound_name_is_named_with_the_text_as_written_and_how_to_bind_it():
    with pytest.raises(SpecError) as e:
        lrkit.parse("cosine(init=P, steps=N)", names={"P": 0.1})
    assert str(e.value) == (
        "unbound name 'N' at column 22 in 'cosine(init=P, steps=N)' with P=0.1; "
        "give it a number: names={'N': ...}, or --steps on the command line")
    with pytest.raises(SpecError) as e:
        lrkit.parse("cosine(init=P, steps=100)")
    assert str(e.value) == (
        "unbound name 'P' at column 13 in 'cosine(init=P, steps=100)'; "
        "give it a number: names={'P': ...}, or --peak on the command line")
    with pytest.raises(SpecError) as e:
        lrkit.parse("cosine(init=0.1, steps=W)")
    assert str(e.value) == ("unbound name 'W' at column 24 in 'cosine(init=0.1, steps=W)'; "
                            "give it a number: names={'W': ...}")


def test_a_misspelt_schedule_is_still_suggested():
    with pytest.raises(SpecError, match=r"unbound name 'plateu' .*did you mean 'plateau'\?$"):
        lrkit.parse("cosine(init=0.1, steps=N) * plateu", names={"N": 10})


def test_an_error_after_binding_shows_the_text_unsubstituted_with_the_numbers():
    with pytest.raises(SpecError) as e:
        lrkit.parse(WARM_COS, names={"N": 0, "P": 0.1})
    assert str(e.value) == (
        "cosine: steps must be > 0, got 0 at column 8 in "
        "'warmup(cosine(init=P, steps=N), warmup_steps=N/5)' with N=0, P=0.1")
    with pytest.raises(SpecError) as e:
        lrkit.parse("cosine(init=P, steps=9/N)", names={"N": 0, "P": 0.1})
    assert str(e.value) == ("division by zero at column 22 in 'cosine(init=P, steps=9/N)' "
                            "with N=0, P=0.1")


def test_an_error_in_a_text_without_names_is_as_before():
    with pytest.raises(SpecError) as e:
        lrkit.parse("cosine(init=0.1, steps=0)", names={"N": 10})
    assert str(e.value) == "cosine: steps must be > 0, got 0 at column 1"


@pytest.mark.parametrize("names, error, message", [
    ({"cosine": 1}, SpecError,
     "names: 'cosine' is a schedule and cannot be bound; choose another identifier, like 'N'"),
    ({"inf": 1}, SpecError, "names: 'inf' is a constant of the spec language and cannot be "
     "bound; choose another identifier, like 'N'"),
    ({"None": 1}, SpecError, "names: 'None' is a constant of the spec language and cannot be "
     "bound; choose another identifier, like 'N'"),
    ({"2N": 1}, SpecError, "names: '2N' is not a name; a name is an identifier like 'N'"),
    ({"N": "460"}, TypeError, "names: 'N' must be a number, got '460'"),
    ({"N": True}, TypeError, "names: 'N' must be a number, got True"),
    ({"N": float("nan")}, ValueError, "names: 'N' must be finite, got nan"),
    ([("N", 1)], TypeError, "names must be a mapping of name -> number, got [('N', 1)]"),
])
def test_bad_names_are_refused(names, error, message):
    with pytest.raises(error) as e:
        lrkit.parse("cosine(init=0.1, steps=N)", names=names)
    assert str(e.value) == message


# -- Shape ----------------------------------------------------------------------------
def test_a_shape_keeps_its_text_and_names():
    shape = Shape("  " + WARM_COS + "\n")
    assert shape.text == WARM_COS
    assert shape.names == frozenset({"N", "P"}) and isinstance(shape.names, frozenset)
    assert repr(shape) == f"Shape({WARM_COS!r})"
    assert repr(Shape("cosine(init=P, steps=N)")) == "Shape('cosine(init=P, steps=N)')"
    assert Shape("cosine(init=0.1, steps=100)").names == frozenset()


def test_bind_by_keywords_or_a_mapping():
    shape = Shape(WARM_COS)
    want = lrkit.warmup(lrkit.cosine(init=0.1, steps=460), warmup_steps=92.0)
    assert shape.bind(N=460, P=0.1) == want
    assert shape.bind({"N": 460, "P": 0.1}) == want
    assert shape.bind({"N": 460}, P=0.1) == want
    assert shape.bind({"N": 1, "P": 0.1}, N=460) == want  # keywords win
    assert shape.bind(N=460, P=0.1, W=7) == want  # unused names are ignored
    s = Shape("cosine(init=P, steps=N)").bind(N=100, P=0.1)
    assert [s(0), s(100), s(10**6)] == [0.1, 0.0, 0.0]
    assert s(50) == 0.04999999999999999


def test_bind_leaves_the_shape_unchanged():
    shape = Shape("cosine(init=P, steps=N)")
    assert shape.bind(N=10, P=1.0) == lrkit.cosine(init=1.0, steps=10)
    assert shape.bind(N=20, P=0.5) == lrkit.cosine(init=0.5, steps=20)
    assert shape.text == "cosine(init=P, steps=N)"


def test_bind_errors_keep_the_text_and_column():
    shape = Shape(WARM_COS)
    with pytest.raises(SpecError) as e:
        shape.bind(P=0.1)
    assert str(e.value) == (
        "unbound name 'N' at column 29 in 'warmup(cosine(init=P, steps=N), warmup_steps=N/5)' "
        "with P=0.1; give it a number: names={'N': ...}, or --steps on the command line")
    with pytest.raises(SpecError) as e:
        shape.bind(N=460, P=-1)
    assert str(e.value) == (
        "cosine: init must be >= 0, got -1 at column 8 in "
        "'warmup(cosine(init=P, steps=N), warmup_steps=N/5)' with N=460, P=-1")


def test_a_shape_without_names_binds_to_its_schedule():
    assert Shape("0.1").bind() == lrkit.constant(0.1)
    assert Shape("cosine(init=0.1, steps=100)").bind(N=5) == lrkit.cosine(init=0.1, steps=100)


@pytest.mark.parametrize("text, message", [
    ("cosine(init=P, steps=", "cannot parse spec at column 7: '(' was never closed in "
     "'cosine(init=P, steps='"),
    ("cosin(peak=P, steps=N)", "unknown schedule 'cosin' at column 1 in "
     "'cosin(peak=P, steps=N)' with N=1000, P=1000; did you mean 'cosine'?"),
    ("cosine(init=P, stesp=N)", "cosine() has no parameter 'stesp' at column 16 in "
     "'cosine(init=P, stesp=N)' with N=1000, P=1000; did you mean 'steps'?"),
    ("cosine(init=P, steps=N, end=-1)", "cosine: end must be >= 0, got -1 at column 1 in "
     "'cosine(init=P, steps=N, end=-1)' with N=1000, P=1000"),
    # the trial value 1000 is not a fraction: a name cannot stand where only one is valid
    ("one_cycle(peak=P, steps=N, up_frac=F)", "one_cycle: up_frac must be in (0, 1), got 1000 at "
     "column 1 in 'one_cycle(peak=P, steps=N, up_frac=F)' with F=1000, N=1000, P=1000"),
    ("'cos'", "a spec must describe a schedule, got 'cos' at column 1"),
    ("", "empty spec; expected something like 'cosine(0.1, steps=1000)'"),
    (460, "a spec must be a string, got 460"),
])
def test_a_shape_refuses_bad_text_at_construction(text, message):
    with pytest.raises(SpecError) as e:
        Shape(text)
    assert str(e.value) == message


def test_shapes_compare_and_hash_by_text():
    a, b = Shape("cosine(init=P, steps=N)"), Shape(" cosine(init=P, steps=N) ")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != Shape("cosine(init=P, steps=N, end=0)")
    assert a != "cosine(init=P, steps=N)"


def test_a_shape_pickles_and_binds_the_same():
    shape = Shape(WARM_COS)
    back = pickle.loads(pickle.dumps(shape))
    assert back == shape and back.names == shape.names
    assert back.bind(N=460, P=0.1) == shape.bind(N=460, P=0.1)


def test_a_shape_parses_its_text_once_however_often_it_is_bound(monkeypatch):
    calls = []
    real = ast.parse

    def spy(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(ast, "parse", spy)
    shape = Shape(WARM_COS)
    schedules = [shape.bind(N=n, P=0.1) for n in range(10, 1010)]
    assert calls == [WARM_COS]
    assert schedules[-1] == lrkit.warmup(lrkit.cosine(init=0.1, steps=1009), warmup_steps=201.8)
    lrkit.parse(WARM_COS, names={"N": 10, "P": 0.1})  # parse reads the text each time
    assert calls == [WARM_COS, WARM_COS]


@pytest.mark.parametrize("text", [
    WARM_COS,
    "0.5 * cosine(init=P, steps=N) + P/100",
    "join(linear(init=0, end=P, steps=N/10), cosine(init=P, steps=9*N/10))",
    "one_cycle(peak=P, steps=N, up_frac=0.25)",
    "step_decay(P, factor=0.5, every=N/3)",
    "cosine(init=P, steps=N) * plateau(patience=3)",
])
@pytest.mark.parametrize("n, p", [(460, 0.1), (7, 3.0), (10**6, 1e-4)])
def test_a_bound_shape_round_trips_through_its_repr(text, n, p):
    s = Shape(text).bind(N=n, P=p)
    back = lrkit.parse(repr(s))
    assert back == s and repr(back) == repr(s)
    assert s == lrkit.parse(text, names={"N": n, "P": p})
