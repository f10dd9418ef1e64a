//! What tests, benches and e2e share: the in-process API server stand-in and its RBAC
//! check, one scripted FRR, fixtures, FRR's config validator, what a rendered config sends
//! (`policy`), and polling with a deadline.
//! Tests use it with `mod support;`; benches and e2e with
//! `#[path = "../tests/support/mod.rs"] mod support;`.
#![allow(dead_code)]

pub mod apiserver;
pub mod fake_frr;
pub mod fixtures;
pub mod frr;
pub mod policy;
pub mod rbac;

use std::future::Future;
use std::time::Duration;

/// Poll `check` until it returns `Some`, or panic naming `what` after `deadline`.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > end {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
