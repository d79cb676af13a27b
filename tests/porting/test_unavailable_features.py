"""Prefect names that need Prefect's server fail with an error that says what legato offers instead."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import legato
from legato import unavailable
from legato.core.errors import LegatoError, UnavailableFeature

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


@pytest.mark.parametrize("module", sorted(unavailable.MODULES))
def test_importing_a_server_only_module_names_the_alternative(module):
    with pytest.raises(UnavailableFeature) as caught:
        importlib.import_module(f"legato.{module}")
    message = str(caught.value)
    assert message.startswith(f"prefect.{module} is not available in legato: ")
    assert unavailable.MODULES[module] in message
    assert isinstance(caught.value, ImportError) and isinstance(caught.value, LegatoError)


def test_a_submodule_of_a_left_out_module_gets_the_same_error():
    with pytest.raises(UnavailableFeature, match="prefect.blocks is not available"):
        importlib.import_module("legato.blocks.system")


@pytest.mark.parametrize("name", sorted(unavailable.NAMES))
def test_a_server_only_name_fails_at_the_import_with_the_alternative(name):
    with pytest.raises(UnavailableFeature, match=re.escape(unavailable.NAMES[name])):
        exec(f"from legato import {name}", {})


def test_flow_deploy_and_from_source_say_to_serve_or_run_instead():
    @legato.flow
    def nightly() -> None: ...

    with pytest.raises(UnavailableFeature, match=r"flow\.serve"):
        nightly.deploy(name="n", work_pool_name="pool")
    with pytest.raises(UnavailableFeature, match="legato run"):
        legato.Flow.from_source(source="https://example.invalid/repo", entrypoint="a.py:f")


def test_other_missing_names_and_modules_stay_ordinary_errors():
    """Only the listed names are refused: a typo is still an AttributeError / ModuleNotFoundError."""
    assert not hasattr(legato, "no_such_name")
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("legato.no_such_module")


def test_the_readme_differences_table_lists_every_left_out_name():
    section = README[README.index("### Coming from Prefect 3"):README.index("## Task runners")]
    missing = [f"prefect.{m}" for m in unavailable.MODULES if f"`prefect.{m}`" not in section]
    missing += [f"prefect.{n}" for n in unavailable.NAMES if f"`{n}`" not in section]
    missing += [m for m in ("Flow.deploy", "Flow.from_source") if f"`{m}`" not in section]
    assert not missing, f"README 'Coming from Prefect 3' does not mention {missing}"
