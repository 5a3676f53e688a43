"""The real daemon under a wall clock that jumps: backwards a day, forwards a month, back again,
to 1970, a year ahead. libfaketime (Debian `faketime`) fakes the daemon's clock only; the test
moves it through FAKETIME_TIMESTAMP_FILE.

What this proves: whatever the clock reads when the daemon decides, no period is reported twice
and nothing is sent while the clock is implausible. What it cannot: libfaketime never makes a
`TFD_TIMER_CANCEL_ON_SET` timer fire when the fake clock moves, so the daemon would only notice at
its next wake-up; each jump here is followed by SIGHUP, which makes the daemon decide again at
once. The kernel's cancel-on-set wake-up itself is proven by crates/headcount/tests/clock_set.rs,
which sets the real clock.
"""

import time

from proofs import FakeClock, Receiver, Root


def settle(daemon, reloads, quiet=0.7):
    """After the `reloads`-th SIGHUP was taken: give a send the time it would need to show."""
    daemon.wait_log("configuration reloaded", reloads, timeout=10)
    time.sleep(quiet)


def jump(clock, daemon, date, reloads):
    clock.set(date)
    daemon.signal(1)
    settle(daemon, reloads)


def test_clock_jumps_never_send_a_period_twice(tmp_path):
    rx = Receiver()
    root = Root(tmp_path, rx.url())
    clock = FakeClock(tmp_path, "2027-03-10 12:00:00")
    d = root.daemon(clock.env())
    rx.wait_for(2)
    time.sleep(0.3)
    assert sorted(rx.accepted_periods()) == [("daily", "2027-03-10"), ("monthly", "2027-03")]
    assert root.state() == {"daily": "2027-03-10", "monthly": "2027-03"}

    # Backwards a day: the day before was never reported, but it is earlier than the one that
    # was, so it never will be.
    jump(clock, d, "2027-03-09 12:00:00", 1)
    assert len(rx.received()) == 2, d.log()

    # Forwards a month: the new day and the new month, once each.
    jump(clock, d, "2027-04-11 12:00:00", 2)
    assert sorted(rx.accepted_periods()[2:]) == [("daily", "2027-04-11"), ("monthly", "2027-04")]
    assert root.state() == {"daily": "2027-04-11", "monthly": "2027-04"}

    # Back a month (a clock corrected after running ahead): the state is 32 days in the future,
    # within the horizon it is believed, so nothing is sent until the clock gets there.
    jump(clock, d, "2027-03-10 12:00:00", 3)
    assert len(rx.received()) == 4, d.log()
    assert root.state() == {"daily": "2027-04-11", "monthly": "2027-04"}

    # To 1970 (a machine without a battery-backed clock): nothing is sent, the state is not
    # judged against that clock, and the daemon says why it waits, once.
    jump(clock, d, "1970-01-01 00:00:00", 4)
    assert d.alive(), d.log()
    assert len(rx.received()) == 4, d.log()
    assert root.state() == {"daily": "2027-04-11", "monthly": "2027-04"}
    warned = [w for w in d.warnings() if "before this build's date" in w]
    # libfaketime counts the "@" date from the process's start, which reads a hair before it.
    assert len(warned) == 1 and ("1970-01-01" in warned[0] or "1969-12-31" in warned[0]), d.log()

    # The clock set again, to the day already reported: nothing; the next day: that day only.
    jump(clock, d, "2027-04-11 18:00:00", 5)
    assert "the clock is set" in d.log()
    assert len(rx.received()) == 4, d.log()
    jump(clock, d, "2027-04-12 00:30:00", 6)
    assert rx.accepted_periods()[4:] == [("daily", "2027-04-12")], d.log()

    # A restart under a clock set back a day: the state says the day after was sent.
    assert d.terminate() == 0
    clock.set("2027-04-11 09:00:00")
    again = root.daemon(clock.env())
    again.wait_log("sleeping until", timeout=10)
    time.sleep(0.5)
    assert len(rx.received()) == 5, again.log()
    assert again.terminate() == 0

    periods = rx.accepted_periods()
    assert len(periods) == len(set(periods)), periods


def test_a_clock_years_ahead_then_corrected_does_not_silence_the_machine_nor_report_twice(tmp_path):
    rx = Receiver()
    root = Root(tmp_path, rx.url())
    clock = FakeClock(tmp_path, "2028-06-15 12:00:00")
    d = root.daemon(clock.env())
    rx.wait_for(2)
    time.sleep(0.3)
    assert root.state() == {"daily": "2028-06-15", "monthly": "2028-06"}
    # Corrected to the real date: the recorded periods lie beyond the horizon, so they are
    # replaced by the current ones, treated as settled (they may have been sent before the jump).
    jump(clock, d, "2027-04-11 12:00:00", 1)
    assert len(rx.received()) == 2, d.log()
    assert root.state() == {"daily": "2027-04-11", "monthly": "2027-04"}
    assert any("far in the future" in w for w in d.warnings()), d.log()
    # Reports resume with the next day.
    jump(clock, d, "2027-04-12 12:00:00", 2)
    assert rx.accepted_periods()[2:] == [("daily", "2027-04-12")], d.log()
    assert d.terminate() == 0


def test_nothing_is_sent_before_the_clock_is_set_then_each_period_once(tmp_path):
    rx = Receiver()
    root = Root(tmp_path, rx.url())
    clock = FakeClock(tmp_path, "1970-01-01 00:00:00")
    d = root.daemon(clock.env())
    d.wait_log("before this build's date", timeout=10)
    time.sleep(1)
    assert rx.connections == 0, d.log()
    assert root.state() is None
    # NTP steps the clock.
    jump(clock, d, "2027-05-20 08:00:00", 1)
    assert sorted(rx.accepted_periods()) == [("daily", "2027-05-20"), ("monthly", "2027-05")]
    assert d.terminate() == 0
