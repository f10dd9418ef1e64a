//! ferrule: MetalLB's BGP API, answered by FRR, fast and observable.
pub mod api;
pub mod controller;
pub mod core;
pub mod explain;
pub mod frr;
pub mod manifests;
pub mod pipeline;
pub mod speaker;
pub mod trim;
