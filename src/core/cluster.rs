// PLACEHOLDER: replaced by wt-allocate/wt-validate at merge
//! Placeholder re-export of the cluster-object conversions stand-in (see `pending.rs`).
pub use super::pending::{namespace_labels, services};
