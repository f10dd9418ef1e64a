//! FRR: the config a node's intent becomes, and (elsewhere) how it is applied and read back.
pub mod names;
pub mod render;
