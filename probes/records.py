"""``@frozen`` and ``@mutable``: ``@dataclass(frozen=True)`` and ``@dataclass``, made cheaply.

On Python 3.11 ``dataclass(frozen=True)`` compiles six methods for every class (``@dataclass``
three), about 0.5 ms a class, and importing ``dataclasses`` (with ``inspect``, ``ast``,
``dis``, ``tokenize``) costs ~10 % of an audit: with ~110 classes that was a third of every
command's start-up. Here the fields are collected as dataclass collects them, ``__init__`` is
compiled when the first instance is made (a class never instantiated in a run costs nothing
more) and the other methods are shared functions, with dataclass's behaviour: the same
``__init__`` (parameters, defaults, factories, ``__post_init__``), ``__eq__`` and ``__hash__``
over the same field tuples, the same ``repr``, :class:`FrozenInstanceError` on assignment to
a frozen record, ``__hash__`` None for a mutable one, a method the class defines itself kept.
:func:`field`, :func:`fields` and :func:`replace` stand for dataclasses' own; and
``dataclasses.fields``/``replace``/``asdict`` work on a record too (its
``__dataclass_fields__`` is made, importing dataclasses, when something asks for it).
"""
from __future__ import annotations

from typing import Any, Callable, TypeVar, dataclass_transform, overload

C = TypeVar("C", bound=type)


class _Sentinel:
    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


#: No default given (dataclasses.MISSING).
MISSING: Any = _Sentinel("MISSING")
#: The default of a field with a default_factory: "no value given" (shown ``<factory>``, as dataclass does).
_FACTORY: Any = _Sentinel("<factory>")


class FrozenInstanceError(AttributeError):
    """Assignment to, or deletion of, a field of a frozen record."""


class Field:
    """One field: name, annotation (a string), default or factory, and what it takes part in."""

    __slots__ = ("name", "type", "default", "default_factory", "init", "repr", "hash", "compare")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING, init: bool = True,
                 repr: bool = True, hash: bool | None = None, compare: bool = True) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name, self.type = "", ""
        self.default, self.default_factory = default, default_factory
        self.init, self.repr, self.hash, self.compare = init, repr, hash, compare


def field(*, default: Any = MISSING, default_factory: Any = MISSING, init: bool = True, repr: bool = True,
          hash: bool | None = None, compare: bool = True) -> Any:
    """A field's options, as ``dataclasses.field`` takes them."""
    return Field(default, default_factory, init, repr, hash, compare)


def fields(obj: Any) -> tuple[Field, ...]:
    """The fields of a record class or instance, in order."""
    return tuple(getattr(obj if isinstance(obj, type) else type(obj), "__record_fields__").values())


def replace(obj: Any, /, **changes: Any) -> Any:
    """A new record like ``obj`` with ``changes`` (``dataclasses.replace``)."""
    for f in fields(obj):
        if not f.init:
            if f.name in changes:
                raise ValueError(f"field {f.name} is declared with init=False, it cannot be specified with replace()")
        elif f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return obj.__class__(**changes)


@overload
def frozen(cls: C, *, eq: bool = True) -> C: ...
@overload
def frozen(cls: None = None, *, eq: bool = True) -> Callable[[C], C]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(Field, field))
def frozen(cls: C | None = None, *, eq: bool = True) -> Any:
    """``@dataclass(frozen=True)``; ``@frozen(eq=False)`` keeps identity equality and hash."""
    if cls is None:
        return lambda c: _record(c, True, eq)
    return _record(cls, True, eq)


@dataclass_transform(field_specifiers=(Field, field))
def mutable(cls: C) -> C:
    """``@dataclass``: fields assignable, ``__hash__`` None."""
    return _record(cls, False, True)


class _DataclassFields:
    """A record's ``__dataclass_fields__``, made on first use: dataclasses' functions then work on it."""

    def __get__(self, obj: Any, owner: type) -> dict[str, Any]:
        import dataclasses
        made = {}
        for f in owner.__record_fields__.values():  # type: ignore[attr-defined]
            d = dataclasses.field(default=dataclasses.MISSING if f.default is MISSING else f.default,
                                  default_factory=dataclasses.MISSING if f.default_factory is MISSING
                                  else f.default_factory, init=f.init, repr=f.repr, hash=f.hash, compare=f.compare)
            d.name, d.type, d._field_type = f.name, f.type, dataclasses._FIELD  # type: ignore[attr-defined,misc,union-attr]
            made[f.name] = d
        setattr(owner, "__dataclass_fields__", made)
        return made


def _record(cls: C, frozen: bool, eq: bool) -> C:
    fields_ = _collect(cls)
    cls.__record_fields__ = fields_  # type: ignore[attr-defined]
    cls.__dataclass_fields__ = _DataclassFields()  # type: ignore[attr-defined]
    cls.__match_args__ = tuple(f.name for f in fields_.values() if f.init)  # type: ignore[attr-defined,misc]
    own = cls.__dict__
    methods = _methods(cls, tuple(fields_.values()), frozen)
    if not eq:
        del methods["__eq__"], methods["__hash__"]
    for name, fn in methods.items():
        if name == "__hash__":  # dataclass keeps a __hash__ the class defines, not the None __eq__ implies
            if "__hash__" in own and not (own["__hash__"] is None and "__eq__" in own):
                continue
            fn = fn if frozen else None
        elif name in own:
            if name in ("__setattr__", "__delattr__"):
                raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
            continue
        if fn is not None:
            fn.__qualname__ = f"{cls.__qualname__}.{name}"
        setattr(cls, name, fn)
    return cls


def _collect(cls: type) -> dict[str, Field]:
    """The fields of ``cls``: its bases' (in reverse MRO order), then its own annotations that are
    not ClassVar; a ``field()`` class attribute becomes its default, or goes (default_factory)."""
    out: dict[str, Field] = {}
    for base in cls.__mro__[-1:0:-1]:
        out.update(base.__dict__.get("__record_fields__", {}))
    for name, ann in cls.__dict__.get("__annotations__", {}).items():
        if (ann if isinstance(ann, str) else repr(ann)).startswith(("ClassVar", "typing.ClassVar")):
            continue
        value = cls.__dict__.get(name, MISSING)
        f = value if isinstance(value, Field) else Field(default=value)
        f.name, f.type = name, ann
        if isinstance(value, Field):
            if f.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, f.default)
        if isinstance(f.default, (list, dict, set)):
            raise ValueError(f"mutable default {type(f.default)} for field {name} is not allowed: use default_factory")
        out[name] = f
    return out


def _methods(cls: type, fields_: tuple[Field, ...], frozen: bool) -> dict[str, Any]:
    """``__init__`` (compiled at the first instance), ``__repr__``, ``__eq__``, ``__hash__``, and
    for a frozen record ``__setattr__`` and ``__delattr__``."""
    names = frozenset(f.name for f in fields_)
    compared = _getter([f.name for f in fields_ if f.compare])
    hashed = _getter([f.name for f in fields_ if (f.compare if f.hash is None else f.hash)])
    shown = [f.name for f in fields_ if f.repr]

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        cls.__init__ = init = _init(cls, fields_, frozen)  # type: ignore[misc]
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
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)  # type: ignore[arg-type]

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)  # type: ignore[arg-type]

    out = {"__init__": __init__, "__repr__": __repr__, "__eq__": __eq__, "__hash__": __hash__}
    return {**out, "__setattr__": __setattr__, "__delattr__": __delattr__} if frozen else out


def _getter(names: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    """The tuple of these attributes of an object."""
    return lambda obj: tuple([getattr(obj, n) for n in names])


def _init(cls: type, fields_: tuple[Field, ...], frozen: bool) -> Callable[..., None]:
    """``__init__`` as dataclass writes it: parameters in field order with their defaults, a
    factory called when its field is not given, then ``__post_init__``; a frozen record's fields
    are set through ``object.__setattr__``."""
    ns: dict[str, Any] = {"_set": object.__setattr__, "_FACTORY": _FACTORY}
    params, body = ["self"], []
    for f in fields_:
        factory = f.default_factory is not MISSING
        if factory:
            ns[f"_f_{f.name}"] = f.default_factory
        if not f.init:  # a plain default stays a class attribute, as dataclass leaves it
            if factory:
                body.append(_assign(f.name, f"_f_{f.name}()", frozen))
            continue
        if f.default is not MISSING:
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
    init.__annotations__ = {**{f.name: f.type for f in fields_ if f.init}, "return": None}
    return init


def _assign(name: str, value: str, frozen: bool) -> str:
    """The ``__init__`` line that sets field ``name`` to the expression ``value``."""
    return f"_set(self, {name!r}, {value})" if frozen else f"self.{name} = {value}"
