//! The pure core: what the user's objects mean, which Service gets which address, and what
//! each node must announce to whom. No Kubernetes client, no FRR, no I/O.
//!
//! [`pipeline::compute`] is the one entry point every caller uses (`ferrule render`, the
//! speaker, the controller and its conditions): snapshot in, validated model, allocation
//! and per-node intent out.
pub mod allocate;
pub mod cluster;
pub mod community;
pub mod duration;
pub mod explain;
pub mod intent;
pub mod limits;
pub mod model;
pub mod pipeline;
pub mod snapshot;
pub mod validate;
