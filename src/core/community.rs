//! BGP community values as MetalLB writes them: `AA:NN` (RFC 1997), `large:A:B:C`
//! (RFC 8092), and the RFC 1997 / RFC 3765 well-known names.

use std::str::FromStr;

use thiserror::Error;

use super::model::Community;

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CommunityError {
    #[error("invalid community {0:?}: expected AA:NN (each 0-65535), large:A:B:C (each 0-4294967295) or one of no-export, no-advertise, local-AS, no-peer")]
    Format(String),
    #[error("invalid community {input:?}: {part:?} is not a number in 0-{max}")]
    Value {
        input: String,
        part: String,
        max: u32,
    },
}

/// The well-known communities FRR also knows by name.
pub const WELL_KNOWN: [(&str, Community); 4] = [
    ("no-export", Community::Standard(65535, 65281)),
    ("no-advertise", Community::Standard(65535, 65282)),
    ("local-AS", Community::Standard(65535, 65283)),
    ("no-peer", Community::Standard(65535, 65284)),
];

/// Decimal digits only: no sign, no spaces (Rust's `parse` would accept a leading `+`).
fn number<T: FromStr>(input: &str, part: &str, max: u32) -> Result<T, CommunityError> {
    let bad = || CommunityError::Value {
        input: input.into(),
        part: part.into(),
        max,
    };
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    part.parse().map_err(|_| bad())
}

impl FromStr for Community {
    type Err = CommunityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some((_, c)) = WELL_KNOWN
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
        {
            return Ok(*c);
        }
        if let Some(rest) = s.strip_prefix("large:") {
            let parts: Vec<&str> = rest.split(':').collect();
            let [a, b, c] = parts[..] else {
                return Err(CommunityError::Format(s.into()));
            };
            return Ok(Community::Large(
                number(s, a, u32::MAX)?,
                number(s, b, u32::MAX)?,
                number(s, c, u32::MAX)?,
            ));
        }
        // Like MetalLB, three parts without the `large:` prefix are not a large community.
        let parts: Vec<&str> = s.split(':').collect();
        let [a, b] = parts[..] else {
            return Err(CommunityError::Format(s.into()));
        };
        let max = u16::MAX.into();
        Ok(Community::Standard(number(s, a, max)?, number(s, b, max)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_values() {
        let cases: &[(&str, Community)] = &[
            ("65000:100", Community::Standard(65000, 100)),
            ("0:0", Community::Standard(0, 0)),
            ("65535:65535", Community::Standard(65535, 65535)),
            ("large:1:2:3", Community::Large(1, 2, 3)),
            (
                "large:4294967295:0:4294967295",
                Community::Large(u32::MAX, 0, u32::MAX),
            ),
            ("no-export", Community::Standard(65535, 65281)),
            ("no-advertise", Community::Standard(65535, 65282)),
            ("local-AS", Community::Standard(65535, 65283)),
            ("local-as", Community::Standard(65535, 65283)),
            ("no-peer", Community::Standard(65535, 65284)),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse::<Community>().as_ref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn rejects_invalid_values() {
        let cases: &[(&str, &str)] = &[
            ("", "expected AA:NN"),
            ("65000", "expected AA:NN"),
            ("1:2:3", "expected AA:NN"),
            ("large:1:2", "expected AA:NN"),
            ("large:1:2:3:4", "expected AA:NN"),
            ("65536:1", "\"65536\" is not a number in 0-65535"),
            ("1:-1", "\"-1\" is not a number"),
            ("+1:1", "\"+1\" is not a number"),
            (" 1:1", "\" 1\" is not a number"),
            ("large:4294967296:0:0", "0-4294967295"),
            ("large::1:2", "\"\" is not a number"),
            ("no-export-please", "expected AA:NN"),
        ];
        for (input, want) in cases {
            let err = input.parse::<Community>().expect_err(input).to_string();
            assert!(err.contains(want), "{input}: {err}");
        }
    }

    #[test]
    fn display_round_trips_numeric_forms() {
        for c in [Community::Standard(65000, 100), Community::Large(1, 2, 3)] {
            let text = match c {
                Community::Large(..) => format!("large:{c}"),
                Community::Standard(..) => c.to_string(),
            };
            assert_eq!(text.parse::<Community>(), Ok(c));
        }
    }
}
