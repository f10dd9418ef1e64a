//! A containerlab topology file read and checked into a [`Plan`]: everything the runner will
//! build, decided before anything is built. Whatever the runner cannot do (an unknown kind
//! or field, a bind it cannot map, an `exec` line that is not `ip ...`, a `cmd` it does not
//! know) is an error naming the node and the line, so nothing is ever half-built.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// FRR's daemons as Debian installs them; the order they start in.
pub const FRR_DAEMONS: [&str; 4] = ["zebra", "staticd", "bfdd", "bgpd"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: String,
    topology: Topo,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Topo {
    #[serde(default)]
    defaults: Node,
    #[serde(default)]
    nodes: BTreeMap<String, Node>,
    #[serde(default)]
    links: Vec<Link>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Node {
    kind: Option<String>,
    /// Containers only; the runner has none.
    #[allow(dead_code)]
    image: Option<String>,
    entrypoint: Option<String>,
    #[serde(default)]
    binds: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    exec: Vec<String>,
    cmd: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Link {
    endpoints: Vec<String>,
}

/// What the runner builds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub name: String,
    /// The topology file's directory (binds are relative to it).
    pub dir: PathBuf,
    /// Linux nodes, each a network namespace.
    pub nodes: Vec<NodePlan>,
    /// `kind: bridge` nodes, each a Linux bridge in a namespace of its own.
    pub bridges: Vec<String>,
    pub links: Vec<(Endpoint, Endpoint)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePlan {
    pub name: String,
    pub env: BTreeMap<String, String>,
    /// `exec` lines, each the arguments after `ip`.
    pub exec: Vec<Vec<String>>,
    /// FRR's daemons to start (from the bound `daemons` file), empty when FRR is not started.
    pub daemons: Vec<String>,
    /// The bound startup config (`...:/etc/frr/frr.conf`).
    pub frr_conf: Option<PathBuf>,
    pub speaker: Option<SpeakerPlan>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpeakerPlan {
    /// The host directory bound where `--source` points.
    pub source: PathBuf,
    /// The speaker's other arguments, passed on as given.
    pub args: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub node: String,
    pub iface: String,
    /// The node is a `kind: bridge`.
    pub bridge: bool,
}

/// Why a topology cannot be run; the message names the node and line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unsupported(pub String);

fn bad(msg: impl Into<String>) -> Unsupported {
    Unsupported(msg.into())
}

/// Names the runner builds from: letters, digits, `-` and `_` (so `.` can separate them).
fn check_name(what: &str, s: &str, max: usize) -> Result<(), Unsupported> {
    let ok = !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "{what} {s:?}: the runner takes 1-{max} letters, digits, '-' or '_'"
        )))
    }
}

/// Reads `path` and plans the lab; `name` overrides the topology's lab name.
pub fn plan(path: &Path, name: Option<&str>) -> Result<Plan, Unsupported> {
    let text =
        std::fs::read_to_string(path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    plan_text(&text, &dir, name).map_err(|e| bad(format!("{}: {}", path.display(), e.0)))
}

/// [`plan`] of a topology's text, binds relative to `dir`.
pub fn plan_text(text: &str, dir: &Path, name: Option<&str>) -> Result<Plan, Unsupported> {
    let file: File = serde_yaml::from_str(text).map_err(|e| bad(e.to_string()))?;
    let name = name.unwrap_or(&file.name).to_string();
    check_name("lab name", &name, 40)?;
    let defaults = file.topology.defaults;
    let mut nodes = Vec::new();
    let mut bridges = Vec::new();
    for (node_name, node) in &file.topology.nodes {
        check_name("node", node_name, 40)?;
        let node = merged(&defaults, node);
        let kind = node.kind.as_deref().unwrap_or("linux");
        match kind {
            "linux" => nodes.push(plan_node(node_name, &node, dir)?),
            "bridge" => {
                check_name("bridge", node_name, 15)?;
                if node.cmd.is_some() || !node.exec.is_empty() || !node.binds.is_empty() {
                    return Err(bad(format!(
                        "node {node_name}: a bridge takes no cmd, exec or binds"
                    )));
                }
                bridges.push(node_name.clone());
            }
            other => {
                return Err(bad(format!(
                    "node {node_name}: kind {other:?} (the runner does linux and bridge)"
                )))
            }
        }
    }
    let mut links = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for l in &file.topology.links {
        let [a, b] = l.endpoints.as_slice() else {
            return Err(bad(format!(
                "link {:?}: needs exactly two endpoints",
                l.endpoints
            )));
        };
        let mut end = |s: &str| -> Result<Endpoint, Unsupported> {
            let (node, iface) = s
                .split_once(':')
                .ok_or_else(|| bad(format!("link endpoint {s:?}: not node:interface")))?;
            check_name("interface", iface, 15)?;
            let bridge = bridges.iter().any(|b| b == node);
            if !bridge && !nodes.iter().any(|n| n.name == node) {
                return Err(bad(format!("link endpoint {s:?}: no node {node}")));
            }
            if !seen.insert((node.to_string(), iface.to_string())) {
                return Err(bad(format!("link endpoint {s:?}: used twice")));
            }
            Ok(Endpoint {
                node: node.into(),
                iface: iface.into(),
                bridge,
            })
        };
        let (a, b) = (end(a)?, end(b)?);
        if let Some(br) = [&a, &b].iter().find(|e| e.bridge && e.iface == e.node) {
            return Err(bad(format!(
                "link endpoint {}:{}: a port may not be named like its bridge",
                br.node, br.iface
            )));
        }
        links.push((a, b));
    }
    Ok(Plan {
        name,
        dir: dir.to_path_buf(),
        nodes,
        bridges,
        links,
    })
}

/// containerlab's merge: a node's own values over the defaults; binds and env add up.
fn merged(defaults: &Node, node: &Node) -> Node {
    let mut env = defaults.env.clone();
    env.extend(node.env.clone());
    let mut binds = defaults.binds.clone();
    binds.extend(node.binds.iter().cloned());
    Node {
        kind: node.kind.clone().or(defaults.kind.clone()),
        image: node.image.clone().or(defaults.image.clone()),
        entrypoint: node.entrypoint.clone().or(defaults.entrypoint.clone()),
        binds,
        env,
        exec: if node.exec.is_empty() {
            defaults.exec.clone()
        } else {
            node.exec.clone()
        },
        cmd: node.cmd.clone().or(defaults.cmd.clone()),
    }
}

/// One `cmd` step the runner knows how to do.
enum Step {
    Frr,
    Speaker(Vec<String>),
    /// `sleep infinity` and the like: only keeps a container alive.
    Idle,
}

fn steps(node: &str, cmd: &str) -> Result<Vec<Step>, Unsupported> {
    let argv = super::shell::split(cmd).map_err(|e| bad(format!("node {node}: cmd: {e}")))?;
    let scripts: Vec<String> = match argv.as_slice() {
        [sh, c, script] if (sh == "sh" || sh == "/bin/sh") && c == "-c" => {
            if script
                .replace("&&", "")
                .contains(|c| ";|<>$`()&\n".contains(c))
            {
                return Err(bad(format!(
                    "node {node}: cmd {cmd:?}: only `A && B` scripts are understood"
                )));
            }
            script.split("&&").map(str::to_string).collect()
        }
        _ => vec![cmd.to_string()],
    };
    let mut out = Vec::new();
    for s in scripts {
        let mut argv =
            super::shell::split(&s).map_err(|e| bad(format!("node {node}: cmd: {e}")))?;
        if argv.first().is_some_and(|a| a == "exec") {
            argv.remove(0);
        }
        let words: Vec<&str> = argv.iter().map(String::as_str).collect();
        let step = match words.as_slice() {
            ["/usr/lib/frr/frrinit.sh", "start"] => Step::Frr,
            ["sleep", "infinity"] | ["tail", "-f", "/dev/null"] => Step::Idle,
            [bin, "speaker", ..] if bin.rsplit('/').next() == Some("ferrule") => {
                Step::Speaker(argv[2..].to_vec())
            }
            _ => {
                return Err(bad(format!(
                    "node {node}: cmd step {:?}: the runner knows `/usr/lib/frr/frrinit.sh start`, `ferrule speaker ...` and `sleep infinity`",
                    s.trim()
                )))
            }
        };
        out.push(step);
    }
    Ok(out)
}

fn plan_node(name: &str, node: &Node, dir: &Path) -> Result<NodePlan, Unsupported> {
    if let Some(e) = node.entrypoint.as_deref() {
        if e != "/usr/bin/env" && e != "env" {
            return Err(bad(format!(
                "node {name}: entrypoint {e:?} (the runner runs cmd itself; only /usr/bin/env, which runs cmd as given, is understood)"
            )));
        }
    }
    let mut exec = Vec::new();
    for line in &node.exec {
        let argv = super::shell::split(line).map_err(|e| bad(format!("node {name}: exec: {e}")))?;
        let ok = argv.first().is_some_and(|a| a == "ip")
            && argv.len() > 1
            && !argv[1..]
                .iter()
                .any(|a| a == "netns" || a == "-n" || a.starts_with("-netns"));
        if !ok {
            return Err(bad(format!(
                "node {name}: exec {line:?}: the runner runs only `ip ...` commands (inside the node)"
            )));
        }
        exec.push(argv[1..].to_vec());
    }
    // Binds: container path -> host path.
    let mut binds: BTreeMap<String, PathBuf> = BTreeMap::new();
    for b in &node.binds {
        let parts: Vec<&str> = b.split(':').collect();
        let (host, target) = match parts.as_slice() {
            [h, t] | [h, t, "ro" | "rw"] => (*h, *t),
            _ => {
                return Err(bad(format!(
                    "node {name}: bind {b:?}: not host:container[:ro]"
                )))
            }
        };
        let host = dir.join(host);
        if !host.exists() {
            return Err(bad(format!(
                "node {name}: bind {b:?}: {} does not exist",
                host.display()
            )));
        }
        binds.insert(target.trim_end_matches('/').to_string(), host);
    }
    let steps = match &node.cmd {
        Some(cmd) => steps(name, cmd)?,
        None => Vec::new(),
    };
    let mut plan = NodePlan {
        name: name.into(),
        env: node.env.clone(),
        exec,
        daemons: Vec::new(),
        frr_conf: binds.remove("/etc/frr/frr.conf"),
        speaker: None,
    };
    let daemons_file = binds.remove("/etc/frr/daemons");
    let mut frr = false;
    for step in steps {
        match step {
            Step::Frr => frr = true,
            Step::Idle => {}
            Step::Speaker(args) => {
                let mut rest = Vec::new();
                let mut source = None;
                let mut it = args.into_iter();
                while let Some(a) = it.next() {
                    match a.as_str() {
                        "--source" => source = it.next(),
                        "--status-dir" | "--vty-socket-dir" | "--metrics-addr"
                        | "--frr-config-dir" | "--node" => {
                            // The runner sets these per node.
                            let _ = it.next();
                        }
                        _ if a.starts_with("--source=") => {
                            source = Some(a["--source=".len()..].to_string())
                        }
                        _ => rest.push(a),
                    }
                }
                let source = source.ok_or_else(|| {
                    bad(format!("node {name}: ferrule speaker without --source (file mode is what the runner runs)"))
                })?;
                let host = binds.remove(source.trim_end_matches('/')).ok_or_else(|| {
                    bad(format!(
                        "node {name}: --source {source}: no bind gives that directory"
                    ))
                })?;
                if !host.is_dir() {
                    return Err(bad(format!(
                        "node {name}: --source {source}: {} is not a directory",
                        host.display()
                    )));
                }
                if !plan.env.contains_key("NODE_NAME") {
                    return Err(bad(format!(
                        "node {name}: ferrule speaker needs env NODE_NAME"
                    )));
                }
                plan.speaker = Some(SpeakerPlan {
                    source: host,
                    args: rest,
                });
            }
        }
    }
    if let Some((target, _)) = binds.iter().next() {
        return Err(bad(format!(
            "node {name}: bind to {target}: the runner maps /etc/frr/frr.conf, /etc/frr/daemons and the speaker's --source only"
        )));
    }
    if frr {
        let file = daemons_file.ok_or_else(|| {
            bad(format!(
                "node {name}: frrinit.sh needs a bind to /etc/frr/daemons"
            ))
        })?;
        plan.daemons = daemons(name, &file)?;
    } else if plan.frr_conf.is_some() || plan.speaker.is_some() {
        return Err(bad(format!(
            "node {name}: an FRR config or a speaker without `/usr/lib/frr/frrinit.sh start` in cmd"
        )));
    }
    Ok(plan)
}

/// The daemons an FRR `daemons` file turns on, in start order.
fn daemons(node: &str, path: &Path) -> Result<Vec<String>, Unsupported> {
    let text =
        std::fs::read_to_string(path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    let mut on = Vec::new();
    for line in text.lines().map(str::trim) {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if line.starts_with('#') || v.trim() != "yes" || k.ends_with("_enable") {
            continue;
        }
        if !FRR_DAEMONS.contains(&k) {
            return Err(bad(format!(
                "node {node}: {}: daemon {k} (the runner starts {})",
                path.display(),
                FRR_DAEMONS.join(", ")
            )));
        }
        on.push(k.to_string());
    }
    if !on.iter().any(|d| d == "zebra") {
        return Err(bad(format!(
            "node {node}: {}: zebra is off",
            path.display()
        )));
    }
    Ok(FRR_DAEMONS
        .iter()
        .filter(|d| on.iter().any(|o| o == *d))
        .map(|d| d.to_string())
        .collect())
}

impl Plan {
    /// The network namespace of node or bridge `node`.
    pub fn netns(&self, node: &str) -> String {
        format!("{}{node}", self.ns_prefix())
    }

    /// Every namespace of this lab starts with this (`.` cannot occur in names).
    pub fn ns_prefix(&self) -> String {
        ns_prefix(&self.name)
    }

    /// Nodes running FRR without a speaker: the routers (ToRs).
    pub fn routers(&self) -> impl Iterator<Item = &NodePlan> {
        self.nodes
            .iter()
            .filter(|n| !n.daemons.is_empty() && n.speaker.is_none())
    }

    pub fn speakers(&self) -> impl Iterator<Item = &NodePlan> {
        self.nodes.iter().filter(|n| n.speaker.is_some())
    }
}

pub fn ns_prefix(lab: &str) -> String {
    format!("flab.{lab}.")
}

#[cfg(test)]
mod tests;
