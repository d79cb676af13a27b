"""Settings are read from the environment at call time."""

from __future__ import annotations

from pathlib import Path

import pytest

from legato import config


@pytest.mark.parametrize("value", ["0", "false", "No", "OFF", " off "])
def test_history_and_progress_can_be_switched_off(monkeypatch, value):
    monkeypatch.setenv("LEGATO_HISTORY", value)
    monkeypatch.setenv("LEGATO_PROGRESS", value)
    assert config.history_enabled() is False
    assert config.progress_enabled() is False


@pytest.mark.parametrize("value", ["1", "true", "yes", "on", ""])
def test_other_values_leave_switches_on(monkeypatch, value):
    monkeypatch.setenv("LEGATO_HISTORY", value)
    assert config.history_enabled() is True


def test_switches_default_to_on(monkeypatch):
    monkeypatch.delenv("LEGATO_HISTORY", raising=False)
    monkeypatch.delenv("LEGATO_PROGRESS", raising=False)
    assert config.history_enabled() and config.progress_enabled()


def test_home_is_created_on_demand_and_holds_the_database(tmp_path, monkeypatch):
    home = tmp_path / "new" / "home"
    monkeypatch.setenv("LEGATO_HOME", str(home))
    assert not home.exists()
    assert config.legato_home() == home and home.is_dir()
    assert config.database_path() == home / "history.db"


def test_database_can_be_set_on_its_own(tmp_path, monkeypatch):
    monkeypatch.setenv("LEGATO_DATABASE", str(tmp_path / "x.db"))
    assert config.database_path() == tmp_path / "x.db"


def test_home_defaults_to_dot_legato(monkeypatch, tmp_path):
    monkeypatch.delenv("LEGATO_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config.legato_home() == Path(tmp_path) / ".legato"
