"""Printing the benchmark's figures: one table per phase (vdirsyncer, mirrorcal, ratio), the
issue's goals with PASS/MISS, and the polling cycle."""

from __future__ import annotations

from typing import Any

PHASES = {
    "initial": "1. initial copy",
    "noop": "2. resync, nothing changed (mirrorcal's first after its own writes)",
    "noop2": "2'. resync, nothing changed, steady state (median)",
    "changes": "3. resync after 10 edits + 5 deletions",
}
MEASURES = (
    ("wall", "wall time (s)", "{:.2f}"),
    ("client_cpu", "client CPU (s)", "{:.2f}"),
    ("peak_rss_mib", "client peak RSS (MiB)", "{:.0f}"),
    ("requests", "HTTP requests", "{:d}"),
    ("server_cpu", "server CPU (s)", "{:.2f}"),
)
CHANGES_REQUEST_BUDGET = 18


def _ratio(m: float, v: float) -> str:
    return f"{m / v:.2f}" if v else ("-" if not m else "inf")


def _fmt(fmt: str, value: float) -> str:
    return fmt.format(int(value)) if fmt == "{:d}" else fmt.format(value)


def print_phase(key: str, phase: dict[str, Any]) -> None:
    v, m = phase["vdirsyncer"], phase["mirrorcal"]
    print(f"\n{PHASES[key]}")
    print(f"  {'':<24}{'vdirsyncer':>12}{'mirrorcal':>12}{'m/v':>8}")
    for field, label, fmt in MEASURES:
        print(f"  {label:<24}{_fmt(fmt, v[field]):>12}{_fmt(fmt, m[field]):>12}{_ratio(m[field], v[field]):>8}")
    for name, row in (("vdirsyncer", v), ("mirrorcal", m)):
        methods = " ".join(f"{k}={n}" for k, n in sorted(row["by_method"].items(), key=lambda kv: -kv[1]))
        check = row["verify"]
        state = "correct" if check["ok"] and row["returncode"] == 0 else "WRONG"
        print(f"  {name:<11} {methods:<40} target {check['target_items']}/{check['source_items']} items, {state}")
        for problem in check["problems"][:5]:
            print(f"      ! {problem}")
        if row["returncode"]:
            print(f"      ! exit status {row['returncode']}: {row.get('output_tail', '')[-400:]}")
        if "runs" in row:
            runs = ", ".join(f"{r['wall']:.2f}s/{r['server_cpu']:.2f}s/{r['requests']}" for r in row["runs"])
            print(f"      runs (wall/server CPU/requests): {runs}")


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's goals, each with the figures it compares and PASS/MISS."""
    p = results["phases"]

    def goal(name: str, value: float, limit: float, unit: str) -> dict[str, Any]:
        return {"goal": name, "mirrorcal": value, "limit": limit, "unit": unit, "pass": value <= limit}

    found = [
        goal("initial copy: requests <= vdirsyncer's", p["initial"]["mirrorcal"]["requests"], p["initial"]["vdirsyncer"]["requests"], "req"),
        goal("initial copy: wall time <= vdirsyncer's", p["initial"]["mirrorcal"]["wall"], p["initial"]["vdirsyncer"]["wall"], "s"),
        goal(
            "no-op resync (steady): server CPU <= 1/10 of vdirsyncer's",
            p["noop2"]["mirrorcal"]["server_cpu"],
            p["noop2"]["vdirsyncer"]["server_cpu"] / 10,
            "s",
        ),
        goal("no-op resync (steady): wall time <= vdirsyncer's", p["noop2"]["mirrorcal"]["wall"], p["noop2"]["vdirsyncer"]["wall"], "s"),
        goal("15 changes: requests <= 18", p["changes"]["mirrorcal"]["requests"], CHANGES_REQUEST_BUDGET, "req"),
    ]
    wrong = [f"{k}/{t}" for k, phase in p.items() for t, row in phase.items() if not (row["verify"]["ok"] and row["returncode"] == 0)]
    found.append({"goal": "every phase correct (counts + content match the source)", "pass": not wrong, "wrong": wrong})
    return found


def print_polling(polling: dict[str, Any]) -> None:
    n = polling["calendars"]
    print(f"\nPolling cycle inside `mirrorcal run`: {n} calendars x {polling['events_per_calendar']} events -> one target (in-process)")
    print(f"  {'':<36}{'wall s':>8}{'CPU s':>8}{'server s':>10}{'requests':>10}{'writes':>8}{'SYN drops':>11}")
    for row in polling["cycles"]:
        print(
            f"  {row['label']:<36}{row['wall']:>8.3f}{row['client_cpu']:>8.3f}{row['server_cpu']:>10.3f}"
            f"{row['requests']:>10d}{row.get('writes', 0):>8d}{row.get('listen_drops', 0):>11d}"
            + (f"  errors: {row['errors'][:2]}" if row.get("errors") else "")
        )
    med, sync, conf = polling["noop_median"], polling["engine_sync_median"], polling["conflict_check_median"]
    print(
        f"  no-op cycle, median: {med['wall']:.3f} s wall, {med['client_cpu']:.3f} s CPU, {med['server_cpu']:.3f} s server CPU, "
        f"{med['requests']:.0f} requests ({med['requests'] / (n + 1):.2f} per calendar)"
    )
    print(
        f"    of which engine.sync: {sync['wall']:.3f} s wall, {sync['client_cpu']:.3f} s CPU, {sync['requests']:.0f} requests, "
        f"{sync.get('listen_drops', 0):.0f} SYNs dropped by the server's full listen queue"
    )
    print(f"    of which conflict check: {conf['wall']:.3f} s wall, {conf['client_cpu']:.3f} s CPU")
    forced = polling.get("conflict_check_forced_median")
    if forced:
        print(f"  a conflict check forced to recompute (as after a change): {forced['wall']:.3f} s wall, {forced['client_cpu']:.3f} s CPU")
    print("  (SYN drops: kernel TcpExt ListenDrops during the cycle: SYNs dropped at a full listen queue; the client retransmits after 1 s, then 2 s more)")
    print(f"  target holds {polling['target_items']} items (expected {polling['expected_target_items']})")


def print_report(results: dict[str, Any]) -> list[dict[str, Any]]:
    print(f"\n=== CalDAV -> CalDAV on Radicale, {results['events']} events {results['mix']} ===")
    code = results.get("mirrorcal_code", {})
    changed = " + uncommitted changes" if code.get("uncommitted_changes") else ""
    print(f"mirrorcal {code.get('commit')}{changed}, measured from a snapshot of src/ (digest {code.get('source_digest')})")
    if results.get("note"):
        print(f"note: {results['note']}")
    discover = results.get("vdirsyncer_discover")
    if discover:
        print(f"(setup, not in the phases: vdirsyncer discover {discover['wall']:.2f} s, {discover['requests']} requests)")
    for key in PHASES:
        if key in results["phases"]:
            print_phase(key, results["phases"][key])
    floor = results.get("server_floor")
    if floor:
        print(
            f"\nServer alone, one request on the {results['events']}-item source (median CPU): "
            f"sync-collection with an unchanged token {floor['sync_collection']:.3f} s, "
            f"Depth-1 PROPFIND of all etags {floor['propfind_depth1']:.3f} s"
        )
    if "polling" in results:
        print_polling(results["polling"])
    found = goals(results)
    print("\nGoals")
    for g in found:
        mark = "PASS" if g["pass"] else "MISS"
        if "limit" in g:
            fmt = "{:.0f}" if g["unit"] == "req" else "{:.3f}"
            detail = f"mirrorcal {fmt.format(g['mirrorcal'])} {g['unit']} vs limit {fmt.format(g['limit'])} {g['unit']}"
        else:
            detail = "wrong: " + ", ".join(g["wrong"]) if g["wrong"] else "all phases verified"
        print(f"  [{mark}] {g['goal']}: {detail}")
    return found
