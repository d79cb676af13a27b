"""Prefect-compatible ``utilities`` package (only :mod:`legato.utilities.annotations` lives here)."""
