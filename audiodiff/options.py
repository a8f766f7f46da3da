"""Declared options: a default with its range or choices, and the one check that judges a value against it.

An owner (the sampler, the trainer, the data loader, the mel features, …) declares its settings as a dataclass
whose fields come from `option(...)`; recipe.toml tables, config.json and the model checks parse values through
`parse_table` / `check_value`, so a choice, a default and a range are written once, next to the code using them.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import field
from typing import Any


class RecipeError(ValueError):
    """A recipe (or a run's stored settings) that cannot be used; the message names the file, key and allowed values."""


def option(default: Any, *, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
           hi_open: bool = False, choices: tuple | None = None, help: str = "") -> Any:
    """A dataclass field with its allowed range (lo/hi, open or closed) or its choices, and a line of help."""
    meta = {"lo": lo, "hi": hi, "lo_open": lo_open, "hi_open": hi_open, "choices": choices, "help": help}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


def option_meta(cls: type, key: str) -> dict[str, Any]:
    """The declared range / choices / help of field `key` of options class `cls`."""
    return dict({f.name: f for f in dataclasses.fields(cls)}[key].metadata)


def parse_table(cls: type, table: Any, section: str, source: str) -> Any:
    """A TOML/JSON table → an instance of options class `cls`; RecipeError names the first bad or unknown key."""
    if not isinstance(table, dict):
        raise RecipeError(f"{source}: [{section}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in table.items():
        if key not in fields:
            raise RecipeError(f"{source}: unknown key [{section}] {key}; allowed: {', '.join(fields)}")
        values[key] = check_field(cls, key, value, f"[{section}] {key}", source)
    return cls(**values)


def check_field(cls: type, key: str, value: Any, name: str, source: str) -> Any:
    """`value` judged by field `key` of options class `cls` (its type, range and choices)."""
    kind = typing.get_type_hints(cls)[key]
    return check_value(name, value, kind, option_meta(cls, key), source)


def check_value(name: str, value: Any, kind: type, meta: Any, source: str) -> Any:
    """`value` of option `name` checked against its type `kind` and `meta` (lo/hi/choices); returns it (an int
    given for a float becomes a float) or raises RecipeError naming `source` and `name`."""
    def fail(why: str) -> RecipeError:
        return RecipeError(f"{source}: {name} = {value!r}: {why}")

    if kind is bool:
        if not isinstance(value, bool):
            raise fail("must be true or false")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("must be an integer")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail("must be a number")
        value = float(value)
        if not math.isfinite(value):  # TOML allows nan / inf, which slip past every range comparison
            raise fail("must be a finite number")
    elif kind is str:
        if not isinstance(value, str):
            raise fail("must be a string")
    elif kind is list:
        if not isinstance(value, list):
            raise fail("must be a list")
    choices = meta.get("choices")
    if choices and value not in choices:
        raise fail(f"allowed values: {', '.join(map(str, choices))}")
    lo, hi, lo_open, hi_open = meta.get("lo"), meta.get("hi"), meta.get("lo_open"), meta.get("hi_open")
    too_low = lo is not None and (value <= lo if lo_open else value < lo)
    too_high = hi is not None and (value >= hi if hi_open else value > hi)
    if too_low or too_high:
        bounds = ([f"{'>' if lo_open else '>='} {lo}"] if lo is not None else []) + \
                 ([f"{'<' if hi_open else '<='} {hi}"] if hi is not None else [])
        raise fail("must be " + " and ".join(bounds))
    return value
