//! The FRR adapter: a node's intent rendered into a full FRR config ([`render`]), brought
//! into the running daemons in O(change) ([`reload`]: parse, diff, apply and verify) over
//! the daemons' own CLI ([`cli`]), and FRR's BGP/BFD state read back ([`status`]).
pub mod cli;
pub mod reload;
pub mod render;
pub mod status;
