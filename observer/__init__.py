"""movcheck's observer: the model, the checker, the audit and the command line."""
