"""``movcheck watch`` and ``replay``: the live sources, the per-event rules, the trace."""
