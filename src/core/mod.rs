//! The pure core: validation, allocation and per-node intent. No Kubernetes client, no FRR.
pub mod allocate;
pub mod intent;
pub mod model;
pub mod validate;
