"""The fleet roll-up of ``movcheck summary``: one machine judged, many on every core."""
