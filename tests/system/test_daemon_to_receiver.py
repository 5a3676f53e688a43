"""The real `headcount daemon` posting to the real `headcount-receiver`, both release binaries.

The daemon reads a fixture machine (AWS Fedora CoreOS); the receiver counts into SQLite. Every
field of what `headcount preview --json` shows must be counted exactly once per window, and
nothing else.
"""

import csv
import datetime
import io
import json
import os
import shutil
import signal
import subprocess
import urllib.error
import urllib.request

import pytest

from conftest import REPO, binary
from local_receiver import LocalReceiver, wait_until

FIXTURE = REPO / "tests" / "fixtures" / "aws-fcos-x86_64"


def leaves(obj, prefix=""):
    """(dotted field, value as text) for every leaf of a report, as the receiver counts them."""
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from leaves(value, path + ".")
        elif path not in ("schema", "window", "period"):
            yield path, json.dumps(value) if not isinstance(value, str) else value


@pytest.fixture
def receiver(tmp_path):
    config = tmp_path / "receiver.toml"
    config.write_text("[counts]\nk = 1\n")
    receiver = LocalReceiver(binary("headcount-receiver"), f"sqlite:{tmp_path / 'counts.db'}", config)
    yield receiver
    receiver.stop()


def test_the_daemon_reports_to_the_receiver_and_every_field_is_counted_once(tmp_path, receiver):
    root = tmp_path / "root"
    shutil.copytree(FIXTURE, root, symlinks=True)
    conf = root / "etc" / "headcount" / "config.d"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "50-test.toml").write_text(
        "[reporting]\n"
        f'endpoint = "http://127.0.0.1:{receiver.port}/v1/report"\n'
        "max_startup_delay_secs = 0\nmax_rollover_delay_secs = 0\n"
    )
    state = tmp_path / "state"
    state.mkdir()
    env = dict(os.environ, STATE_DIRECTORY=str(state))
    env.pop("NOTIFY_SOCKET", None)

    now = datetime.datetime.now(datetime.timezone.utc)
    periods = {"daily": now.strftime("%Y-%m-%d"), "monthly": now.strftime("%Y-%m")}
    previews = {}
    for window in periods:
        out = subprocess.run(
            [binary("headcount"), "--root", root, "preview", "--json", "--window", window],
            capture_output=True, text=True, check=True,
        )
        previews[window] = json.loads(out.stdout)

    daemon = subprocess.Popen(
        [binary("headcount"), "--root", root, "daemon"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        def settled():
            try:
                s = json.loads((state / "state.json").read_text())
            except (OSError, ValueError):
                return None
            return s if s.get("daily") == periods["daily"] and s.get("monthly") == periods["monthly"] else None

        wait_until(settled, 30, "both reports to be settled")
        assert daemon.poll() is None, "the daemon exited after sending"
    finally:
        daemon.send_signal(signal.SIGTERM)
        log, _ = daemon.communicate(timeout=5)
    assert daemon.returncode == 0, log

    for window, period in periods.items():
        out = subprocess.run(
            [binary("headcount-receiver"), "export", "--database", receiver.database,
             "--window", window, "--period", period],
            capture_output=True, text=True, check=True,
        )
        rows = list(csv.DictReader(io.StringIO(out.stdout)))
        counted = {(r["field"], r["value"]): int(r["count"]) for r in rows}
        expected = {leaf: 1 for leaf in leaves(previews[window])}
        assert counted == expected, (window, out.stdout)

    # Nothing of the open period is public: it is released, with noise, only once it has closed.
    url = f"http://127.0.0.1:{receiver.port}/v1/counts?window=daily&period={periods['daily']}"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=5)
    assert refused.value.code == 404
    assert json.load(refused.value)["error"] == "not_released"
