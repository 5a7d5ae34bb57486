"""Outcomes in (see the sub-package docstring)."""
