"""Hold a prediction against the live layout: zones from /proc/zoneinfo, memory-block zones."""
from __future__ import annotations

from typing import Callable

from observer.model.boot import Prediction, predict
from observer.model.inputs import ModelInputs
from probes.records import frozen, replace
from probes.memory_blocks import MemoryBlocks
from probes.zoneinfo import ZoneInfo

MOVABLE_RULES = ("movablemem-map", "movable-node", "kernelcore-mirror", "mirror-none", "kernelcore")


@frozen
class Mismatch:
    """One difference: where (node/zone or block), which field, predicted, seen, the rule."""

    where: str
    field: str
    predicted: object
    seen: object
    rule: str
    citation: str
    #: The kernel's own line the seen value comes from (a check on a boot log alone).
    kernel_line: str = ""

    def line(self) -> str:
        if self.kernel_line:
            return (f"{self.where}: {self.field} predicted {self.predicted}, kernel {self.seen} "
                    f"[{self.kernel_line}] (rule {self.rule}: {self.citation})")
        return (f"{self.where}: {self.field} predicted {self.predicted}, seen {self.seen} "
                f"(rule {self.rule}: {self.citation})")


def movable_rule(pred: Prediction) -> str:
    """The rule that placed ZONE_MOVABLE in this prediction."""
    fired = [r for r, _ in pred.trace.fired() if r in MOVABLE_RULES]
    return fired[-1] if fired else "movable-align"


def compare_zones(pred: Prediction, seen: ZoneInfo) -> list[Mismatch]:
    """Every zone non-empty on either side: spanned, present, and start_pfn where zoneinfo prints it."""
    out: list[Mismatch] = []
    predicted = {(z.node, z.zone): z for z in pred.zones}
    live = {(z.node, z.name): z for z in seen.zones}
    offlined = {b.node for b in pred.blocks if b.boot and not b.online} if "offline-boot" in dict(
        pred.trace.fired()) else set()
    for key in sorted(set(predicted) | set(live)):
        p, s = predicted.get(key), live.get(key)
        p_vals = (p.start_pfn, p.spanned, p.present) if p else (0, 0, 0)
        s_vals = (s.start_pfn, s.spanned, s.present) if s else (None, 0, 0)
        if not (p_vals[1] or p_vals[2] or s_vals[1] or s_vals[2]):
            continue
        if key[0] in offlined:  # boot blocks of this node went offline at run time
            rule = "offline-boot"
        else:
            rule = movable_rule(pred) if key[1] == "Movable" or pred.movable_start.get(key[0]) else "zone-span"
        where = f"node {key[0]} zone {key[1]}"
        if s_vals[0] is not None and p_vals[2] and p_vals[0] != s_vals[0]:
            out.append(Mismatch(where, "start_pfn", p_vals[0], s_vals[0], rule, pred.trace.rules.cite(rule)))
        if p_vals[1] != s_vals[1]:
            out.append(Mismatch(where, "spanned", p_vals[1], s_vals[1], rule, pred.trace.rules.cite(rule)))
        if p_vals[2] != s_vals[2]:
            r = "zone-present" if p_vals[1] == s_vals[1] and rule != "offline-boot" else rule
            out.append(Mismatch(where, "present", p_vals[2], s_vals[2], r, pred.trace.rules.cite(r)))
    return out


def compare_blocks(pred: Prediction, seen: MemoryBlocks) -> list[Mismatch]:
    """valid_zones of every block sysfs lists, against the predicted text."""
    out: list[Mismatch] = []
    by_number = {b.number: b for b in pred.blocks}
    texts: dict[tuple[str, ...], str] = {}
    for b in seen.blocks:
        p = by_number.get(b.number)
        if p is None or b.valid_zones is None:
            continue
        text = texts.get(b.valid_zones)
        if text is None:
            text = texts[b.valid_zones] = " ".join(b.valid_zones)
        if text != p.valid_zones:
            rule = "boot-block-zone" if p.boot and p.online else "hotadd-zone" if p.online else "valid-zones"
            out.append(Mismatch(f"memory{b.number} (node {b.node})", "valid_zones", p.valid_zones, text,
                                rule, pred.trace.rules.cite(rule)))
    return out


@frozen
class CheckResult:
    """The model's prediction, every difference from the live layout, and notes on what was
    taken as seen or not compared."""

    prediction: Prediction
    mismatches: list[Mismatch]
    notes: list[str]

    @property
    def agree(self) -> bool:
        return not self.mismatches


def _zone_seen(blocks: MemoryBlocks) -> Callable[[int], str | None]:
    """The zone sysfs shows a block online in (its one valid_zones), None otherwise."""
    def seen(number: int) -> str | None:
        b = blocks.find(number)
        return b.valid_zones[0] if b and b.state == "online" and b.valid_zones and len(b.valid_zones) == 1 else None
    return seen


def as_the_kernel_boots(inputs: ModelInputs) -> tuple[ModelInputs, list[str]]:
    """``inputs`` as the recorded kernel took them: movablemem_map= (never merged) dropped, with a note."""
    if inputs.options.movablemem_map is None:
        return inputs, []
    return replace(inputs, options=replace(inputs.options, movablemem_map=None)), [
        "the command line carries movablemem_map=, which no released kernel implements: "
        "the running kernel ignores it, and so does this check"]


def check_layout(inputs: ModelInputs, seen: ZoneInfo, blocks: MemoryBlocks | None,
                 blocks_problem: str = "") -> CheckResult:
    """Predict the boot of ``inputs`` and hold it against the live zones and memory blocks.

    The running kernel ignores movablemem_map= (never merged), so the check does too. With
    auto-online off, hot-added blocks online now were onlined by hand: their zone is taken
    as seen (the online type written is not an input)."""
    inputs, notes = as_the_kernel_boots(inputs)
    auto_online = inputs.options.memhp_default_state or inputs.hotplug.auto_online_blocks
    manual = blocks is not None and auto_online == "offline"
    pred = predict(inputs, _zone_seen(blocks) if manual else None)  # type: ignore[arg-type]
    if auto_online == "offline" and any(b.online and not b.boot for b in pred.blocks):
        notes.append("auto-online is off: hot-added blocks online now were onlined by hand, so their zone "
                     "is taken as seen; boot memory and the zone spans are predicted")
    mismatches = compare_zones(pred, seen)
    if blocks is not None:
        mismatches += compare_blocks(pred, blocks)
    else:
        notes.append(f"memory blocks not compared: {blocks_problem}")
    return CheckResult(pred, mismatches, notes)
