//! Where objects come from without a Kubernetes API: directories of manifests, read as
//! `kubectl apply -f` would, and what a speaker keeps of the objects it reads in bulk.
pub mod bounded_yaml;
pub mod dir;
pub mod ledger;
pub mod manifests;
pub mod trim;
