"""The receiver soak: honest clients posting real reports over keep-alive connections, malformed
requests mixed in, slow clients trickling a byte at a time, against the release
`headcount-receiver` on SQLite. Afterwards every acknowledged report must be counted, and the
receiver's resident memory must have stayed flat.

Run by tests/system/test_soak.py (60 s) and by the performance harness (tests/perf/run, ten
minutes), or by hand:

    /usr/bin/python3 tests/system/soak.py --seconds 600
"""

import argparse
import asyncio
import collections
import csv
import datetime
import io
import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import tempfile
import time

from local_receiver import LocalReceiver

REPO = pathlib.Path(__file__).resolve().parents[2]
RELEASE = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")).resolve() / "release"
FIXTURE = REPO / "tests" / "fixtures" / "aws-fcos-x86_64"

HONEST = 16
SLOW = 24
MALFORMED_SHARE = 0.1
MAX_VALUES = 200
REQUEST_TIMEOUT_SECS = 2
CONFIG = f"""\
[counts]
k = 1
max_values = {MAX_VALUES}

[connections]
request_timeout_secs = {REQUEST_TIMEOUT_SECS}
idle_timeout_secs = 5
"""
# RSS may grow this much between the middle and the last third of the run (allocator slack);
# a leak of one allocation per request grows by far more.
RSS_SLACK_KIB = 2048


def preview(window):
    out = subprocess.run(
        [RELEASE / "headcount", "--root", FIXTURE, "preview", "--json", "--level", "full",
         "--window", window],
        capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def request(body, content_type="application/json", extra=""):
    return (f"POST /v1/report HTTP/1.1\r\nhost: soak\r\ncontent-type: {content_type}\r\n"
            f"content-length: {len(body)}\r\n{extra}\r\n").encode() + body


class Load:
    def __init__(self, port, seconds, seed):
        self.port = port
        self.seconds = seconds
        self.rng = random.Random(seed)
        self.templates = {w: preview(w) for w in ("daily", "monthly")}
        self.acked = collections.Counter()  # (window, period) -> 202s
        self.statuses = collections.Counter()  # (kind, status)
        self.unexpected = []
        self.errors = collections.Counter()  # (kind, error) for honest requests that got no answer
        self.slow_cut = []  # seconds each slow client was held before the receiver cut it
        self.stop = asyncio.Event()

    def honest_body(self):
        window = "daily" if self.rng.random() < 0.8 else "monthly"
        report = json.loads(json.dumps(self.templates[window]))
        now = datetime.datetime.now(datetime.timezone.utc)
        report["period"] = now.strftime("%Y-%m-%d" if window == "daily" else "%Y-%m")
        # Many distinct versions, some never seen twice: the per-field bound is reached.
        r = self.rng.random()
        if r < 0.02:
            report["os"]["version_id"] = f"{self.rng.randrange(10**6)}"
        elif r < 0.5:
            report["os"]["version_id"] = f"{self.rng.randrange(40, 90)}"
        body = json.dumps(report, separators=(",", ":")).encode()
        return (window, report["period"]), body

    def malformed(self):
        """(kind, request bytes, expected status, whether the receiver closes the connection)."""
        _, body = self.honest_body()
        kind = self.rng.choice(["json", "duplicate", "schema", "type", "large", "period",
                                "smuggle", "garbage"])
        if kind == "json":
            return kind, request(body[: len(body) // 2]), 400, False
        if kind == "duplicate":
            return kind, request(body[:-1] + b',"level":"full"}'), 400, False
        if kind == "schema":
            return kind, request(body.replace(b'"schema":1', b'"schema":2', 1)), 422, False
        if kind == "type":
            return kind, request(body, "text/plain"), 415, False
        if kind == "large":
            return kind, request(body[:-1] + b',"pad":"' + b"x" * 9000 + b'"}'), 413, True
        if kind == "period":
            return kind, request(body.replace(b'"period":"', b'"period":"1999', 1)), 400, False
        if kind == "smuggle":
            return kind, request(body, extra="transfer-encoding: chunked\r\n"), 400, True
        return kind, bytes(self.rng.randrange(256) for _ in range(64)) + b"\r\n\r\n", 400, True

    async def exchange(self, reader, writer, data):
        writer.write(data)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        return status

    async def honest(self):
        reader = writer = None
        while not self.stop.is_set():
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            if self.rng.random() < MALFORMED_SHARE:
                kind, data, expected, closes = self.malformed()
            else:
                kind, closes = "report", False
                period, body = self.honest_body()
                data, expected = request(body), 202
            try:
                status = await self.exchange(reader, writer, data)
            except (OSError, asyncio.IncompleteReadError, ValueError) as e:
                self.errors[(kind, type(e).__name__)] += 1
                writer.close()
                writer = None
                continue
            self.statuses[(kind, status)] += 1
            if kind == "report" and status == 202:
                self.acked[period] += 1
            if status != expected and (kind != "period" or status not in (400, 422)):
                self.unexpected.append((kind, status))
            if closes:
                writer.close()
                writer = None
        if writer is not None:
            writer.close()

    async def slow(self):
        while not self.stop.is_set():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            opened = time.monotonic()
            head = request(b"{}")
            try:
                for byte in head:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    try:
                        await asyncio.wait_for(reader.read(1), 0.5)
                    except asyncio.TimeoutError:
                        continue
                    break  # an answer (a 408) or the end: the receiver cut it
                self.slow_cut.append(time.monotonic() - opened)
            except OSError:
                self.slow_cut.append(time.monotonic() - opened)
            writer.close()
            if self.stop.is_set():
                break

    async def run(self):
        tasks = [asyncio.create_task(self.honest()) for _ in range(HONEST)]
        tasks += [asyncio.create_task(self.slow()) for _ in range(SLOW)]
        await asyncio.sleep(self.seconds)
        self.stop.set()
        # Honest clients finish the request in flight: each is answered or fails.
        await asyncio.wait_for(asyncio.gather(*tasks[:HONEST]), 30)
        for t in tasks[HONEST:]:
            t.cancel()
        await asyncio.gather(*tasks[HONEST:], return_exceptions=True)


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def counted(database, window, period):
    out = subprocess.run(
        [RELEASE / "headcount-receiver", "export", "--database", database, "--window", window,
         "--period", period], capture_output=True, text=True, check=True)
    return sum(int(r["count"]) for r in csv.DictReader(io.StringIO(out.stdout))
               if r["field"] == "level")


def soak(seconds, workdir, seed=None):
    """Runs the soak; returns a dict of what it measured. Raises AssertionError on a broken
    promise."""
    seed = seed if seed is not None else time.time_ns() % 10**9
    workdir = pathlib.Path(workdir)
    (workdir / "receiver.toml").write_text(CONFIG)
    database = f"sqlite:{workdir / 'counts.db'}"
    receiver = LocalReceiver(RELEASE / "headcount-receiver", database, workdir / "receiver.toml",
                             log=workdir / "receiver.log", timeout=10)
    proc = receiver.proc
    try:
        load = Load(receiver.port, seconds, seed)
        samples = []

        async def main():
            async def sample():
                while not load.stop.is_set():
                    samples.append(rss_kib(proc.pid))
                    await asyncio.sleep(1)
            sampler = asyncio.create_task(sample())
            await load.run()
            await sampler

        started = time.monotonic()
        asyncio.run(main())
        elapsed = time.monotonic() - started
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, receiver.output()
    finally:
        receiver.stop()

    lost = {}
    for (window, period), acked in load.acked.items():
        got = counted(database, window, period)
        errors = sum(n for (kind, _), n in load.errors.items() if kind == "report")
        if not acked <= got <= acked + errors:
            lost[(window, period)] = (acked, got)
    third = max(1, len(samples) // 3)
    middle, last = samples[third:2 * third], samples[2 * third:]
    result = {
        "seed": seed,
        "seconds": round(elapsed, 1),
        "acknowledged": sum(load.acked.values()),
        "reports_per_second": round(sum(load.acked.values()) / elapsed),
        "malformed_answered": sum(n for (k, _), n in load.statuses.items() if k != "report"),
        "statuses": {f"{k} {s}": n for (k, s), n in sorted(load.statuses.items())},
        "honest_errors": {f"{k} {e}": n for (k, e), n in load.errors.items()},
        "slow_connections_cut": len(load.slow_cut),
        "slowest_cut_after_s": round(max(load.slow_cut, default=0), 1),
        "rss_kib_first_middle_last": [samples[0] if samples else 0,
                                      max(middle, default=0), max(last, default=0)],
        "peak_rss_kib": max(samples, default=0),
        "lost": lost,
        "unexpected": collections.Counter(load.unexpected).most_common(5),
    }
    assert not lost, f"acknowledged reports not counted: {lost}"
    assert not load.unexpected, f"unexpected answers: {result['unexpected']}"
    # Every request, honest or malformed, gets an answer: a reset or a cut instead is a failure.
    assert not load.errors, f"requests that got no answer: {dict(load.errors)}"
    assert sum(load.acked.values()) > 0
    assert load.slow_cut, "no slow client was ever cut"
    assert max(load.slow_cut) < REQUEST_TIMEOUT_SECS + 3, f"slow clients held: {result}"
    assert max(last, default=0) <= max(middle, default=0) + RSS_SLACK_KIB, f"RSS grew: {samples}"
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--seed", type=int)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="headcount-soak-") as work:
        print(json.dumps(soak(args.seconds, work, args.seed), indent=1))
        sys.exit(0)
