"""`headcount-receiver serve` on a free loopback port: the one way the system tests (and the
dashboard's performance script) start a receiver, and the waiting helper they share."""

import pathlib
import signal
import socket
import subprocess
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, what):
    """The first true value of `predicate()`, polled every 20 ms; TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


class LocalReceiver:
    """A receiver process counting into `database` with the config file `config`; its standard
    output and error go to `log` (a path), or to a pipe that `output()` reads once it exited.
    Started and listening when the constructor returns."""

    def __init__(self, receiver_bin, database, config, log=None, timeout=30):
        self.database = database
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.log = pathlib.Path(log) if log is not None else None
        out = open(self.log, "w") if self.log is not None else subprocess.PIPE
        try:
            self.proc = subprocess.Popen(
                [receiver_bin, "serve", "--listen", f"127.0.0.1:{self.port}",
                 "--database", database, "--config", config],
                stdout=out, stderr=subprocess.STDOUT, text=True)
        finally:
            if self.log is not None:
                out.close()
        try:
            wait_until(self._listening, timeout, "the receiver to listen")
        except BaseException:
            self.stop()
            raise

    def _listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            self.check_running()
            return False

    def check_running(self):
        """Raises with what the receiver wrote when it has exited."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"the receiver exited ({self.proc.returncode}):\n{self.output()}")

    def output(self):
        """What the receiver wrote (all of it only once it has exited, for a pipe)."""
        if self.log is not None:
            return self.log.read_text()
        return self.proc.stdout.read() if self.proc.poll() is not None else ""

    def stop(self):
        """SIGTERM (a graceful stop), SIGKILL after 15 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
