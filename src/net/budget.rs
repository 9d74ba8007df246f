//! The memory budget for incomplete messages, shared by every connection
//! of every listener.
//!
//! A connection holds the bytes of a message until its end arrives: a
//! syslog frame up to `max_message_size`, an HTTP body up to `max_body`.
//! Each limit bounds one connection; the budget bounds them together. Every
//! connection may hold [`FREE`] bytes without asking, so small messages
//! never wait; beyond that it takes a [`Lease`] on the budget before it
//! reads (or buffers) more, and waits while the budget is spent. Memory for
//! incomplete messages is therefore at most `connections × FREE + budget`,
//! whatever clients send: 200 connections each holding half of a 4 MiB
//! frame cost the budget, not 800 MB.
//!
//! A connection waiting for the budget reads nothing (TCP flow control
//! holds its sender back) and counts as making no progress, so the slot
//! rules ([`super::slots`]) evict or time it out; what it held goes back
//! to the budget when its lease is dropped.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes each connection may hold without a lease.
pub const FREE: usize = 64 * 1024;

/// The budget: bytes of incomplete messages held beyond each connection's
/// free share.
#[derive(Debug, Clone)]
pub struct Budget {
    sem: Arc<Semaphore>,
}

/// One connection's share of the budget. Dropping it gives the bytes back.
#[derive(Debug)]
pub struct Lease {
    budget: Budget,
    /// The leased bytes (beyond [`FREE`]); `None` while none.
    permit: Option<OwnedSemaphorePermit>,
}

impl Budget {
    /// A budget of `bytes` (capped at what a semaphore can count).
    pub fn new(bytes: usize) -> Budget {
        Budget {
            sem: Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS))),
        }
    }

    /// A lease holding nothing yet.
    pub fn lease(&self) -> Lease {
        Lease {
            budget: self.clone(),
            permit: None,
        }
    }

    /// Bytes not leased now.
    pub fn available(&self) -> usize {
        self.sem.available_permits()
    }
}

impl Lease {
    /// Bytes leased now (beyond the free share).
    pub fn leased(&self) -> usize {
        self.permit.as_ref().map_or(0, |p| p.num_permits())
    }

    fn want(total: usize) -> usize {
        total.saturating_sub(FREE)
    }

    /// Makes the lease cover `total` bytes held (the free share included),
    /// if the budget has them now; shrinks it when `total` is less than
    /// what it covers. Returns whether `total` is covered.
    pub fn try_cover(&mut self, total: usize) -> bool {
        let want = Self::want(total);
        let have = self.leased();
        if want <= have {
            self.shrink(want);
            return true;
        }
        let Ok(more) = u32::try_from(want - have) else {
            return false;
        };
        match Arc::clone(&self.budget.sem).try_acquire_many_owned(more) {
            Ok(p) => {
                self.merge(p);
                true
            }
            Err(_) => false,
        }
    }

    /// [`try_cover`](Self::try_cover), waiting until the budget has the
    /// bytes. Cancel safe: a cancelled wait takes nothing.
    pub async fn cover(&mut self, total: usize) {
        let want = Self::want(total);
        let have = self.leased();
        if want <= have {
            self.shrink(want);
            return;
        }
        // More than a semaphore can grant at once is never granted: wait
        // for ever (the slot rules end the connection).
        let Ok(more) = u32::try_from(want - have) else {
            return std::future::pending().await;
        };
        match Arc::clone(&self.budget.sem).acquire_many_owned(more).await {
            Ok(p) => self.merge(p),
            Err(_) => std::future::pending().await,
        }
    }

    fn merge(&mut self, p: OwnedSemaphorePermit) {
        match &mut self.permit {
            Some(held) => held.merge(p),
            None => self.permit = Some(p),
        }
    }

    fn shrink(&mut self, want: usize) {
        if let Some(p) = &mut self.permit {
            let extra = p.num_permits() - want;
            if extra > 0 {
                drop(p.split(extra));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn leases_share_the_budget_beyond_the_free_share() {
        let b = Budget::new(100_000);
        let mut a = b.lease();
        let mut c = b.lease();
        assert!(a.try_cover(FREE), "the free share needs no lease");
        assert_eq!(a.leased(), 0);
        assert!(a.try_cover(FREE + 80_000));
        assert_eq!(b.available(), 20_000);
        assert!(!c.try_cover(FREE + 30_000), "only 20,000 left");
        assert_eq!(c.leased(), 0, "a refused cover takes nothing");
        assert!(c.try_cover(FREE + 20_000));
        // Shrinking gives bytes back; a waiter then gets them.
        let wait = tokio::spawn(async move {
            c.cover(FREE + 50_000).await;
            c.leased()
        });
        tokio::task::yield_now().await;
        assert!(a.try_cover(FREE + 10_000));
        assert_eq!(wait.await.unwrap(), 50_000);
        assert_eq!(b.available(), 90_000, "the waiter's lease went with it");
        drop(a);
        assert_eq!(b.available(), 100_000);
    }
}
