"""The weekly window end to end, with the release binaries, on SQLite and PostgreSQL.

- A daemon configured with windows = ["daily", "weekly", "monthly"] posts three reports on its
  first start and none after a restart in the same periods; the receiver's countme export for
  the current week has the machine's row, hits 1, week_start the week's Monday.
- The join recipe of docs/usage/countme.md, run on a totals.csv in Fedora's format
  (tests/fixtures/countme-totals.csv, see tests/fixtures/SOURCES.md) and a real export, gives the
  right sums per (week, version, variant, architecture, age) and keeps one repository's rows.
"""

import csv
import datetime
import io
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import REPO, binary

FIXTURE = REPO / "tests" / "fixtures" / "aws-fcos-x86_64"
FEDORA_TOTALS = REPO / "tests" / "fixtures" / "countme-totals.csv"
COUNTME_PAGE = REPO / "docs" / "usage" / "countme.md"
TUPLE = "os.id|os.version_id|os.variant_id|arch|age_bucket"
HEADER = "week_start,week_end,hits,os_name,os_version,os_variant,os_arch,sys_age,repo_tag,repo_arch"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


class Postgres:
    """A PostgreSQL server of its own on a loopback port, as the receiver's Rust tests start one:
    data in a temporary directory, run as the `postgres` user when the tests run as root."""

    def __init__(self):
        bins = sorted(pathlib.Path("/usr/lib/postgresql").glob("*/bin/postgres"))
        if not bins:
            pytest.fail("PostgreSQL server binaries are missing: tests/run installs postgresql as root")
        self.bin = bins[-1].parent
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="headcount-pg-"))
        as_postgres = os.geteuid() == 0
        if as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        prefix = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--reset-env"] \
            if as_postgres else []
        data = self.dir / "data"
        subprocess.run([*prefix, self.bin / "initdb", "-A", "trust", "-U", "headcount", "--no-sync",
                        "-E", "UTF8", "-D", data], check=True, capture_output=True)
        self.port = free_port()
        self.proc = subprocess.Popen(
            [*prefix, self.bin / "postgres", "-D", data, "-p", str(self.port), "-c",
             "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.dir}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"postgres://headcount@127.0.0.1:{self.port}/postgres"
        wait_until(lambda: subprocess.run([self.bin / "pg_isready", "-q", "-h", "127.0.0.1", "-p",
                                           str(self.port)]).returncode == 0, 60, "PostgreSQL")

    def stop(self):
        self.proc.send_signal(signal.SIGINT)  # fast shutdown
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:{tmp_path / 'counts.db'}"
        return
    pg = Postgres()
    try:
        yield pg.url
    finally:
        pg.stop()


def receiver_cli(*args, stdin=None):
    """Runs the receiver binary; stdout and stderr decoded without newline translation (the
    countme totals end their lines with CRLF)."""
    out = subprocess.run([binary("headcount-receiver"), *args],
                         input=stdin.encode() if stdin is not None else None, capture_output=True)
    out.stdout, out.stderr = out.stdout.decode(), out.stderr.decode()
    assert out.returncode == 0, out.stderr
    return out


def counters(database, window, period):
    out = receiver_cli("export", "--database", database, "--window", window, "--period", period)
    return {(r["field"], r["value"]): int(r["count"]) for r in csv.DictReader(io.StringIO(out.stdout))}


def test_a_weekly_daemon_posts_three_reports_once_and_the_export_has_its_row(tmp_path, database):
    port = free_port()
    config = tmp_path / "receiver.toml"
    config.write_text("[counts]\nk = 1\n")
    receiver = subprocess.Popen(
        [binary("headcount-receiver"), "serve", "--listen", f"127.0.0.1:{port}", "--database",
         database, "--config", config],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return receiver.poll() is not None and pytest.fail(receiver.stdout.read())

    wait_until(up, 30, "the receiver to listen")
    root = tmp_path / "root"
    shutil.copytree(FIXTURE, root, symlinks=True)
    # The machine was installed 10 weeks ago: age bucket 3 for DNF and headcount alike.
    installed = time.time() - 10 * 7 * 86400
    os.utime(root / "etc" / "machine-id", (installed, installed))
    conf = root / "etc" / "headcount" / "config.d"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "20-countme.toml").write_text('[reporting]\nwindows = ["daily", "weekly", "monthly"]\n')
    (conf / "50-test.toml").write_text(
        "[reporting]\n"
        f'endpoint = "http://127.0.0.1:{port}/v1/report"\n'
        "max_startup_delay_secs = 0\nmax_rollover_delay_secs = 0\n")
    state = tmp_path / "state"
    state.mkdir()
    env = dict(os.environ, STATE_DIRECTORY=str(state))
    env.pop("NOTIFY_SOCKET", None)
    now = datetime.datetime.now(datetime.timezone.utc)
    periods = {"daily": now.strftime("%Y-%m-%d"), "weekly": now.strftime("%G-W%V"),
               "monthly": now.strftime("%Y-%m")}
    monday = (now - datetime.timedelta(days=now.weekday())).date()

    def start_daemon():
        return subprocess.Popen([binary("headcount"), "--root", root, "daemon"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def stop(daemon):
        daemon.send_signal(signal.SIGTERM)
        log, _ = daemon.communicate(timeout=10)
        assert daemon.returncode == 0, log
        return log

    def settled():
        try:
            return json.loads((state / "state.json").read_text()) == periods
        except (OSError, ValueError):
            return False

    try:
        daemon = start_daemon()
        wait_until(settled, 30, "three reports to be settled")
        log = stop(daemon)
        for window, period in periods.items():
            assert f"sent {window} report for {period} (minimal)" in log, log
            assert counters(database, window, period)[("level", "minimal")] == 1, window
        # A restart in the same periods posts nothing.
        daemon = start_daemon()
        time.sleep(3)  # with no startup delay, a due report would go out at once
        log = stop(daemon)
        assert "reporting at level minimal" in log and "sent " not in log, log
        assert settled()
        for window, period in periods.items():
            assert counters(database, window, period)[("level", "minimal")] == 1, window

        week = periods["weekly"]
        out = receiver_cli("export", "--database", database, "--format", "countme-totals",
                           "--from", week, "--to", week)
        sunday = monday + datetime.timedelta(days=6)
        assert out.stdout == (
            f"{HEADER}\r\n"
            f"{monday},{sunday},1,Fedora Linux,43,coreos,x86_64,3,headcount,x86_64\r\n"), out.stdout
        assert out.stderr == ""
    finally:
        receiver.send_signal(signal.SIGTERM)
        receiver.wait(timeout=15)


def join_script() -> str:
    """The join recipe countme.md shows: its one ```python block after "## The join"."""
    page = COUNTME_PAGE.read_text()
    section = page[page.index("## The join"):]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, blocks
    return blocks[0]


# headcount's side of the two weeks: (week, version, arch, age) -> machines.
HEADCOUNT = {
    ("2026-W47", "43", "x86_64", 1): 120, ("2026-W47", "43", "x86_64", 2): 340,
    ("2026-W47", "43", "x86_64", 3): 1500, ("2026-W47", "43", "x86_64", 4): 6000,
    ("2026-W47", "43", "aarch64", 4): 95, ("2026-W47", "43", "ppc64le", 4): 7,
    ("2026-W47", "42", "x86_64", 4): 300,
    ("2026-W48", "43", "x86_64", 1): 110, ("2026-W48", "43", "x86_64", 2): 360,
    ("2026-W48", "43", "x86_64", 3): 1520, ("2026-W48", "43", "x86_64", 4): 6100,
    ("2026-W48", "43", "aarch64", 4): 97, ("2026-W48", "43", "ppc64le", 4): 6,
    ("2026-W48", "42", "x86_64", 4): 280,
}

# What the join prints: Fedora's hits of updates-released-f<version> only, countme rows only,
# joined on repo_arch, beside headcount's.
JOINED = """week_start,os_version,os_variant,repo_arch,sys_age,fedora_hits,headcount_hits
2026-11-16,42,coreos,x86_64,4,806,300
2026-11-16,43,coreos,aarch64,4,410,95
2026-11-16,43,coreos,ppc64le,4,23,7
2026-11-16,43,coreos,x86_64,1,1838,120
2026-11-16,43,coreos,x86_64,2,2704,340
2026-11-16,43,coreos,x86_64,3,5111,1500
2026-11-16,43,coreos,x86_64,4,9861,6000
2026-11-16,43,server,aarch64,3,77,0
2026-11-16,43,workstation,x86_64,4,31250,0
2026-11-23,42,coreos,x86_64,4,741,280
2026-11-23,43,coreos,aarch64,4,421,97
2026-11-23,43,coreos,ppc64le,4,22,6
2026-11-23,43,coreos,x86_64,1,1760,110
2026-11-23,43,coreos,x86_64,2,2839,360
2026-11-23,43,coreos,x86_64,3,5188,1520
2026-11-23,43,coreos,x86_64,4,9933,6100
2026-11-23,43,workstation,x86_64,4,31020,0
"""


def test_the_documented_join_sums_per_week_and_tuple_and_keeps_one_repository(tmp_path, database):
    lines = ["window,period,field,value,count"]
    for (week, version, arch, age), n in HEADCOUNT.items():
        value = json.dumps(["fedora", version, "coreos", arch, str(age)], separators=(",", ":"))
        lines.append(f'weekly,{week},{TUPLE},"{value.replace(chr(34), chr(34) * 2)}",{n}')
        lines.append(f"weekly,{week},level,minimal,{n}")
    receiver_cli("import", "--database", database, stdin="\n".join(lines) + "\n")
    out = receiver_cli("export", "--database", database, "--format", "countme-totals",
                       "--from", "2026-W47", "--to", "2026-W48")
    export = tmp_path / "headcount.csv"
    export.write_bytes(out.stdout.encode())
    # The same format as Fedora's, byte for byte in the header and the line ends.
    fedora = FEDORA_TOTALS.read_bytes()
    assert fedora.split(b"\r\n")[0] == out.stdout.encode().split(b"\r\n")[0] == HEADER.encode()
    assert fedora.endswith(b"\r\n") and b"\n" not in fedora.replace(b"\r\n", b"")
    assert "2026-11-16,2026-11-22,7,Fedora Linux,43,coreos,ppc64le,4,headcount,ppc64le\r\n" in out.stdout

    script = tmp_path / "join.py"
    script.write_text(join_script())
    joined = subprocess.run(["/usr/bin/python3", script, FEDORA_TOTALS, export], capture_output=True,
                            text=True, check=True)
    assert joined.stdout == JOINED, joined.stdout

    # Without keeping one repository (and leaving the unique-IP rows in), Fedora's side would
    # count each Fedora CoreOS machine twice: the caveat the recipe handles.
    naive = {}
    for row in csv.DictReader(io.StringIO(fedora.decode())):
        if row["os_variant"] == "coreos" and row["os_version"] == "43" and row["repo_arch"] == "x86_64" \
                and row["week_start"] == "2026-11-16" and row["sys_age"] == "4":
            naive[row["repo_tag"]] = int(row["hits"])
    assert sum(naive.values()) == 9876 + 9861 and naive["updates-released-f43"] == 9861
