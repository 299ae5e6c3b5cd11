"""Faults over the emulators: flaky providers, access tokens expiring mid-run, revoked sign-ins,
and source reads that fail or suddenly come back empty. Nothing is duplicated, lost or deleted."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from mirrorcal.bootstrap import Credentials, engine_for, open_store
from mirrorcal.config import CalendarConfig, Config, parse_config
from mirrorcal.secrets import KEY_ENV, Vault
from mirrorcal.service import Service
from mirrorcal.sync.engine import Engine, SyncReport
from mirrorcal.testing.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Faults
from mirrorcal.testing.world import ProviderWorld, Seen

MONDAY = (datetime.now(UTC) + timedelta(days=7 - datetime.now(UTC).weekday())).replace(
    hour=0, minute=0, second=0, microsecond=0
)
HORIZON = (MONDAY - timedelta(days=1), MONDAY + timedelta(days=70))
CLIENT_TIMEOUT = 0.15
"""Seconds the adapters' HTTP clients wait for an answer; a "timeout" fault hangs a little longer."""

CLIENTS = {
    "client-a": ("microsoft", "A"),
    "client-b": ("google", "B"),
    "client-c": ("google", "C"),
    "client-d": ("microsoft", "D"),
}


class ShortTimeouts(Credentials):
    """The composition root's credentials, with HTTP clients that give up after CLIENT_TIMEOUT."""

    def client(self, cfg: CalendarConfig, auth: httpx.Auth | None = None) -> httpx.AsyncClient:
        made = super().client(cfg, auth)
        made.timeout = httpx.Timeout(CLIENT_TIMEOUT)
        return made


class Slots:
    """Distinct start times, so that no two events anywhere ever share one (a duplicate shows)."""

    def __init__(self) -> None:
        self.next = 0

    def take(self) -> datetime:
        day, hour = divmod(self.next, 10)
        self.next += 1
        return MONDAY + timedelta(days=day % 5 + 7 * (day // 5), hours=8 + hour, minutes=7 * (day % 3))


def hub_syncs(clients: list[str]) -> str:
    """client -> personal with full details, personal -> every client as Busy blocks."""
    text = ""
    for name in clients:
        text += f'[[syncs]]\nname = "{name}-in"\nfrom = "{name}"\nto = "personal"\nprivacy = "full"\n\n'
        text += f'[[syncs]]\nname = "{name}-out"\nfrom = "personal"\nto = "{name}"\nprivacy = "private"\n\n'
    return text


def config_for(world: ProviderWorld, tmp_path: Path, clients: list[str], extra: str = "") -> Config:
    text = f'database = "sqlite:///{tmp_path / "state.db"}"\ntimezone = "UTC"\n' + extra
    text += world.toml("personal", client="me")
    for name in clients:
        text += world.toml(name, client=CLIENTS[name][1], unified=False)
    return parse_config(text + hub_syncs(clients), base_dir=tmp_path, env={})


def expected(world: ProviderWorld, clients: list[str]) -> dict[str, Counter[Seen]]:
    """What every calendar must show, from what the owners hold: the clients' own events (any
    title but "Busy") and the personal calendar's own ones (titled "me: ...")."""
    own = {c: [s for s in world.instances(c, *HORIZON) if s.summary != "Busy"] for c in clients}
    own["personal"] = [s for s in world.instances("personal", *HORIZON) if s.summary.startswith("me: ")]
    want = {"personal": Counter(own["personal"] + [s for c in clients for s in own[c]])}
    for c in clients:
        busy = [
            Seen(s.start, s.end, "Busy") for other in ("personal", *clients) if other != c for s in own[other]
        ]
        want[c] = Counter(own[c] + busy)
    return want


def assert_mirrored(world: ProviderWorld, clients: list[str]) -> None:
    for name, want in expected(world, clients).items():
        held = Counter(world.instances(name, *HORIZON))
        assert held == want, f"{name}: missing {sorted(want - held)}, extra {sorted(held - want)}"
        assert max(held.values(), default=1) == 1, (
            f"{name}: duplicates {[s for s, n in held.items() if n > 1]}"
        )
        assert max(Counter(world.seen(name)).values(), default=1) == 1, f"{name}: a duplicate resource"


async def converge(engine: Engine, limit: int = 15) -> tuple[int, list[str]]:
    """Sync until a run is clean; returns (runs it took, the errors of the runs before)."""
    errors: list[str] = []
    for run in range(1, limit + 1):
        reports = await engine.sync()
        found = [e for r in reports.values() for e in r.errors]
        if not found:
            return run, errors
        errors.extend(found)
    raise AssertionError(f"no clean run in {limit}; last errors: {errors[-5:]}")


def writes(reports: dict[str, SyncReport]) -> int:
    return sum(r.writes for r in reports.values())


@pytest.fixture
def world() -> Iterator[ProviderWorld]:
    with ProviderWorld() as w:
        w.calendar("personal", "google")
        for name, (provider, _) in CLIENTS.items():
            w.calendar(name, provider)
        yield w


# --------------------------------------------------------------------------- flaky providers


async def test_twenty_percent_of_requests_failing_every_sync_converges_exactly(
    world: ProviderWorld, tmp_path: Path
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    clients = list(CLIENTS)
    slots = Slots()
    singles: dict[str, list[str]] = {name: [] for name in ["personal", *clients]}
    for name in clients:
        for n in range(6):
            singles[name].append(
                world.book(name, f"{name} interview {n}", slots.take(), rng.choice([30, 45, 60]))
            )
    for n in range(3):
        singles["personal"].append(world.book("personal", f"me: errand {n}", slots.take(), 30))
    # A weekly series with an override on each provider (hours no single uses).
    series = {}
    for name, hour in (("client-c", 19), ("client-a", 20)):
        first = MONDAY + timedelta(days=1, hours=hour)
        series[name] = (world.book_weekly(name, f"{name} weekly sync", first, 30, count=6), first)
        world.rename(
            name,
            world.instance_id(name, series[name][0], first + timedelta(weeks=2)),
            f"{name} weekly (moved agenda)",
        )

    for emu in (world.google, world.graph):
        emu.faults = Faults(rate=0.2, retry_after=0, hang_seconds=CLIENT_TIMEOUT + 0.05, seed=seed)
    world.graph.throttle_retry_after = 0.1  # requests left hanging still count against Graph's four

    def owners_change(round_: int) -> None:
        for _ in range(5):
            name = rng.choice(["personal", *clients])
            ids = singles[name]
            what = rng.choice(["book", "rename", "cancel", "move"] if ids else ["book"])
            prefix = "me: " if name == "personal" else ""
            if what == "book":
                ids.append(world.book(name, f"{prefix}{name} new {round_}", slots.take(), 45))
            elif what == "rename":
                world.rename(name, rng.choice(ids), f"{prefix}{name} renamed {round_}.{rng.randrange(1000)}")
            elif what == "cancel":
                world.cancel(name, ids.pop(rng.randrange(len(ids))))
            else:
                world.reschedule(name, rng.choice(ids), slots.take(), 60)
            time.sleep(0.03)
        # One move on each provider, so both see conditional writes (and a forced 412 each).
        for name in ("client-b", "client-d"):
            if singles[name]:
                world.reschedule(name, rng.choice(singles[name]), slots.take(), 30)
        for emu in (world.google, world.graph):
            emu.faults.fail_next(1, "412")
        owner, (sid, first) = rng.choice(sorted(series.items()))
        instance = world.instance_id(owner, sid, first + timedelta(weeks=round_ % 2 * 2 + 1))
        world.rename(owner, instance, f"{owner} weekly, week {round_}")

    config = config_for(world, tmp_path, clients)
    runs: list[int] = []
    try:
        async with engine_for(config, ShortTimeouts(config)) as engine:
            for round_ in range(5):
                runs.append((await converge(engine))[0])
                assert_mirrored(world, clients)
                # The owners keep changing things, also while a sync reads and writes.
                owners = threading.Thread(target=owners_change, args=(round_,))
                owners.start()
                await engine.sync()
                owners.join()
            runs.append((await converge(engine))[0])
            assert_mirrored(world, clients)
            for emu in (world.google, world.graph):
                assert {k for k, n in emu.faults.injected.items() if n} == {"429", "500", "timeout", "412"}, (
                    emu.faults.injected
                )
                emu.faults.clear()
            final = await engine.sync()
            assert all(r.ok for r in final.values()) and writes(final) == 0, {
                n: dict(r.counts) for n, r in final.items()
            }
    except AssertionError as exc:
        raise AssertionError(f"seed {seed}: {exc}") from exc
    print(
        f"seed {seed}: runs to converge {runs}; injected google {dict(world.google.faults.injected)}, graph {dict(world.graph.faults.injected)}"
    )


# --------------------------------------------------------------------------- stored connections

OAUTH = f"""
[oauth.google]
client_id = "{DEFAULT_CLIENT_ID}"
client_secret = "{DEFAULT_CLIENT_SECRET}"

[oauth.microsoft]
client_id = "{DEFAULT_CLIENT_ID}"
client_secret = "{DEFAULT_CLIENT_SECRET}"
"""


def connected(world: ProviderWorld, name: str, connection: str, client: str) -> str:
    """A ``[calendars.NAME]`` table that signs in through the stored ``connection``."""
    provider, cid = world.where[name]
    emulator = world.google if provider == "google" else world.graph
    return (
        f'[calendars.{name}]\nkind = "{provider}"\nbase_url = "{emulator.base_url}"\nconnection = "{connection}"\n'
        f'calendar_id = "{cid}"\nclient = "{client}"\n\n'
    )


def save_connection(config: Config, env: dict[str, str], name: str, kind: str, refresh_token: str) -> None:
    store = open_store(config)
    try:
        Credentials(config, store, env=env).book.save(name, kind, "recruiter@example.test", refresh_token)
    finally:
        store.close()


def connection_state(config: Config, env: dict[str, str], name: str) -> tuple[str, str]:
    store = open_store(config)
    try:
        row = Credentials(config, store, env=env).book.get(name)
        assert row is not None
        return row.state, row.message
    finally:
        store.close()


@pytest.fixture
def env() -> dict[str, str]:
    return {KEY_ENV: Vault.generate_key().decode()}


async def test_access_tokens_expiring_between_and_during_syncs_are_refreshed(
    world: ProviderWorld, tmp_path: Path, env: dict[str, str]
) -> None:
    text = f'database = "sqlite:///{tmp_path / "state.db"}"\ntimezone = "UTC"\n{OAUTH}'
    text += connected(world, "client-c", "work-google", "C") + connected(
        world, "personal", "work-google", "me"
    )
    text += connected(world, "client-a", "work-ms", "A")
    text += '[[syncs]]\nname = "c-in"\nfrom = "client-c"\nto = "personal"\nprivacy = "full"\n'
    text += '[[syncs]]\nname = "a-out"\nfrom = "personal"\nto = "client-a"\nprivacy = "private"\n'
    config = parse_config(text, base_dir=tmp_path, env={})
    first_ms_token = world.graph.oauth.issue_refresh_token()
    save_connection(config, env, "work-google", "google", world.google.oauth.issue_refresh_token())
    save_connection(config, env, "work-ms", "microsoft", first_ms_token)
    slots = Slots()
    for n in range(30):
        world.book("client-c", f"Candidate {n}", slots.take(), 45)

    expirations = 0

    def expire() -> None:
        nonlocal expirations
        expirations += 1
        world.google.oauth.expire_access_tokens()
        world.graph.oauth.expire_access_tokens()

    credentials = Credentials(config, env=env)
    async with engine_for(config, credentials) as engine:
        applied = 0

        def on_applied(sync: str) -> None:  # every seventh write, every token dies
            nonlocal applied
            applied += 1
            if applied % 7 == 0:
                expire()

        engine.on_applied = on_applied
        reports = await engine.sync()
        assert all(r.ok for r in reports.values()), [r.errors for r in reports.values()]
        assert writes(reports) == 60 and expirations >= 8
        google, ms = credentials.sources["client-c"], credentials.sources["client-a"]
        engine.on_applied = None
        # Between runs (a run with nothing to write still reads every calendar) ...
        refreshed = google.refreshes, ms.refreshes
        expire()
        reports = await engine.sync()
        assert all(r.ok for r in reports.values()) and writes(reports) == 0
        assert (google.refreshes, ms.refreshes) == (refreshed[0] + 1, refreshed[1] + 1)
        # ... and once from another thread while a run is writing to personal.
        for round_ in range(3):
            refreshed = google.refreshes, ms.refreshes
            for n in range(10):
                world.book("client-c", f"Candidate {round_}.{n}", slots.take(), 30)
            posts = world.google.requests["POST events"]

            def expire_mid_run(posts: int = posts) -> None:
                deadline = time.monotonic() + 10
                while world.google.requests["POST events"] < posts + 4 and time.monotonic() < deadline:
                    time.sleep(0.002)
                expire()

            thread = threading.Thread(target=expire_mid_run, daemon=True)
            thread.start()
            reports = await engine.sync()
            thread.join(timeout=5)
            assert all(r.ok for r in reports.values()), [r.errors for r in reports.values()]
            assert writes(reports) == 20
            assert (google.refreshes, ms.refreshes) == (refreshed[0] + 1, refreshed[1] + 1)
        assert credentials.sources["personal"] is google  # one connection, one token source
        # Every refresh went to the provider once; concurrent 401s shared one refresh.
        assert google.refreshes == world.google.oauth.requests["token:refresh_token"]
        assert ms.refreshes == world.graph.oauth.requests["token:refresh_token"]
        assert 8 <= google.refreshes <= expirations + 1 and 8 <= ms.refreshes <= expirations + 1
        # Microsoft rotates refresh tokens: the newest one is what the store holds now.
        assert ms.refresh_token != first_ms_token and credentials.book.secret("work-ms") == ms.refresh_token
    assert len(world.seen("personal")) == 60 and len(world.seen("client-a")) == 60
    assert {s.summary for s in world.seen("client-a")} == {"Busy"}
    assert (
        connection_state(config, env, "work-ms")[0] == connection_state(config, env, "work-google")[0] == "ok"
    )


async def test_a_revoked_sign_in_stops_only_its_syncs_deletes_nothing_and_resumes_on_reconnect(
    world: ProviderWorld, tmp_path: Path, env: dict[str, str]
) -> None:
    # client-a lives on Microsoft through a stored connection; everything else on Google.
    text = f'database = "sqlite:///{tmp_path / "state.db"}"\ntimezone = "UTC"\n{OAUTH}'
    text += (
        world.toml("personal", client="me")
        + world.toml("client-b", client="B")
        + world.toml("client-c", client="C")
    )
    text += connected(world, "client-a", "work-ms", "A")
    config = parse_config(text + hub_syncs(["client-a", "client-b", "client-c"]), base_dir=tmp_path, env={})
    save_connection(config, env, "work-ms", "microsoft", world.graph.oauth.issue_refresh_token())
    slots = Slots()
    for name in ("client-a", "client-b", "client-c"):
        for n in range(3):
            world.book(name, f"{name} interview {n}", slots.take())
    world.book("personal", "me: dentist", slots.take())
    clients = ["client-a", "client-b", "client-c"]

    told: list[str] = []
    credentials = Credentials(config, env=env)
    async with engine_for(config, credentials) as engine:
        service = Service(
            config, engine, interval=600, needs_reauth=credentials.needs_reauth, on_reauth=told.append
        )
        reports = await service.cycle(list(service.due))
        assert all(r.ok for r in reports.values())
        assert_mirrored(world, clients)
        before = {name: world.seen(name) for name in ["personal", *clients]}

        # The user revokes mirrorcal's access at Microsoft (and the access token dies with it).
        world.graph.oauth.revoke_refresh_tokens()
        world.graph.oauth.expire_access_tokens()
        world.book("client-c", "client-c after the revocation", slots.take())
        reports = await service.cycle(list(service.due))
        failed = {n for n, r in reports.items() if not r.ok}
        assert failed == {"client-a-in", "client-a-out"}, {n: r.errors for n, r in reports.items()}
        assert all("sign in again" in e for n in failed for e in reports[n].errors)
        assert connection_state(config, env, "work-ms")[0] == "needs_reauth"

        api_requests, token_requests = world.graph.requests, world.graph.oauth.requests["token:refresh_token"]
        for _ in range(3):
            world.book("client-b", "client-b meanwhile", slots.take())
            reports = await service.cycle(list(service.due))
            assert not {n for n in reports if "client-a" in n}, sorted(reports)  # its syncs are stopped
            assert all(r.ok for r in reports.values()), {n: r.errors for n, r in reports.items()}
        assert told == ["client-a"]  # told once
        assert (world.graph.requests, world.graph.oauth.requests["token:refresh_token"]) == (
            api_requests,
            token_requests,
        )
        # Nothing was deleted anywhere; the other syncs went on.
        for name in ["personal", *clients]:
            assert set(before[name]) <= set(world.seen(name)), name
        assert world.seen("client-a") == before["client-a"]
        for name in ("personal", "client-b", "client-c"):  # client-c's one and client-b's three new ones
            assert len(world.seen(name)) == len(before[name]) + 4, name
        world.book("client-a", "client-a during the outage", slots.take())

    # The user signs in again (`mirrorcal connect microsoft --name work-ms`): syncs resume.
    save_connection(config, env, "work-ms", "microsoft", world.graph.oauth.issue_refresh_token())
    assert connection_state(config, env, "work-ms") == ("ok", "")
    told.clear()
    credentials = Credentials(config, env=env)
    async with engine_for(config, credentials) as engine:
        service = Service(
            config, engine, interval=600, needs_reauth=credentials.needs_reauth, on_reauth=told.append
        )
        reports = await service.cycle(list(service.due))
        assert all(r.ok for r in reports.values()), {n: r.errors for n, r in reports.items()}
        assert {"client-a-in", "client-a-out"} <= set(reports) and not told
    assert_mirrored(world, clients)


# --------------------------------------------------------------------------- failing and empty reads


async def test_a_source_read_that_fails_or_comes_back_empty_deletes_no_mirror(
    world: ProviderWorld, tmp_path: Path
) -> None:
    clients = ["client-a", "client-b", "client-c"]
    config = config_for(world, tmp_path, clients)
    slots = Slots()
    for name in clients:
        for n in range(3):
            world.book(name, f"{name} interview {n}", slots.take())
    cid = world.where["client-c"][1]
    async with engine_for(config) as engine:
        assert all(r.ok for r in (await engine.sync()).values())
        assert_mirrored(world, clients)
        held = {name: world.seen(name) for name in ["personal", *clients]}

        # 1. Microsoft fails every attempt at client-a's listing (the adapter retries 4 times).
        world.graph.faults.fail_next(5, "500")
        world.book("client-c", "client-c still flows", slots.take())
        reports = await engine.sync()
        assert world.graph.faults.injected["500"] == 5
        assert "HTTP 500" in " ".join(reports["client-a-in"].errors)
        assert {n for n, r in reports.items() if not r.ok} <= {"client-a-in", "client-a-out"}
        assert set(held["personal"]) < set(world.seen("personal"))  # nothing gone, client-c's new one there
        held = {name: world.seen(name) for name in ["personal", *clients]}
        assert all(r.ok for r in (await engine.sync()).values())
        assert_mirrored(world, clients)

        # 2. Google lists client-c as empty: incremental (nothing changed), then full (token expired).
        world.google.serve_empty.add(cid)
        reports = await engine.sync()
        assert all(r.ok for r in reports.values()) and writes(reports) == 0
        world.google.expire_sync_tokens()
        for _ in range(2):  # and it stays so on the next run
            reports = await engine.sync()
            assert writes(reports) == 0
            assert {n for n, r in reports.items() if not r.ok} == {"client-c-in", "client-c-out"}
            [why] = reports["client-c-in"].errors
            assert "suddenly lists no events" in why and "kept every mirror" in why
            last = engine.store.last_run("client-c-in")  # what `mirrorcal status` shows
            assert last is not None and last.error == why
            assert {name: world.seen(name) for name in held} == held

        # 3. The glitch passes: nothing was lost, nothing is written twice.
        world.google.serve_empty.clear()
        reports = await engine.sync()
        assert all(r.ok for r in reports.values()) and writes(reports) == 0
        assert {name: world.seen(name) for name in held} == held
        assert_mirrored(world, clients)

        # 4. The owner really cancels her interviews (her calendar still holds the Busy blocks).
        for event in world.raw("client-c"):
            if event["summary"] != "Busy":
                world.cancel("client-c", event["id"])
        reports = await engine.sync()
        assert all(r.ok for r in reports.values())
        assert_mirrored(world, clients)
        assert not [s for s in world.seen("personal") if s.summary.startswith("client-c")]
