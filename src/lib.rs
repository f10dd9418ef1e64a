//! ferrule: MetalLB's BGP API, answered by FRR, fast and observable.
//!
//! The layers, each a folder (see ARCHITECTURE.md): `api` (CRD types), `core` (the pure
//! computation), `input` (manifest directories), `kube` (watch glue), `frr` (render,
//! reload, CLI, status), `speaker` and `controller` (the two programs). Only `api` is a
//! public module; everything else is re-exported here, so users write `ferrule::X`.

pub mod api;
mod controller;
mod core;
mod frr;
mod input;
mod kube;
pub mod lab;
mod speaker;

// The pure core.
pub use crate::core::allocate::{allocate, pool_usage, Allocation, AllocationError, PoolUsage};
pub use crate::core::intent::{
    all_node_intents, node_intent, Announcement, ClusterView, Neighbor, NodeIntent, Router,
    Withheld, WithholdReason,
};
pub use crate::core::pipeline::{compute, Addresses, Computed, Options};
pub use crate::core::snapshot::FirstSeen;
pub use crate::core::snapshot::{Snapshot, ValidationError};
pub use crate::core::validate::{names, validate, Validated};
pub use crate::core::{cluster, community, duration, explain, limits, model};

// Manifest directories.
pub use crate::input::ledger::{Ledger, LedgerError};
pub use crate::input::{dir as manifest_dir, manifests, trim};

// FRR.
pub use crate::frr::cli::{
    BatchOutput, Cli, CliError, Transport, VtySockets, VtyshProcess, DEFAULT_COMMAND_TIMEOUT,
};
pub use crate::frr::reload::apply::{ApplyResult, Driver, Outcome};
pub use crate::frr::reload::{config as frr_config, diff as frr_diff};
pub use crate::frr::render::{
    render, render_node, sha256_hex, Keep, LeftOut, RenderError, Rendered, ROUTE_MAP_DELAY_TIMER,
};
pub use crate::frr::status as frr_status;
pub use crate::frr::status::{FrrStatus, StatusError};

// Kubernetes glue.
pub use crate::kube::events::ServiceEvent;
pub use crate::kube::reflect::{Backoff, Changes, WatchError, Watches};
pub use crate::kube::stores::Stores;

// The speaker.
pub use crate::speaker::engine::{self as engine, Applied, Engine, EngineConfig, Frr};
pub use crate::speaker::frr_adapter::FrrDriver;
pub use crate::speaker::metrics::Metrics;
pub use crate::speaker::sink::{FileSink, KubeSink, SinkError, StatusSink};
pub use crate::speaker::sources::{watch_cluster, watch_dir, SnapshotRx, SnapshotTx};
pub use crate::speaker::state::{FrrState, SessionState};
pub use crate::speaker::status::{
    announcements, build as build_status, label_value, ApplyInfo, Findings, StatusObjects,
};
pub use crate::speaker::table::render as status_table;
pub use crate::speaker::{run as run_speaker, FrrTransport, SpeakerArgs, SpeakerError};

// The controller.
pub use crate::controller::leader::{elect, Leadership, LeaseConfig};
pub use crate::controller::{
    fetch, reconcile_once, run as run_controller, ControllerError, ControllerOptions, Memory,
    Outcome as AllocationOutcome, ReconcileReport, POOL_ANNOTATION,
};
