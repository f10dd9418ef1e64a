//! Hot reload in O(change): FRR config text parsed into a normalized tree ([`config`]),
//! desired vs running turned into an ordered command batch ([`diff`]), sent in one call and
//! verified by reading back ([`apply`]).
pub mod apply;
pub mod config;
pub mod diff;
