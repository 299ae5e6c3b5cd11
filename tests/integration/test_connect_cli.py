"""``mirrorcal emulate``, ``connect`` and ``connections`` as real processes on loopback."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mirrorcal.testing import RadicaleServer
from mirrorcal.testing.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from mirrorcal.testing.google import GoogleEmulator
from mirrorcal.testing.graph import GraphEmulator
from mirrorcal.testing.icloud import IcloudFrontDoor


def mirrorcal(*args: str) -> list[str]:
    return [sys.executable, "-m", "mirrorcal", *args]


def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "COLUMNS": "200", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}


@pytest.mark.parametrize("kind", ["google", "microsoft"])
def test_emulate_prints_one_json_line_and_serves_until_stopped(kind: str, tmp_path: Path) -> None:
    with subprocess.Popen(mirrorcal("emulate", kind), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(tmp_path)) as proc:
        try:
            _use_the_emulator(proc, kind, tmp_path)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0


def _use_the_emulator(proc: subprocess.Popen[str], kind: str, tmp_path: Path) -> None:
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    assert set(info) == {"base_url", "access_token", "calendar_id"}
    assert info["base_url"].startswith("http://127.0.0.1:")
    auth = {"Authorization": f"Bearer {info['access_token']}"}
    if kind == "google":
        url = f"{info['base_url']}/calendar/v3/calendars/{info['calendar_id']}/events"
    else:
        url = f"{info['base_url']}/v1.0/me/calendars/{info['calendar_id']}/events"
    assert httpx.get(url, headers=auth).status_code == 200
    assert httpx.get(url).status_code == 401
    # The printed values are all a configuration needs: `check` reaches the calendar.
    config = tmp_path / "mirrorcal.toml"
    config.write_text(
        f'database = "sqlite:///{tmp_path / "s.db"}"\ntimezone = "UTC"\n[calendars.c]\nkind = "{kind}"\n'
        f'base_url = "{info["base_url"]}"\naccess_token = "{info["access_token"]}"\ncalendar_id = "{info["calendar_id"]}"\n'
    )
    check = subprocess.run(mirrorcal("-c", str(config), "check"), capture_output=True, text=True, env=env(tmp_path), timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "unreachable" not in check.stdout


def test_emulate_refuses_an_unknown_kind(tmp_path: Path) -> None:
    proc = subprocess.run(mirrorcal("emulate", "yahoo"), capture_output=True, text=True, env=env(tmp_path), timeout=30)
    assert proc.returncode == 2 and "google or microsoft" in proc.stderr


@pytest.fixture(params=["google", "microsoft"])
def provider(request: pytest.FixtureRequest) -> Iterator[tuple[str, GoogleEmulator | GraphEmulator]]:
    emulator: GoogleEmulator | GraphEmulator = GoogleEmulator() if request.param == "google" else GraphEmulator()
    with emulator:
        yield request.param, emulator


def test_connect_signs_in_stores_the_token_encrypted_and_lists_calendars(
    provider: tuple[str, GoogleEmulator | GraphEmulator], tmp_path: Path
) -> None:
    kind, emulator = provider
    config = tmp_path / "mirrorcal.toml"
    db = tmp_path / "state.db"
    config.write_text(
        f'database = "sqlite:///{db}"\ntimezone = "UTC"\n[oauth.{kind}]\n'
        f'client_id = "{DEFAULT_CLIENT_ID}"\nclient_secret = "{DEFAULT_CLIENT_SECRET}"\n'
    )
    command = mirrorcal("-c", str(config), "connect", kind, "--name", "work", "--no-browser", "--base-url", emulator.base_url)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(tmp_path)) as proc:
        assert proc.stdout is not None
        link = ""
        for line in proc.stdout:
            if line.startswith("http://127.0.0.1"):
                link = line.strip()
                break
        assert link, "no sign-in address printed"
        # The user's browser: the provider asks for consent and redirects to mirrorcal's loopback listener.
        page = httpx.get(link, follow_redirects=True, timeout=10)
        assert page.status_code == 200 and "Signed in" in page.text
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, out + err
    assert "Connected" in out and "calendar_id" in out
    assert emulator.oauth.subject in out  # the account is named

    listing = subprocess.run(mirrorcal("-c", str(config), "connections"), capture_output=True, text=True, env=env(tmp_path), timeout=30)
    assert re.search(rf"work\s.*{kind}\s.*ok", listing.stdout), listing.stdout
    # The refresh token is stored encrypted: nowhere in the database in clear, and it works.
    with sqlite3.connect(db) as conn:
        [(secret,)] = conn.execute("SELECT secret FROM connections WHERE name = 'work'").fetchall()
    assert secret.startswith("gAAAA")  # a Fernet token
    key_file = next(tmp_path.glob("*.key"))
    assert key_file.stat().st_mode & 0o777 == 0o600
    refresh_tokens = [t for t in emulator.oauth._refresh]  # the authority's own record
    assert refresh_tokens and all(t.encode() not in db.read_bytes() for t in refresh_tokens)


def test_connect_without_an_app_registration_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "mirrorcal.toml"
    config.write_text(f'database = "sqlite:///{tmp_path / "s.db"}"\ntimezone = "UTC"\n')
    proc = subprocess.run(mirrorcal("-c", str(config), "connect", "google", "--no-browser"), capture_output=True, text=True, env=env(tmp_path), timeout=30)
    assert proc.returncode != 0 and "oauth.google" in proc.stderr and "Traceback" not in proc.stderr


def test_connect_icloud_checks_the_app_password_and_stores_it_encrypted(radicale: RadicaleServer, tmp_path: Path) -> None:
    user = f"icl{uuid.uuid4().hex[:8]}"
    radicale.make_calendar(user, "home", displayname="Home")
    config = tmp_path / "mirrorcal.toml"
    db = tmp_path / "state.db"
    config.write_text(f'database = "sqlite:///{db}"\ntimezone = "UTC"\n')
    with IcloudFrontDoor(radicale.url, user) as door:
        command = mirrorcal("-c", str(config), "connect", "icloud", "--username", door.apple_id, "--url", door.url)
        wrong = subprocess.run(command, capture_output=True, text=True, timeout=60, env={**env(tmp_path), "MIRRORCAL_ICLOUD_PASSWORD": "my-real-password"})
        assert wrong.returncode == 1 and "app-specific password" in wrong.stderr and "Traceback" not in wrong.stderr
        right = subprocess.run(command, capture_output=True, text=True, timeout=60, env={**env(tmp_path), "MIRRORCAL_ICLOUD_PASSWORD": door.app_password})
    assert right.returncode == 0, right.stdout + right.stderr
    assert "Home" in right.stdout and f"/{user}/home/" in right.stdout and 'kind = "icloud"' in right.stdout
    assert door.app_password.encode() not in db.read_bytes()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT kind, account, state FROM connections").fetchall() == [("icloud", door.apple_id, "ok")]
