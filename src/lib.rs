//! ferrule: MetalLB's BGP API, answered by FRR, fast and observable.
pub mod api;
pub mod core;
pub mod frr;
