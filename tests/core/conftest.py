from __future__ import annotations

import logging

import pytest

from legato.core.logs import configure_logging


@pytest.fixture
def run_logs(caplog):
    """caplog that sees legato's records (legato's own handler does not propagate)."""
    configure_logging()
    logger = logging.getLogger("legato")
    logger.propagate = True
    try:
        with caplog.at_level(logging.INFO, logger="legato"):
            yield caplog
    finally:
        logger.propagate = False
