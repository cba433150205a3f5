"""probes.records: frozen and mutable behave as dataclass(frozen=True) and dataclass on movcheck's own classes."""
from __future__ import annotations

import dataclasses
import inspect
import pickle

import pytest

from observer.model.inputs import ModelInputs
from observer.model.numa import Block
from observer.model.rules import ruleset_for
from observer.model.trace import Trace
from probes.bootlog import parse_boot_log
from probes.bootlog_events import E820Entry, Event, NodeData
from probes.nodes import Node
from probes import records
from probes.records import frozen


def twin(cls: type, frozen: bool = True) -> type:
    """A copy of ``cls``'s definition made by dataclass(frozen=frozen) instead (bases twinned too)."""
    bases = tuple(twin(b, frozen) if "__record_fields__" in b.__dict__ else b for b in cls.__bases__)
    fields = {f.name: f for f in records.fields(cls)}
    body = {"__module__": cls.__module__, "__annotations__": cls.__dict__.get("__annotations__", {})}
    dc = lambda v: dataclasses.MISSING if v is records.MISSING else v  # noqa: E731
    for k in body["__annotations__"]:
        f = fields.get(k)
        body[k] = cls.__dict__[k] if k in cls.__dict__ else dataclasses.field(
            default=dc(f.default), default_factory=dc(f.default_factory), init=f.init, repr=f.repr, hash=f.hash,
            compare=f.compare)
    return dataclasses.dataclass(frozen=frozen)(type(cls.__name__, bases, body))


def test_frozen_matches_dataclass_on_real_events() -> None:
    with open("tests/data/bootlog/k612-2node-memblock-debug.dmesg") as f:
        events = parse_boot_log(f.read()).events
    kinds = {type(e) for e in events}
    assert len(kinds) >= 10
    for cls in kinds:
        tw = twin(cls)
        # __init__ is compiled at the first instance, which parse_boot_log made
        assert inspect.signature(cls.__init__) == inspect.signature(tw.__init__)
        for e in [e for e in events if type(e) is cls][:20]:
            values = dataclasses.astuple(e)
            t = tw(*values)
            assert repr(e) == repr(t).replace(tw.__qualname__, cls.__qualname__, 1)
            assert hash(e) == hash(t)
            assert e == cls(*values) and e != t and (e == t) is False
            assert records.replace(e, line=e.line + 1) == dataclasses.replace(e, line=e.line + 1) != e
            assert dataclasses.asdict(e) == dataclasses.asdict(t)
            assert pickle.loads(pickle.dumps(e)) == e
            with pytest.raises(records.FrozenInstanceError, match="cannot assign to field 'line'"):
                e.line = 0  # type: ignore[misc]
            with pytest.raises(records.FrozenInstanceError, match="cannot delete field 'usec'"):
                del e.usec  # type: ignore[misc]


def test_defaults_factories_and_excluded_fields() -> None:
    # Node.meminfo is compared but not hashed (a dict); ModelInputs has default factories.
    a, b = Node(0, frozenset({1}), {"MemTotal": 1}), Node(0, frozenset({1}), {"MemTotal": 2})
    assert a != b and hash(a) == hash(b) == hash((0, frozenset({1})))
    assert Node(1, None).meminfo is None
    tw = twin(ModelInputs)
    m1, m2 = ModelInputs(None, ()), ModelInputs(None, ())
    assert str(inspect.signature(ModelInputs.__init__)) == str(inspect.signature(tw.__init__))  # <factory>
    assert m1 == m2 and m1.options is not m2.options and repr(m1) == repr(tw(None, ())).replace(tw.__qualname__, "ModelInputs")
    assert NodeData.__match_args__ == tuple(f.name for f in dataclasses.fields(NodeData))
    assert issubclass(E820Entry, Event) and E820Entry.kind == "e820"


def test_own_methods_kept_and_frozen_setattr_refused() -> None:
    @frozen
    class A:
        """x"""
        x: int

        def __repr__(self) -> str:
            return "mine"

    assert repr(A(1)) == "mine" and A(1) == A(1) and hash(A(1)) == hash((1,))
    with pytest.raises(TypeError):
        @frozen
        class B:
            """x"""
            x: int

            def __setattr__(self, name: str, value: object) -> None:
                pass


def test_mutable_matches_dataclass() -> None:
    b, tw = Block(0, 4096, 1), twin(Block, frozen=False)
    t = tw(0, 4096, 1)
    assert inspect.signature(Block.__init__) == inspect.signature(tw.__init__)
    assert repr(b) == repr(t).replace(tw.__qualname__, "Block") and Block.__hash__ is None is tw.__hash__
    assert b == Block(0, 4096, 1) and b != t
    b.nid = 2
    assert b == Block(0, 4096, 2) and dataclasses.asdict(b) == {"start": 0, "end": 4096, "nid": 2}
    assert [f.name for f in dataclasses.fields(b)] == [f.name for f in records.fields(Block)]
    rules = ruleset_for("6.12.0")[0]
    one, two = Trace(rules), Trace(rules)
    assert one.steps == [] and one.steps is not two.steps and one == two


def test_identity_records_and_refusals() -> None:
    @frozen(eq=False)
    class J:
        """x"""
        zones: list[str]

    a, b = J(["Movable"]), J(["Movable"])
    assert a != b and a == a and len({a, b}) == 2 and repr(a) == "test_identity_records_and_refusals.<locals>.J(zones=['Movable'])"
    with pytest.raises(ValueError, match="mutable default"):
        @frozen
        class D:
            """x"""
            x: list[int] = []  # noqa: RUF012
    with pytest.raises(ValueError, match="init=False"):
        records.replace(_NoInit(1), y=2)


@frozen
class _NoInit:
    """A record with a field __init__ does not take."""
    x: int
    y: int = records.field(default=0, init=False)
