//! Stage throttling, as API Gateway applies it (developer guide, "Throttle requests to your REST
//! APIs"): a token bucket per method of a stage, holding at most `burstLimit` tokens and refilled
//! at `rateLimit` a second; a request takes a token, or is refused with 429. Settings changed on
//! the stage apply at once, without a deployment.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug)]
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

/// Every stage method's bucket.
#[derive(Debug, Default)]
pub(super) struct Buckets {
    by_key: Mutex<HashMap<String, Bucket>>,
}

impl Buckets {
    /// Takes a token from the bucket of `key` (its stage and method), configured with `rate`
    /// and `burst`; `false` when there is none left.
    pub(super) fn take(&self, key: &str, rate: f64, burst: f64) -> bool {
        let Ok(mut buckets) = self.by_key.lock() else {
            return true;
        };
        let now = Instant::now();
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            rate,
            burst,
            tokens: burst,
            last: now,
        });
        if bucket.rate != rate || bucket.burst != burst {
            *bucket = Bucket {
                rate,
                burst,
                tokens: burst,
                last: now,
            };
        }
        let refill = now.duration_since(bucket.last).as_secs_f64() * bucket.rate;
        bucket.tokens = (bucket.tokens + refill).min(bucket.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_refills() {
        let b = Buckets::default();
        let passed = (0..10).filter(|_| b.take("s", 1.0, 4.0)).count();
        assert_eq!(passed, 4, "the burst, then nothing");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert!(b.take("s", 1.0, 4.0), "a second refills one token");
        assert!(!b.take("s", 1.0, 4.0));
        assert!(b.take("other", 1.0, 4.0), "each method has its own bucket");
    }

    #[test]
    fn new_settings_start_a_full_bucket() {
        let b = Buckets::default();
        assert!(b.take("s", 1.0, 1.0));
        assert!(!b.take("s", 1.0, 1.0));
        assert!(b.take("s", 1.0, 2.0));
    }
}
