//! Node configs shaped like what ferrule renders: per neighbor, one prefix-list per
//! attribute set (community / local-preference), an outbound route-map with one entry per
//! set, an inbound deny-all, `network` lines, BFD profile, short timers.
#![allow(dead_code)]

use std::fmt::Write;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrSet {
    pub communities: Vec<String>,
    pub large_communities: Vec<String>,
    pub local_pref: Option<u32>,
}

impl AttrSet {
    pub fn community(c: &str) -> AttrSet {
        AttrSet {
            communities: vec![c.to_string()],
            large_communities: vec![],
            local_pref: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Announce {
    pub prefix: String,
    /// Stable prefix-list sequence number (derived from the Service, not its position, so a
    /// withdrawal never renumbers the others).
    pub seq: u32,
    pub set: usize,
}

#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub hostname: String,
    pub asn: u32,
    pub router_id: String,
    pub peer: String,
    pub peer_as: u32,
    pub sets: Vec<AttrSet>,
    pub announce: Vec<Announce>,
    /// `bgp route-map delay-timer 0` (attribute changes then wait for our soft clear).
    pub delay_timer_zero: bool,
    /// Attributes set where the prefix is originated (`network P route-map ferrule-set-K`)
    /// instead of by per-neighbor prefix-lists in the outbound route-map: config size grows
    /// with attribute sets, and a change skips FRR's 100 ms soft-out announce timer.
    pub origination: bool,
}

impl NodeConfig {
    pub fn new(hostname: &str, asn: u32, router_id: &str, peer: &str, peer_as: u32) -> Self {
        NodeConfig {
            hostname: hostname.into(),
            asn,
            router_id: router_id.into(),
            peer: peer.into(),
            peer_as,
            sets: Vec::new(),
            announce: Vec::new(),
            delay_timer_zero: true,
            origination: false,
        }
    }

    fn family(&self, prefix: &str) -> &'static str {
        if prefix.contains(':') {
            "ipv6"
        } else {
            "ip"
        }
    }

    fn set_lines(set: &AttrSet, additive: &str) -> String {
        let mut s = String::new();
        if !set.communities.is_empty() {
            let _ = writeln!(s, " set community {}{additive}", set.communities.join(" "));
        }
        if !set.large_communities.is_empty() {
            let _ = writeln!(
                s,
                " set large-community {}{additive}",
                set.large_communities.join(" ")
            );
        }
        if let Some(lp) = set.local_pref {
            let _ = writeln!(s, " set local-preference {lp}");
        }
        s
    }

    pub fn render(&self) -> String {
        if self.origination {
            return self.render_origination();
        }
        let p = &self.peer;
        let mut s = String::new();
        let _ = writeln!(s, "frr defaults traditional\nhostname {}\nlog syslog informational\nservice integrated-vtysh-config\n!", self.hostname);
        if self.delay_timer_zero {
            s.push_str("bgp route-map delay-timer 0\n!\n");
        }
        s.push_str("bfd\n profile tor-fast\n  receive-interval 300\n  transmit-interval 300\n  detect-multiplier 3\n exit\nexit\n!\n");
        let afs: Vec<&str> = ["ip", "ipv6"]
            .into_iter()
            .filter(|f| self.announce.iter().any(|a| self.family(&a.prefix) == *f))
            .collect();
        for f in &afs {
            for a in self
                .announce
                .iter()
                .filter(|a| self.family(&a.prefix) == *f)
            {
                let _ = writeln!(
                    s,
                    "{f} prefix-list ferrule-{p}-{f}-s{} seq {} permit {}",
                    a.set, a.seq, a.prefix
                );
            }
        }
        s.push_str("!\n");
        let _ = writeln!(s, "route-map ferrule-{p}-in deny 1\nexit\n!");
        for f in &afs {
            let out = if *f == "ip" { "out" } else { "out6" };
            for (i, set) in self.sets.iter().enumerate() {
                if !self
                    .announce
                    .iter()
                    .any(|a| a.set == i && self.family(&a.prefix) == *f)
                {
                    continue;
                }
                let _ = writeln!(s, "route-map ferrule-{p}-{out} permit {}", i + 1);
                let m = if *f == "ip" { "ip" } else { "ipv6" };
                let _ = writeln!(s, " match {m} address prefix-list ferrule-{p}-{f}-s{i}");
                s.push_str(&Self::set_lines(set, " additive"));
                s.push_str("exit\n!\n");
            }
        }
        let _ = writeln!(s, "router bgp {}\n bgp router-id {}\n no bgp ebgp-requires-policy\n no bgp network import-check\n no bgp default ipv4-unicast\n bgp graceful-restart preserve-fw-state", self.asn, self.router_id);
        let _ = writeln!(s, " neighbor {p} remote-as {}\n neighbor {p} timers 3 9\n neighbor {p} timers connect 5\n neighbor {p} bfd\n neighbor {p} bfd profile tor-fast\n !", self.peer_as);
        for f in ["ip", "ipv6"] {
            let (af, out) = if f == "ip" {
                ("ipv4", "out")
            } else {
                ("ipv6", "out6")
            };
            let has = afs.contains(&f);
            if f == "ipv6" && !has {
                continue;
            }
            let _ = writeln!(s, " address-family {af} unicast");
            for a in self.announce.iter().filter(|a| self.family(&a.prefix) == f) {
                let _ = writeln!(s, "  network {}", a.prefix);
            }
            let _ = writeln!(
                s,
                "  neighbor {p} activate\n  neighbor {p} route-map ferrule-{p}-in in"
            );
            if has {
                let _ = writeln!(s, "  neighbor {p} route-map ferrule-{p}-{out} out");
            }
            s.push_str(" exit-address-family\n");
        }
        s.push_str("exit\n!\n");
        s
    }

    fn header(&self, s: &mut String) {
        let _ = writeln!(s, "frr defaults traditional\nhostname {}\nlog syslog informational\nservice integrated-vtysh-config\n!", self.hostname);
        if self.delay_timer_zero {
            s.push_str("bgp route-map delay-timer 0\n!\n");
        }
        s.push_str("bfd\n profile tor-fast\n  receive-interval 300\n  transmit-interval 300\n  detect-multiplier 3\n exit\nexit\n!\n");
    }

    fn render_origination(&self) -> String {
        let p = &self.peer;
        let mut s = String::new();
        self.header(&mut s);
        for (i, set) in self.sets.iter().enumerate() {
            let _ = writeln!(s, "route-map ferrule-set-{i} permit 1");
            s.push_str(&Self::set_lines(set, ""));
            s.push_str("exit\n!\n");
        }
        let _ = writeln!(
            s,
            "route-map ferrule-{p}-in deny 1\nexit\n!\nroute-map ferrule-{p}-out permit 1\nexit\n!"
        );
        let _ = writeln!(s, "router bgp {}\n bgp router-id {}\n no bgp ebgp-requires-policy\n no bgp network import-check\n no bgp default ipv4-unicast\n bgp graceful-restart preserve-fw-state", self.asn, self.router_id);
        let _ = writeln!(s, " neighbor {p} remote-as {}\n neighbor {p} timers 3 9\n neighbor {p} timers connect 5\n neighbor {p} bfd\n neighbor {p} bfd profile tor-fast\n !", self.peer_as);
        for (f, af) in [("ip", "ipv4"), ("ipv6", "ipv6")] {
            let mine: Vec<&Announce> = self
                .announce
                .iter()
                .filter(|a| self.family(&a.prefix) == f)
                .collect();
            if f == "ipv6" && mine.is_empty() {
                continue;
            }
            let _ = writeln!(s, " address-family {af} unicast");
            for a in mine {
                let _ = writeln!(s, "  network {} route-map ferrule-set-{}", a.prefix, a.set);
            }
            let _ = writeln!(s, "  neighbor {p} activate\n  neighbor {p} route-map ferrule-{p}-in in\n  neighbor {p} route-map ferrule-{p}-out out\n exit-address-family");
        }
        s.push_str("exit\n!\n");
        s
    }
}
