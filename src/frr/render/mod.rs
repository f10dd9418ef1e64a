//! One node's [`NodeIntent`] as a complete FRR 8.4 config (`frr.conf`).
//!
//! Rust builds a flat view model (every string formatted and checked here); the askama
//! templates in `templates/frr/` only lay it out, one file per stanza. Inside each stanza the
//! lines follow what FRR 8.4 prints in `show running-config` (line order, values equal to FRR's
//! defaults left out, well-known communities by name), so a loaded config reads back line for
//! line as rendered. Only the stanza order differs: route-maps come first (see below).
//!
//! Shape:
//! - `bgp route-map delay-timer 1` (see [`ROUTE_MAP_DELAY_TIMER`]).
//! - Route-maps, before the `router bgp` stanzas that use them.
//! - Per router: `router bgp ASN [vrf V]`, session lines per neighbor, then one address-family
//!   block per family in use: a `network` per prefix this node announces to some neighbor of
//!   the router, and per neighbor `activate` + an inbound route-map that denies everything + an
//!   outbound route-map.
//! - `bfd` block with the profiles in use.
//!
//! # Outbound policy: announcement classes and route tags
//! A prefix's *announcement class* is the set of (neighbor, attributes) it goes out with, e.g.
//! `{tor1: 65000:100 lp 100, tor2: 65000:100 lp 100}`. Each class gets a route tag derived
//! from a hash of its content, and a route-map `ferrule-tag-T` that only does `set tag T`. Every
//! prefix is `network P route-map ferrule-tag-T`; each neighbor's out route-map has one entry per
//! class it belongs to (`match tag T`, then the class's communities / local preference for that
//! neighbor) and a final `deny 65535`, which drops everything else, such as a `network` meant for
//! another neighbor.
//!
//! Why not a prefix-list per attribute set: FRR 8.4 commits every prefix-list entry through
//! its northbound layer, which costs time proportional to the list's size: loading 2,000
//! entries took 48 s, and 20,000 (10,000 prefixes, 2 peers) did not finish in 20 minutes.
//! `network` lines are cheap (10,000 with route-maps: 2 s). So the config grows with prefixes
//! only in `network` lines, and with classes everywhere else.
//!
//! Changes stay small and take effect at once, without `clear bgp`: a tagging route-map's
//! content is fixed by its name, and so is each out entry's; a new Service is one `network`
//! line, a Service changing class is one `network` line re-issued with the other route-map
//! (FRR re-originates it at once), and a class appears or goes with its route-map entries.

mod error;
pub mod names;
mod output;
mod session;
mod view;

use crate::core::intent::NodeIntent;

pub use error::RenderError;
pub use names::sha256_hex;
pub use output::{Keep, LeftOut, Rendered};
pub use view::ROUTE_MAP_DELAY_TIMER;

/// Renders one node's config. Whatever FRR would refuse costs only its own object: a peer
/// that cannot render loses its session, a BFD profile that cannot leaves its peers on
/// FRR's default timers, and everything else renders (see `Rendered::left_out`). Errors only
/// when the templates themselves fail.
pub fn render_node(intent: &NodeIntent, extras: Option<&str>) -> Result<Rendered, RenderError> {
    let mut notes = output::Notes::default();
    let mut text = view::View::build(intent, &mut notes)?.render()?;
    // askama drops the template file's final newline.
    text.push('\n');
    let extras = extras.map(str::to_owned);
    if let Some(x) = &extras {
        text.push_str("! bgpextras\n");
        text.push_str(x);
        if !x.ends_with('\n') {
            text.push('\n');
        }
    }
    Ok(Rendered {
        text,
        keep: notes.keep,
        left_out: notes.left_out,
        extras,
    })
}

/// Renders one node's config, strictly: anything that would be left out is an error (for
/// `ferrule render` checks and tests).
pub fn render(intent: &NodeIntent) -> Result<String, RenderError> {
    let mut notes = output::Notes::default();
    let view = view::View::build(intent, &mut notes)?;
    if let Some(e) = notes.error {
        return Err(e);
    }
    let mut out = view.render()?;
    out.push('\n');
    Ok(out)
}
