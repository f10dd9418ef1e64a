//! FRR driver: hot reload through vtysh in O(change), and status read back from FRR.
//!
//! `config` parses FRR config text into a normalized tree, `diff` turns desired vs running
//! trees into an ordered command batch, `apply` sends it in one vtysh call and verifies,
//! `status` parses FRR's BGP/BFD JSON, `vtysh` runs the commands (through a vtysh process,
//! or straight over the daemons' sockets with `vty`).
pub mod apply;
pub mod config;
pub mod diff;
pub mod names;
pub mod render;
pub mod status;
pub mod vty;
pub mod vtysh;
