"""The catalogue's vocabulary: every parameter name of every schedule, with its one meaning.

A leaf module (it imports nothing from lrkit). ``tests/test_glossary.py`` pins it
to :data:`lrkit.REGISTRY` both ways (every field is here, every name here is a
field), and ``docs/catalogue.md`` carries it as a table (:func:`table`).

>>> GLOSSARY["every"][1]
'steps'
>>> print(table().splitlines()[2])
| `value` | the constant's value | learning rate |
"""

from __future__ import annotations

GLOSSARY: dict[str, tuple[str, str]] = {
    # values
    "value": ("the constant's value", "learning rate"),
    "init": ("the starting value: the value at t = 0 (tanh: the level its curve starts from)",
             "learning rate"),
    "peak": ("the largest value, reached after t = 0 (one_cycle, cyclic)", "learning rate"),
    "end": ("the final value, held once the schedule is over (exponential: the bound it is "
            "held at)", "learning rate"),
    "levels": ("the piecewise values", "learning rate"),
    "knots": ("(t, value) pairs", "(steps, learning rate)"),
    # time
    "steps": ("the schedule's length: from t = steps on the value no longer changes "
              "(`s.length == steps`)", "steps"),
    "every": ("a period: the formula counts time in units of `every` steps (t / every)",
              "steps"),
    "at": ("the steps at which the value changes (boundaries)", "steps"),
    "offset": ("added to t before the formula (step_decay)", "steps"),
    "delay": ("shift: the schedule starts `delay` steps later", "steps"),
    "warmup_steps": ("length of the warm-up ramp", "steps"),
    "decay_steps": ("length of wsd's final decay", "steps"),
    "up_steps": ("length of cyclic's rising half", "steps"),
    "down_steps": ("length of cyclic's falling half (default: up_steps)", "steps"),
    "up_frac": ("fraction of `steps` spent rising (one_cycle)", "fraction"),
    "cycle_steps": ("length of the first cycle", "steps"),
    "cycles": ("how many cycles before holding `end`", "count"),
    # rates and ratios
    "k": ("decay coefficient per `every` steps", "1 / period"),
    "factor": ("the multiplier applied at each event (a drop, a plateau reduction, a step of "
               "exp_range)", "ratio"),
    "div": ("one_cycle: it starts at peak / div", "ratio"),
    "final_div": ("one_cycle: it ends at peak / div / final_div", "ratio"),
    "cycle_mult": ("each cycle's length over the previous one's", "ratio"),
    "cycle_factor": ("each cycle's top over the previous one's", "ratio"),
    # the curve
    "shape": ("the curve of a transition: linear, cosine, exponential, 1-sqrt", "name"),
    "power": ("exponent applied to the shape's curve", "number"),
    "progress_power": ("exponent applied to the progress t / steps (timm's k-decay)", "number"),
    "x_start": ("tanh's argument at t = 0", "number"),
    "x_end": ("tanh's argument at t = steps", "number"),
    "policy": ("cyclic's height from cycle to cycle: triangular, triangular2, exp_range",
               "name"),
    # flags
    "staircase": ("count whole periods only (floor(t / every))", "flag"),
    "compounding": ("time_decay: the seed's loop form (`lr *= 1 / (1 + k * epoch)`)", "flag"),
    "three_phase": ("one_cycle's three-phase form", "flag"),
    "after": ("piecewise: change one step after each boundary (Keras)", "flag"),
    "fit": ("warmup: fit the ramp inside a finite schedule's length", "flag"),
    # plateau
    "mode": ("plateau: whether the metric should go down (\"min\") or up (\"max\")", "name"),
    "patience": ("plateau: observations without improvement before a reduction", "count"),
    "cooldown": ("plateau: observations ignored after a reduction", "count"),
    "threshold": ("plateau: how much better an observation must be to count as an "
                  "improvement", "number"),
    "threshold_mode": ("plateau: whether threshold is relative (\"rel\") or absolute "
                       "(\"abs\")", "name"),
    "floor": ("plateau: the value is never reduced below this", "learning rate"),
    "eps": ("plateau: smallest change worth making", "learning rate"),
    # combinators
    "schedule": ("the schedule a combinator re-times (warmup, repeat, shift, stretch)",
                 "schedule"),
    "pieces": ("join: the schedules played one after another", "schedules"),
    "left": ("the first operand of a pointwise combination (mul, add, min, max)", "schedule"),
    "right": ("the second operand of a pointwise combination (mul, add, min, max)",
              "schedule"),
}
"""Parameter name -> (meaning, unit). One meaning per name across the whole catalogue."""


def table() -> str:
    """:data:`GLOSSARY` as a Markdown table (name, meaning, unit), in its order."""
    rows = [f"| `{name}` | {meaning} | {unit} |" for name, (meaning, unit) in GLOSSARY.items()]
    return "\n".join(["| name | meaning | unit |", "|---|---|---|", *rows])
