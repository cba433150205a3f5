"""Errors a command reports as one line on stderr, with its exit status."""
from __future__ import annotations

from probes.reading import Reading, Status

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT, EXIT_CANNOT_TELL, EXIT_INTERNAL = 0, 1, 2, 3, 4


class CommandError(Exception):
    """Stops a command: ``message`` names the file and the problem; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


def require(reading: Reading) -> object:
    """The value of a reading the command cannot do without, else a CommandError.

    Absent or denied inputs exit 3 (cannot tell); malformed ones exit 2.
    """
    if reading.ok:
        return reading.value
    code = EXIT_BAD_INPUT if reading.status is Status.MALFORMED else EXIT_CANNOT_TELL
    raise CommandError(reading.describe(), code)
