//! The Kubernetes glue, written once for the speaker and the controller: watches and their
//! stores ([`reflect`]), stores turned into the core's snapshot ([`stores`]), `metallb.io`
//! objects read untyped and typed one at a time ([`untyped`]), and Events ([`events`]).
pub mod events;
pub mod reflect;
pub mod stores;
pub mod untyped;
