//! Shared helpers for integration tests. Use with `mod support;`.
#![allow(dead_code)]

pub mod apiserver;
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
