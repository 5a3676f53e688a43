"""A real systemd in a container, for the systemd system tests.

One `Machine` per test case: a host overlayfs over the cached Debian rootfs (tests/system/rootfs.py;
lower = the pristine cache, upper = a per-case directory), headcount installed into it with the
Makefile's `install` target (DESTDIR), `systemctl --root preset` run on it, optionally real Ignition's
files stage, then booted with `systemd-nspawn --boot --private-network` (only `lo` inside: nothing
leaves the container). Commands run inside with `nsenter -t <container PID 1> -a`, because
`machinectl` and `-M` need a systemd on the host. The container is always stopped (SIGTERM, then
SIGKILL) and the overlay unmounted, whatever the test did.
"""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse

from conftest import REPO, binary
from rootfs import cache_dir

# The three MESSAGE_IDs of systemd/headcount.catalog: the contract between daemon, docs and tests.
MESSAGE_ID_SENT = "522108f49c1b482b93573325becbff69"
MESSAGE_ID_REFUSED = "c0fd52c481f04bc39191156fd4619542"
MESSAGE_ID_NOTHING_SENT = "9c5ad3d4be134ae9b489b82e347efc76"

RECEIVER_PORT = 8080
RECEIVER_URL = f"http://127.0.0.1:{RECEIVER_PORT}/v1/report"
RECEIVER_DIR = "/var/lib/test-receiver"
PROXY_PORT = 8888
PROXY_LOG = "/var/log/test-tinyproxy.log"
SOCKS_PORT = 1080
SOCKS_USER = "counter"
SOCKS_PASSWORD = "s0cks-pw-in-the-container"

BOOT_TIMEOUT = 60
STOP_TIMEOUT = 15

# A receiver on loopback inside the container: it stores each request's body, byte for byte, and
# its path and headers, then answers 202. (The real headcount-receiver may replace it later.)
# With a file named `hang` in its directory it reads the request, marks it in `hung`, and never
# answers: a send stays in flight.
RECEIVER_SCRIPT = """\
import http.server, json, os, sys, time

DIR = sys.argv[2]

class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if os.path.exists(os.path.join(DIR, "hang")):
            open(os.path.join(DIR, "hung"), "a").write("1\\n")
            time.sleep(3600)
        n = len([f for f in os.listdir(DIR) if f.endswith(".body")]) + 1
        # Header names are case-insensitive (hyper sends them lower-case): store them lower-cased.
        meta = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}
        with open(os.path.join(DIR, "%04d.meta" % n), "w") as f:
            json.dump(meta, f)
        with open(os.path.join(DIR, "%04d.body.tmp" % n), "wb") as f:
            f.write(body)
        os.rename(os.path.join(DIR, "%04d.body.tmp" % n), os.path.join(DIR, "%04d.body" % n))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

os.makedirs(DIR, exist_ok=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""

# Wait until a loopback port accepts connections, so headcount (ordered after) never races it.
WAIT_FOR_PORT = "/bin/bash -c 'for i in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && exit 0; sleep 0.05; done; exit 1'"

RECEIVER_UNIT = f"""\
[Unit]
Description=Loopback receiver for the headcount system tests
Before=headcount.service

[Service]
ExecStart=/usr/bin/python3 /usr/local/lib/test-receiver.py {RECEIVER_PORT} {RECEIVER_DIR}
ExecStartPost={WAIT_FOR_PORT.format(port=RECEIVER_PORT)}

[Install]
WantedBy=multi-user.target
"""

PROXY_CONF = f"""\
Port {PROXY_PORT}
Listen 127.0.0.1
Timeout 30
LogFile "{PROXY_LOG}"
LogLevel Info
MaxClients 10
Allow 127.0.0.1
ConnectPort 443
ConnectPort {RECEIVER_PORT}
"""

PROXY_UNIT = f"""\
[Unit]
Description=tinyproxy for the headcount system tests
Before=headcount.service

[Service]
ExecStart=/usr/bin/tinyproxy -d -c /etc/test-tinyproxy.conf
ExecStartPost={WAIT_FOR_PORT.format(port=PROXY_PORT)}

[Install]
WantedBy=multi-user.target
"""

# microsocks (Debian's, copied from the host: it needs only libc) as a SOCKS5 server with a login.
SOCKS_UNIT = f"""\
[Unit]
Description=microsocks for the headcount system tests
Before=headcount.service

[Service]
ExecStart=/usr/local/bin/microsocks -i 127.0.0.1 -p {SOCKS_PORT} -u {SOCKS_USER} -P {SOCKS_PASSWORD}
ExecStartPost={WAIT_FOR_PORT.format(port=SOCKS_PORT)}

[Install]
WantedBy=multi-user.target
"""

# Test-only ordering: headcount starts after the loopback helpers are listening. A drop-in, so
# the unit under test is the installed one, unchanged.
HEADCOUNT_TEST_DROPIN = """\
[Unit]
After=test-receiver.service test-tinyproxy.service test-microsocks.service
"""

# Debian's Ignition 2.14 always relabels what it wrote: it reads SELINUXTYPE from the root and runs
# `setfiles` from PATH. SELinux is off here, so give it a config and a setfiles that does nothing.
SELINUX_CONFIG = "SELINUX=disabled\nSELINUXTYPE=default\n"
FAKE_SETFILES = "#!/bin/sh\ncat >/dev/null\nexit 0\n"
IGNITION = "/usr/lib/dracut/modules.d/30ignition/ignition"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_abandoned_cases() -> None:
    """Clean up cases of test runs that were killed before their finalizers ran.

    Only cases whose owning test process is gone: several test runs may share the cache. Processes
    still running inside such a case's root (a container nobody stopped) are killed first.
    """
    cases = cache_dir() / "cases"
    if not cases.is_dir():
        return
    for case in cases.iterdir():
        try:
            owner = int((case / "owner").read_text())
        except (OSError, ValueError):
            owner = None
        if owner is not None and _alive(owner):
            continue
        root = str(case / "root")
        for proc in pathlib.Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    if os.readlink(proc / "root").startswith(root):
                        os.kill(int(proc.name), signal.SIGKILL)
                except OSError:
                    pass
        if os.path.ismount(root):
            subprocess.run(["umount", "-l", root], check=False)
        shutil.rmtree(case, ignore_errors=True)


def headcount_config(**reporting) -> str:
    """A config fragment pointing headcount at the loopback receiver, reporting at once."""
    values = {
        "endpoint": RECEIVER_URL,
        "max_startup_delay_secs": 0,
        "max_rollover_delay_secs": 0,
    }
    values.update(reporting)
    lines = ["[reporting]"]
    for key, value in values.items():
        lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def ignition_data_url(text: str) -> str:
    return "data:," + urllib.parse.quote(text, safe="")


class Machine:
    """One booted container; prepare it (install, write, ignition) before `boot()`."""

    def __init__(self, rootfs: pathlib.Path, name: str):
        self.name = name
        cases = cache_dir() / "cases"
        cases.mkdir(parents=True, exist_ok=True)
        self.workdir = pathlib.Path(tempfile.mkdtemp(prefix=f"{name}-", dir=cases))
        # Who owns this case: remove_abandoned_cases() of a later run cleans up after a killed one.
        (self.workdir / "owner").write_text(str(os.getpid()))
        # mkdtemp makes 0700 directories; a DynamicUser service inside needs to traverse the root.
        self.workdir.chmod(0o755)
        self.upper = self.workdir / "upper"
        self.work = self.workdir / "work"
        self.root = self.workdir / "root"
        for d in (self.upper, self.work, self.root):
            d.mkdir(mode=0o755)
        subprocess.run(
            [
                "mount",
                "-t",
                "overlay",
                "overlay",
                "-o",
                f"lowerdir={rootfs},upperdir={self.upper},workdir={self.work}",
                str(self.root),
            ],
            check=True,
        )
        self.root.chmod(0o755)
        self.nspawn = None
        self.leader = None
        self.console = None

    # --- before boot ---------------------------------------------------------------------------

    def path(self, inside: str) -> pathlib.Path:
        return self.root / inside.lstrip("/")

    def write(self, inside: str, text: str, mode: int = 0o644) -> None:
        target = self.path(inside)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(mode)

    def install_headcount(self) -> None:
        """The documented install step, then the preset, as a package would do."""
        subprocess.run(
            [
                "make",
                "-s",
                "-C",
                str(REPO),
                "install",
                f"DESTDIR={self.root}",
                "PREFIX=/usr",
                f"BINARY={binary('headcount')}",
                f"RECEIVER_BINARY={binary('headcount-receiver')}",
            ],
            check=True,
        )
        subprocess.run(
            ["systemctl", f"--root={self.root}", "preset", "headcount.service"],
            check=True,
            capture_output=True,
        )
        subprocess.run(["journalctl", f"--root={self.root}", "--update-catalog"], check=True)

    def install_receiver(self) -> None:
        self.write("/usr/local/lib/test-receiver.py", RECEIVER_SCRIPT)
        self.write("/etc/systemd/system/test-receiver.service", RECEIVER_UNIT)
        self.write("/etc/systemd/system/headcount.service.d/50-test-order.conf", HEADCOUNT_TEST_DROPIN)
        self._enable("test-receiver.service")

    def install_proxy(self) -> None:
        self.write("/etc/test-tinyproxy.conf", PROXY_CONF)
        self.write("/etc/systemd/system/test-tinyproxy.service", PROXY_UNIT)
        self.write("/etc/systemd/system/headcount.service.d/50-test-order.conf", HEADCOUNT_TEST_DROPIN)
        self._enable("test-tinyproxy.service")

    def install_microsocks(self) -> None:
        target = self.path("/usr/local/bin/microsocks")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2("/usr/bin/microsocks", target)
        target.chmod(0o755)
        self.write("/etc/systemd/system/test-microsocks.service", SOCKS_UNIT)
        self.write("/etc/systemd/system/headcount.service.d/50-test-order.conf", HEADCOUNT_TEST_DROPIN)
        self._enable("test-microsocks.service")

    def _enable(self, unit: str) -> None:
        subprocess.run(["systemctl", f"--root={self.root}", "enable", unit], check=True, capture_output=True)

    def ignition_files(self, config: dict) -> subprocess.CompletedProcess:
        """Real Ignition's fetch-offline and files stages against the root, as before first boot."""
        ign = self.workdir / "ignition"
        ign.mkdir()
        (ign / "config.ign").write_text(json.dumps(config))
        fakebin = ign / "bin"
        fakebin.mkdir()
        (fakebin / "setfiles").write_text(FAKE_SETFILES)
        (fakebin / "setfiles").chmod(0o755)
        if not self.path("/etc/selinux/config").exists():
            self.write("/etc/selinux/config", SELINUX_CONFIG)
        env = dict(os.environ, IGNITION_CONFIG_FILE=str(ign / "config.ign"))
        env["PATH"] = f"{fakebin}:{env.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
        common = ["-platform", "file", "-log-to-stdout", "-config-cache", str(ign / "cache.json"),
                  "-state-file", str(ign / "state")]
        subprocess.run(
            [IGNITION, "-stage", "fetch-offline", *common, "-neednet", str(ign / "neednet")],
            env=env, check=True, capture_output=True, text=True,
        )
        return subprocess.run(
            [IGNITION, "-stage", "files", "-root", str(self.root), *common],
            env=env, check=True, capture_output=True, text=True,
        )

    # --- boot and run --------------------------------------------------------------------------

    def boot(self) -> None:
        self.console = open(self.workdir / "nspawn.log", "wb")
        self.nspawn = subprocess.Popen(
            [
                "systemd-nspawn",
                "-q",
                "-D",
                str(self.root),
                "--boot",
                "--register=no",
                "--keep-unit",
                "--console=passive",
                "-M",
                self.name,
                "--private-network",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self.console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            if self.nspawn.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited with {self.nspawn.returncode}: {self.console_log()}")
            found = subprocess.run(
                ["pgrep", "-P", str(self.nspawn.pid), "-x", "systemd"], capture_output=True, text=True
            ).stdout.split()
            if found and pathlib.Path(f"/proc/{found[0]}/root/run/systemd/private").exists():
                self.leader = int(found[0])
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"container did not boot in {BOOT_TIMEOUT}s: {self.console_log()}")
        state = self.run(["systemctl", "is-system-running", "--wait"], check=False, timeout=BOOT_TIMEOUT)
        self.boot_state = state.stdout.strip()

    def console_log(self) -> str:
        try:
            return (self.workdir / "nspawn.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def run(self, cmd, check=True, timeout=60, input=None) -> subprocess.CompletedProcess:
        """Run a command inside the container (all its namespaces), as root."""
        assert self.leader, "boot() first"
        result = subprocess.run(
            ["nsenter", "-t", str(self.leader), "-a", *cmd],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "SYSTEMD_PAGER": "",
                 "SYSTEMD_COLORS": "0"},
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{cmd} exited {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    def run_bytes(self, cmd, timeout=60) -> bytes:
        assert self.leader, "boot() first"
        result = subprocess.run(
            ["nsenter", "-t", str(self.leader), "-a", *cmd],
            capture_output=True,
            timeout=timeout,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SYSTEMD_PAGER": ""},
        )
        if result.returncode != 0:
            raise AssertionError(f"{cmd} exited {result.returncode}: {result.stderr!r}")
        return result.stdout

    def show(self, unit: str = "headcount.service") -> dict:
        """`systemctl show UNIT` as a dict."""
        out = self.run(["systemctl", "show", unit]).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def wait_for(self, what: str, predicate, timeout: float = 30, interval: float = 0.1):
        """Poll predicate() until it returns something true; fail with a diagnosis otherwise."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}\n{self.diagnosis()}")

    def diagnosis(self) -> str:
        """What a failing test prints: the unit's state and its journal."""
        try:
            status = self.run(["systemctl", "status", "--no-pager", "headcount.service"], check=False).stdout
            journal = self.run(["journalctl", "--no-pager", "-u", "headcount", "-o", "short-precise"],
                               check=False).stdout
            return f"--- systemctl status headcount\n{status}\n--- journalctl -u headcount\n{journal[-6000:]}"
        except Exception as err:  # diagnosis must never hide the original failure
            return f"(no diagnosis: {err})"

    # --- the receiver's view -------------------------------------------------------------------

    def received(self) -> list:
        """Every request the loopback receiver got, in order: (body bytes, meta dict)."""
        directory = self.path(RECEIVER_DIR)
        if not directory.exists():
            return []
        out = []
        for body in sorted(directory.glob("*.body")):
            meta = json.loads(body.with_suffix(".meta").read_text())
            out.append((body.read_bytes(), meta))
        return out

    def login_messages(self) -> str:
        """What a console login shows: the real login(1) and PAM stack (pam_motd) on a pty."""
        result = self.run(["timeout", "20", "script", "-qec", "login -f root", "/dev/null"], input="exit\n",
                          check=False, timeout=30)
        assert "logout" in result.stdout or result.returncode == 0, result
        return result.stdout

    def journal_json(self, *match: str) -> list:
        """`journalctl -u headcount -o json --all` entries (optionally with field matches)."""
        out = self.run(["journalctl", "--no-pager", "-u", "headcount", "-o", "json", "--all", *match]).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    # --- teardown ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the container (SIGTERM, then SIGKILL), unmount the overlay, remove the case dir."""
        if self.nspawn is not None and self.nspawn.poll() is None:
            try:
                os.kill(self.nspawn.pid, signal.SIGTERM)
                self.nspawn.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                # Killing the container's PID 1 takes its whole PID namespace down with it.
                if self.leader:
                    try:
                        os.kill(self.leader, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                os.killpg(self.nspawn.pid, signal.SIGKILL)
                self.nspawn.wait(timeout=STOP_TIMEOUT)
            except ProcessLookupError:
                pass
        if self.console is not None:
            self.console.close()
        for attempt in range(50):
            if subprocess.run(["umount", str(self.root)], capture_output=True).returncode == 0:
                break
            if not os.path.ismount(self.root):
                break
            time.sleep(0.1)
        else:
            subprocess.run(["umount", "-l", str(self.root)], check=False)
        if os.environ.get("HEADCOUNT_KEEP_CASES") != "1":
            shutil.rmtree(self.workdir, ignore_errors=True)
