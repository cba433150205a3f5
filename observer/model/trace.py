"""What the model did, step by step: the rules that fired and the state after each step."""
from __future__ import annotations

from observer.model.memblock import Memblock, Region
from observer.model.rules import RuleSet
from probes.records import field, frozen, mutable


@frozen
class Step:
    """One replayed event: the rule, what it did, and memblock.memory and Movable starts after it."""

    rule: str
    citation: str
    detail: str
    regions: tuple[Region, ...]
    movable_start: tuple[tuple[int, int], ...]


@mutable
class Trace:
    """Collects :class:`Step` s and assumptions while the model runs."""

    rules: RuleSet
    steps: list[Step] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)

    def step(self, rule: str, detail: str, mb: Memblock, zmp: dict[int, int] | None = None) -> None:
        self.steps.append(Step(rule, self.rules.cite(rule), detail, tuple(mb.regions),
                               tuple(sorted((zmp or {}).items()))))

    def assume(self, text: str) -> None:
        if text not in self.assumptions:
            self.assumptions.append(text)

    def fired(self) -> list[tuple[str, str]]:
        """(rule id, citation) of every rule that fired, first firing order, no repeats."""
        seen: dict[str, str] = {}
        for s in self.steps:
            seen.setdefault(s.rule, s.citation)
        return list(seen.items())
