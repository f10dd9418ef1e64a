//! Go durations (`90s`, `1m30s`, `500ms`, `1.5h`), as MetalLB's timer fields are written.
//! Kubernetes parses these with Go's `time.ParseDuration`; this follows it, except that
//! negative durations are rejected (no timer can be negative).

use std::time::Duration;

use thiserror::Error;

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("negative durations are not allowed")]
    Negative,
    #[error("invalid duration {0:?}: expected a number followed by a unit (ns, us, ms, s, m, h), e.g. \"90s\" or \"1m30s\"")]
    Syntax(String),
    #[error("invalid duration {input:?}: missing unit after {number:?} (ns, us, ms, s, m, h)")]
    MissingUnit { input: String, number: String },
    #[error("invalid duration {input:?}: unknown unit {unit:?} (ns, us, ms, s, m, h)")]
    UnknownUnit { input: String, unit: String },
    #[error("invalid duration {0:?}: too long")]
    Overflow(String),
}

const NANOS_PER: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000), // U+00B5 micro sign, as Go accepts
    ("μs", 1_000), // U+03BC Greek mu, as Go accepts
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60 * 1_000_000_000),
    ("h", 3600 * 1_000_000_000),
];

/// Go's limit: durations are an int64 of nanoseconds.
const MAX_NANOS: u128 = i64::MAX as u128;

/// Parses a Go duration string into a (non-negative) `Duration`.
pub fn parse(input: &str) -> Result<Duration, DurationError> {
    let mut s = input;
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    // Go accepts "-0" too; a sign on a timer is still a mistake worth naming.
    if s.starts_with('-') {
        return Err(DurationError::Negative);
    }
    if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    // Go special-cases a bare "0" (no unit needed).
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(DurationError::Syntax(input.into()));
    }
    let syntax = || DurationError::Syntax(input.into());
    let mut total: u128 = 0;
    while !s.is_empty() {
        // Number: digits, optionally '.', digits; at least one digit overall.
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, rest) = s.split_at(int_len);
        let (frac_part, rest) = match rest.strip_prefix('.') {
            Some(r) => {
                let n = r.bytes().take_while(u8::is_ascii_digit).count();
                r.split_at(n)
            }
            None => ("", rest),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(syntax());
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let (unit, rest) = rest.split_at(unit_len);
        if unit.is_empty() {
            return Err(DurationError::MissingUnit {
                input: input.into(),
                number: s[..s.len() - rest.len()].into(),
            });
        }
        let per = NANOS_PER
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, n)| *n)
            .ok_or_else(|| DurationError::UnknownUnit {
                input: input.into(),
                unit: unit.into(),
            })?;
        let overflow = || DurationError::Overflow(input.into());
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| overflow())?
        };
        let mut nanos = int.checked_mul(per).ok_or_else(overflow)?;
        // The fraction adds frac * per / 10^digits nanoseconds, truncated like Go. Digits
        // past the 20th are worth less than 1 ns for every unit, so they are dropped (which
        // also keeps frac * per inside u128).
        let frac_digits = &frac_part[..frac_part.len().min(20)];
        if !frac_digits.is_empty() {
            let frac: u128 = frac_digits.parse().map_err(|_| syntax())?;
            nanos += frac * per / 10u128.pow(frac_digits.len() as u32);
        }
        total = total.checked_add(nanos).ok_or_else(overflow)?;
        if total > MAX_NANOS {
            return Err(overflow());
        }
        s = rest;
    }
    Ok(Duration::from_nanos(total as u64))
}

/// A duration given on the command line: a Go duration (`250ms`, `15s`, `1m30s`), or a
/// bare number of seconds (`15`).
pub fn parse_flag(input: &str) -> Result<Duration, DurationError> {
    let s = input.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let secs: u64 = s
            .parse()
            .map_err(|_| DurationError::Overflow(input.into()))?;
        return Ok(Duration::from_secs(secs));
    }
    parse(s)
}

/// The duration in whole seconds, or `None` if it has a fractional part.
pub fn whole_seconds(d: Duration) -> Option<u64> {
    (d.subsec_nanos() == 0).then_some(d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        let ms = Duration::from_millis;
        let cases: &[(&str, Duration)] = &[
            ("0", Duration::ZERO),
            ("+0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("90s", Duration::from_secs(90)),
            ("1m30s", Duration::from_secs(90)),
            ("1h", Duration::from_secs(3600)),
            ("1h2m3s", Duration::from_secs(3723)),
            ("500ms", ms(500)),
            ("1.5s", ms(1500)),
            (".5s", ms(500)),
            ("1.s", Duration::from_secs(1)),
            ("1.5h", Duration::from_secs(5400)),
            ("0.001s", ms(1)),
            ("2us", Duration::from_micros(2)),
            ("2µs", Duration::from_micros(2)),
            ("2μs", Duration::from_micros(2)),
            ("7ns", Duration::from_nanos(7)),
            ("1.0000000001s", Duration::from_nanos(1_000_000_000)),
            ("3s500ms", ms(3500)),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input).as_ref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn rejects_garbage() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("90", "missing unit"),
            ("1m30", "missing unit"),
            ("s", "expected a number"),
            (".s", "expected a number"),
            ("+", "expected a number"),
            ("1x", "unknown unit \"x\""),
            ("1 s", "unknown unit \" s\""),
            ("1sec", "unknown unit \"sec\""),
            ("-1s", "negative"),
            ("-0", "negative"),
            ("1..5s", "missing unit"),
            ("99999999999999999999h", "too long"),
            ("3000000h", "too long"),
        ];
        for (input, want) in cases {
            let err = parse(input).expect_err(input).to_string();
            assert!(err.contains(want), "{input}: {err}");
        }
    }

    #[test]
    fn whole_seconds_only_for_integral_values() {
        assert_eq!(whole_seconds(parse("90s").unwrap()), Some(90));
        assert_eq!(whole_seconds(parse("1500ms").unwrap()), None);
        assert_eq!(whole_seconds(parse("0").unwrap()), Some(0));
    }
}
