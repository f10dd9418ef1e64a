//! `ferrule status`: the same tables `kubectl get bgpsessions,serviceannouncements,speakernodes`
//! prints, read from a file-mode status directory.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::api::status::{BGPSession, ServiceAnnouncement, SpeakerNode};

fn load<K: DeserializeOwned>(dir: &Path, plural: &str) -> Vec<K> {
    let mut paths: Vec<_> = std::fs::read_dir(dir.join(plural))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|s| serde_yaml::from_str(&s).ok())
        .collect()
}

/// Formats rows as kubectl does: upper-case headers, columns padded to the widest cell
/// plus three spaces.
pub fn format_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let n = cells.len();
        for (i, c) in cells.into_iter().enumerate() {
            if i + 1 == n {
                out.push_str(&c);
            } else {
                out.push_str(&format!("{c:<w$}   ", w = widths[i]));
            }
        }
        out.push('\n');
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    for r in rows {
        line(r.clone());
    }
    out
}

fn age(since: Option<&str>, now: i64) -> String {
    let Some(epoch) = since.and_then(parse_rfc3339) else {
        return "-".into();
    };
    let s = (now - epoch).max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// Parses the `YYYY-MM-DDTHH:MM:SSZ` form the speaker writes.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (hh, mm, ss) = (n(11..13)?, n(14..16)?, n(17..19)?);
    // Days from civil (inverse of the speaker's formatter).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// All three tables for a status directory.
pub fn render(dir: &Path, now: i64) -> String {
    let sessions: Vec<BGPSession> = load(dir, "bgpsessions");
    let anns: Vec<ServiceAnnouncement> = load(dir, "serviceannouncements");
    let nodes: Vec<SpeakerNode> = load(dir, "speakernodes");
    let mut out = String::new();
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|s| {
            let st = s.status.clone().unwrap_or_default();
            vec![
                s.spec.node.clone(),
                s.spec.peer.clone(),
                s.spec.peer_address.clone(),
                st.bgp,
                if st.bfd.is_empty() {
                    "-".into()
                } else {
                    st.bfd
                },
                st.prefixes_sent.to_string(),
                st.prefixes_received.to_string(),
                age(st.established_since.as_deref(), now),
                age(st.observed_at.as_deref(), now),
            ]
        })
        .collect();
    out.push_str(&format_table(
        &[
            "NODE", "PEER", "ADDRESS", "BGP", "BFD", "SENT", "RECV", "UP", "REPORTED",
        ],
        &rows,
    ));
    out.push('\n');
    let rows: Vec<Vec<String>> = anns
        .iter()
        .map(|a| {
            let st = a.status.clone().unwrap_or_default();
            vec![
                a.spec.service.clone(),
                a.spec.node.clone(),
                st.state,
                st.prefixes.join(","),
                st.peers.join(","),
                st.reason.unwrap_or_default(),
            ]
        })
        .collect();
    out.push_str(&format_table(
        &["SERVICE", "NODE", "STATE", "PREFIXES", "PEERS", "REASON"],
        &rows,
    ));
    out.push('\n');
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            let st = n.status.clone().unwrap_or_default();
            vec![
                n.spec.node.clone(),
                st.apply_result,
                st.config_hash,
                st.generation.to_string(),
                st.apply_duration,
                st.frr_version,
                st.validation_error_count.to_string(),
                age(st.observed_at.as_deref(), now),
            ]
        })
        .collect();
    out.push_str(&format_table(
        &[
            "NODE",
            "APPLY",
            "CONFIG",
            "GENERATION",
            "DURATION",
            "FRR",
            "ERRORS",
            "REPORTED",
        ],
        &rows,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip_gives_ages() {
        // 2026-11-25T23:50:00Z
        let t = parse_rfc3339("2026-11-25T23:50:00Z").unwrap();
        assert_eq!(age(Some("2026-11-25T23:50:00Z"), t + 42), "42s");
        assert_eq!(age(Some("2026-11-25T23:50:00Z"), t + 3 * 3600), "3h");
        assert_eq!(age(None, t), "-");
        // Known epoch: 2000-03-01T00:00:00Z = 951868800.
        assert_eq!(parse_rfc3339("2000-03-01T00:00:00Z"), Some(951_868_800));
    }

    #[test]
    fn table_columns_align() {
        let t = format_table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A     BB\nxxx   y\n");
    }
}
