"""The model's zones for a root booted with another command line: what the audit's advice and
``movcheck map`` ask of the model (observer.model_inputs.gather, observer.model.boot.predict)."""
from __future__ import annotations

from typing import Any

from observer.audit.advice import Predictor
from observer.audit.inputs import ZoneSpan
from observer.model_inputs import gather, with_cmdline
from observer.model.boot import predict
from probes.memory_blocks import MemoryBlocks
from probes.reading import Reading
from probes.root import Root


def model_predictor(root: Root, memory_blocks: Reading[MemoryBlocks] | None = None) -> Predictor:
    """The model's zones for this root booted with a given command line (observer.model_inputs.gather,
    observer.model.boot.predict); raises ValueError when the model cannot predict. The model's
    inputs are gathered at the first prediction (most audits need none)."""
    base: list[Any] = []

    def predict_zones(cmdline: str) -> list[ZoneSpan]:
        if not base:
            base.append(gather(root, memory_blocks=memory_blocks))
        facts = with_cmdline(base[0], cmdline)
        if facts.missing:
            raise ValueError(f"missing {', '.join(facts.missing)}")
        zones = predict(facts.inputs).zones
        return [ZoneSpan(z.node, z.zone, z.start_pfn if z.spanned or z.present else None, z.spanned, z.present)
                for z in zones]
    return predict_zones
