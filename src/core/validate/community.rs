//! Community objects: aliases for community values, each defined once.

use std::collections::BTreeMap;

use super::report::{Problems, Report};
use crate::api;
use crate::core::model::{Community, ObjectRef};
use crate::core::snapshot::ValidationError;

/// Community aliases from Community objects, and which object defined aliases that were
/// left out (for better messages).
#[derive(Default)]
pub(super) struct Aliases {
    pub(super) valid: BTreeMap<String, (Community, String)>,
    pub(super) invalid: BTreeMap<String, String>,
}

/// Every Community object's aliases, objects oldest first. A bad alias costs only itself:
/// it is left out (with a warning when the object has other, good ones); an alias defined
/// again by a newer object stays the older object's.
pub(super) fn communities(objects: &[&api::Community], problems: &mut Problems) -> Aliases {
    let mut aliases = Aliases::default();
    for c in objects {
        let mut r = Report::new(&c.metadata, "Community");
        let name = c.metadata.name.clone().unwrap_or_default();
        let mut mine: BTreeMap<String, Community> = BTreeMap::new();
        // (field, message, incumbent) of the entries left out.
        let mut bad: Vec<(String, String, Option<ObjectRef>)> = Vec::new();
        for (i, a) in c.spec.communities.iter().enumerate() {
            let field = format!("spec.communities[{i}]");
            let problem = if a.name.is_empty() {
                Some(("name", "alias name must not be empty".to_string(), None))
            } else if a.name.parse::<Community>().is_ok()
                && a.name.parse::<Community>().ok() != a.value.parse::<Community>().ok()
            {
                // Advertisements look aliases up before parsing literals; an alias that
                // reads as a community value would silently change what that value means.
                // (Defining a well-known name as its own value, `no-export: 65535:65281`,
                // as MetalLB users must, changes nothing and is fine.)
                Some((
                    "name",
                    format!(
                        "alias {:?} reads as a community value; pick a name that does not",
                        a.name
                    ),
                    None,
                ))
            } else if a
                .name
                .chars()
                .any(|ch| ch.is_whitespace() || ch.is_control())
            {
                Some((
                    "name",
                    format!("alias {:?} contains whitespace", a.name),
                    None,
                ))
            } else if mine.contains_key(&a.name) {
                Some(("name", format!("alias {:?} is defined twice", a.name), None))
            } else if let Some((_, other)) = aliases.valid.get(&a.name) {
                let ns = c.metadata.namespace.as_deref().unwrap_or_default();
                Some((
                    "name",
                    format!(
                        "alias {:?} is already defined by the older Community {ns}/{other}, which keeps it",
                        a.name
                    ),
                    Some(ObjectRef::new("Community", ns, other)),
                ))
            } else {
                match a.value.parse::<Community>() {
                    Ok(v) => {
                        mine.insert(a.name.clone(), v);
                        None
                    }
                    Err(e) => Some(("value", e.to_string(), None)),
                }
            };
            if let Some((sub, message, incumbent)) = problem {
                bad.push((format!("{field}.{sub}"), message, incumbent));
                aliases
                    .invalid
                    .entry(a.name.clone())
                    .or_insert_with(|| name.clone());
            }
        }
        let usable = !mine.is_empty() || c.spec.communities.is_empty();
        for (field, message, incumbent) in bad {
            match (usable, incumbent) {
                (true, incumbent) => {
                    let mut w = ValidationError::new(
                        r.object.clone(),
                        field,
                        format!("{message}; this alias is left out"),
                    );
                    w.incumbent = incumbent;
                    r.warnings.push(w);
                }
                (false, Some(inc)) => problems.conflict(r.object.clone(), field, message, inc),
                (false, None) => r.err(field, message),
            }
        }
        if !usable && !r.has_errors() {
            // Every entry lost a conflict: recorded above, the object is left out.
            problems.warnings.extend(r.warnings);
            continue;
        }
        if let Some(mine) = problems.take(r.finish(mine)) {
            for (alias, v) in mine {
                aliases.invalid.remove(&alias);
                aliases.valid.insert(alias, (v, name.clone()));
            }
        }
    }
    aliases
}

#[cfg(test)]
mod tests;
