"""movcheck's observer: the model, the checker, the audit and the command line."""

__version__ = "0.1.0"
