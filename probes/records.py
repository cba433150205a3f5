"""``@frozen`` and ``@mutable``: ``@dataclass(frozen=True)`` and ``@dataclass``, compiled lazily.

On Python 3.11 ``dataclass(frozen=True)`` compiles ``__init__``, ``__repr__``, ``__eq__``,
``__hash__``, ``__setattr__`` and ``__delattr__`` for every class, about 0.5 ms a class;
movcheck defines ~110 such classes, so that was a third of every command's start-up
(``@dataclass`` compiles three).
``frozen`` lets ``dataclass`` collect the fields (``fields``, ``replace`` and ``asdict`` work
as before), compiles ``__init__`` only, when the first instance is made (a class never
instantiated in a run costs nothing more), and shares plain functions for the rest, with the
behaviour of ``dataclass(frozen=True)``: the same ``__init__`` (its signature once compiled),
defaults and factories, ``__eq__`` and ``__hash__`` over the same field tuples, the same ``repr``,
``FrozenInstanceError`` on assignment, and a method the class defines itself kept;
``mutable`` likewise for ``dataclass()``: assignable fields and ``__hash__`` None.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, TypeVar

C = TypeVar("C", bound=type)

#: The default of a field with a default_factory: "no value given" (dataclass's own, shown ``<factory>``).
_FACTORY = dataclasses._HAS_DEFAULT_FACTORY  # type: ignore[attr-defined]


def frozen(cls: C) -> C:
    """Make ``cls`` a frozen dataclass: ``@dataclass(frozen=True)`` (see the module docstring)."""
    return _record(cls, True)


def mutable(cls: C) -> C:
    """Make ``cls`` a plain dataclass: ``@dataclass`` (``__hash__`` None, fields assignable)."""
    return _record(cls, False)


def _record(cls: C, frozen: bool) -> C:
    dataclasses.dataclass(cls, init=False, repr=False, eq=False)  # fields only: nothing compiled
    fields = dataclasses.fields(cls)
    names = frozenset(f.name for f in fields)
    compared = _getter([f.name for f in fields if f.compare])
    hashed = _getter([f.name for f in fields if (f.compare if f.hash is None else f.hash)])
    shown = [f.name for f in fields if f.repr]

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # compiled at the first instance
        cls.__init__ = init = _init(cls, fields, frozen)  # type: ignore[misc]
        init.__qualname__ = f"{cls.__qualname__}.__init__"
        init(self, *args, **kwargs)

    def __repr__(self: Any) -> str:
        return f"{self.__class__.__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in shown)})"

    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return compared(self) == compared(other)
        return NotImplemented

    def __hash__(self: Any) -> int:
        return hash(hashed(self))

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    own = cls.__dict__
    explicit_hash = "__hash__" in own and not (own["__hash__"] is None and "__eq__" in own)
    methods: dict[str, Any] = {"__init__": __init__, "__repr__": __repr__, "__eq__": __eq__}
    if frozen:
        methods.update(__setattr__=__setattr__, __delattr__=__delattr__)
    for name, fn in methods.items():
        if name in own:
            if name in ("__setattr__", "__delattr__"):
                raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
            continue
        fn.__qualname__ = f"{cls.__qualname__}.{name}"
        setattr(cls, name, fn)
    if not explicit_hash:
        __hash__.__qualname__ = f"{cls.__qualname__}.__hash__"
        cls.__hash__ = __hash__ if frozen else None  # type: ignore[assignment]
    return cls


def _getter(names: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    """The tuple of these attributes of an object."""
    return lambda obj: tuple([getattr(obj, n) for n in names])


def _init(cls: type, fields: tuple[dataclasses.Field, ...], frozen: bool) -> Callable[..., None]:
    """``__init__`` as dataclass writes it: parameters in field order with their defaults, a
    factory called when its field is not given, then ``__post_init__``; a frozen class's fields
    are set through ``object.__setattr__``."""
    ns: dict[str, Any] = {"_set": object.__setattr__, "_FACTORY": _FACTORY}
    params, body = ["self"], []
    for f in fields:
        factory = f.default_factory is not dataclasses.MISSING
        if factory:
            ns[f"_f_{f.name}"] = f.default_factory
        if not f.init:  # a plain default stays a class attribute, as dataclass leaves it
            if factory:
                body.append(_assign(f.name, f"_f_{f.name}()", frozen))
            continue
        if f.default is not dataclasses.MISSING:
            ns[f"_d_{f.name}"] = f.default
            params.append(f"{f.name}=_d_{f.name}")
        else:
            params.append(f"{f.name}=_FACTORY" if factory else f.name)
        value = f"_f_{f.name}() if {f.name} is _FACTORY else {f.name}" if factory else f.name
        body.append(_assign(f.name, value, frozen))
    if hasattr(cls, "__post_init__"):
        body.append("self.__post_init__()")
    exec(f"def __init__({', '.join(params)}):\n " + "\n ".join(body or ["pass"]), ns)
    init = ns["__init__"]
    init.__annotations__ = {**{f.name: f.type for f in fields if f.init}, "return": None}
    return init


def _assign(name: str, value: str, frozen: bool) -> str:
    """The ``__init__`` line that sets field ``name`` to the expression ``value``."""
    return f"_set(self, {name!r}, {value})" if frozen else f"self.{name} = {value}"
