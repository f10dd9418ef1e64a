//! The pure core: validation, allocation and per-node intent. No Kubernetes client, no FRR.
pub mod allocate;
pub mod cluster;
pub mod community;
pub mod duration;
pub mod intent;
pub mod model;
pub mod validate;
