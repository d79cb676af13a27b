"""Prefect-compatible home of the errors: ``from legato.exceptions import ...``."""

from legato.core.errors import *  # noqa: F401,F403
from legato.core.errors import __all__  # noqa: F401
