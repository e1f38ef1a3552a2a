//! Run-together groups (llama-swap's `groups`): models that are loaded and stopped by rules of
//! their group. A model belongs to at most one group. `swap`: a member that loads stops the
//! other members; `exclusive`: a member that loads stops the models of other groups and those
//! in none; `persistent`: no start from outside the group ever stops a member (neither its
//! `exclusive` rule nor making room under `--max-running` or memory). The rules are pure
//! (`GroupRules`), so admission and the models page read them the same way.

use serde::{Deserialize, Serialize};

use crate::domain::config::serving::fold as fold_name;
use crate::domain::error::{FieldError, Rule};
use crate::domain::fields::{FieldSet, FieldSpec};
use crate::domain::model::NAME_FIELD;

/// The most members one group has.
pub const MAX_MEMBERS: usize = 64;

const fn yes() -> bool {
    true
}

/// `{"name", "swap", "exclusive", "persistent", "members": [model names]}`; the flags default
/// as llama-swap's do (swap and exclusive on, persistent off).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RunGroup {
    pub name: String,
    #[serde(default = "yes")]
    pub swap: bool,
    #[serde(default = "yes")]
    pub exclusive: bool,
    #[serde(default)]
    pub persistent: bool,
    /// Registered models, by name or alias (stored by model, so a rename follows).
    pub members: Vec<String>,
}

impl FieldSet for RunGroup {
    const WHOLE: &'static str = "group";
    const FIELDS: &'static [FieldSpec] = &[
        NAME_FIELD.help("A name for the group (not a model name: clients never ask for it)."),
        FieldSpec::toggle("swap", "Swap")
            .default("true")
            .help("A member that loads stops the other members: one runs at a time."),
        FieldSpec::toggle("exclusive", "Exclusive")
            .default("true")
            .help("A member that loads stops the models of other groups and of none."),
        FieldSpec::toggle("persistent", "Persistent")
            .default("false")
            .help("No start from outside the group stops a member, not even to make room."),
        FieldSpec::list("members", "Members", MAX_MEMBERS)
            .required()
            .help("Registered models (names or aliases); a model is in one group at most."),
    ];

    fn cross_check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.members.is_empty() {
            errors.push(FieldError::new(
                "members",
                Rule::Required,
                "name at least one model",
            ));
        }
        for (i, member) in self.members.iter().enumerate() {
            if self.members[..i]
                .iter()
                .any(|m| fold_name(m) == fold_name(member))
            {
                errors.push(FieldError::new(
                    format!("members[{i}]"),
                    Rule::OneOf,
                    format!("'{member}' is named twice"),
                ));
            }
        }
        errors
    }
}

impl RunGroup {
    /// The rules in words, for the page and a refusal.
    pub fn describe(&self) -> String {
        let mut rules = Vec::new();
        if self.swap {
            rules.push("one member at a time");
        }
        if self.exclusive {
            rules.push("stops other models when a member loads");
        }
        if self.persistent {
            rules.push("never stopped by other models");
        }
        if rules.is_empty() {
            "members run together".to_string()
        } else {
            rules.join("; ")
        }
    }
}

/// Every group with its members' model ids: what a start's admission reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupRules {
    pub groups: Vec<(RunGroup, Vec<i64>)>,
}

impl GroupRules {
    /// The group `model_id` belongs to.
    pub fn of(&self, model_id: i64) -> Option<&RunGroup> {
        self.groups
            .iter()
            .find(|(_, ids)| ids.contains(&model_id))
            .map(|(group, _)| group)
    }

    /// Whether a start of `starting` must first stop a run of `other` (its group's `swap` or
    /// `exclusive` rule; a persistent group's members only for their own group's swap).
    pub fn must_stop(&self, starting: i64, other: i64) -> bool {
        let Some(own) = self.of(starting) else {
            return false;
        };
        match self.of(other) {
            Some(theirs) if theirs.name == own.name => own.swap,
            Some(theirs) => own.exclusive && !theirs.persistent,
            None => own.exclusive,
        }
    }

    /// Whether a start of `starting` may stop a run of `other` to make room: a persistent
    /// group's members only for a start in their own group.
    pub fn may_evict(&self, starting: i64, other: i64) -> bool {
        match self.of(other) {
            Some(theirs) if theirs.persistent => {
                self.of(starting).is_some_and(|own| own.name == theirs.name)
            }
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn group(name: &str, swap: bool, exclusive: bool, persistent: bool) -> RunGroup {
        RunGroup {
            name: name.into(),
            swap,
            exclusive,
            persistent,
            members: Vec::new(),
        }
    }

    fn rules() -> GroupRules {
        GroupRules {
            groups: vec![
                (group("swapping", true, false, false), vec![1, 2]),
                (group("together", false, true, false), vec![3, 4]),
                (group("kept", false, false, true), vec![5]),
            ],
        }
    }

    #[test]
    fn a_swap_member_stops_the_other_members_and_a_together_member_does_not() {
        let rules = rules();
        assert!(rules.must_stop(1, 2));
        assert!(!rules.must_stop(3, 4));
        // Not exclusive: outsiders stay.
        assert!(!rules.must_stop(1, 3) && !rules.must_stop(1, 9));
    }

    #[test]
    fn an_exclusive_member_stops_other_groups_and_ungrouped_models_but_not_persistent_ones() {
        let rules = rules();
        assert!(rules.must_stop(3, 1));
        assert!(rules.must_stop(3, 9));
        assert!(!rules.must_stop(3, 5));
        // A model in no group stops nothing by group rules.
        assert!(!rules.must_stop(9, 1));
    }

    #[test]
    fn a_persistent_member_is_evicted_only_for_a_start_of_its_own_group() {
        let rules = rules();
        assert!(!rules.may_evict(1, 5) && !rules.may_evict(9, 5));
        assert!(rules.may_evict(9, 1));
    }

    #[test]
    fn a_group_reads_with_llama_swaps_defaults_and_refuses_a_member_named_twice() {
        let parsed = RunGroup::parse(&json!({"name": "g", "members": ["a"]})).unwrap();
        assert!(parsed.swap && parsed.exclusive && !parsed.persistent);
        let Err(crate::domain::AppError::Invalid { errors }) =
            RunGroup::parse(&json!({"name": "g", "members": ["a", "A"], "swap": "yes"}))
        else {
            panic!("expected field errors");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["swap"]);
        let Err(crate::domain::AppError::Invalid { errors }) =
            RunGroup::parse(&json!({"name": "g", "members": ["a", "A"]}))
        else {
            panic!("expected field errors");
        };
        assert_eq!(errors[0].field, "members[1]");
    }
}
