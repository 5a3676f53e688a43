//! One global token bucket for all clients: per-client limits would need client addresses, and
//! this receiver never keeps them.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::RateLimit;

/// The global limiter; `None` inside means unlimited.
#[derive(Debug)]
pub struct Limiter(Option<Mutex<Bucket>>);

#[derive(Debug)]
struct Bucket {
    per_second: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Limiter {
    /// A limiter for `limit`, full at start; unlimited when `None`.
    pub fn new(limit: Option<RateLimit>, now: Instant) -> Limiter {
        Limiter(limit.map(|l| {
            Mutex::new(Bucket {
                per_second: f64::from(l.per_second),
                burst: f64::from(l.burst),
                tokens: f64::from(l.burst),
                last: now,
            })
        }))
    }

    /// Takes one token, or says how long until one is available.
    pub fn take(&self, now: Instant) -> Result<(), Duration> {
        let Some(bucket) = &self.0 else {
            return Ok(());
        };
        // A poisoned lock only means another request panicked mid-update; the numbers are fine.
        let mut b = bucket.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * b.per_second).min(b.burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / b.per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills_at_the_rate() {
        let t0 = Instant::now();
        let l = Limiter::new(
            Some(RateLimit {
                per_second: 2,
                burst: 3,
            }),
            t0,
        );
        for _ in 0..3 {
            assert!(l.take(t0).is_ok());
        }
        let wait = l.take(t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(l.take(t0 + Duration::from_millis(499)).is_err());
        assert!(l.take(t0 + Duration::from_millis(1000)).is_ok());
        assert!(Limiter::new(None, t0).take(t0).is_ok());
    }
}
