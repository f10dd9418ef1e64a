//! Why a config could not be rendered.

/// Why a config could not be rendered. Messages name the object and field; they never contain
/// a password.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{origin}: {reason}: {value:?}")]
    UnsafeName {
        origin: String,
        value: String,
        reason: &'static str,
    },
    #[error("{origin}: {value} is out of range ({range})")]
    OutOfRange {
        origin: String,
        value: u64,
        range: &'static str,
    },
    #[error(
        "{origin}: the password must be 1 to 80 printable ASCII characters without spaces (TCP MD5 key)"
    )]
    InvalidPassword { origin: String },
    #[error("{origin}: BFD profile {profile:?} is not among the node's BFD profiles")]
    UnknownBfdProfile { origin: String, profile: String },
    #[error("{origin}: {message}")]
    Unsupported { origin: String, message: String },
    #[error("two BGP routers for the {vrf} VRF")]
    DuplicateRouter { vrf: String },
    #[error("{origin}: neighbor {neighbor} is configured twice in one router")]
    DuplicateNeighbor { origin: String, neighbor: String },
    #[error("derived name {name} would be used twice; rename a VRF or interface")]
    NameCollision { name: String },
    #[error("template: {0}")]
    Template(#[from] askama::Error),
}
