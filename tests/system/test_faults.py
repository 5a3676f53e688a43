"""Fault injection on the real release daemon: SIGKILL at random moments, a state directory turned
against it, a receiver that misbehaves every way a network can, and configuration pulled from
under it before SIGHUP.

The promises checked throughout: the state file is never torn and never followed where it should
not be; no period is accepted twice except when the daemon died between the receiver's 2xx and the
rename of the state file; a failure is a warning, never a crash, a hang or a tight loop.
"""

import collections
import contextlib
import os
import random
import shutil
import signal
import socket
import ssl
import stat
import struct
import subprocess
import tempfile
import threading
import time

import pytest

from proofs import FakeClock, Receiver, Root, http_answer, needs_root, parse_state, wait_until

KILL_ROUNDS = int(os.environ.get("PROOFS_KILL_ROUNDS", "200"))
TEMP_PREFIX = ".state.json."


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def assert_idle(daemon, seconds=1.0):
    """Never a tight loop: a waiting daemon uses (almost) no CPU."""
    before = cpu_seconds(daemon.pid)
    time.sleep(seconds)
    used = cpu_seconds(daemon.pid) - before
    print(f"\nfigure: {used:.2f} s of CPU in {seconds} s of waiting", end=" ")
    assert used <= 0.05, f"the daemon used {used:.2f} s of CPU in {seconds} s while waiting"


def temporaries(directory):
    try:
        return sorted(n for n in os.listdir(directory) if n.startswith(TEMP_PREFIX))
    except FileNotFoundError:
        return []


# ---------------------------------------------------------------------------------------------
# SIGKILL at random moments


def test_kill_9_at_random_moments_never_tears_the_state_nor_reports_a_settled_period(tmp_path):
    """KILL_ROUNDS daemons, each killed at a random moment: half at a uniform moment of its life
    (start, collection, send, state write), half a few milliseconds after the receiver's 2xx, to
    aim at the window between the answer and the rename. The fake clock moves to the next day
    once a day is settled, so every round has something to send.

    A period accepted twice must be one whose first acceptance the state file did not record
    (the kill fell between the 2xx and the rename): those are counted apart and must be the only
    duplicates. Every round the state file parses whole, and temporaries a kill left behind are
    gone at the next start.
    """
    seed = int(os.environ.get("PROOFS_SEED", time.time_ns() % 10**9))
    rng = random.Random(seed)
    print(f"\nkill -9: seed {seed} (PROOFS_SEED={seed} runs these rounds again)")
    # Armed before the daemon is spawned: a daemon can be answered before its spawn returns.
    kill = {"after_answer": None, "pid": None, "spawned": threading.Event()}

    def respond(rx, conn, req):
        conn.sendall(http_answer(200))
        delay = kill["after_answer"]
        if delay is not None and kill["spawned"].wait(10):
            time.sleep(delay)
            with contextlib.suppress(ProcessLookupError):
                os.kill(kill["pid"], signal.SIGKILL)
        return 200

    rx = Receiver(respond)
    root = Root(tmp_path, rx.url())
    day = 0  # days after 2027-01-01

    def fake_date():
        t = time.gmtime(1798761600 + day * 86400)  # 2027-01-01
        return time.strftime("%Y-%m-%d 12:00:00", t), time.strftime("%Y-%m-%d", t)

    # Calibration: how long a daemon takes from spawn to both periods recorded.
    date, _ = fake_date()
    t0 = time.monotonic()
    d = root.daemon({"LD_PRELOAD": str(FakeClock.lib()), "FAKETIME": f"@{date}"})
    wait_until(lambda: (root.state() or {}).get("monthly"), 20, "the calibration round")
    life = time.monotonic() - t0
    d.kill()
    day += 1

    seen = collections.Counter(rx.accepted_periods())
    in_gap = set()
    figures = collections.Counter()

    def account(n, new, before, after):
        """Checks the periods accepted in round `n`, given the state before and after it."""
        for window, period in new:
            assert (before.get(window) or "") < period, (
                f"round {n}: {window} {period} sent although the state recorded {before}")
            if seen[(window, period)]:
                assert (window, period) in in_gap, (
                    f"round {n}: {window} {period} accepted twice, not after a kill in the gap")
                in_gap.discard((window, period))
                figures["accepted again after a kill in the gap"] += 1
            seen[(window, period)] += 1
            if after.get(window) != period:
                in_gap.add((window, period))
                figures["killed between the 2xx and the rename"] += 1
    for n in range(KILL_ROUNDS):
        date, today = fake_date()
        before = root.state() or {}
        left_before = temporaries(root.state_dir)
        accepted_before = len(rx.accepted)
        received_before = len(rx.received())
        aim = rng.random() < 0.5
        env = {"LD_PRELOAD": str(FakeClock.lib()), "FAKETIME": f"@{date}"}
        kill["spawned"].clear()
        kill["after_answer"] = rng.uniform(0, 0.004) if aim else None
        d = root.daemon(env)
        kill["pid"] = d.pid
        kill["spawned"].set()
        if aim:
            try:
                d.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                d.kill()
                pytest.fail(f"round {n}: never answered, never killed:\n{d.log()}")
            kill["after_answer"] = None
        else:
            time.sleep(rng.uniform(0, life * 1.3))
            d.kill()
        assert d.proc.returncode == -signal.SIGKILL, f"round {n} exited by itself:\n{d.log()}"
        rx.settled()  # the answers the dead daemon got are all recorded

        after = root.state() or {}  # parse_state fails the test on a torn file
        new = rx.accepted_periods()[accepted_before:]
        account(n, new, before, after)
        if len(rx.received()) > received_before:
            # It started, so it removed what earlier kills left behind.
            stale = set(left_before) & set(temporaries(root.state_dir))
            assert not stale, f"round {n}: temporaries not removed at start: {stale}"
        figures["temporaries left by a kill"] += bool(temporaries(root.state_dir))
        figures["rounds aimed after the 2xx" if aim else "rounds killed at a uniform moment"] += 1
        if not new:
            figures["killed before any 2xx"] += 1
        if after.get("daily") == today:
            day += 1
    # A last, uninterrupted start cleans up and settles what is pending.
    date, today = fake_date()
    before = root.state() or {}
    accepted_before = len(rx.accepted)
    d = root.daemon({"LD_PRELOAD": str(FakeClock.lib()), "FAKETIME": f"@{date}"})
    wait_until(lambda: (root.state() or {}).get("daily") == today, 20, "the last round")
    d.wait_log("sleeping until", timeout=10)
    assert d.terminate() == 0
    rx.settled()
    account(KILL_ROUNDS, rx.accepted_periods()[accepted_before:], before, root.state() or {})
    assert not in_gap, f"settled by nobody: {in_gap}"
    assert temporaries(root.state_dir) == []
    duplicates = sum(c - 1 for c in collections.Counter(rx.accepted_periods()).values())
    assert duplicates == figures["accepted again after a kill in the gap"]
    print(f"\nkill -9: seed {seed}, {KILL_ROUNDS} rounds over {day} fake days, "
          f"{len(rx.accepted)} reports accepted, {duplicates} accepted twice; "
          + ", ".join(f"{k}: {v}" for k, v in sorted(figures.items())))


# ---------------------------------------------------------------------------------------------
# The state directory turned against the daemon


@pytest.fixture
def machine(tmp_path):
    rx = Receiver()
    root = Root(tmp_path, rx.url())
    yield rx, root
    rx.close()


def sent_once_each(rx, daemon):
    rx.wait_for(2)
    daemon.wait_log("sent monthly report", timeout=10)
    periods = sorted(r.period()[0] for r in rx.received())
    assert periods == ["daily", "monthly"], daemon.log()


def test_a_read_only_state_directory_sends_once_and_says_why_it_cannot_record(machine):
    needs_root("a read-only bind mount")
    rx, root = machine
    subprocess.run(["mount", "--bind", root.state_dir, root.state_dir], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", root.state_dir], check=True)
        d = root.daemon()
        sent_once_each(rx, d)
        log = d.wait_log("cannot write the state file", 2)
        assert "Read-only file system" in log, log
        assert_idle(d)
        assert len(rx.received()) == 2 and d.alive(), d.log()
        assert d.terminate() == 0
    finally:
        subprocess.run(["umount", root.state_dir], check=True)
    assert os.listdir(root.state_dir) == []


def test_a_full_state_directory_keeps_the_old_state_whole_and_leaves_no_temporary(machine):
    needs_root("a small tmpfs")
    rx, root = machine
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", root.state_dir], check=True)
    try:
        old = b'{"daily":"2026-11-01","monthly":"2026-10"}\n'
        root.state_file.write_bytes(old)
        fd = os.open(root.state_dir / "filler", os.O_WRONLY | os.O_CREAT)
        with contextlib.suppress(OSError):
            while os.write(fd, b"x" * 4096):
                pass
        os.close(fd)
        d = root.daemon()
        sent_once_each(rx, d)
        log = d.wait_log("cannot write the state file", 2)
        assert "No space left on device" in log, log
        assert root.state_file.read_bytes() == old
        assert temporaries(root.state_dir) == []
        assert_idle(d)
        assert len(rx.received()) == 2, d.log()
        assert d.terminate() == 0
    finally:
        subprocess.run(["umount", root.state_dir], check=True)


def test_a_state_directory_deleted_while_running_is_made_again_at_the_next_report(tmp_path):
    rx = Receiver()
    root = Root(tmp_path, rx.url())
    clock = FakeClock(tmp_path, "2027-02-10 12:00:00")
    d = root.daemon(clock.env())
    sent_once_each(rx, d)
    wait_until(lambda: (root.state() or {}).get("monthly"), 10, "the state")
    shutil.rmtree(root.state_dir)
    # The day rolls over (SIGHUP makes the daemon look at the moved fake clock now).
    clock.set("2027-02-11 12:00:00")
    d.signal(signal.SIGHUP)
    wait_until(lambda: root.state_file.exists(), 10, "the state file made again")
    assert root.state() == {"daily": "2027-02-11", "monthly": "2027-02"}
    assert rx.accepted_periods() == [("daily", "2027-02-10"), ("monthly", "2027-02"),
                                     ("daily", "2027-02-11")], d.log()
    assert d.terminate() == 0


@pytest.mark.parametrize("content", [
    pytest.param(b'{"daily":"2026-', id="truncated"),
    pytest.param(b"", id="empty"),
    pytest.param(random.Random(7).randbytes(300), id="garbage"),
    pytest.param(b'{"daily":"2026-11-23","machine":"rack4-node12"}\n', id="foreign-key"),
])
def test_a_torn_or_garbage_state_file_is_one_warning_then_replaced_whole(machine, content):
    rx, root = machine
    root.state_file.write_bytes(content)
    d = root.daemon()
    sent_once_each(rx, d)
    wait_until(lambda: (root.state() or {}).get("monthly"), 10, "the state replaced")
    warned = d.warnings()
    assert len(warned) == 1 and "corrupt" in warned[0], d.log()
    assert d.terminate() == 0


def test_a_directory_at_the_state_file_is_left_alone_and_nothing_loops(machine):
    rx, root = machine
    root.state_file.mkdir()
    (root.state_file / "keep").write_text("precious\n")
    d = root.daemon()
    sent_once_each(rx, d)
    d.wait_log("cannot write the state file", 2)
    assert "is a directory" in d.warnings()[0], d.log()
    assert_idle(d)
    assert len(rx.received()) == 2, d.log()
    assert (root.state_file / "keep").read_text() == "precious\n"
    assert temporaries(root.state_dir) == []
    assert d.terminate() == 0


def test_a_symlink_at_the_state_file_is_never_followed_and_is_replaced(machine):
    rx, root = machine
    victim = root.path.parent / "victim.json"
    # A state that would silence the machine if it were believed.
    victim.write_text('{"daily":"2099-01-01","monthly":"2099-01"}\n')
    root.state_file.symlink_to(victim)
    d = root.daemon()
    sent_once_each(rx, d)
    wait_until(lambda: root.state_file.is_file() and not root.state_file.is_symlink(), 10,
               "the link replaced by a file")
    assert "symbolic link" in d.warnings()[0], d.log()
    assert victim.read_text() == '{"daily":"2099-01-01","monthly":"2099-01"}\n'
    assert d.terminate() == 0


def test_a_state_directory_that_is_a_symlink_is_used_as_systemd_makes_it(machine):
    # DynamicUser=: /var/lib/headcount is a link to /var/lib/private/headcount.
    rx, root = machine
    private = root.state_dir.parent / "private" / "headcount"
    private.mkdir(parents=True)
    root.state_dir.rmdir()
    root.state_dir.symlink_to(private)
    d = root.daemon()
    sent_once_each(rx, d)
    # "sent monthly report" is logged before the state records it: wait for the record.
    wait_until(lambda: (private / "state.json").exists()
               and parse_state((private / "state.json").read_bytes()).get("monthly"), 10,
               "both periods recorded in the linked directory")
    assert d.warnings() == [], d.log()
    assert d.terminate() == 0


def test_a_fifo_at_the_state_file_blocks_nothing_and_is_replaced(machine):
    rx, root = machine
    os.mkfifo(root.state_file)
    d = root.daemon()
    sent_once_each(rx, d)
    wait_until(lambda: stat.S_ISREG(os.lstat(root.state_file).st_mode), 10, "a regular file")
    assert "FIFO" in d.warnings()[0], d.log()
    assert d.terminate() == 0


# ---------------------------------------------------------------------------------------------
# The receiver misbehaving


def hold(seconds):
    def respond(rx, conn, req):
        rx.hold(seconds)
        return None
    return respond


def answer_after(seconds, status):
    def respond(rx, conn, req):
        rx.hold(seconds)
        conn.sendall(http_answer(status))
        return status
    return respond


def half_an_answer(rx, conn, req):
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
    rx.hold(30)
    return 200


def close_at_once(rx, conn, req):
    conn.shutdown(2)
    return None


def reset(rx, conn, req):
    # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return None


def garbage(rx, conn, req):
    conn.sendall(random.Random(3).randbytes(512))
    return None


def not_http(rx, conn, req):
    conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
    return None


def loop_to_itself(rx, conn, req):
    conn.sendall(http_answer(307, [("location", req.path), ("retry-after", "3600")]))
    return 307


def ping_pong(rx, conn, req):
    other = "/b" if req.path != "/b" else "/a"
    conn.sendall(http_answer(308, [("location", other), ("retry-after", "3600")]))
    return 308


@pytest.mark.parametrize("respond,settles,warning", [
    pytest.param(answer_after(0.8, 202), True, None, id="slow-within-timeout"),
    pytest.param(hold(30), False, "timed out", id="hangs-before-answering"),
    pytest.param(half_an_answer, True, None, id="hangs-mid-answer-body"),
    pytest.param(close_at_once, False, "request failed", id="closes"),
    pytest.param(reset, False, "request failed", id="resets"),
    pytest.param(garbage, False, "request failed", id="answers-garbage"),
    pytest.param(not_http, False, "request failed", id="answers-another-protocol"),
    pytest.param(loop_to_itself, False, "after 3 redirects", id="307-to-itself"),
    pytest.param(ping_pong, False, "after 3 redirects", id="308-ping-pong"),
])
def test_a_misbehaving_receiver_costs_one_warning_per_window_never_a_hang(
        tmp_path, respond, settles, warning):
    rx = Receiver(respond)
    # A short timeout, so that the hanging receiver costs the test two seconds.
    root = Root(tmp_path, rx.url(), timeout=1 if warning == "timed out" else 3)
    d = root.daemon()
    if settles:
        sent_once_each(rx, d)
        wait_until(lambda: (root.state() or {}).get("monthly"), 10, "both periods settled")
        assert d.warnings() == [], d.log()
    else:
        log = d.wait_log("could not send the", 2, timeout=20)
        for window in ("daily", "monthly"):
            line = next(l for l in log.splitlines() if f"could not send the {window}" in l)
            assert warning in line, line
        assert root.state() is None, d.log()
        assert "sent daily report" not in log
    assert_idle(d)
    requests = len(rx.received())
    # The first attempt per window, and the redirects it followed (3 at most).
    assert requests <= (8 if "redirect" in (warning or "") else 2) + 2, d.log()
    stopped = time.monotonic()
    assert d.terminate() == 0
    assert time.monotonic() - stopped < 1.5
    rx.close()


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki():
    """A test CA, a server certificate it signs for localhost/127.0.0.1, one it signs for
    another name, and a self-signed one."""
    d = tempfile.mkdtemp(prefix="headcount-pki-")
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=headcount test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign", cwd=d)
    for name, san in (("good", "DNS:localhost,IP:127.0.0.1"), ("other", "DNS:other.example")):
        openssl("req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}", cwd=d)
        with open(os.path.join(d, f"{name}.ext"), "w") as f:
            f.write(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
                "-extfile", f"{name}.ext", cwd=d)
    openssl("req", "-x509", *key, "-keyout", "self.key", "-out", "self.pem", "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            cwd=d)
    yield d
    shutil.rmtree(d)


def server_tls(pki, name):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(pki, f"{name}.pem"), os.path.join(pki, f"{name}.key"))
    return ctx


@pytest.mark.parametrize("server,settles", [
    pytest.param("good", True, id="trusted"),
    pytest.param("other", False, id="another-name"),
    pytest.param("self", False, id="self-signed"),
    pytest.param(None, False, id="plain-http-on-https"),
])
def test_bad_tls_sends_no_report_in_the_clear_and_settles_nothing(tmp_path, pki, server, settles):
    rx = Receiver(tls=server_tls(pki, server) if server else None)
    root = Root(tmp_path, rx.url("https", "localhost"), 'ca_file = "/etc/headcount/ca.pem"\n')
    shutil.copy(os.path.join(pki, "ca.pem"), root.path / "etc" / "headcount" / "ca.pem")
    d = root.daemon()
    if settles:
        sent_once_each(rx, d)
    else:
        log = d.wait_log("could not send the", 2, timeout=20)
        assert root.state() is None, log
        # Nothing of the report reached the server in a form it could read.
        assert rx.received() == [], log
        assert_idle(d)
    assert d.terminate() == 0
    rx.close()


# ---------------------------------------------------------------------------------------------
# Configuration pulled from under the daemon before SIGHUP


def test_a_changed_config_applies_to_the_next_report_only(tmp_path):
    first, second = Receiver(), Receiver()
    root = Root(tmp_path, first.url())
    clock = FakeClock(tmp_path, "2027-02-10 12:00:00")
    d = root.daemon(clock.env())
    sent_once_each(first, d)
    root.config(second.url())
    (root.fragment("60-level.toml")).write_text('[collecting]\nlevel = "full"\n')
    d.signal(signal.SIGHUP)
    d.wait_log("configuration reloaded")
    time.sleep(0.5)
    assert second.received() == [] and len(first.received()) == 2, d.log()
    clock.set("2027-02-11 12:00:00")
    d.signal(signal.SIGHUP)
    got = second.wait_for(1)
    time.sleep(0.5)
    assert [r.period() for r in got] == [("daily", "2027-02-11")]
    assert got[0].report()["level"] == "full" and "hardware" in got[0].report()
    assert len(first.received()) == 2
    assert d.terminate() == 0


def test_a_removed_config_stops_reporting_and_the_daemon_exits_0(machine):
    rx, root = machine
    d = root.daemon()
    sent_once_each(rx, d)
    root.fragment("50-test.toml").unlink()
    d.signal(signal.SIGHUP)
    assert d.wait() == 0
    assert "no endpoint is configured" in d.log()
    assert len(rx.received()) == 2


@pytest.mark.parametrize("spoil", ["garbage", "directory", "dangling-link", "unreadable"])
def test_an_unusable_config_at_reload_keeps_the_old_one(spoil):
    rx = Receiver()
    # A root the unprivileged user of the "unreadable" case can traverse.
    base = tempfile.mkdtemp(prefix="headcount-reload-")
    os.chmod(base, 0o755)
    try:
        root = Root(base, rx.url(), copy_fixture=False)
        preexec = None
        if spoil == "unreadable":
            needs_root("reading as another user")
            os.chown(root.state_dir, 65534, 65534)
            preexec = drop_to_nobody
        d = root.daemon(preexec=preexec)
        sent_once_each(rx, d)
        frag = root.fragment("50-test.toml")
        if spoil == "garbage":
            frag.write_bytes(b"\xff\xfe[reporting\nendpoint = ")
        elif spoil == "directory":
            frag.unlink()
            frag.mkdir()
        elif spoil == "dangling-link":
            frag.unlink()
            frag.symlink_to("/nonexistent/50-test.toml")
        else:
            frag.chmod(0)
        d.signal(signal.SIGHUP)
        log = d.wait_log("keeping the old one")
        assert "50-test.toml" in log, log
        assert d.alive()
        assert_idle(d)
        assert len(rx.received()) == 2
        assert d.terminate() == 0
    finally:
        shutil.rmtree(base)
        rx.close()


def drop_to_nobody():
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


def test_an_opt_out_at_reload_wins_over_a_broken_fragment(machine):
    rx, root = machine
    d = root.daemon()
    sent_once_each(rx, d)
    root.fragment("70-broken.toml").write_text("[reporting]\ntimeout_secs = \"soon\"\n")
    root.fragment("90-off.toml").write_text('[collecting]\nlevel = "off"\n')
    d.signal(signal.SIGHUP)
    assert d.wait() == 0
    assert "nothing will be collected or sent" in d.log()
    assert len(rx.received()) == 2
