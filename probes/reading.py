"""The outcome of reading one source: ok, absent, denied or malformed, never an exception."""
from __future__ import annotations

import enum
from typing import Callable, Generic, TypeVar

from probes.records import frozen

T = TypeVar("T")
U = TypeVar("U")


class ParseError(ValueError):
    """Raised by a pure parser when its input is not what the kernel writes."""


class Status(enum.Enum):
    OK = "ok"
    ABSENT = "absent"
    DENIED = "denied"
    MALFORMED = "malformed"


@frozen
class Reading(Generic[T]):
    """One source's result: ``value`` is set only when ``status`` is OK.

    ``source`` is the path relative to the root (``proc/zoneinfo``); ``problem``
    is a one-line reason for any other status.
    """

    source: str
    status: Status
    value: T | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    def describe(self) -> str:
        """One line naming the source and what went wrong (or ``ok``)."""
        if self.ok:
            return f"{self.source}: ok"
        return f"{self.source}: {self.problem or self.status.value}"

    def map(self, fn: Callable[[T], U]) -> "Reading[U]":
        """Apply a pure parser to an OK value, turning a ParseError into MALFORMED."""
        if not self.ok:
            return Reading(self.source, self.status, None, self.problem)
        try:
            return Reading(self.source, Status.OK, fn(self.value))  # type: ignore[arg-type]
        except ParseError as exc:
            return Reading(self.source, Status.MALFORMED, None, f"malformed: {exc}")
