"""``quick_init``: a cheaper ``__init__`` for the frozen records every candle builds, and nothing else changed."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field

import pytest

from trader_core.frozen import quick_init
from trader_core.step_record import StepRecord


@dataclass(frozen=True)
class _Plain:
    a: int
    b: str = "x"
    c: float = 1.5


_Quick = quick_init(dataclass(frozen=True)(type("_Quick", (), {"__annotations__": {"a": int, "b": str, "c": float},
                                                               "b": "x", "c": 1.5})))


def test_same_signature_defaults_and_values_as_the_generated_init():
    def shape(cls):
        return [(p.name, p.default, p.kind) for p in inspect.signature(cls).parameters.values()]

    assert shape(_Quick) == shape(_Plain)
    assert dataclasses.astuple(_Quick(1)) == dataclasses.astuple(_Plain(1))
    assert dataclasses.astuple(_Quick(1, c=2.0, b="y")) == (1, "y", 2.0)
    with pytest.raises(TypeError):
        _Quick()  # a required field is still required
    with pytest.raises(TypeError):
        _Quick(1, d=3)  # and an unknown one refused


def test_still_frozen_and_equal_hashable_replaceable():
    one = _Quick(1, "y")
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.a = 2  # type: ignore[misc]
    assert one == _Quick(1, "y") and hash(one) == hash(_Quick(1, "y"))
    assert dataclasses.replace(one, a=5) == _Quick(5, "y")
    assert repr(one) == "_Quick(a=1, b='y', c=1.5)"


def test_the_journal_row_keeps_its_columns_and_defaults():
    names = [f.name for f in dataclasses.fields(StepRecord)]
    assert list(inspect.signature(StepRecord).parameters) == names
    assert inspect.signature(StepRecord).parameters["expected_fee"].default == "0"


@pytest.mark.parametrize("make", [
    lambda: dataclass(type("NotFrozen", (), {"__annotations__": {"a": int}})),
    lambda: dataclass(frozen=True)(type("Factory", (), {"__annotations__": {"a": list},
                                                        "a": field(default_factory=list)})),
    lambda: dataclass(frozen=True)(type("Post", (), {"__annotations__": {"a": int},
                                                     "__post_init__": lambda self: None})),
    lambda: dataclass(frozen=True, slots=True)(type("Slots", (), {"__annotations__": {"a": int}})),
    lambda: dataclass(frozen=True)(type("KwOnly", (), {"__annotations__": {"a": int}, "a": field(kw_only=True)})),
])
def test_a_class_whose_init_does_more_is_refused_when_defined(make):
    with pytest.raises(TypeError, match="quick_init"):
        quick_init(make())
