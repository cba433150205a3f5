"""The zone-layout model: pure functions from firmware facts and the command line to zones.

Entry point: :func:`observer.model.boot.predict` (``ModelInputs`` from
:mod:`observer.model.inputs`, usually gathered by :func:`observer.model_inputs.gather`) returns a
``Prediction``: zones per node (start_pfn, spanned, present), the Movable start per node,
memory-block zones and valid_zones, the kernel nodes, and a ``Trace`` of the rules that fired
(:mod:`observer.model.rules` cites the kernel function of each) with the assumptions made.

Modules follow the boot: memblock (e820 -> memblock.memory), numa (SRAT -> nodes, hotplug
marks, kernel nodes), zones (arch limits, find_zone_movable_pfns_for_nodes, spans and present),
movablemem_map (the 2013 proposal), hotplug (hot-added blocks, online policy, valid_zones),
explain (the replay for ``plan --explain``).
"""
