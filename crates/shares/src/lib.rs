//! Capacity shared fairly between tenants. A pool has a total of slots (requests being
//! ingested, queries running, rule runs); one tenant may hold at most `per_tenant` of them,
//! which is less than the total, so however hard one tenant pushes, the others find slots.
//!
//! A caller takes its tenant's slot first and a slot of the total second: a tenant's waiters
//! queue behind each other on their own tenant's slots, never in front of other tenants on
//! the total, and the total is handed out first come, first served.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Beyond this many tenants known to a pool, the idle ones are forgotten (a new slot pool is
/// made for them when they come back).
const MAX_IDLE_TENANTS: usize = 1024;

pub struct Shares {
    total: Arc<Semaphore>,
    size: usize,
    per_tenant: usize,
    tenants: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// A slot held; dropping it gives it back.
#[derive(Debug)]
pub struct Share {
    _tenant: OwnedSemaphorePermit,
    _total: OwnedSemaphorePermit,
}

/// Why no slot was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The tenant holds its whole share.
    TenantShare,
    /// Every slot of the total is taken.
    Full,
}

impl Shares {
    /// `total` slots, at most `per_tenant` of them for one tenant (kept between 1 and
    /// `total`).
    pub fn new(total: usize, per_tenant: usize) -> Shares {
        let total = total.max(1);
        Shares {
            total: Arc::new(Semaphore::new(total)),
            size: total,
            per_tenant: per_tenant.clamp(1, total),
            tenants: Mutex::new(HashMap::new()),
        }
    }

    /// The share for `total` slots when none is configured: half, so that one tenant leaves
    /// the other half to everyone else.
    pub fn default_per_tenant(total: usize) -> usize {
        (total / 2).max(1)
    }

    pub fn per_tenant(&self) -> usize {
        self.per_tenant
    }

    /// A slot now, or why there is none.
    pub fn try_acquire(&self, tenant: &str) -> Result<Share, Refused> {
        let tenant = self.tenant(tenant).try_acquire_owned().map_err(|_| Refused::TenantShare)?;
        let total = self.total.clone().try_acquire_owned().map_err(|_| Refused::Full)?;
        Ok(Share { _tenant: tenant, _total: total })
    }

    /// A slot, waiting at most `wait` for one.
    pub async fn acquire(&self, tenant: &str, wait: Duration) -> Result<Share, Refused> {
        let semaphore = self.tenant(tenant);
        let taken = tokio::time::timeout(wait, async {
            // The semaphores are never closed, so acquiring fails only by timing out.
            let tenant = semaphore.acquire_owned().await.map_err(|_| Refused::TenantShare)?;
            let total = self.total.clone().acquire_owned().await.map_err(|_| Refused::Full)?;
            Ok(Share { _tenant: tenant, _total: total })
        })
        .await;
        taken.unwrap_or(Err(if self.held(tenant) >= self.per_tenant { Refused::TenantShare } else { Refused::Full }))
    }

    /// Slots `tenant` holds now.
    pub fn held(&self, tenant: &str) -> usize {
        let tenants = self.tenants.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        tenants.get(tenant).map_or(0, |semaphore| self.per_tenant - semaphore.available_permits())
    }

    /// Slots held by every tenant together.
    pub fn in_use(&self) -> usize {
        self.size - self.total.available_permits()
    }

    fn tenant(&self, tenant: &str) -> Arc<Semaphore> {
        let mut tenants = self.tenants.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(semaphore) = tenants.get(tenant) {
            return semaphore.clone();
        }
        if tenants.len() >= MAX_IDLE_TENANTS {
            // Only this map and no caller refers to an idle tenant's semaphore.
            tenants.retain(|_, semaphore| Arc::strong_count(semaphore) > 1);
        }
        let semaphore = Arc::new(Semaphore::new(self.per_tenant));
        tenants.insert(tenant.to_string(), semaphore.clone());
        semaphore
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_tenant_takes_at_most_its_share_and_the_rest_stays_for_others() {
        let shares = Shares::new(4, 2);
        let a1 = shares.try_acquire("a").expect("a's first");
        let _a2 = shares.try_acquire("a").expect("a's second");
        assert_eq!(shares.try_acquire("a").unwrap_err(), Refused::TenantShare);
        let _b1 = shares.try_acquire("b").expect("b's first");
        let _b2 = shares.try_acquire("b").expect("b's second");
        assert_eq!(shares.in_use(), 4);
        assert_eq!(shares.try_acquire("c").unwrap_err(), Refused::Full);
        drop(a1);
        assert_eq!(shares.held("a"), 1);
        shares.try_acquire("c").expect("a slot given back is anyone's");
    }

    #[test]
    fn a_share_is_at_least_one_slot_and_at_most_the_total() {
        assert_eq!(Shares::new(8, 0).per_tenant(), 1);
        assert_eq!(Shares::new(2, 10).per_tenant(), 2);
        assert_eq!(Shares::default_per_tenant(1), 1);
        assert_eq!(Shares::default_per_tenant(64), 32);
    }

    #[tokio::test]
    async fn a_waiting_tenant_is_served_when_a_slot_frees_and_one_that_waits_too_long_is_refused() {
        let shares = Arc::new(Shares::new(2, 1));
        let held = shares.try_acquire("a").expect("a");
        let waiting = {
            let shares = shares.clone();
            tokio::spawn(async move { shares.acquire("a", Duration::from_secs(10)).await })
        };
        // b is not behind a's waiter.
        let b = shares.acquire("b", Duration::from_millis(1)).await.expect("b gets the other slot");
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(held);
        let a_again = waiting.await.expect("joins").expect("a's waiter gets the freed slot");
        drop(b);
        let _b_again = shares.try_acquire("b").expect("b");
        assert_eq!(shares.acquire("b", Duration::from_millis(20)).await.unwrap_err(), Refused::TenantShare);
        drop(a_again);
        assert_eq!(shares.held("a"), 0);
    }
}
