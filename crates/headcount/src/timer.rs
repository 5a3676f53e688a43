//! A wall-clock timer that survives suspend and notices clock changes.
//!
//! A `CLOCK_REALTIME` timerfd armed with an absolute deadline fires when the wall clock reaches
//! it, including right after a resume from suspend (tokio's sleep counts monotonic time and
//! would wake late). With `TFD_TIMER_CANCEL_ON_SET` a discontinuous change of the clock
//! (`settimeofday`, NTP stepping) makes the read fail with `ECANCELED`: the caller recomputes
//! its plan against the new time. Between deadlines the process is not woken at all.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};

use chrono::{DateTime, Utc};
use nix::errno::Errno;
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Why [`WallTimer::sleep_until`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The wall clock reached the deadline.
    Deadline,
    /// The wall clock was set (jumped): the deadline may be meaningless now; recompute.
    ClockChanged,
}

/// The timerfd, made pollable by tokio.
struct Fd(TimerFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// A one-shot absolute `CLOCK_REALTIME` timer for the tokio reactor.
pub struct WallTimer {
    fd: AsyncFd<Fd>,
}

fn to_io(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

impl WallTimer {
    /// Creates the timer. Needs a running tokio runtime with I/O enabled.
    pub fn new() -> io::Result<WallTimer> {
        let fd = TimerFd::new(
            ClockId::CLOCK_REALTIME,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .map_err(to_io)?;
        // SAFETY: `Fd` owns the timerfd (an `OwnedFd` inside `TimerFd`) and is never
        // mutated, so `as_raw_fd` returns the same open descriptor for the `AsyncFd`'s life.
        #[allow(unsafe_code)]
        let fd = unsafe { AsyncFd::register_with_interest(Fd(fd), Interest::READABLE) }?;
        Ok(WallTimer { fd })
    }

    /// Sleeps until the wall clock reads `deadline` (at once if it already has), or until the
    /// clock is set.
    pub async fn sleep_until(&mut self, deadline: DateTime<Utc>) -> io::Result<Wake> {
        // A deadline before the epoch cannot be armed; the epoch is as good (already past).
        let secs = deadline.timestamp().max(0);
        let nanos = if deadline.timestamp() < 0 {
            0
        } else {
            i64::from(deadline.timestamp_subsec_nanos())
        };
        // it_value zero would disarm the timer: one nanosecond after the epoch is past too.
        let spec = TimeSpec::new(secs, nanos.max(i64::from(secs == 0)));
        self.fd
            .get_ref()
            .0
            .set(
                Expiration::OneShot(spec),
                TimerSetTimeFlags::TFD_TIMER_ABSTIME | TimerSetTimeFlags::TFD_TIMER_CANCEL_ON_SET,
            )
            .map_err(to_io)?;
        loop {
            let mut guard = self.fd.readable().await?;
            let mut buf = [0u8; 8];
            match nix::unistd::read(guard.get_inner().0.as_fd(), &mut buf) {
                Ok(_) => return Ok(Wake::Deadline),
                Err(Errno::ECANCELED) => return Ok(Wake::ClockChanged),
                Err(Errno::EAGAIN) => guard.clear_ready(),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(to_io(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use chrono::TimeDelta;

    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn fires_at_an_absolute_wall_clock_deadline() {
        rt().block_on(async {
            let mut timer = WallTimer::new().unwrap();
            // A deadline on a whole wall-clock instant, not "in N ms": the timer is absolute.
            let deadline = Utc::now() + TimeDelta::milliseconds(300);
            let started = Instant::now();
            assert_eq!(timer.sleep_until(deadline).await.unwrap(), Wake::Deadline);
            let woke = Utc::now();
            assert!(woke >= deadline, "woke at {woke}, before {deadline}");
            assert!(
                woke - deadline < TimeDelta::milliseconds(100),
                "woke {} late",
                woke - deadline
            );
            assert!(started.elapsed().as_millis() >= 250);
            // Re-armable, and a deadline in the past fires at once.
            let t = Instant::now();
            let past = Utc::now() - TimeDelta::days(3);
            assert_eq!(timer.sleep_until(past).await.unwrap(), Wake::Deadline);
            assert!(t.elapsed().as_millis() < 50);
        });
    }

    #[test]
    fn does_not_fire_early() {
        rt().block_on(async {
            let mut timer = WallTimer::new().unwrap();
            let far = Utc::now() + TimeDelta::hours(1);
            let r = tokio::time::timeout(
                std::time::Duration::from_millis(200),
                timer.sleep_until(far),
            )
            .await;
            assert!(r.is_err(), "a deadline an hour ahead fired: {r:?}");
        });
    }
}
