"""Wrappers users put around task arguments to change how legato treats them.

* ``unmapped(x)``: ``task.map`` hands ``x`` whole to every element.
* ``quote(x)``: legato does not look inside ``x`` for futures (saves a walk
  over a large structure) and ``map`` does not iterate it.
* ``allow_failure(future)``: the task runs even if that upstream failed, and
  receives the upstream's exception in place of its result.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

T = TypeVar("T")


class BaseAnnotation(Generic[T]):
    """A transparent box around one value."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def unwrap(self) -> T:
        return self.value

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.value == self.value  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), id(self.value)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value!r})"


class unmapped(BaseAnnotation[T]):
    """Broadcast this argument to every element of a ``map``."""

    __slots__ = ()


class quote(BaseAnnotation[T]):
    """Pass this argument as it is: not searched for futures, not mapped over."""

    __slots__ = ()

    def unquote(self) -> T:
        """The value inside (Prefect's name for :meth:`unwrap`)."""
        return self.value


class allow_failure(BaseAnnotation[T]):
    """Run the downstream task even if this upstream fails; it gets the exception."""

    __slots__ = ()


__all__ = ["BaseAnnotation", "allow_failure", "quote", "unmapped"]
