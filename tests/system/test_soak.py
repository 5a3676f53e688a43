"""Soak: the receiver under a minute of load with slow clients and malformed requests mixed in
(tests/perf/run soaks it for ten minutes), and the daemon against a receiver that keeps answering
429 or 503 with Retry-After.
"""

import email.utils
import json
import os
import time

from proofs import Receiver, Root, http_answer, libfaketime
from soak import soak

SOAK_SECS = int(os.environ.get("PROOFS_SOAK_SECS", "60"))
SPEED = 120  # the daemon's fake clock runs this many times faster than the real one


def test_the_receiver_under_load_loses_no_acknowledged_count_and_its_memory_stays_flat(tmp_path):
    result = soak(SOAK_SECS, tmp_path)
    print("\nsoak:", json.dumps(result))


def test_the_daemon_obeys_retry_after_whatever_its_backoff_draws(tmp_path):
    """Under a clock 120 times as fast (libfaketime; its timers follow), the receiver answers 429
    with `Retry-After: 120` (seconds) four times per window, then 503 with an HTTP date 300 s
    ahead, then 202. Each retry comes no earlier than the previous answer asked, and once
    accepted, a window is never sent again."""
    answers = {}  # window -> requests so far
    spawned = {}

    def fake_now():
        return spawned["fake"] + (time.monotonic() - spawned["real"]) * SPEED

    def respond(rx, conn, req):
        window = req.period()[0]
        n = answers[window] = answers.get(window, 0) + 1
        if n <= 4:
            req.asked = 120
            conn.sendall(http_answer(429, [("retry-after", "120")]))
            return 429
        if n == 5:
            req.asked = 300
            date = email.utils.formatdate(fake_now() + 300, usegmt=True)
            conn.sendall(http_answer(503, [("retry-after", date)]))
            return 503
        req.asked = None
        conn.sendall(http_answer(202))
        return 202

    rx = Receiver(respond)
    root = Root(tmp_path, rx.url())
    start = "2027-06-01 08:00:00"
    spawned["fake"] = 1811836800  # 2027-06-01 08:00:00 UTC
    env = {"LD_PRELOAD": str(libfaketime()),
           "FAKETIME": f"@{start} x{SPEED}", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    spawned["real"] = time.monotonic()
    d = root.daemon(env)
    # Six requests per window; the backoff's own draws (full jitter, doubling from a minute) can
    # stretch the 25 fake minutes this takes at most to about 16 s.
    rx.wait_for(12, timeout=40)
    time.sleep(1.5)  # a minute and a half of fake time: nothing more may come
    requests = rx.received()
    assert len(requests) == 12, [r.period() for r in requests]
    waits = []
    for window in ("daily", "monthly"):
        mine = [r for r in requests if r.period()[0] == window]
        assert [r.asked for r in mine] == [120] * 4 + [300, None]
        for previous, retry in zip(mine, mine[1:]):
            waited = (retry.at - previous.at) * SPEED
            waits.append(f"{waited:.0f}/{previous.asked}")
            # Tolerance: the fake clock's start is known to a few milliseconds only.
            assert waited >= previous.asked - 3, (
                f"{window}: retried after {waited:.0f} fake s, asked {previous.asked}")
    print(f"\nfigure: fake seconds waited / asked: {', '.join(waits)}")
    assert sorted(rx.accepted_periods()) == [("daily", "2027-06-01"), ("monthly", "2027-06")]
    warned = d.warnings()
    assert len(warned) == 2 and all("429" in w for w in warned), d.log()
    assert d.terminate() == 0
