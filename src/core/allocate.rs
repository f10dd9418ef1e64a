// PLACEHOLDER: replaced by wt-allocate/wt-validate at merge
//! Placeholder re-export of the allocator stand-in (see `pending.rs`).
pub use super::pending::{allocate, pool_usage, Allocation, AllocationError, PoolUsage};
