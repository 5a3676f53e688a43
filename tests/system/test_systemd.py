"""headcount under a real systemd, journald and Ignition, booted with systemd-nspawn.

Each case boots its own container (tests/system/nspawn.py) from the cached Debian rootfs, with
headcount installed by `make install DESTDIR=...` and enabled by its preset only. Loopback only:
the receiver and tinyproxy run inside the container, which has no network but `lo`.

Needs root, debootstrap, systemd-container and ignition (tests/apt-packages); the first run builds
the rootfs (about a minute) into /var/cache/headcount-tests.
"""

import datetime
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import REPO
from nspawn import (
    IGNITION,
    MESSAGE_ID_NOTHING_SENT,
    MESSAGE_ID_SENT,
    PROXY_LOG,
    PROXY_PORT,
    RECEIVER_DIR,
    RECEIVER_PORT,
    RECEIVER_URL,
    SOCKS_PASSWORD,
    SOCKS_PORT,
    SOCKS_USER,
    Machine,
    headcount_config,
    ignition_data_url,
    remove_abandoned_cases,
)
from rootfs import ensure_rootfs

UNIT = REPO / "systemd" / "headcount.service"
EXPOSURE_LIMIT = 1.2
REPORT_TIMEOUT = 30
STATE_DIR = "/var/lib/private/headcount"  # where DynamicUser's StateDirectory=headcount lives
# The journal command docs/usage/operations.md gives for "what exactly was sent".
SENT_COMMAND = ["journalctl", "-u", "headcount", f"MESSAGE_ID={MESSAGE_ID_SENT}", "-o", "cat",
                "--output-fields=HEADCOUNT_REPORT"]


@pytest.fixture(scope="session")
def rootfs():
    if os.geteuid() != 0:
        pytest.fail("the systemd system tests need root (overlayfs, systemd-nspawn, nsenter)")
    for tool in ("debootstrap", "systemd-nspawn", "nsenter", "make", IGNITION):
        if shutil.which(tool) is None and not os.path.exists(tool):
            pytest.fail(f"{tool} is missing: tests/run installs tests/apt-packages as root")
    remove_abandoned_cases()
    return ensure_rootfs()


@pytest.fixture
def machine(rootfs, request):
    """Factory of containers; every one made is stopped and removed after the test."""
    made = []

    def make() -> Machine:
        name = "hc-" + re.sub(r"[^a-z0-9]", "", request.node.name.lower().removeprefix("test_"))[:40]
        m = Machine(rootfs, f"{name}{len(made)}")
        made.append(m)
        return m

    yield make
    for m in made:
        m.stop()


def reporting_machine(make, *, fragments=None, with_proxy=False, with_socks=False, boot=True,
                      **reporting) -> Machine:
    """A container with headcount, the loopback receiver and a test config, booted."""
    m = make()
    m.install_headcount()
    m.install_receiver()
    if with_proxy:
        m.install_proxy()
    if with_socks:
        m.install_microsocks()
    m.write("/etc/headcount/config.d/50-test.toml", headcount_config(**reporting))
    for name, text in (fragments or {}).items():
        m.write(f"/etc/headcount/config.d/{name}", text)
    if boot:
        m.boot()
    return m


def current_periods() -> tuple:
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%d"), now.strftime("%Y-%m")


def wait_for_reports(m: Machine, count: int = 2) -> list:
    return m.wait_for(f"{count} reports at the receiver", lambda: len(m.received()) >= count and m.received(),
                      timeout=REPORT_TIMEOUT)


def by_window(received) -> dict:
    reports = {}
    for body, _meta in received:
        report = json.loads(body)
        assert report["window"] not in reports, f"two {report['window']} reports: {received}"
        reports[report["window"]] = report
    return reports


def expected_hardware_fields() -> list:
    """Hardware fields the host's /proc and /sys give any container (nspawn shares them)."""
    fields = ["cpus", "memory_gib"]  # /proc/cpuinfo, /proc/meminfo
    with open("/proc/cpuinfo") as cpuinfo:
        if any(line.startswith("vendor_id") for line in cpuinfo):
            fields.append("cpu_vendor")
    if any("/devices/virtual/" not in os.path.realpath(f"/sys/class/block/{d}")
           for d in os.listdir("/sys/class/block")):
        fields.append("disks")
    return fields


def status_text(m: Machine) -> str:
    return m.show().get("StatusText", "")


def daemon_entries(m: Machine) -> list:
    """Journal entries the headcount process itself wrote (not systemd's Starting/Started lines)."""
    return [e for e in m.journal_json() if e.get("_PID") != "1" and e.get("_COMM") == "headcount"]


# --- the unit, offline -------------------------------------------------------------------------


def test_security_exposure_is_at_most_1_2():
    out = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(UNIT)], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"Overall exposure level for headcount\.service: (\d+\.\d+)", out)
    assert match, out
    assert float(match.group(1)) <= EXPOSURE_LIMIT, out


def test_verify_is_clean_inside_the_container(machine):
    m = machine()
    m.install_headcount()
    m.boot()
    result = m.run(["systemd-analyze", "verify", "/usr/lib/systemd/system/headcount.service"], check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", f"systemd-analyze verify warns:\n{result.stderr}"


# --- booted --------------------------------------------------------------------------------------


def test_preset_enables_the_unit_and_it_runs_with_a_true_status(machine):
    m = machine()
    m.install_headcount()
    # Enabled by the preset alone (install_headcount ran `systemctl --root preset`), before boot.
    assert m.path("/etc/systemd/system/multi-user.target.wants/headcount.service").is_symlink()
    m.install_receiver()
    m.write("/etc/headcount/config.d/50-test.toml", headcount_config())
    m.boot()
    assert m.run(["systemctl", "is-enabled", "headcount.service"], check=False).stdout.strip() == "enabled"
    wait_for_reports(m)
    show = m.wait_for("StatusText naming both accepted periods",
                      lambda: all(p in status_text(m) for p in current_periods()) and m.show())
    assert show["ActiveState"] == "active", show
    assert show["SubState"] == "running", show
    assert "minimal" in show["StatusText"], show["StatusText"]
    # The documented `headcount status` reads the same state (via the /var/lib/headcount link).
    status = m.run(["headcount", "status"]).stdout
    assert all(p in status for p in current_periods()), status


def test_without_a_network_it_neither_delays_boot_nor_fails(machine):
    # The vendor endpoint, unreachable: the container has only `lo` and no DNS.
    m = machine()
    m.install_headcount()
    m.write("/etc/headcount/config.d/50-test.toml",
            "[reporting]\nmax_startup_delay_secs = 0\nmax_rollover_delay_secs = 0\n")
    m.boot()
    assert m.boot_state == "running", m.boot_state  # boot finished, nothing failed
    show = m.show()
    for unit in ("network-online.target", "time-sync.target"):
        assert unit not in show["After"] and unit not in show["Wants"], show["After"]
    assert show["ActiveState"] == "active", show
    time.sleep(3)  # the first attempts fail at once (no route, no DNS)
    show = m.show()
    assert show["ActiveState"] == "active" and show["NRestarts"] == "0", show
    warnings = [e for e in daemon_entries(m) if int(e.get("PRIORITY", "6")) <= 4]
    assert len(warnings) <= 2, [e.get("MESSAGE") for e in warnings]  # at most one per window


def test_daily_and_monthly_reports_arrive_and_the_journal_holds_the_exact_bodies(machine):
    m = reporting_machine(machine)
    received = wait_for_reports(m)
    time.sleep(1)  # a third report would be a bug: give it the chance to show
    received = m.received()
    reports = by_window(received)
    daily, monthly = current_periods()
    assert set(reports) == {"daily", "monthly"}, reports
    assert reports["daily"]["period"] == daily
    assert reports["monthly"]["period"] == monthly
    for body, meta in received:
        assert meta["path"] == "/v1/report"
        assert meta["headers"].get("content-type") == "application/json"
        assert meta["headers"].get("user-agent", "").startswith("headcount/")
        assert not body.endswith(b"\n")

    # The documented command prints each sent body on its own line, byte for byte.
    bodies = {body for body, _ in received}
    journal = m.wait_for("both reports in the journal",
                         lambda: (out := m.run_bytes(SENT_COMMAND)).count(b"\n") >= 2 and out)
    assert set(journal.rstrip(b"\n").split(b"\n")) == bodies, journal

    entries = m.journal_json(f"MESSAGE_ID={MESSAGE_ID_SENT}")
    assert len(entries) == 2, entries
    for entry in entries:
        report = json.loads(entry["HEADCOUNT_REPORT"])
        assert entry["HEADCOUNT_WINDOW"] == report["window"]
        assert entry["HEADCOUNT_PERIOD"] == report["period"]
        assert entry["HEADCOUNT_LEVEL"] == "minimal"
        assert entry["HEADCOUNT_REPORT"].encode() in bodies
        assert entry["_SYSTEMD_UNIT"] == "headcount.service"

    # The catalog is installed: `journalctl -x` explains the entry.
    explained = m.run(["journalctl", "-u", "headcount", "-x", f"MESSAGE_ID={MESSAGE_ID_SENT}", "--no-pager"]).stdout
    assert "Defined-By: headcount" in explained, explained


def test_level_off_written_by_real_ignition_sends_nothing(machine):
    m = machine()
    m.install_headcount()
    m.install_receiver()
    # Even with an endpoint configured: level off wins.
    m.write("/etc/headcount/config.d/50-test.toml", headcount_config())
    fragment = '[collecting]\nlevel = "off"\n'
    m.ignition_files({
        "ignition": {"version": "3.3.0"},
        "storage": {"files": [{
            "path": "/etc/headcount/config.d/90-level.toml",
            "mode": 420,
            "contents": {"source": ignition_data_url(fragment)},
        }]},
    })
    assert m.path("/etc/headcount/config.d/90-level.toml").read_text() == fragment
    m.boot()
    show = m.wait_for("headcount to finish", lambda: (s := m.show())["ActiveState"] in ("inactive", "failed") and s)
    assert show["ActiveState"] == "inactive", show
    assert show["Result"] == "success", show
    assert show["ExecMainStatus"] == "0", show
    assert m.run(["systemctl", "is-failed", "headcount.service"], check=False).stdout.strip() != "failed"
    time.sleep(2)
    assert m.received() == []
    state = m.path(STATE_DIR)
    assert not state.exists() or list(state.iterdir()) == [], list(state.iterdir())
    lines = daemon_entries(m)
    assert len(lines) == 1, [e.get("MESSAGE") for e in lines]
    assert lines[0].get("MESSAGE_ID") == MESSAGE_ID_NOTHING_SENT, lines[0]


def test_invalid_config_fails_the_unit_once_naming_file_and_key(machine):
    m = machine()
    m.install_headcount()
    m.install_receiver()
    m.write("/etc/headcount/config.d/50-test.toml", headcount_config())
    m.write("/etc/headcount/config.d/60-bad-level.toml", '[collecting]\nlevel = "maximal"\n')
    m.write("/etc/headcount/config.d/70-bad-timeout.toml", '[reporting]\ntimeout_secs = "soon"\n')
    m.boot()
    show = m.wait_for("the unit to fail", lambda: (s := m.show())["ActiveState"] == "failed" and s)
    assert show["ExecMainStatus"] == "78", show
    assert show["NRestarts"] == "0", show
    time.sleep(1)
    assert m.show()["ActiveState"] == "failed" and m.show()["NRestarts"] == "0"
    text = m.run(["journalctl", "-u", "headcount", "-o", "cat", "--no-pager"]).stdout
    for needle in ("/etc/headcount/config.d/60-bad-level.toml", "level",
                   "/etc/headcount/config.d/70-bad-timeout.toml", "timeout_secs"):
        assert needle in text, f"{needle!r} not in the journal:\n{text}"
    assert m.received() == []


def test_full_level_under_the_hardened_unit_reports_what_root_sees(machine):
    m = reporting_machine(machine, fragments={"60-full.toml": '[collecting]\nlevel = "full"\n'})
    reports = by_window(wait_for_reports(m))
    assert set(reports) == {"daily", "monthly"}
    for window, report in reports.items():
        assert report["level"] == "full"
        preview = json.loads(m.run(["/usr/bin/headcount", "preview", "--level", "full", "--window", window,
                                    "--json"]).stdout)
        assert sorted(report) == sorted(preview), (report, preview)
        for field in preview:
            assert report[field] == preview[field], f"{window} field {field}: sent {report[field]!r}, " \
                                                    f"root sees {preview[field]!r}"
        # The container's /proc and /sys (the host's) provide these; hardening must not hide them.
        hardware = report.get("hardware")
        assert isinstance(hardware, dict), report
        for field in expected_hardware_fields():
            assert field in hardware, f"hardware.{field} missing from the {window} report: {hardware}"


def test_reports_go_through_tinyproxy_when_configured(machine):
    m = reporting_machine(machine, with_proxy=True, proxy=f"http://127.0.0.1:{PROXY_PORT}")
    received = wait_for_reports(m)
    for _body, meta in received:
        assert "tinyproxy" in meta["headers"].get("via", ""), meta
    log = m.path(PROXY_LOG).read_text()
    assert log.count(RECEIVER_URL) >= 2, log


def test_reload_applies_a_changed_level(machine):
    m = reporting_machine(machine)
    wait_for_reports(m)
    m.wait_for("StatusText with level minimal", lambda: "minimal" in status_text(m))
    pid = m.show()["MainPID"]
    m.write("/etc/headcount/config.d/60-full.toml", '[collecting]\nlevel = "full"\n')
    m.run(["systemctl", "reload", "headcount.service"])
    # systemd 252 has no notify-reload: `reload` returns once SIGHUP is sent, so poll STATUS.
    m.wait_for("StatusText with level full", lambda: "full" in status_text(m) and "minimal" not in status_text(m))
    # A reload that changes nothing leaves the whole status line, not a bare "reloaded".
    m.run(["systemctl", "reload", "headcount.service"])
    daily, monthly = current_periods()
    whole = f"level full; last settled: daily {daily}, monthly {monthly}; next due "
    m.wait_for("the whole StatusText after an unchanged reload", lambda: whole in status_text(m))
    show = m.show()
    assert show["MainPID"] == pid, "reload restarted the daemon"
    assert show["ActiveState"] == "active", show
    assert show["NRestarts"] == "0", show


def test_a_fifo_as_the_state_file_neither_blocks_the_start_nor_loops(machine):
    m = machine()
    m.install_headcount()
    m.install_receiver()
    m.write("/etc/headcount/config.d/50-test.toml", headcount_config())
    # Planted before boot: a FIFO once held the start before READY=1 until the start timeout.
    state_dir = m.path(STATE_DIR)
    state_dir.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    state_dir.mkdir(mode=0o700, exist_ok=True)
    state = state_dir / "state.json"
    os.mkfifo(state)
    m.boot()
    assert m.boot_state == "running", m.boot_state
    wait_for_reports(m)
    daily, monthly = current_periods()

    def both_recorded():
        # The receiver answers before the daemon records: wait for the monthly period too.
        try:
            return state.is_file() and json.loads(state.read_text()) == {"daily": daily, "monthly": monthly}
        except ValueError:
            return False

    m.wait_for("state.json replaced by a regular file holding both periods", both_recorded)
    show = m.show()
    assert show["ActiveState"] == "active" and show["NRestarts"] == "0", show
    warnings = [e.get("MESSAGE", "") for e in daemon_entries(m) if int(e.get("PRIORITY", "6")) <= 4]
    assert len(warnings) == 1 and "not a regular file" in warnings[0], warnings


def test_stop_finishes_within_two_seconds(machine):
    m = reporting_machine(machine)
    wait_for_reports(m)
    started = time.monotonic()
    m.run(["systemctl", "stop", "headcount.service"])
    elapsed = time.monotonic() - started
    show = m.show()
    assert elapsed < 2, f"systemctl stop took {elapsed:.2f}s"
    assert show["ActiveState"] == "inactive", show
    assert show["Result"] == "success", show


def test_restart_sends_nothing_new(machine):
    # With the weekly window a vendor adds: three reports on first start, none after a restart.
    m = reporting_machine(machine, windows=["daily", "weekly", "monthly"])
    before = wait_for_reports(m, 3)
    week = datetime.datetime.now(datetime.timezone.utc).strftime("%G-W%V")
    periods = (*current_periods(), week)
    assert {w: r["period"] for w, r in by_window(before).items()} == dict(
        zip(("daily", "monthly", "weekly"), periods))
    m.wait_for("all three periods in StatusText", lambda: all(p in status_text(m) for p in periods))
    old_pid = m.show()["MainPID"]
    m.run(["systemctl", "restart", "headcount.service"])
    m.wait_for("the restarted daemon to be ready",
               lambda: (s := m.show())["ActiveState"] == "active" and s["MainPID"] != old_pid
               and all(p in s.get("StatusText", "") for p in periods))
    time.sleep(2)  # with no startup delay, a report would go out at once
    assert m.received() == before
    assert len(m.journal_json(f"MESSAGE_ID={MESSAGE_ID_SENT}")) == 3


# --- the operator's controls ---------------------------------------------------------------------

LEVEL_FRAGMENT = "/etc/headcount/config.d/90-level.toml"
NOTICE = "/run/headcount/notice/motd"
NOTICE_LINE = "this machine reports anonymous counts at level"
# The stand-in kernel command line. An nspawn container sees the host's /proc/cmdline, and
# `systemd-nspawn --bind-ro=FILE:/proc/cmdline` is no stand-in for the daemon: checked by hand in
# this container, `systemd-run -p ProtectProc=invisible cat /proc/cmdline` prints the host's line
# again, because ProtectProc= gives the service a fresh procfs. A test drop-in binding the file
# inside the service's own mount namespace is what the daemon reads; the test below checks that
# with a transient unit of the same ProtectProc= and the same bind.
CMDLINE_STANDIN = "/etc/headcount-test/cmdline"
CMDLINE_DROPIN = f"""\
[Service]
BindReadOnlyPaths={CMDLINE_STANDIN}:/proc/cmdline
"""


def level(m: Machine, *args: str) -> subprocess.CompletedProcess:
    return m.run(["headcount", "level", *args], check=False)


def assert_stopped_cleanly(m: Machine) -> dict:
    show = m.wait_for("headcount to be inactive",
                      lambda: (s := m.show())["ActiveState"] in ("inactive", "failed") and s)
    assert show["ActiveState"] == "inactive", show
    assert show["Result"] == "success", show
    assert m.run(["systemctl", "is-failed", "headcount.service"], check=False).stdout.strip() != "failed"
    return show


def notice_mode(m: Machine):
    """The notice's mode inside the container (/run is the container's own tmpfs), or None."""
    result = m.run(["stat", "-c", "%a", NOTICE], check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def state_files(m: Machine) -> list:
    state = m.path(STATE_DIR)
    return list(state.iterdir()) if state.exists() else []


def test_level_off_on_a_running_service_abandons_the_send_in_flight_and_stops_it(machine):
    m = reporting_machine(machine, boot=False, timeout_secs=120)
    m.write(f"{RECEIVER_DIR}/hang", "")
    m.boot()
    # The first report is in flight: the receiver read it and will never answer.
    m.wait_for("a request in flight", lambda: m.path(f"{RECEIVER_DIR}/hung").exists())
    assert m.show()["ActiveState"] == "active"
    started = time.monotonic()
    result = level(m, "off")
    took = time.monotonic() - started
    assert result.returncode == 0, result
    # The daemon acknowledged by stopping itself; the unit was not stopped for it.
    assert "headcount.service stopped: nothing more is sent" in result.stdout, result.stdout
    assert took < 5, f"headcount level off took {took:.1f}s"
    # Once `level off` has returned, the service is gone: nothing more can leave.
    show = m.show()
    assert show["ActiveState"] == "inactive" and show["Result"] == "success", show
    assert m.path(LEVEL_FRAGMENT).read_text().endswith('[collecting]\nlevel = "off"\n')
    assert m.path(LEVEL_FRAGMENT).stat().st_mode & 0o777 == 0o644
    messages = [e.get("MESSAGE", "") for e in daemon_entries(m)]
    assert any("abandoned the" in msg for msg in messages), messages
    assert m.journal_json(f"MESSAGE_ID={MESSAGE_ID_SENT}") == []
    assert state_files(m) == [], "an abandoned send settled a period"
    assert m.received() == []
    assert notice_mode(m) is None


def test_the_login_notice_is_there_at_minimal_and_gone_at_off(machine):
    m = reporting_machine(machine)
    before = wait_for_reports(m)
    # The real login(1) through PAM: pam_motd reads /usr/lib/motd.d/headcount, a link to the notice.
    shown = m.login_messages()
    host = f"127.0.0.1:{RECEIVER_PORT}"
    assert f"headcount: {NOTICE_LINE} minimal to {host}." in shown, shown
    assert "`headcount preview`" in shown and "`sudo headcount level off`" in shown, shown
    assert m.path("/usr/lib/motd.d/headcount").is_symlink()
    assert notice_mode(m) == "644"
    # `headcount status` says the same.
    assert f"{NOTICE_LINE} minimal to {host}." in m.run(["headcount", "status"]).stdout
    result = level(m, "off")
    assert result.returncode == 0, result
    assert_stopped_cleanly(m)
    shown = m.login_messages()
    assert NOTICE_LINE not in shown, shown
    assert "Debian" in shown, "the login printed its usual messages"  # the check itself works
    assert notice_mode(m) is None
    time.sleep(2)
    assert m.received() == before, "a report after level off"


def test_level_full_starts_an_enabled_service_and_level_minimal_reloads_it(machine):
    m = reporting_machine(machine, fragments={"90-level.toml": '[collecting]\nlevel = "off"\n'})
    assert_stopped_cleanly(m)
    assert m.received() == []
    result = level(m, "full")
    assert result.returncode == 0, result
    assert "headcount.service started at level full" in result.stdout, result.stdout
    reports = by_window(wait_for_reports(m))
    assert {r["level"] for r in reports.values()} == {"full"}, reports
    show = m.show()
    assert show["ActiveState"] == "active" and show["StatusText"].startswith("level full"), show
    pid = show["MainPID"]
    result = level(m, "minimal")
    assert result.returncode == 0, result
    assert "headcount.service now runs at level minimal" in result.stdout, result.stdout
    show = m.show()
    assert show["MainPID"] == pid, "the level was applied by a reload, not a restart"
    assert show["StatusText"].startswith("level minimal"), show
    shown = m.run(["headcount", "level"]).stdout
    assert shown.startswith(f"level:    minimal\nset by:   {LEVEL_FRAGMENT}:"), shown
    # Refused with 78 when a later fragment would win, naming it; nothing written.
    m.run(["sh", "-c", "printf '[collecting]\\nlevel = \"minimal\"\\n' > /etc/headcount/config.d/95-site.toml"])
    result = level(m, "full")
    assert result.returncode == 78, result
    assert "95-site.toml" in result.stderr, result.stderr
    assert m.path(LEVEL_FRAGMENT).read_text().endswith('level = "minimal"\n')
    assert m.show()["StatusText"].startswith("level minimal")


def test_headcount_level_off_on_the_kernel_command_line_sends_nothing(machine):
    m = reporting_machine(machine, boot=False)
    m.write(CMDLINE_STANDIN, "BOOT_IMAGE=/vmlinuz root=UUID=0 ro headcount.level=off quiet\n")
    m.write("/etc/systemd/system/headcount.service.d/60-test-cmdline.conf", CMDLINE_DROPIN)
    m.boot()
    # The stand-in is what a service with the unit's ProtectProc= and the drop-in's bind reads,
    # and headcount names it as the origin of the level.
    seen = m.run(["systemd-run", "--wait", "--pipe", "-q", "-p", "ProtectProc=invisible", "-p", "DynamicUser=yes",
                  "-p", f"BindReadOnlyPaths={CMDLINE_STANDIN}:/proc/cmdline", "headcount", "check-config"]).stdout
    assert 'level = "off"  # kernel command line' in seen, seen
    assert_stopped_cleanly(m)
    time.sleep(2)
    assert m.received() == []
    assert state_files(m) == []
    lines = daemon_entries(m)
    assert len(lines) == 1 and lines[0].get("MESSAGE_ID") == MESSAGE_ID_NOTHING_SENT, lines
    assert lines[0].get("HEADCOUNT_LEVEL") == "off", lines[0]


def test_the_old_pinger_opt_out_written_by_real_ignition_sends_nothing(machine):
    m = reporting_machine(machine, boot=False)
    # The opt-out fedora-coreos-pinger documented, as a fleet's Ignition config still writes it.
    fragment = "[reporting]\nenabled = false\n"
    path = "/etc/fedora-coreos-pinger/config.d/99-disable-reporting.toml"
    m.ignition_files({
        "ignition": {"version": "3.3.0"},
        "storage": {"files": [{"path": path, "mode": 420,
                               "contents": {"source": ignition_data_url(fragment)}}]},
    })
    m.boot()
    assert_stopped_cleanly(m)
    time.sleep(2)
    assert m.received() == []
    assert state_files(m) == []
    check = m.run(["headcount", "check-config"]).stdout
    assert f'level = "off"  # {path}:2 (the fedora-coreos-pinger opt-out' in check, check


def test_reports_go_through_a_socks5_proxy_that_resolves_the_name(machine):
    endpoint = f"http://localhost:{RECEIVER_PORT}/v1/report"
    proxy = f"socks5h://{SOCKS_USER}:{SOCKS_PASSWORD}@127.0.0.1:{SOCKS_PORT}"
    m = reporting_machine(machine, with_socks=True, boot=False, endpoint=endpoint, proxy=proxy)
    # The debootstrapped root has no /etc/hosts (a real machine does): without it the proxy cannot
    # resolve "localhost". IPv4 only, as the receiver listens on 127.0.0.1.
    m.write("/etc/hosts", "127.0.0.1 localhost\n")
    m.boot()
    wait_for_reports(m)
    socks_log = m.run(["journalctl", "--no-pager", "-u", "test-microsocks", "-o", "cat"]).stdout
    assert socks_log.count(f"connected to localhost:{RECEIVER_PORT}") >= 2, socks_log
    journal = m.run(["journalctl", "--no-pager", "-u", "headcount", "-o", "cat"]).stdout
    assert "via proxy socks5h://***@127.0.0.1:1080" in journal, journal
    assert SOCKS_PASSWORD not in journal
