//! Limits on what anyone can make the server do before it knows who they are: token requests
//! per source address and per client, and the Argon2 secret checks running at once (each holds
//! tens of MiB and a core for tens of milliseconds).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

/// At most this many keys are tracked; past it, keys whose buckets are full again are forgotten
/// (they carry no state), and if none is, the oldest bucket goes.
const MAX_KEYS: usize = 10_000;

/// Token buckets per key: `per_minute` requests a minute, in bursts of up to as many.
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter { per_minute: per_minute.max(1), buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one request from `key`'s bucket, or says how long until one is free.
    pub fn take(&self, key: &str) -> Result<(), Duration> {
        self.take_at(key, Instant::now())
    }

    fn take_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let refilled = |bucket: &Bucket| {
            (bucket.tokens + now.saturating_duration_since(bucket.updated).as_secs_f64() * per_second).min(capacity)
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            buckets.retain(|_, bucket| refilled(bucket) < capacity);
            if buckets.len() >= MAX_KEYS
                && let Some(oldest) = buckets.iter().min_by_key(|(_, b)| b.updated).map(|(k, _)| k.clone())
            {
                buckets.remove(&oldest);
            }
        }
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket { tokens: capacity, updated: now });
        bucket.tokens = refilled(bucket);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second).max(Duration::from_secs(1)))
        }
    }
}

/// Secret checks at once (one per core), and how many requests may wait for one.
pub struct SecretChecks {
    running: Semaphore,
    waiting: AtomicUsize,
    max_waiting: usize,
}

/// How long a request waits for a secret check before it is told to retry.
const SECRET_CHECK_WAIT: Duration = Duration::from_secs(5);

impl SecretChecks {
    pub fn new(at_once: usize, max_waiting: usize) -> SecretChecks {
        SecretChecks { running: Semaphore::new(at_once.max(1)), waiting: AtomicUsize::new(0), max_waiting }
    }

    /// A permit to run one check, or `None` when too many are queued or the wait is too long.
    pub async fn acquire(&self) -> Option<SemaphorePermit<'_>> {
        if let Ok(permit) = self.running.try_acquire() {
            return Some(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let permit = tokio::time::timeout(SECRET_CHECK_WAIT, self.running.acquire()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        permit.ok().and_then(Result::ok)
    }
}

/// The token endpoint's limits.
pub struct TokenLimits {
    pub by_source: RateLimiter,
    pub by_client: RateLimiter,
    pub secret_checks: SecretChecks,
}

impl TokenLimits {
    pub fn new(config: &crate::config::ServerConfig) -> TokenLimits {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        TokenLimits {
            by_source: RateLimiter::new(config.token_requests_per_minute_per_source),
            by_client: RateLimiter::new(config.token_requests_per_minute_per_client),
            secret_checks: SecretChecks::new(cores, 16 * cores),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let limiter = RateLimiter::new(6);
        let start = Instant::now();
        for _ in 0..6 {
            assert!(limiter.take_at("client", start).is_ok());
        }
        let wait = limiter.take_at("client", start).unwrap_err();
        assert!(wait >= Duration::from_secs(9) && wait <= Duration::from_secs(11), "{wait:?}");
        assert!(limiter.take_at("other", start).is_ok(), "keys have their own buckets");
        assert!(limiter.take_at("client", start + Duration::from_secs(10)).is_ok(), "one refilled after 10 s");
        assert!(limiter.take_at("client", start + Duration::from_secs(10)).is_err());
    }

    #[test]
    fn the_number_of_tracked_keys_is_bounded() {
        let limiter = RateLimiter::new(1);
        let start = Instant::now();
        for n in 0..MAX_KEYS + 50 {
            assert!(limiter.take_at(&n.to_string(), start).is_ok());
        }
        assert!(limiter.buckets.lock().unwrap().len() <= MAX_KEYS);
    }

    #[tokio::test]
    async fn secret_checks_queue_up_to_their_bound() {
        let checks = SecretChecks::new(1, 0);
        let held = checks.acquire().await.expect("a free permit");
        assert!(checks.acquire().await.is_none(), "no room to wait");
        drop(held);
        assert!(checks.acquire().await.is_some());
    }
}
