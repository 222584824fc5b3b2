//! The bounded pool on which blocking verifiers (PAM, crypt) run, sized by `-n`.
//!
//! Tokio's own blocking pool is large (512 threads) and shared with file I/O; a semaphore in
//! front of it gives the `-n` bound its Cyrus meaning ("this many requests checked at once")
//! without a second thread pool. Waiting for a permit is async, so queued requests hold no thread.
//!
//! A thread cannot be cancelled: when the caller stops waiting (the chain's `--verify-timeout`),
//! the job runs on to its end and keeps its permit until then, so `-n` stays a true bound on
//! the threads in use, but the slot is not freed early either. What bounds a job is the job:
//! the hash cost model (`hash::MAX_MILLIS`) for hashes, the server timeouts of ldap, sql and
//! rimap, and for PAM only the modules themselves.

use std::sync::Arc;
use tokio::sync::Semaphore;

/// A bound on concurrent blocking work.
#[derive(Clone, Debug)]
pub struct BlockingPool {
    permits: Arc<Semaphore>,
}

/// Why a job given to the pool produced no result.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The pool was closed (daemon shutting down).
    #[error("blocking pool closed")]
    Closed,
    /// The job panicked; the panic message is not repeated (it might hold request data).
    #[error("blocking job panicked")]
    Panicked,
}

impl BlockingPool {
    /// A pool letting `size` jobs run at once (`0` is taken as 1).
    pub fn new(size: usize) -> Self {
        Self { permits: Arc::new(Semaphore::new(size.max(1))) }
    }

    /// Run `job` on a blocking thread once a permit is free.
    pub async fn run<F, R>(&self, job: F) -> Result<R, PoolError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let permit = self.permits.clone().acquire_owned().await.map_err(|_| PoolError::Closed)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job()
        })
        .await
        .map_err(|_| PoolError::Panicked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_runs_more_than_its_size() {
        let pool = BlockingPool::new(2);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut jobs = Vec::new();
        for _ in 0..8 {
            let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
            jobs.push(tokio::spawn(async move {
                pool.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        for job in jobs {
            assert!(job.await.is_ok_and(|r| r.is_ok()));
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_not_a_crash() {
        let pool = BlockingPool::new(1);
        let result: Result<(), _> = pool.run(|| panic!("boom")).await;
        assert!(matches!(result, Err(PoolError::Panicked)));
        assert!(pool.run(|| 7).await.is_ok_and(|v| v == 7));
    }
}
