//! BFDProfile: MetalLB's ranges for every interval and counter.

use super::report::{Checked, Report};
use crate::api;
use crate::core::limits;
use crate::core::model::BfdProfile;

pub(super) fn bfd_profile(p: &api::BFDProfile) -> Checked<BfdProfile> {
    let mut r = Report::new(&p.metadata, "BFDProfile");
    let name = p.metadata.name.as_deref().unwrap_or_default();
    if let Err(why) = limits::bfd_profile_name(name) {
        if !r.has_errors() {
            r.err("metadata.name", format!("{name:?} {why}"));
        }
    }
    let s = &p.spec;
    let mut range = |field: &str, v: Option<u32>, min: u32, max: u32| {
        if let Some(v) = v {
            if !(min..=max).contains(&v) {
                r.err(
                    format!("spec.{field}"),
                    format!("{v} is out of range {min}-{max}"),
                );
            }
        }
        v
    };
    let profile = BfdProfile {
        name: p.metadata.name.clone().unwrap_or_default(),
        receive_interval: range("receiveInterval", s.receive_interval, 10, 60000),
        transmit_interval: range("transmitInterval", s.transmit_interval, 10, 60000),
        detect_multiplier: range("detectMultiplier", s.detect_multiplier, 2, 255),
        echo_interval: range("echoInterval", s.echo_interval, 10, 60000),
        echo_mode: s.echo_mode.unwrap_or(false),
        passive_mode: s.passive_mode.unwrap_or(false),
        minimum_ttl: range("minimumTtl", s.minimum_ttl, 1, 254),
    };
    r.finish(profile)
}

#[cfg(test)]
mod tests;
