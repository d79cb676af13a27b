"""Prefect-compatible home of the argument annotations: ``from legato.utilities.annotations import unmapped``."""

from __future__ import annotations

from legato.core.annotations import BaseAnnotation, allow_failure, quote, unmapped

__all__ = ["BaseAnnotation", "allow_failure", "quote", "unmapped"]
