"""Shared fixtures: a real Radicale server for the session and a fresh calendar on it per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from mirrorcal.testing import RadicaleServer


@pytest.fixture(scope="session")
def radicale() -> Iterator[RadicaleServer]:
    """One Radicale 3 server on 127.0.0.1 for the whole test session."""
    with RadicaleServer() as server:
        yield server


@pytest.fixture
def radicale_calendar(radicale: RadicaleServer) -> str:
    """The URL of a new, empty calendar of user ``test`` on the session's Radicale."""
    name = uuid.uuid4().hex[:12]
    return radicale.make_calendar("test", name, displayname=f"Test {name}")
