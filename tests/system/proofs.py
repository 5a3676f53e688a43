"""Real parts for the reliability proofs (test_faults.py, test_clock.py, test_soak.py).

A counting receiver on loopback whose every answer a test scripts (a status, a slow or hanging
answer, a closed connection, garbage, a redirect, TLS with a certificate nobody trusts), the real
release `headcount daemon` run against it, optionally under libfaketime with a clock the test
moves, and the state file read back strictly.
"""

import json
import os
import pathlib
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time

import pytest

from conftest import REPO, binary

FIXTURE = REPO / "tests" / "fixtures" / "aws-fcos-x86_64"
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MONTH = re.compile(r"^\d{4}-\d{2}$")
WEEK = re.compile(r"^\d{4}-W\d{2}$")


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


# ---------------------------------------------------------------------------------------------
# The receiver


class Request:
    """One request as the receiver read it."""

    def __init__(self, method, path, headers, body, at):
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.at = at  # time.monotonic() when it was read whole

    def report(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return {}

    def period(self):
        r = self.report()
        return (r.get("window"), r.get("period"))


def http_answer(status, headers=(), body=b""):
    reason = {200: "OK", 202: "Accepted", 307: "Temporary Redirect", 308: "Permanent Redirect",
              429: "Too Many Requests", 500: "Internal Server Error"}.get(status, "Status")
    head = f"HTTP/1.1 {status} {reason}\r\ncontent-length: {len(body)}\r\nconnection: close\r\n"
    for name, value in headers:
        head += f"{name}: {value}\r\n"
    return head.encode() + b"\r\n" + body


def answer(status, headers=()):
    """A responder: answer `status` with `headers`."""
    def respond(rx, conn, req):
        conn.sendall(http_answer(status, headers))
        return status
    return respond


class Receiver:
    """A receiver on 127.0.0.1 that reads each request whole and hands it to `respond(rx, conn,
    req)`, which writes the answer (or does something worse) and returns the status it answered,
    or None. Every request is kept in `requests`; every 2xx in `accepted` as (window, period, at).
    """

    def __init__(self, respond=None, tls=None):
        self.respond = respond or answer(202)
        self.tls = tls
        self.requests = []
        self.accepted = []
        self.connections = 0
        self.active = 0  # connections being served now
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def url(self, scheme="http", host="127.0.0.1", path="/v1/report"):
        return f"{scheme}://{host}:{self.port}{path}"

    def _accept(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.active += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.settimeout(30)
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            req = self._read(conn)
            if req is None:
                return
            with self.lock:
                self.requests.append(req)
            status = self.respond(self, conn, req)
            if status is not None and 200 <= status < 300:
                with self.lock:
                    self.accepted.append((*req.period(), time.monotonic()))
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass
            with self.lock:
                self.active -= 1

    def backlog(self):
        """Connections the kernel has established but this receiver has not accepted yet: a
        listener's `tcpi_unacked` in TCP_INFO (Linux). A daemon killed right after writing its
        request leaves one there, which the receiver still reads, answers and counts."""
        info = self.listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 32)
        return struct.unpack_from("I", info, 24)[0]

    def settled(self, timeout=10):
        """Waits until no connection is waiting to be accepted or being served: every request a
        dead daemon managed to write is answered and accounted for."""
        def quiet():
            with self.lock:
                seen = (self.connections, self.active)
            if seen[1] or self.backlog():
                return False
            time.sleep(0.01)  # an accept() that returned just before `connections` moved
            with self.lock:
                return (self.connections, self.active) == seen
        wait_until(quiet, timeout, "the receiver to accept and finish every connection")

    @staticmethod
    def _read(conn):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
            if not data[:1].isalpha():
                # Not HTTP (a TLS ClientHello, say): what a plain HTTP server answers.
                conn.sendall(http_answer(400))
                return None
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            body += chunk
        return Request(method, path, headers, body, time.monotonic())

    def hold(self, seconds):
        """Waits `seconds`, or less when the receiver stops (a hanging answer ends with it)."""
        self.stopping.wait(seconds)

    def received(self):
        with self.lock:
            return list(self.requests)

    def accepted_periods(self):
        with self.lock:
            return [(w, p) for w, p, _ in self.accepted]

    def wait_for(self, n, timeout=20):
        return wait_until(lambda: len(self.received()) >= n and self.received(), timeout,
                          f"{n} requests at the receiver")

    def close(self):
        self.stopping.set()
        self.listener.close()


# ---------------------------------------------------------------------------------------------
# The daemon


def libfaketime():
    for candidate in pathlib.Path("/usr/lib").glob("*/faketime/libfaketime.so.1"):
        return candidate
    pytest.fail("libfaketime is not installed: run tests/run as root (it installs the Debian "
                "packages in tests/apt-packages), or apt-get install faketime")


class FakeClock:
    """A wall clock for the daemon that the test sets while it runs.

    libfaketime reads FAKETIME_TIMESTAMP_FILE at every clock call (FAKETIME_NO_CACHE=1); "@DATE"
    there starts the clock at DATE, counted from the process's start, and it runs on in real time.
    The monotonic clock is left alone (FAKETIME_DONT_FAKE_MONOTONIC=1), so timeouts stay real.
    """

    def __init__(self, directory, start):
        self.path = pathlib.Path(directory) / "faketime.rc"
        self.set(start)

    @staticmethod
    def lib():
        return libfaketime()

    def set(self, date):
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(f"@{date}\n")
        os.replace(tmp, self.path)

    def env(self):
        return {
            "LD_PRELOAD": str(libfaketime()),
            "FAKETIME_TIMESTAMP_FILE": str(self.path),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        }


class Root:
    """A machine: the AWS Fedora CoreOS fixture with a config fragment, and a state directory."""

    def __init__(self, tmp_path, endpoint, extra="", copy_fixture=True, timeout=3):
        self.timeout = timeout
        self.path = pathlib.Path(tmp_path) / "root"
        if copy_fixture:
            shutil.copytree(FIXTURE, self.path, symlinks=True)
        self.path.mkdir(parents=True, exist_ok=True)
        self.state_dir = pathlib.Path(tmp_path) / "state"
        self.state_dir.mkdir(exist_ok=True)
        self.config(endpoint, extra)

    def fragment(self, name):
        return self.path / "etc" / "headcount" / "config.d" / name

    def config(self, endpoint, extra="", name="50-test.toml"):
        f = self.fragment(name)
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(
            "[collecting]\nlevel = \"minimal\"\n\n[reporting]\n"
            f'endpoint = "{endpoint}"\n'
            "max_startup_delay_secs = 0\nmax_rollover_delay_secs = 0\n"
            f"timeout_secs = {self.timeout}\n" + extra
        )

    @property
    def state_file(self):
        return self.state_dir / "state.json"

    def state(self):
        """The state file, read strictly: None when absent, else a dict of whole periods; a torn
        or foreign file fails the test."""
        try:
            text = self.state_file.read_bytes()
        except FileNotFoundError:
            return None
        return parse_state(text)

    def daemon(self, env=None, preexec=None):
        return Daemon(self, env or {}, preexec)


def parse_state(text):
    """A state file's content as the daemon writes it, or a failed test saying why it is not."""
    try:
        s = json.loads(text)
    except ValueError:
        pytest.fail(f"torn or corrupt state file: {text!r}")
    assert isinstance(s, dict) and set(s) <= {"daily", "weekly", "monthly"}, text
    assert text.endswith(b"\n"), text
    for window, shape in (("daily", DAY), ("weekly", WEEK), ("monthly", MONTH)):
        if window in s:
            assert shape.match(s[window]), text
    return s


class Daemon:
    """The release `headcount daemon` on a root, its stderr in a file (debug level)."""

    def __init__(self, root, env, preexec=None):
        self.root = root
        self.log_path = root.path.parent / f"daemon-{time.monotonic_ns()}.log"
        environment = {k: v for k, v in os.environ.items()
                       if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
                       and k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "JOURNAL_STREAM",
                                     "LD_PRELOAD")}
        environment.update(STATE_DIRECTORY=str(root.state_dir), HEADCOUNT_LOG="debug")
        environment.update(env)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [binary("headcount"), "--root", root.path, "daemon"],
                env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=log, preexec_fn=preexec,
            )
        self.pid = self.proc.pid

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, needle, n=1, timeout=20):
        return wait_until(lambda: self.log().count(needle) >= n and self.log(), timeout,
                          f"{n}x {needle!r} in the daemon's log:\n{self.log()}")

    def warnings(self):
        return [line for line in self.log().splitlines() if " WARN " in line]

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait(timeout=10)

    def terminate(self, timeout=5):
        """SIGTERM; the exit status. A daemon that does not stop in time fails the test."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"the daemon did not stop within {timeout}s of SIGTERM:\n{self.log()}")

    def wait(self, timeout=10):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"the daemon did not exit within {timeout}s:\n{self.log()}")

    def context_switches(self):
        """Voluntary + involuntary context switches of all its threads so far."""
        total = 0
        for task in pathlib.Path(f"/proc/{self.pid}/task").iterdir():
            for line in (task / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
        return total


def is_root():
    return os.geteuid() == 0


def needs_root(what):
    """Root is needed (mount, another user); outside CI a non-root run skips with the reason."""
    if not is_root():
        pytest.skip(f"{what} needs root (tests/run runs as root under CI)")
