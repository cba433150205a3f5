"""The checker: the model's prediction held against the live layout and the boot log."""
