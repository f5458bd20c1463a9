"""Frozen dataclasses that are cheap to build: the records every candle creates.

Why: the ``__init__`` that ``dataclass(frozen=True)`` generates sets each field through
``object.__setattr__`` (a frozen class refuses plain assignment), about 0.2 us a field:
5.5 us for the journal's 28-column ``StepRecord`` alone, more than writing its row, and
a backtest builds a candle, an account, a position, a plan and a row for every step.
``quick_init`` gives such a class an ``__init__`` with the same signature and defaults
that fills the instance's ``__dict__`` in one call (1.7 us for the row). Everything else
stays the dataclass's own: assigning a field still raises ``FrozenInstanceError``;
equality, hash, repr, ``fields``, ``replace`` and ``asdict`` are unchanged.
"""

from __future__ import annotations

from dataclasses import MISSING, fields, is_dataclass
from typing import TypeVar

C = TypeVar("C", bound=type)


def quick_init(cls: C) -> C:
    """Decorate a frozen dataclass (after ``@dataclass(frozen=True)``) with the one-call ``__init__``.

    Only plain classes qualify - every field in ``__init__``, positional or keyword, no
    ``default_factory``, no ``__post_init__``, no ``__slots__`` - so nothing the generated
    ``__init__`` did is skipped; anything else is refused when the class is defined."""
    params = getattr(cls, "__dataclass_params__", None)
    if not is_dataclass(cls) or params is None or not params.frozen:
        raise TypeError(f"{cls.__name__}: quick_init is for frozen dataclasses")
    if hasattr(cls, "__post_init__") or "__slots__" in cls.__dict__:
        raise TypeError(f"{cls.__name__}: quick_init cannot run __post_init__ or fill __slots__")
    names, signature, defaults = [], [], {}
    for f in fields(cls):
        if not f.init or f.kw_only or f.default_factory is not MISSING:
            raise TypeError(f"{cls.__name__}.{f.name}: quick_init needs plain fields")
        names.append(f.name)
        if f.default is MISSING:
            signature.append(f.name)
        else:
            defaults[f"_default_{f.name}"] = f.default
            signature.append(f"{f.name}=_default_{f.name}")
    source = (f"def __init__(self, {', '.join(signature)}):\n"
              f"    self.__dict__.update({', '.join(f'{n}={n}' for n in names)})\n")
    namespace: dict = {}
    exec(source, dict(defaults), namespace)  # noqa: S102 - source built from the class's own field names
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init
    return cls
