"""Helpers for tests, the demo and benchmarks: real local servers to run mirrorcal against."""

from __future__ import annotations

from .radicale import RadicaleServer

__all__ = ["RadicaleServer"]
