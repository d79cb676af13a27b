"""A logging handler that keeps the messages of warnings and worse, for tests that count them
(legato's own loggers do not propagate to pytest's caplog)."""

from __future__ import annotations

import logging


class WarningMessages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
