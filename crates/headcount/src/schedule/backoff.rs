//! Retry delays: exponential backoff with full jitter, honouring `Retry-After`.

use std::time::Duration;

use rand::Rng;

/// The backoff ceiling of the first retry; each further failure doubles it.
pub const BACKOFF_BASE: Duration = Duration::from_secs(60);
/// The backoff ceiling never grows beyond this.
pub const BACKOFF_CAP: Duration = Duration::from_secs(60 * 60);
/// Full jitter may draw zero; never retry sooner than this, so a failing receiver is not hammered.
pub const MIN_RETRY_DELAY: Duration = Duration::from_secs(1);

/// The delay before retry number `attempt` (1 for the first retry): uniform in
/// `[0, min(cap, base * 2^(attempt-1))]` ("full jitter"), at least [`MIN_RETRY_DELAY`], and at
/// least the receiver's `Retry-After`.
pub fn backoff_delay<R: Rng + ?Sized>(
    rng: &mut R,
    attempt: u32,
    retry_after: Option<Duration>,
) -> Duration {
    let doublings = attempt.saturating_sub(1).min(16);
    let ceiling = BACKOFF_BASE
        .saturating_mul(1u32 << doublings)
        .min(BACKOFF_CAP);
    let jittered = super::uniform(rng, ceiling).to_std().unwrap_or(ceiling);
    jittered
        .max(MIN_RETRY_DELAY)
        .max(retry_after.unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_honours_retry_after() {
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 1..40 {
            let ceiling = BACKOFF_BASE
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(BACKOFF_CAP);
            let max = (0..200)
                .map(|_| backoff_delay(&mut rng, attempt, None))
                .max()
                .unwrap();
            assert!(max <= ceiling, "attempt {attempt}: {max:?} > {ceiling:?}");
            // Full jitter spreads over the whole range: the largest of 200 draws is near the top.
            assert!(max >= ceiling * 8 / 10, "attempt {attempt}: {max:?}");
        }
        let d = backoff_delay(&mut rng, 1, Some(Duration::from_secs(600)));
        assert!(d >= Duration::from_secs(600));
        assert!(backoff_delay(&mut rng, 1, None) >= MIN_RETRY_DELAY);
    }
}
