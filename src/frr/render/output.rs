//! What rendering hands the apply step.

use super::error::RenderError;

/// One node's FRR config, and what it could not carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rendered {
    /// The config text. It contains BGP passwords (`neighbor X password ...`, nowhere
    /// else): it is a secret; write it with mode 0600 and never log it.
    pub text: String,
    /// Lines FRR runs that the apply step keeps as they are, because the value they should
    /// have is not to be had (a password whose Secret is gone).
    pub keep: Vec<Keep>,
    /// Objects (or parts of them) FRR would not take, left out so the rest applies.
    pub left_out: Vec<LeftOut>,
    /// MetalLB's `bgpextras` text, appended at the end of `text`: the apply step tells its
    /// lines apart and reports the ones FRR refuses instead of failing the config.
    pub extras: Option<String>,
}

/// A running line to keep: the context it is in (opener lines, outermost first) and its
/// slot (see `reload::config`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Keep {
    pub context: Vec<String>,
    pub slot: String,
    /// The line to have instead when FRR runs none to keep (for a password: the session
    /// shut down, never run without the password it was meant to have).
    pub instead: Option<String>,
}

/// What one object lost in rendering.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LeftOut {
    /// `BGPPeer tor2`, `BFDProfile slow`.
    pub object: String,
    /// What of it is left out: `its BGP session`, `the profile`, ...
    pub what: String,
    /// Why (never a password).
    pub error: String,
}

impl std::fmt::Display for LeftOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} left out: {}", self.object, self.what, self.error)
    }
}

/// What rendering had to leave out or hold on to, per object: the rest of the node's config
/// renders and applies whatever one object holds.
#[derive(Default)]
pub(super) struct Notes {
    pub(super) left_out: Vec<LeftOut>,
    pub(super) keep: Vec<Keep>,
    /// The first refusal, for the strict [`super::render`].
    pub(super) error: Option<RenderError>,
}

impl Notes {
    pub(super) fn first_error(&mut self, e: RenderError) {
        self.error.get_or_insert(e);
    }
}
