"""Flows run by the CLI tests through the real engine (``legato run``)."""

from __future__ import annotations

from pathlib import Path

from legato import flow, get_run_logger, task


@task
def double(x: int) -> int:
    return 2 * x


@task
def total(values: list[int]) -> int:
    return sum(values)


@flow
def greet(name: str = "world", times: int = 1) -> str:
    get_run_logger().info("greeting %s", name)
    return " ".join([f"hello {name}"] * times)


@flow
def mapped(n: int = 5) -> int:
    return total(double.map(range(n)))


@flow
def fails() -> None:
    raise ValueError("boom")


@task
def flaky(marker: str) -> str:
    path = Path(marker)
    if not path.exists():
        path.write_text("failed once")
        raise RuntimeError("first attempt fails")
    return "recovered"


@flow
def fail_once(marker: str) -> str:
    return flaky(marker)


@flow
def nothing() -> None:
    return None


not_a_flow = 42
