"""Maintenance scripts for formalpi.lean (not imported by the library)."""
