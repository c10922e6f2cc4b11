"""Fuzzing the readers: ``parse``, ``from_dict`` and ``load`` (JSON, YAML, TOML) raise
nothing but lrkit's own errors, finish each call within ``fuzzing.SLOW`` seconds, and
whatever they return reads back (``parse(repr(s)) == s``, ``from_dict(s.to_dict()) == s``).

The inputs come from ``tests/fuzzing.py`` (grammar-aware, built from the registry, plus
raw text and bytes and hostile shapes). By default each test draws a few hundred inputs
from a fixed seed (a few seconds in all); ``pytest --hypothesis-profile=long
tests/test_fuzz.py`` draws 100,000 each from a random seed, and
``benchmarks/fuzz_long.py`` counts the outcomes of such a run instead of stopping at the
first finding. The issue's reproductions are pinned below, with their exact messages.
"""

import json
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings

import fuzzing
import lrkit
from lrkit.errors import shown
from lrkit.spec import MAX_DEPTH, MAX_SIZE, MAX_VALUES

LONG = settings().max_examples >= settings.get_profile("long").max_examples


def fuzz(examples: int) -> settings:
    """``examples`` inputs from a fixed seed, or the long profile's count from a random one."""
    return settings(max_examples=settings().max_examples if LONG else examples,
                    derandomize=not LONG, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much,
                                           HealthCheck.large_base_example])


def judge(call):
    outcome = fuzzing.attempt(call)
    assert outcome.kind != "unexpected", outcome.detail
    assert not outcome.slow, f"took {outcome.seconds:.2f} s"
    return outcome


@fuzz(400)
@given(fuzzing.spec_texts(), fuzzing.names())
def test_parse_raises_only_lrkit_errors_and_what_it_reads_reads_back(text, names):
    judge(lambda: lrkit.parse(text, names))


@fuzz(200)
@given(fuzzing.spec_texts())
def test_a_shape_raises_only_lrkit_errors(text):
    judge(lambda: lrkit.Shape(text).bind(N=460, P=0.1))


@fuzz(200)
@given(fuzzing.schedule_data())
def test_from_dict_raises_only_lrkit_errors_and_what_it_reads_reads_back(data):
    judge(lambda: lrkit.from_dict(data))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@fuzz(300)
@given(file=fuzzing.schedule_files())
def test_load_raises_only_lrkit_errors_and_what_it_reads_reads_back(folder, file):
    suffix, content = file
    path = folder / f"schedule{suffix}"
    path.write_bytes(content)
    judge(lambda: lrkit.load(path, {"N": 100, "P": 0.1}))


# -- the issue's reproductions, one per class -------------------------------------------
def alias_bomb(levels: int = 30) -> str:
    lines = ["a0: &a0 {type: constant, value: 0.1}"]
    lines += [f"a{i}: &a{i} {{type: add, left: *a{i - 1}, right: *a{i - 1}}}"
              for i in range(1, levels + 1)]
    return "\n".join([*lines, f"schedule: *a{levels}"])


def nested_json(levels: int) -> str:
    data = {"type": "constant", "value": 0.1}
    for _ in range(levels):
        data = {"type": "repeat", "schedule": data, "every": 10}
    return json.dumps(data)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("bomb.yaml", alias_bomb(),
     "{file}: YAML alias *a0 at line 2, column 27: aliases are not supported in a schedule "
     "file (they can expand a few bytes into a huge document); write the value out"),
    ("deep.json", nested_json(500),
     "{file}: schedule dict nested more than 100 levels deep at ['schedule']['schedule']"
     "['schedule']['schedule']['schedule']...(90 more)...['schedule']['schedule']['schedule']"
     "['schedule']['schedule']; the limit is 100 levels (lrkit.spec.MAX_DEPTH)"),
    ("deeper.json", "[" * 50_000 + "]" * 50_000,
     "{file} is nested more than 100 levels deep; the limit is 100 levels "
     "(lrkit.spec.MAX_DEPTH)"),
    ("deep.toml", "a = " + "[" * 20_000 + "]" * 20_000,
     "{file} is nested more than 100 levels deep; the limit is 100 levels "
     "(lrkit.spec.MAX_DEPTH)"),
    ("deep.yaml", "a: " + "[" * 101 + "]" * 101,
     "{file}: YAML nested more than 100 levels deep at line 1, column 103; the limit is 100 "
     "levels (lrkit.spec.MAX_DEPTH)"),
    ("big.json", " " * MAX_SIZE + "{}",
     "{file} is larger than 100,000 bytes; a schedule file is at most 100,000 bytes "
     "(lrkit.spec.MAX_SIZE)"),
    ("t.json", '{"type": ["constant"], "value": 0.1}',
     "{file}: 'type' must be a schedule name (a string), got ['constant']"),
    ("keys.yaml", "type: constant\n1: 0.1\n",
     "{file}: keys of a schedule dict must be strings, got 1 at the top"),
    ("huge.yaml", "type: constant\nvalue: 1" + "0" * 400,
     "{file}: an integer of about 401 digits at ['value'] is too large for a float; a number "
     "in a schedule is at most 1.7976931348623157e+308"),
    ("bad.json", b'{"type": "constant", "value": 0.1\xff}',
     "{file} is not UTF-8 text: byte 0xff at offset 33 cannot be decoded (invalid start byte)"),
    ("bom.json", "\ufeff" + json.dumps({"type": "constant", "value": 0.1}), None),
])
def test_schedule_files_are_read_within_limits(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    start = time.perf_counter()
    if message is None:
        assert lrkit.load(path) == lrkit.constant(0.1)
    else:
        with pytest.raises(lrkit.SpecError) as e:
            lrkit.load(path)
        assert str(e.value) == message.format(file=f"schedule file {str(path)!r}")
    assert time.perf_counter() - start < fuzzing.SLOW


@pytest.mark.parametrize(("text", "message"), [
    ("+".join(["0.001"] * 600),
     "spec nested more than 100 levels deep at column 3001 (each call, bracket and operator "
     "adds a level: a + b + c is 3); the limit is 100 levels (lrkit.spec.MAX_DEPTH); "
     "write a long sequence as join(a, b, ...)"),
    ("+".join(["0.001"] * 5000),  # Python's own parser gives up: no column then
     "spec nested more than 100 levels deep (each call, bracket and operator adds a level: "
     "a + b + c is 3); the limit is 100 levels (lrkit.spec.MAX_DEPTH); write a long "
     "sequence as join(a, b, ...)"),
    ("1" + "0" * 400 + "/1",
     "integer of 401 digits is too large for a float; a number in a schedule is at most "
     "1.7976931348623157e+308 at column 1"),
    ("inf", "constant: value must be finite, got inf at column 1"),
    ("-1", "constant: value must be >= 0, got -1 at column 1"),
    ("1e308*10", "constant: value must be finite, got inf at column 1"),
    ("0.1 + \ud800", "character '\\ud800' at column 7 is not text (a lone surrogate) in "
                     "'0.1 + \\ud800'"),
    ("x" * (MAX_SIZE + 1), "spec of 100,001 characters is too long; a spec is at most "
                           "100,000 characters (lrkit.spec.MAX_SIZE)"),
    ("'é' + cosin(0.1)", "unknown schedule 'cosin' at column 7; did you mean 'cosine'?"),
])
def test_parse_refuses_with_a_spec_error(text, message):
    with pytest.raises(lrkit.SpecError) as e:
        lrkit.parse(text)
    assert str(e.value) == message


def test_the_depth_limit_is_exact_and_what_parses_reads_back():
    flat = "+".join(["0.001"] * MAX_DEPTH)  # 100 terms: the deepest is 100 levels down
    assert lrkit.parse(flat) == lrkit.constant(sum([0.001] * MAX_DEPTH))
    with pytest.raises(lrkit.SpecError, match="more than 100 levels deep at column 7"):
        lrkit.parse(flat + "+0.001")
    # numbers and constant(...) are leaves: writing 0.1 as constant(0.1) adds no level
    nested = "0.1"
    for _ in range(MAX_DEPTH - 1):
        nested = f"min({nested}, 0.2)"
    s = lrkit.parse(nested)
    assert repr(s).count("constant(") == MAX_DEPTH and lrkit.parse(repr(s)) == s
    assert lrkit.from_dict(s.to_dict()) == s


def test_from_dict_refuses_what_would_exhaust_recursion_or_time():
    shared = {"type": "constant", "value": 0.1}
    for _ in range(30):  # 2**30 leaves as a tree, in 31 dicts
        shared = {"type": "add", "left": shared, "right": shared}
    cycle = {"type": "repeat", "every": 10}
    cycle["schedule"] = cycle
    start = time.perf_counter()
    with pytest.raises(lrkit.SpecError) as e:
        lrkit.from_dict(shared)
    assert str(e.value) == (f"schedule dict holds more than {MAX_VALUES:,} values (each "
                            "counted as often as it occurs); the limit is lrkit.spec.MAX_VALUES")
    with pytest.raises(lrkit.SpecError, match=r"^schedule dict nested more than 100 levels"):
        lrkit.from_dict(cycle)
    assert time.perf_counter() - start < fuzzing.SLOW
    with pytest.raises(lrkit.SpecError, match=r"^keys of a schedule dict must be strings, got "
                                              r"\(1, 2\) at \['schedule'\]$"):
        lrkit.from_dict({"type": "repeat", "schedule": {(1, 2): 3}, "every": 1})


# -- constructors with extreme values (issue 9, class 4) ---------------------------------
@fuzz(300)
@given(fuzzing.constructor_calls())
def test_every_constructor_refuses_or_builds_a_schedule_that_evaluates(call):
    """Each registered constructor, called with extreme values: an lrkit error, or a
    schedule whose values are finite and >= 0 at every t (0 to the largest float, and
    its own boundaries), the same in ``s(t)`` and ``s.values`` (to ``fuzzing.ULP_BOUND``),
    that reads back, with ``s(10**400)`` refused."""
    cls, kwargs = call
    outcome = fuzzing.attempt_constructor(cls, kwargs)
    assert outcome.kind != "unexpected", outcome.detail
    assert not outcome.slow, f"took {outcome.seconds:.2f} s"


BIG = 1.7976931348623157e308


@pytest.mark.parametrize(("make", "message"), [
    (lambda: lrkit.constant(1e308) * 10,
     f"mul: left * right can exceed the largest float ({BIG!r}): left reaches 1e+308, "
     "right 10.0"),
    (lambda: lrkit.constant(1e308) + lrkit.cosine(1e308, steps=10),
     f"add: left + right can exceed the largest float ({BIG!r}): left reaches 1e+308, "
     "right 1e+308"),
    (lambda: lrkit.one_cycle(1.0, steps=10, div=1e-320),
     f"one_cycle: peak / div and peak / div / final_div must be at most the largest float "
     f"({BIG!r}), got peak=1.0, div=1e-320, final_div=10000.0"),
    (lambda: lrkit.cyclic(0.1, peak=1.0, up_steps=1e308, down_steps=1e308),
     f"cyclic: up_steps + down_steps must be at most {BIG!r} (the length of a cycle), got "
     "up_steps=1e+308, down_steps=1e+308"),
    (lambda: lrkit.cosine(0.1, steps=1e-12),
     "cosine: steps must be >= 2**-30 (9.313225746154785e-10; a length in steps), got 1e-12"),
    (lambda: lrkit.cosine_restarts(0.1, cycle_steps=1, cycle_mult=1e300),
     "cosine_restarts: cycle_mult must be in [1, 2**53] (a cycle at most 2**53 times longer "
     "than the one before), got 1e+300"),
    (lambda: lrkit.cosine_restarts(0.1, cycle_steps=1, cycle_mult=2, cycles=2000),
     "cosine_restarts: its length (the step from which it holds its final value) must be a "
     "finite number of steps, got inf: cosine_restarts(init=0.1, cycle_steps=1, "
     "cycle_mult=2, cycles=2000)"),
    (lambda: lrkit.time_decay(0.1, k=1e-310, compounding=True),
     f"time_decay: k must be 0 or at least {1 / BIG!r} with compounding=True (its formula "
     "uses 1 / k), got 1e-310"),
    (lambda: lrkit.cosine(0.1, steps=10)(10**400),
     f"t must be a finite number >= 0 (at most {BIG!r}), got an integer of about 401 digits"),
    (lambda: lrkit.cosine(0.1, steps=10).values([10**400]),
     f"t must be finite numbers >= 0 (at most {BIG!r}), got {shown([10**400])}"),
    (lambda: lrkit.cosine(0.1, steps=10).values(2**63),
     f"values: n must be at most {sys.maxsize // 8:,} (an array of n float64 values), got "
     "9223372036854775808"),
])
def test_a_schedule_that_cannot_be_evaluated_is_refused(make, message):
    with pytest.raises(lrkit.InputError) as e:
        make()
    assert str(e.value) == message


def test_extreme_but_accepted_parameters_evaluate_in_both_paths():
    # the issue's reproduction: the down phase is below one ulp of the cycle
    s = lrkit.parse("cyclic(init=0.001, peak=0.1, up_steps=1e20, down_steps=7)")
    assert s(5) == s.values([5.0])[0] == 0.001
    assert s(5e15) == s.values([5e15])[0] == pytest.approx(0.001 + 0.099 * 5e-5, rel=1e-12)
    # a step beyond T_MAX = 2**53 is evaluated at T_MAX, in both paths
    c = lrkit.cosine_restarts(0.1, cycle_steps=1e-9)
    assert lrkit.schedule.T_MAX == 2.0**53
    assert c(1e300) == c(2.0**53) == c.values([1e300, BIG])[1]
    assert lrkit.cyclic(0.0, peak=1.0, up_steps=0.1)(BIG) == lrkit.cyclic(
        0.0, peak=1.0, up_steps=0.1).values([2.0**53])[0]
    # found by benchmarks/fuzz_long.py: lgamma's difference for a tiny k (inf - inf, or a
    # rounding below 0) no longer gives nan or a value above init
    for init, k in ((0.0, 2.2250738585072014e-308), (1.5884645480017802e308, 1e-20),
                    (1e-308, 1e-308)):
        d = lrkit.time_decay(init, k=k, compounding=True)
        assert d(0.0) == d(1e6) == init and d.values([0.0, 1e6]).tolist() == [init, init]
    with pytest.raises(lrkit.InputError, match=r"^repeat: the period \(the schedule's length\) "
                                               r"must be >= 2\*\*-30"):
        lrkit.repeat(lrkit.interpolate(((5.333426450123633e-302, 1.0),)))
    # an integer beyond 2**53 is the float the formulas compute with
    assert lrkit.tanh(1.0, steps=2**53 + 1) == lrkit.tanh(1.0, steps=2.0**53)
    assert repr(lrkit.tanh(1.0, steps=2**53 + 1)) == "tanh(init=1.0, steps=9007199254740992.0)"
