"""Schedules as data: the spec language, dicts, files, pickling, and spec errors."""

import dataclasses
import json
import pickle
import re

import pytest

import lrkit
from lrkit import SpecError

EXAMPLES = [
    "constant(0.05)",
    "constant(0.1, steps=100)",
    "time_decay(init=0.05, k=0.0001)",
    "time_decay(init=0.05, k=0.0001, compounding=True)",
    "time_decay(init=0.1, k=0.5, every=100, staircase=True)",
    "step_decay(init=0.1, factor=0.5, every=10, offset=1)",
    "exponential(init=0.1, k=0.09)",
    "exponential(init=0.1, k=0.01, every=10, staircase=True, end=0.001)",
    "exponential(init=0.1, factor=0.96, every=1000, staircase=True, end=0.001)",
    "piecewise(levels=(0.1, 0.01, 0.001), at=(100, 200), after=True)",
    "multistep(init=0.1, factor=0.1, at=(30, 30, 80))",
    "linear(init=0.0, end=0.1, steps=10)",
    "polynomial(init=0.1, steps=100, end=0.001, power=2.0, progress_power=1.5)",
    "polynomial(init=0.1, every=100, end=0.001, power=2.0, progress_power=1.5)",
    "cosine(init=0.1, steps=10000, end=1e-05, power=2.0, progress_power=0.5)",
    "tanh(init=0.1, steps=100, end=0.01, x_start=-6.0, x_end=4.0)",
    "rex(init=0.1, steps=100, end=0.001)",
    "inverse_sqrt(init=0.01, every=4000)",
    "wsd(init=0.1, steps=1000, decay_steps=200, end=0.001, shape='cosine')",
    "interpolate(knots=((0, 0.0), (10, 1.0), (20, 0.5)), shape='cosine')",
    "one_cycle(peak=0.1, steps=1000, up_frac=0.25, div=10.0, final_div=100.0, shape='linear', "
    "three_phase=True)",
    "cosine_restarts(init=0.1, cycle_steps=10, cycle_mult=2, cycle_factor=0.5, end=0.001, "
    "cycles=3)",
    "cyclic(init=0.001, peak=0.006, up_steps=2000, down_steps=1000, policy='exp_range', "
    "factor=0.999)",
    "warmup(cosine(init=0.1, steps=10000), warmup_steps=500)",
    "warmup(inverse_sqrt(init=0.01, every=4000), warmup_steps=4000, init=1e-05, "
    "shape='exponential')",
    "warmup(cosine(init=0.1, steps=100), warmup_steps=10, shape='cosine', fit=False)",
    "join(linear(init=0.0, end=0.1, steps=100), cosine(init=0.1, steps=900), constant(0.0))",
    "join(constant(0.1), constant(0.01), at=(50,))",
    "repeat(cosine(init=0.1, steps=100))",
    "repeat(exponential(init=0.1, k=0.1), every=30)",
    "shift(cosine(init=0.1, steps=100), delay=-20)",
    "stretch(cosine(init=0.1, steps=100), steps=1000)",
    "0.5 * cosine(init=0.1, steps=100) + 1e-05",
    "cosine(init=0.1, steps=100) * (linear(init=1.0, end=0.5, steps=10) + 0.5)",
    "constant(0.5) * 0.2",
    "min(cosine(init=0.1, steps=100), constant(0.05))",
    "max(cosine(init=0.1, steps=100), constant(0.001))",
    "warmup(join(constant(0.1, steps=10), 0.5 * repeat(cosine(init=0.1, steps=10))), "
    "warmup_steps=3)",
    "cosine(init=0.1, steps=100) * plateau(factor=0.5, patience=3)",
]


@pytest.fixture(params=EXAMPLES)
def sched(request):
    return lrkit.parse(request.param)


def test_repr_is_the_spec(sched):
    again = lrkit.parse(repr(sched))
    assert again == sched and hash(again) == hash(sched)
    assert repr(again) == repr(sched)
    assert str(sched) == repr(sched)


@pytest.mark.parametrize("text", EXAMPLES)
def test_canonical_examples_print_as_written(text):
    assert repr(lrkit.parse(text)) == text


def test_dict_json_roundtrip(sched):
    d = sched.to_dict()
    assert d["type"] == sched.name
    back = lrkit.from_dict(json.loads(json.dumps(d)))
    assert back == sched and hash(back) == hash(sched)
    assert back.to_dict() == d


def test_pickle_roundtrip(sched):
    back = pickle.loads(pickle.dumps(sched))
    assert back == sched and hash(back) == hash(sched)
    assert back(123.5) == sched(123.5)


def test_dumps_formats(sched):
    assert lrkit.dumps(sched) == repr(sched)
    assert lrkit.from_dict(json.loads(lrkit.dumps(sched, "json"))) == sched
    import yaml

    assert lrkit.from_dict(yaml.safe_load(lrkit.dumps(sched, "yaml"))) == sched
    with pytest.raises(ValueError, match="format must be one of"):
        lrkit.dumps(sched, "xml")


def test_values_are_hashable_and_compare():
    a = lrkit.cosine(init=0.1, steps=100)
    assert a == lrkit.parse("cosine(init=0.1, steps=100)")
    assert a != lrkit.cosine(init=0.1, steps=101)
    assert len({a, lrkit.cosine(init=0.1, steps=100), lrkit.cosine(init=0.2, steps=100)}) == 2
    with pytest.raises(AttributeError):
        a.init = 1.0


def test_load_json_yaml_toml(tmp_path):
    s = lrkit.parse("warmup(cosine(init=0.1, steps=10000, end=1e-05), warmup_steps=500)")
    (tmp_path / "s.json").write_text(json.dumps(s.to_dict()))
    (tmp_path / "s.yaml").write_text(lrkit.dumps(s, "yaml"))
    (tmp_path / "s.yml").write_text(f"schedule: {repr(s)!r}\n")
    (tmp_path / "s.toml").write_text(
        'type = "warmup"\nwarmup_steps = 500\n\n'
        '[schedule]\ntype = "cosine"\ninit = 0.1\nsteps = 10000\nend = 1e-05\n')
    (tmp_path / "spec.toml").write_text(f"schedule = {repr(s)!r}\n")
    (tmp_path / "wrapped.json").write_text(json.dumps({"schedule": s.to_dict()}))
    for name in ("s.json", "s.yaml", "s.yml", "s.toml", "spec.toml", "wrapped.json"):
        assert lrkit.load(tmp_path / name) == s, name
        assert lrkit.load(str(tmp_path / name)) == s, name


def test_load_errors(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        lrkit.load(tmp_path / "missing.json")
    (tmp_path / "s.txt").write_text("cosine(init=1, steps=2)")
    with pytest.raises(SpecError, match=r"unknown extension '.txt'"):
        lrkit.load(tmp_path / "s.txt")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SpecError, match="is not valid json"):
        lrkit.load(tmp_path / "bad.json")
    (tmp_path / "bad.toml").write_text("= 1")
    with pytest.raises(SpecError, match="is not valid toml"):
        lrkit.load(tmp_path / "bad.toml")
    # YAML tags that would build Python objects are refused (safe_load)
    (tmp_path / "evil.yaml").write_text("!!python/object/apply:os.system ['touch EVIL']\n")
    with pytest.raises(SpecError, match="is not valid yaml"):
        lrkit.load(tmp_path / "evil.yaml")
    (tmp_path / "notype.json").write_text(json.dumps({"init": 1}))
    with pytest.raises(SpecError, match="needs a 'type' key"):
        lrkit.load(tmp_path / "notype.json")


def test_from_dict_errors():
    with pytest.raises(SpecError, match=r"unknown schedule type 'cosin'; did you mean 'cosine'"):
        lrkit.from_dict({"type": "cosin", "init": 1, "steps": 2})
    with pytest.raises(SpecError, match=r"cosine: unknown parameter 'inti'; did you mean 'init'"):
        lrkit.from_dict({"type": "cosine", "inti": 1, "steps": 2})
    with pytest.raises(SpecError, match=r"cosine: unknown parameter 'peak'.*valid: init, steps"):
        lrkit.from_dict({"type": "cosine", "peak": 1, "steps": 2})  # the 0.1 name
    with pytest.raises(SpecError, match=r"needs a mapping"):
        lrkit.from_dict([1, 2])
    with pytest.raises(SpecError, match=r"^cosine\(\) missing .*'steps'"):
        lrkit.from_dict({"type": "cosine", "init": 1})
    with pytest.raises(SpecError, match=r"^cosine: init must be >= 0, got -1"):
        lrkit.from_dict({"type": "cosine", "init": -1, "steps": 2})
    with pytest.raises(SpecError, match=r"^cosine: end must be a number, got 'x'"):
        lrkit.from_dict({"type": "cosine", "init": 1, "steps": 2, "end": "x"})


@pytest.mark.parametrize(("text", "pattern"), [
    ("cosin(init=0.1, steps=10)",
     r"^unknown schedule 'cosin' at column 1; did you mean 'cosine'\?$"),
    ("warmup(cosnie(init=0.1, steps=10), warmup_steps=2)",
     r"^unknown schedule 'cosnie' at column 8; did you mean 'cosine'\?$"),
    ("cosine(inti=0.1, steps=10)",
     r"^cosine\(\) has no parameter 'inti' at column 8; did you mean 'init'\?$"),
    ("cosine(init=0.1, steps=10, zzz=1)",
     r"^cosine\(\) has no parameter 'zzz' at column 28; valid: init, steps, end, power, "
     r"progress_power$"),
    ("cosine(peak=0.1, steps=10)", r"^cosine\(\) has no parameter 'peak' at column 8; "
     r"valid: init, steps"),
    ("warmup(cosine(0.1, steps=10), steps=2)", r"^warmup\(\) has no parameter 'steps' at "
     r"column 31; did you mean 'warmup_steps'\?$"),
    ("cosine(init=0.1, steps=10, init=0.2)", r"got parameter 'init' twice at column 28"),
    ("cosine(0.1, init=0.2, steps=10)", r"cosine\(\) got multiple values for argument 'init'"),
    ("cosine(0.1, 10)", r"cosine\(\) takes 1 positional argument\(s\) \(init\), got 2 at "
     r"column 13; pass the others by name: init, steps"),
    ("plateau(0.5)", r"plateau\(\) takes no positional arguments, got 1 at column 9"),
    ("warmup(cosine(0.1, steps=10), 2)", r"warmup\(\) takes 1 positional argument\(s\) "
     r"\(schedule\), got 2"),
    ("cosine(init=1j, steps=10)", r"unsupported literal 1j at column 13"),
    ("cosine(init=b'1', steps=10)", r"unsupported literal b'1' at column 13"),
    ("cosine(init={1: 2}, steps=10)", r"unsupported syntax '\{1: 2\}' at column 13"),
    ("cosine(init=0.1, steps=10).init", r"unsupported syntax .* at column 1"),
    ("cosine(init=0.1, steps=10)[0]", r"unsupported syntax .* at column 1"),
    ("lambda: cosine(init=0.1, steps=10)", r"unsupported syntax 'lambda"),
    ("os.system('true')", r"a call must name a schedule"),
    ("cosine(init=0.1, steps=10) ** 2", r"unsupported operator Pow; use \*, \+ or /"),
    ("cosine(init=0.1, steps=10) - 0.01", r"unsupported operator Sub"),
    ("-cosine(init=0.1, steps=10)", r"unary minus needs a number"),
    ("foo", r"unbound name 'foo' at column 1 in 'foo'; give it a number: names=\{'foo': ...\}"),
    ("cosin", r"unbound name 'cosin' at column 1 in 'cosin'; did you mean 'cosine'"),
    ("cosine", r"'cosine' is a schedule: call it"),
    ("", r"^empty spec"),
    ("   \n ", r"^empty spec"),
    ("cosine(init=0.1, steps=", r"cannot parse spec at column"),
    ("'cosine'", r"a spec must describe a schedule"),
    ("cosine(init=-0.1, steps=10)", r"cosine: init must be >= 0, got -0.1"),
    ("cosine(-0.1, steps=10)", r"cosine: init must be >= 0, got -0.1"),
    ("cosine(init=0.1, steps=0)", r"cosine: steps must be > 0, got 0"),
    ("cosine(init=True, steps=10)", r"cosine: init must be a number, got True"),
    ("cosine(init=0.1, steps=1e999)", r"cosine: steps must be finite, got inf"),
    ("cosine(init=0.1, steps=1" + "0" * 400 + ")",
     r"integer of 401 digits is too large for a float"),
    ("cosine(**{'init': 1})", r"\*\* is not supported"),
    ("cosine(init=0.1, steps=10) / 0", r"divisor must be > 0, got 0"),
    ("1 / 0", r"division by zero"),
])
def test_spec_errors(text, pattern):
    with pytest.raises(SpecError, match=pattern):
        lrkit.parse(text)


def test_spec_error_is_a_value_error():
    assert issubclass(SpecError, ValueError)
    with pytest.raises(SpecError, match="a spec must be a string"):
        lrkit.parse(42)


ATTACKS = [
    "__import__('os').system('touch PWNED')",
    "cosine(init=__import__('os').system('touch PWNED'), steps=10)",
    "constant(0.1, steps=exec(\"open('PWNED', 'w')\"))",
    "eval(\"open('PWNED', 'w')\")",
    "open('PWNED', 'w')",
    "().__class__.__base__.__subclasses__()",
    "[x for x in [open('PWNED', 'w')]]",
    "(lambda: open('PWNED', 'w'))()",
    "cosine(init=0.1, steps=10) + open('PWNED', 'w')",
    "constant((f := open('PWNED', 'w')))",
    "constant(0.1) if open('PWNED', 'w') else constant(0.2)",
]


@pytest.mark.parametrize("text", ATTACKS)
def test_parse_never_evaluates_code(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError):
        lrkit.parse(text)
    assert list(tmp_path.iterdir()) == []


COMBINATORS = {"join", "warmup", "repeat", "shift", "stretch", "mul", "add", "min", "max"}


@pytest.mark.parametrize("name", sorted(n for n, c in lrkit.REGISTRY.items()
                                         if c.__module__.startswith("lrkit.")))
def test_positional_rule(name):
    """A leaf takes its starting value positionally, a combinator its schedule(s), plateau
    nothing; repr writes a leaf's starting value by name (except constant's) and a
    combinator's schedule(s) positionally."""
    cls = lrkit.REGISTRY[name]
    fields = [f for f in dataclasses.fields(cls) if f.init]
    leading = [f.name for f in fields if not f.kw_only]
    assert cls.positional == len(leading)
    if name == "plateau":
        assert cls.positional == cls.written == 0
    elif name in COMBINATORS:
        assert leading in (["schedule"], ["pieces"], ["left", "right"])
        assert cls.written == cls.positional
    else:
        assert leading in (["value"], ["init"], ["peak"], ["levels"], ["knots"])
        assert cls.written == (1 if name == "constant" else 0)


@pytest.mark.parametrize("text", [t for t in EXAMPLES if "(init=" in t or "(peak=" in t])
def test_the_starting_value_may_be_positional(text):
    """``cosine(0.1, steps=10)`` is ``cosine(init=0.1, steps=10)`` (the repr's form)."""
    positional = re.sub(r"\b(\w+)\((?:init|peak|levels|knots)=", r"\1(", text)
    assert positional != text
    assert lrkit.parse(positional) == lrkit.parse(text)
    assert repr(lrkit.parse(positional)) == text


def test_numbers_and_names_in_specs():
    assert lrkit.parse("0.5") == lrkit.constant(0.5)
    assert lrkit.parse("constant(0.1, steps=inf)".replace("inf", "10")).length == 10
    s = lrkit.parse("exponential(0.1, factor=0.5, end=None)")
    assert s == lrkit.exponential(0.1, factor=0.5)
    assert lrkit.parse("piecewise(levels=[0.1, 0.01], at=[5])") == lrkit.piecewise(
        levels=(0.1, 0.01), at=(5,))
    assert lrkit.parse("join(pieces=(constant(1.0),))") == lrkit.join(lrkit.constant(1.0))
    assert lrkit.parse("2 * 0.25") == lrkit.constant(0.5)
    assert lrkit.parse("+0.5") == lrkit.constant(0.5)


# -- errors, the string coercion and the spec-or-file rule --------------------------------
def test_spec_error_is_an_lrkit_error_and_a_value_error():
    assert issubclass(SpecError, lrkit.Error) and issubclass(SpecError, ValueError)
    assert issubclass(lrkit.Error, Exception) and not issubclass(lrkit.Error, ValueError)
    with pytest.raises(lrkit.Error) as e:
        lrkit.parse("cosin(peak=0.1, steps=10)")
    assert repr(e.value) == ('SpecError("unknown schedule \'cosin\' at column 1; '
                             'did you mean \'cosine\'?")')
    assert f"{type(e.value).__module__}.{type(e.value).__qualname__}" == "lrkit.SpecError"
    back = pickle.loads(pickle.dumps(e.value))
    assert type(back) is SpecError and str(back) == str(e.value)


def test_the_core_takes_schedules_and_numbers_the_spec_layer_also_text():
    from lrkit.schedule import as_schedule as core
    from lrkit.spec import as_schedule

    c = lrkit.cosine(init=0.1, steps=10)
    assert as_schedule("cosine(init=0.1, steps=10)") == c == core(c)
    assert as_schedule(0.5) == lrkit.constant(0.5) == core(0.5)
    with pytest.raises(TypeError) as e:
        core("cosine(init=0.1, steps=10)", "x")
    assert str(e.value) == ("x must be a schedule or a number, got the string "
                            "'cosine(init=0.1, steps=10)'; read it with "
                            "lrkit.parse('cosine(init=0.1, steps=10)') first")
    with pytest.raises(TypeError) as e:
        as_schedule(None, "x")
    assert str(e.value) == "x must be an lrkit schedule, a number or a spec string, got None"
    with pytest.raises(TypeError, match=r"^x must be a schedule or a number, got True$"):
        core(True, "x")


def test_read_tells_a_file_from_a_spec_by_one_rule(tmp_path, monkeypatch):
    from lrkit.spec import read

    monkeypatch.chdir(tmp_path)
    s = lrkit.cosine(init=0.1, steps=100)
    (tmp_path / "s.json").write_text(json.dumps(s.to_dict()))
    (tmp_path / "noext").write_text(json.dumps("cosine(init=0.1, steps=100)"))
    (tmp_path / "N.YAML").write_text("schedule: 'cosine(init=P, steps=N)'\n")
    assert read("s.json") == read(tmp_path / "s.json") == s  # by extension
    assert read("cosine(init=0.1, steps=100)") == s  # not a file: a spec
    assert read("N.YAML", names={"N": 100, "P": 0.1}) == s  # extension in any case
    with pytest.raises(SpecError, match=r"^schedule file 'missing.yml' does not exist$"):
        read("missing.yml")  # a file by its extension, even when missing
    with pytest.raises(SpecError, match=r"unknown extension ''"):
        read("noext")  # an existing path is a file: it needs a known extension
