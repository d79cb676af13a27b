"""Fixtures for the scheduling tests: a store in a fresh home, a fake clock, a recording runner."""

from __future__ import annotations

import pytest

from legato.scheduling.clock import FakeClock
from legato.scheduling.store import Store
from sched_support import T0, Recorder


@pytest.fixture
def store(legato_home):
    s = Store()
    yield s
    s.close()


@pytest.fixture
def home(legato_home):
    """A fresh home whose cached tag-limit names are forgotten before and after the test."""
    from legato.scheduling import limits

    limits._tag_limits.expire()
    yield legato_home
    limits._tag_limits.expire()


@pytest.fixture
def clock():
    return FakeClock(T0)


@pytest.fixture
def recorder():
    return Recorder()
