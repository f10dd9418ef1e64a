//! The layout rules of ARCHITECTURE.md, checked on the source tree: no two files import each
//! other (directly or round a circle), `speaker/` and `controller/` never import each other,
//! and no file of non-test code is longer than 800 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path (`["frr", "cli", "vty"]`) and its file.
type Modules = BTreeMap<Vec<String>, PathBuf>;

fn modules() -> Modules {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut out = Modules::new();
    for f in files {
        let rel = f.strip_prefix(&root).unwrap().with_extension("");
        let mut parts: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into()).collect();
        let last = parts.last().cloned().unwrap_or_default();
        if matches!(last.as_str(), "tests" | "testing" | "main") {
            continue;
        }
        if last == "mod" || (last == "lib" && parts.len() == 1) {
            parts.pop();
        }
        out.insert(parts, f);
    }
    out
}

/// The file's code without its unit tests and comments.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path a `use` tree names (`a::{b, c::d}` -> `a::b`, `a::c::d`).
fn expand(tree: &str, prefix: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or("").trim();
        out.push(format!("{prefix}{path}"));
        return;
    };
    let head = tree[..open].trim().trim_end_matches("::");
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let prefix = format!("{prefix}{head}::");
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand(&inner[start..i], &prefix, out);
                start = i + 1;
            }
            _ => {}
        }
    }
    if !inner[start..].trim().is_empty() {
        expand(&inner[start..], &prefix, out);
    }
}

fn references(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lines: Vec<&str> = code.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim_start();
        let l = ["pub(crate) ", "pub(super) ", "pub "]
            .iter()
            .find_map(|p| l.strip_prefix(p))
            .unwrap_or(l);
        if let Some(tree) = l.strip_prefix("use ") {
            let mut tree = tree.to_string();
            while !tree.contains(';') && i + 1 < lines.len() {
                i += 1;
                tree.push(' ');
                tree.push_str(lines[i]);
            }
            let end = tree.find(';').unwrap_or(tree.len());
            expand(&tree[..end], "", &mut out);
        }
        i += 1;
    }
    // Paths written inline: `crate::a::b`, `super::x`.
    for word in code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
        if word.starts_with("crate::") || word.starts_with("super::") {
            out.push(word.trim_end_matches(':').to_string());
        }
    }
    out
}

/// Imports between files: module -> modules it uses.
fn graph(mods: &Modules) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut g = BTreeMap::new();
    for (m, path) in mods {
        let code = code(path);
        // Inline modules (`mod v1beta1 { ... }`) are reached by `super::` from inside the file.
        let inline: BTreeSet<String> = code
            .lines()
            .filter_map(|l| {
                let l = l.trim().trim_start_matches("pub ");
                let name = l.strip_prefix("mod ")?.strip_suffix(" {")?;
                Some(name.to_string())
            })
            .collect();
        let mut edges = BTreeSet::new();
        for r in references(&code) {
            let seg: Vec<&str> = r.split("::").filter(|s| !s.is_empty()).collect();
            let (mut base, rest): (Vec<String>, &[&str]) = match seg.first() {
                Some(&"crate") => (Vec::new(), &seg[1..]),
                Some(&"super") if seg.get(1).is_some_and(|s| inline.contains(*s)) => continue,
                Some(&"super") => (m[..m.len().saturating_sub(1)].to_vec(), &seg[1..]),
                Some(&"self") => (m.clone(), &seg[1..]),
                Some(first)
                    if mods.contains_key(&[m.clone(), vec![first.to_string()]].concat()) =>
                {
                    (m.clone(), &seg[..])
                }
                _ => continue,
            };
            let mut rest = rest;
            while rest.first() == Some(&"super") {
                base.pop();
                rest = &rest[1..];
            }
            let full: Vec<String> = base
                .into_iter()
                .chain(rest.iter().map(|s| s.to_string()))
                .collect();
            // The longest prefix that is a file.
            if let Some(target) = (1..=full.len())
                .rev()
                .map(|k| full[..k].to_vec())
                .find(|k| mods.contains_key(k))
            {
                if &target != m {
                    edges.insert(target);
                }
            }
        }
        g.insert(m.clone(), edges);
    }
    g
}

fn name(m: &[String]) -> String {
    if m.is_empty() {
        "lib".into()
    } else {
        m.join("/")
    }
}

#[test]
fn no_import_circles_between_files() {
    let mods = modules();
    let g = graph(&mods);
    assert!(
        g.len() > 50,
        "the source tree was found ({} files)",
        g.len()
    );
    // A file is on a circle when it can reach itself.
    let mut circles = BTreeSet::new();
    for start in g.keys() {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&Vec<String>> = g[start].iter().collect();
        while let Some(m) = todo.pop() {
            if m == start {
                circles.insert(name(start));
                break;
            }
            if seen.insert(m) {
                todo.extend(g.get(m).into_iter().flatten());
            }
        }
    }
    assert!(circles.is_empty(), "files on an import circle: {circles:?}");
}

#[test]
fn speaker_and_controller_do_not_import_each_other() {
    let g = graph(&modules());
    fn side(m: &[String]) -> &str {
        m.first().map(String::as_str).unwrap_or("")
    }
    let mut bad = Vec::new();
    for (a, targets) in &g {
        for b in targets {
            let pair = (side(a), side(b));
            if pair == ("speaker", "controller") || pair == ("controller", "speaker") {
                bad.push(format!("{} -> {}", name(a), name(b)));
            }
        }
    }
    assert!(bad.is_empty(), "{bad:?}");
}

#[test]
fn no_file_of_code_is_longer_than_800_lines() {
    let long: Vec<(String, usize)> = modules()
        .values()
        .map(|p| (p.display().to_string(), code(p).lines().count()))
        .filter(|(_, n)| *n > 800)
        .collect();
    assert!(long.is_empty(), "{long:?}");
}

#[test]
fn the_checker_sees_a_circle() {
    // The checker itself: a use tree expands, and two files naming each other are found.
    let mut out = Vec::new();
    expand("crate::a::{b, c::{d, e as f}}", "", &mut out);
    assert_eq!(out, ["crate::a::b", "crate::a::c::d", "crate::a::c::e"]);
    let refs = references("use super::x;\nfn f() { crate::frr::render::render(i) }");
    assert!(refs.contains(&"super::x".to_string()), "{refs:?}");
    assert!(
        refs.contains(&"crate::frr::render::render".to_string()),
        "{refs:?}"
    );
}
