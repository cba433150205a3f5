"""Sources of facts: pure parsers (text or bytes in, typed records out) and thin readers.

Every file access goes through :class:`probes.root.Root`; every reader returns a
:class:`probes.reading.Reading` whose status is ok, absent, denied or malformed.
"""
