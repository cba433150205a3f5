"""What a snapshot says of itself: the sources it lacks and whether memory held still.

``movcheck snapshot`` writes these notes (``movcheck/snapshot-notes``, one a line) only
when there is something to say; every command that reads the snapshot repeats them once.
"""
from __future__ import annotations

from probes.root import Root

NOTES = "movcheck/snapshot-notes"
#: Notes repeated at most (a hostile snapshot cannot flood the terminal).
MAX_NOTES = 20


def parse_notes(text: str) -> list[str]:
    """The non-empty lines, each cut to 200 characters, at most MAX_NOTES."""
    return [line.strip()[:200] for line in text.splitlines() if line.strip()][:MAX_NOTES]


def snapshot_notes(root: Root) -> list[str]:
    """The notes of a snapshot root (none on a live machine or when the file is absent)."""
    if root.live:
        return []
    reading = root.read_text(NOTES)
    return parse_notes(reading.value or "") if reading.ok else []
