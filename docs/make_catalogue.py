"""Regenerate docs/catalogue.md and its plots in docs/img/catalogue/.

    .venv/bin/python docs/make_catalogue.py

Every name in ``lrkit.REGISTRY`` gets a row (the one-line summary comes from the
class docstring, as in ``lrkit list``) with an example spec and a small plot of it.
The script fails if a registered name has no example here, so the page cannot fall
behind the registry.
"""

from __future__ import annotations

import sys
from pathlib import Path

import lrkit
from lrkit.cli.schedules import COMBINATORS, signature, summary
from lrkit.glossary import table
from lrkit.plot import save

DOCS = Path(__file__).resolve().parent
IMG = DOCS / "img" / "catalogue"

# name -> (example spec, steps shown)
EXAMPLES: dict[str, tuple[str, int]] = {
    "constant": ("constant(0.05)", 1000),
    "time_decay": ("time_decay(init=0.1, k=0.01)", 1000),
    "step_decay": ("step_decay(init=0.1, factor=0.5, every=200)", 1000),
    "exponential": ("exponential(init=0.1, k=0.005)", 1000),
    "piecewise": ("piecewise(levels=(0.1, 0.05, 0.01), at=(300, 700))", 1000),
    "multistep": ("multistep(init=0.1, factor=0.1, at=(500, 800))", 1000),
    "linear": ("linear(init=0.1, end=0.01, steps=800)", 1000),
    "polynomial": ("polynomial(init=0.1, steps=1000, power=2.0)", 1100),
    "cosine": ("cosine(init=0.1, steps=1000, end=0.01)", 1100),
    "tanh": ("tanh(init=0.1, steps=1000)", 1100),
    "rex": ("rex(init=0.1, steps=1000)", 1100),
    "inverse_sqrt": ("inverse_sqrt(init=0.1, every=50)", 1000),
    "wsd": ("wsd(init=0.1, steps=1000, decay_steps=200)", 1100),
    "interpolate": ("interpolate(knots=((0, 0.0), (200, 0.1), (600, 0.02), (1000, 0.05)), "
                    "shape='cosine')", 1100),
    "one_cycle": ("one_cycle(peak=0.1, steps=1000)", 1100),
    "cosine_restarts": ("cosine_restarts(init=0.1, cycle_steps=100, cycle_mult=2, "
                        "cycle_factor=0.7)", 1500),
    "cyclic": ("cyclic(init=0.01, peak=0.1, up_steps=100, policy='triangular2')", 1000),
    "join": ("join(linear(init=0.0, end=0.1, steps=100), constant(0.1, steps=400), "
             "cosine(init=0.1, steps=500))", 1100),
    "warmup": ("warmup(cosine(init=0.1, steps=1000), warmup_steps=100)", 1100),
    "repeat": ("repeat(linear(init=0.1, end=0.0, steps=250))", 1000),
    "shift": ("shift(cosine(init=0.1, steps=500), delay=300)", 1000),
    "stretch": ("stretch(cosine(init=0.1, steps=100), steps=800)", 1000),
    "mul": ("step_decay(init=0.1, factor=0.5, every=250) * cyclic(init=0.5, peak=1.0, "
            "up_steps=50)", 1000),
    "add": ("0.5 * cosine(init=0.1, steps=1000) + 0.01", 1100),
    "min": ("min(linear(init=0.0, end=0.2, steps=500), exponential(init=0.2, k=0.003))", 1000),
    "max": ("max(cosine(init=0.1, steps=800), 0.02)", 1000),
    "plateau": ("cosine(init=0.1, steps=1000) * plateau(factor=0.5, patience=3)", 1100),
}

# (title, spec, steps, what it reproduces)
RECIPES: list[tuple[str, str, int, str]] = [
    ("constant with warm-up", "warmup(constant(0.1), warmup_steps=100)", 1000,
     "Hugging Face `get_constant_schedule_with_warmup(W)`. "
     "A constant never settles into a new value, so the ramp goes in front."),
    ("Noam / inverse square root", "warmup(inverse_sqrt(init=0.1, every=100), warmup_steps=100)",
     2000,
     "Hugging Face `get_inverse_sqrt_schedule(W)` (its timescale, here `every`, defaults to W) "
     "and the "
     "Transformer's Noam schedule: `P * min(t / W, sqrt(W / t))`."),
    ("Keras InverseTimeDecay", "time_decay(init=0.1, k=0.5, every=100)", 1000,
     "`keras.optimizers.schedules.InverseTimeDecay(0.1, decay_steps=100, decay_rate=0.5)`: "
     "`0.1 / (1 + 0.5 * t / 100)`; add `staircase=True` for its staircase."),
    ("cosine with warm-up", "warmup(cosine(init=0.1, steps=1000), warmup_steps=100)", 1100,
     "Hugging Face `get_cosine_schedule_with_warmup(W=100, N=1000)` and optax "
     "`warmup_cosine_decay_schedule(0, 0.1, 100, 1000)`: N counts the warm-up."),
    ("PyTorch OneCycleLR", "one_cycle(peak=0.1, steps=999, up_frac=299 / 999)", 1100,
     "`torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=1000)`: PyTorch puts "
     "its knots at `0, pct_start * T - 1, T - 1`, so `steps = T - 1` and `up_frac = "
     "(pct_start * T - 1) / (T - 1)` (what `lrkit.torch.from_torch` writes)."),
    ("fastai one-cycle", "one_cycle(peak=0.1, steps=1000, up_frac=0.25, final_div=4000)", 1100,
     "fastai `fit_one_cycle(lr_max=0.1, div=25, div_final=1e5, pct_start=0.25)` over 1000 "
     "steps: fastai's final value is `lr_max / div_final` relative to the peak, so "
     "`final_div = div_final / div = 4000`; its knots are where one_cycle puts them (peak at "
     "`0.25 * N`, end at `N`)."),
    ("Hugging Face warmup-stable-decay",
     "warmup(wsd(init=0.1, steps=900, decay_steps=200, shape='cosine'), warmup_steps=100, "
     "fit=False)", 1100,
     "`get_wsd_schedule(opt, 100, num_decay_steps=200, num_training_steps=1000)`: its phases "
     "follow one another (`fit=False`), and its stable length is the implied `N - W - D` = "
     "700 (`lrkit.peers.transformers(\"warmup_stable_decay\", ...)` writes this)."),
    ("timm cosine with a warm-up prefix",
     "warmup(cosine(init=0.1, steps=1000), warmup_steps=100, init=1e-05, fit=False)", 1200,
     "`CosineLRScheduler(opt, t_initial=1000, warmup_t=100, warmup_lr_init=1e-5, "
     "warmup_prefix=True)`: timm ramps to the base rate, which is where this cosine starts; "
     "without the prefix the warm-up overlaps the cosine (`lrkit.peers.timm` writes either)."),
    ("Keras CosineDecayRestarts",
     "0.01 + cosine_restarts(init=0.09, cycle_steps=100, cycle_factor=0.9)", 1000,
     "`CosineDecayRestarts(0.1, 100, t_mul=1.0, m_mul=0.9, alpha=0.1)`: Keras scales the "
     "height *above* the floor `alpha * lr` by `m_mul`, while `cycle_factor` scales the top, "
     "so the floor is added outside (`cosine_restarts(0.1, cycle_factor=0.9, end=0.01)` is "
     "1.1 % low at the second top; `lrkit.peers.keras` writes this)."),
]

# the two warm-ups of one finite schedule, side by side
FIT_SPECS = ("warmup(cosine(init=0.1, steps=1000), warmup_steps=200)",
             "warmup(cosine(init=0.1, steps=1000), warmup_steps=200, fit=False)")

FIT = """\
`warmup(s, warmup_steps=W, init=0.0, shape='linear', fit=True)` ramps from `init` to `s(0)`
over `W` steps, then plays `s`. When `s` is finite, with length `N`, `fit` says where the
warm-up goes:

* `fit=True` (the default): `N` counts the warm-up. After the ramp the value is
  `s((t - W) / (N - W) * N)`: `s` is re-timed to fill `[W, N]`, and the schedule ends at `N`
  (`length == N`; `W` must be less than `N`). "Warm up for W steps, then cosine to step N":
  Hugging Face's `get_cosine_schedule_with_warmup(W, N)` and optax's
  `warmup_cosine_decay_schedule(0, P, W, N)`.
* `fit=False`: the warm-up goes in front. After the ramp the value is `s(t - W)`: `s` keeps
  its own time, and the schedule ends at `W + N`. Keras' `CosineDecay(warmup_steps=W)` (its
  `decay_steps` does not count the warm-up), timm's `warmup_prefix=True`, Hugging Face's
  warmup-stable-decay.

A schedule that never settles (`constant`, `inverse_sqrt`, `cosine_restarts` without
`cycles`) has nothing to fit into: its ramp always goes in front. The ramp ends at `s(0)`,
the schedule's first value; timm's ends at the base rate, which is the same for its cosine but
not for every schedule ([migrating.md](migrating.md#timm-the-warm-up-ramps-to-the-base-rate)).
"""

STEPS_NOTE = (
    "Each plot shows `t = 0 .. steps` (x: step, y: learning rate); finite schedules are "
    "shown a little past their end so that the hold is visible."
)


def _png(name: str, spec: str, steps: int) -> str:
    path = IMG / f"{name}.png"
    save(lrkit.parse(spec), steps, path, size=(3.2, 1.9), dpi=80, legend=False)
    return f"img/catalogue/{path.name}"


def _row(name: str, text: str, spec: str, steps: int) -> str:
    img = _png(name, spec, steps)
    cell = text.replace("|", "\\|")
    return f"| `{name}` | {cell} | `{spec}` | ![{name}]({img}) |"


def main() -> int:
    missing = sorted(set(lrkit.REGISTRY) - set(EXAMPLES))
    if missing:
        print(f"make_catalogue: no example for {', '.join(missing)}", file=sys.stderr)
        return 1
    IMG.mkdir(parents=True, exist_ok=True)
    for old in IMG.glob("*.png"):
        old.unlink()
    head = "| name | what it computes | example | plot |\n|---|---|---|---|"
    schedules = [n for n in lrkit.REGISTRY if n not in COMBINATORS]
    combinators = [n for n in lrkit.REGISTRY if n in COMBINATORS]

    def rows(names: list[str]) -> str:
        return "\n".join(_row(n, summary(lrkit.REGISTRY[n], markdown=True), *EXAMPLES[n])
                         for n in sorted(names))

    sigs = "\n".join(f"    {signature(lrkit.REGISTRY[n])}" for n in sorted(lrkit.REGISTRY))
    recipes = "\n".join(
        f"| {title} | `{spec}` | {text} | ![{title}]({_png(f'recipe_{i}', spec, steps)}) |"
        for i, (title, spec, steps, text) in enumerate(RECIPES)
    )
    for _, spec, _, _ in RECIPES:  # every recipe is a valid spec that round-trips
        assert lrkit.parse(repr(lrkit.parse(spec))) == lrkit.parse(spec)
    fit_png = IMG / "warmup_fit.png"
    save([lrkit.parse(spec) for spec in FIT_SPECS], 1300, fit_png, size=(5.0, 2.4), dpi=80,
         labels=["fit=True: ends at N = 1000", "fit=False: ends at W + N = 1200"])
    fit_specs = "\n".join(f"    {spec}" for spec in FIT_SPECS)
    page = f"""# The lrkit catalogue

<!-- generated by docs/make_catalogue.py from lrkit.REGISTRY; edit that script, not this page -->

Every schedule and combinator, with an example spec and its plot. `lrkit list` prints the
same catalogue in the terminal; `lrkit plot SPEC` draws any example. Spec names are the
Python names (`lrkit.cosine(init=0.1, steps=1000)`); the language is described in
[spec.md](spec.md). {STEPS_NOTE}

## Schedules

{head}
{rows(schedules)}

## Combinators

Combinators build a schedule out of others; `a * b`, `a + b` and `s / 2` are the
`mul`/`add` nodes, and a number stands for a constant.

{head}
{rows(combinators)}

## Warm-up and totals: what `fit` means

{FIT}
{fit_specs}

![fit=True and fit=False](img/catalogue/{fit_png.name})

## Recipes

Schedules of other libraries that are one short expression here. Every peer's schedules,
table by table, and the constructors that speak their parameter names (`lrkit.peers`):
[migrating.md](migrating.md).

| recipe | spec | what it reproduces | plot |
|---|---|---|---|
{recipes}

## Signatures

As written in a spec (`*` marks the start of keyword-only parameters): a schedule takes its
starting value positionally (`cosine(0.1, steps=1000)` is `cosine(init=0.1, steps=1000)`, the
form `repr` writes), a combinator its schedule(s); everything else is named.

{sigs}

## Glossary

Every parameter name has one meaning across the catalogue (pinned by `tests/test_glossary.py`
against `lrkit.REGISTRY`; the table is `lrkit.glossary.GLOSSARY`). Lengths are lengths: where a
schedule has `steps`, `s.length == steps`. Names of a kind share a prefix (`warmup_steps`,
`decay_steps`, `up_steps`; `cycle_steps`, `cycle_mult`, `cycle_factor`). 0.1 names are mapped
to these in [upgrading.md](upgrading.md).

{table()}
"""
    (DOCS / "catalogue.md").write_text(page, encoding="utf-8")
    print(f"wrote {DOCS / 'catalogue.md'} and {len(list(IMG.glob('*.png')))} plots in {IMG}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
