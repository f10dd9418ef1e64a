//! Community objects: aliases for community values, each defined once.

use std::collections::BTreeMap;

use super::report::Report;
use crate::api;
use crate::core::model::Community;
use crate::core::snapshot::ValidationError;

/// Community aliases from valid Community objects, and which object defined aliases that
/// were left out (for better messages).
#[derive(Default)]
pub(super) struct Aliases {
    pub(super) valid: BTreeMap<String, (Community, String)>,
    pub(super) invalid: BTreeMap<String, String>,
}

pub(super) fn communities(
    objects: &[&api::Community],
    errors: &mut Vec<ValidationError>,
) -> Aliases {
    let mut aliases = Aliases::default();
    for c in objects {
        let mut r = Report::new(&c.metadata, "Community");
        let name = c.metadata.name.clone().unwrap_or_default();
        let mut mine: BTreeMap<String, Community> = BTreeMap::new();
        for (i, a) in c.spec.communities.iter().enumerate() {
            let field = format!("spec.communities[{i}]");
            if a.name.is_empty() {
                r.err(format!("{field}.name"), "alias name must not be empty");
            } else if a.name.parse::<Community>().is_ok() {
                // Advertisements look aliases up before parsing literals; an alias that
                // reads as a community value would silently change what that value means.
                r.err(
                    format!("{field}.name"),
                    format!(
                        "alias {:?} reads as a community value; pick a name that does not",
                        a.name
                    ),
                );
            } else if a
                .name
                .chars()
                .any(|ch| ch.is_whitespace() || ch.is_control())
            {
                r.err(
                    format!("{field}.name"),
                    format!("alias {:?} contains whitespace", a.name),
                );
            } else if mine.contains_key(&a.name) {
                r.err(
                    format!("{field}.name"),
                    format!("alias {:?} is defined twice", a.name),
                );
            } else if let Some((_, other)) = aliases.valid.get(&a.name) {
                r.err(
                    format!("{field}.name"),
                    format!(
                        "alias {:?} is already defined by Community {}/{other}",
                        a.name,
                        c.metadata.namespace.as_deref().unwrap_or_default()
                    ),
                );
            }
            match a.value.parse::<Community>() {
                Ok(v) => {
                    mine.insert(a.name.clone(), v);
                }
                Err(e) => r.err(format!("{field}.value"), e.to_string()),
            }
        }
        let names: Vec<String> = c.spec.communities.iter().map(|a| a.name.clone()).collect();
        match r.finish(mine) {
            Ok(mine) => {
                for (alias, v) in mine {
                    aliases.valid.insert(alias, (v, name.clone()));
                }
            }
            Err(mut e) => {
                errors.append(&mut e);
                for alias in names {
                    aliases.invalid.entry(alias).or_insert_with(|| name.clone());
                }
            }
        }
    }
    aliases
}

#[cfg(test)]
mod tests;
