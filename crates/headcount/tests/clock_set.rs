//! Setting the wall clock wakes the daemon's timer at once (`TFD_TIMER_CANCEL_ON_SET`), the path
//! libfaketime cannot exercise (its fake clock never cancels a timer; tests/system/test_clock.py
//! says so and stands in with SIGHUP).
//!
//! The clock is stepped by nothing: read, then set to what was read. The kernel treats any
//! `clock_settime` as a discontinuity and cancels every cancel-on-set timer, yet the machine's time
//! moves by the microseconds between the two calls only. It needs CAP_SYS_TIME (tests/run runs as
//! root); without it the test says so, and fails under CI, which skips nothing.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use headcount::clock;
use headcount::timer::{Wake, WallTimer};
use nix::errno::Errno;
use nix::time::{ClockId, clock_gettime, clock_settime};

/// One step at a time: a step wakes every cancel-on-set timer of the process.
static STEPS: Mutex<()> = Mutex::new(());

/// Sets the wall clock to what it reads; `false` when this process may not.
fn step_the_clock_by_nothing() -> bool {
    let now = clock_gettime(ClockId::CLOCK_REALTIME).unwrap();
    match clock_settime(ClockId::CLOCK_REALTIME, now) {
        Ok(()) => true,
        Err(Errno::EPERM) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "setting the clock needs CAP_SYS_TIME; CI runs tests/run as root"
            );
            eprintln!("SKIPPED: setting the clock needs CAP_SYS_TIME (run as root)");
            false
        }
        Err(e) => panic!("clock_settime: {e}"),
    }
}

#[test]
fn a_clock_set_wakes_the_timer_at_once_and_it_can_be_armed_again() {
    let _one = STEPS.lock().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut timer = WallTimer::new().unwrap();
        let far = clock::now() + TimeDelta::hours(1);
        let stepper = std::thread::spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            step_the_clock_by_nothing()
        });
        let started = Instant::now();
        let woke = tokio::time::timeout(Duration::from_secs(5), timer.sleep_until(far)).await;
        if !stepper.join().unwrap() {
            return;
        }
        assert_eq!(woke.unwrap().unwrap(), Wake::ClockChanged);
        assert!(started.elapsed() >= Duration::from_millis(250));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        // The next deadline is armed anew and fires on time.
        let soon = clock::now() + TimeDelta::milliseconds(200);
        assert_eq!(timer.sleep_until(soon).await.unwrap(), Wake::Deadline);
        assert!(clock::now() >= soon);
    });
}

#[test]
fn the_sleeping_daemon_recomputes_its_schedule_when_the_clock_is_set() {
    let _one = STEPS.lock().unwrap();
    let rx = common::Receiver::plain();
    let root = common::Root::new(&common::Root::config(&rx.url("http", "127.0.0.1"), ""));
    let d = root.daemon();
    rx.wait_for(2, Duration::from_secs(20));
    d.wait_log("sleeping until", 1, Duration::from_secs(10));
    let before = d.log().matches("sleeping until").count();
    if !step_the_clock_by_nothing() {
        return;
    }
    let log = d.wait_log(
        "the wall clock was set; recomputing the schedule",
        1,
        Duration::from_secs(5),
    );
    // It went back to sleep, and sent nothing again.
    d.wait_log("sleeping until", before + 1, Duration::from_secs(5));
    assert_eq!(rx.received().len(), 2, "{log}");
}
