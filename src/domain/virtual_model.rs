//! A virtual model (llama-swap's selectors): one name a client asks for, served by whichever of
//! its targets the strategy picks now. Names share the models' namespace. The pick is a pure
//! function of the targets' states, so the gateway and the model lists agree on it.

use serde::{Deserialize, Serialize};

use crate::domain::config::serving::fold as fold_name;
use crate::domain::error::{FieldError, Rule};
use crate::domain::fields::{FieldSet, FieldSpec};
use crate::domain::model::NAME_FIELD;

/// The most targets one virtual model names.
pub const MAX_TARGETS: usize = 16;

/// How a virtual model picks among its targets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// The first target that is ready, else one already loading, else the first (started).
    #[default]
    Warm,
    /// Always the first target.
    Pin,
    /// Each target in turn until it holds `spillover` requests, then the next; when all are
    /// full, the one holding the fewest.
    Spillover,
    /// The first target, and the next whenever one is refused or fails to load.
    Fallback,
}

impl Strategy {
    pub const NAMES: &'static [&'static str] = &["warm", "pin", "spillover", "fallback"];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Warm => "warm",
            Strategy::Pin => "pin",
            Strategy::Spillover => "spillover",
            Strategy::Fallback => "fallback",
        }
    }

    /// What the strategy does, in a sentence for the page.
    pub fn describe(self) -> &'static str {
        match self {
            Strategy::Warm => "the first target that is running, else one loading, else the first",
            Strategy::Pin => "always the first target",
            Strategy::Spillover => "fill each target to N requests, then the next",
            Strategy::Fallback => "the next target when one is refused or fails to load",
        }
    }
}

/// `{"name", "strategy", "targets": [names], "spillover": N}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VirtualModel {
    pub name: String,
    #[serde(default)]
    pub strategy: Strategy,
    /// Registered models, by name or alias, in the order the strategy reads them.
    pub targets: Vec<String>,
    /// Requests each target takes before the next is used (`spillover` only; 1 when unset).
    #[serde(default)]
    pub spillover: Option<u32>,
}

impl FieldSet for VirtualModel {
    const WHOLE: &'static str = "virtual";
    const FIELDS: &'static [FieldSpec] = &[
        NAME_FIELD.help("The name clients ask for; no model may have it (or answer to it)."),
        FieldSpec::choice("strategy", "Strategy", Strategy::NAMES)
            .default("warm")
            .help("How a target is picked for each request."),
        FieldSpec::list("targets", "Targets", MAX_TARGETS)
            .required()
            .help("Registered models (names or aliases), in order."),
        FieldSpec::int("spillover", "Requests per target", 1, 1024)
            .default("1")
            .help("With spillover: the requests one target takes before the next is used."),
    ];

    fn cross_check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.targets.is_empty() {
            errors.push(FieldError::new(
                "targets",
                Rule::Required,
                "name at least one model",
            ));
        }
        for (i, target) in self.targets.iter().enumerate() {
            if fold_name(target) == fold_name(&self.name) {
                errors.push(FieldError::new(
                    format!("targets[{i}]"),
                    Rule::OneOf,
                    "a virtual model cannot serve itself",
                ));
            } else if self.targets[..i]
                .iter()
                .any(|t| fold_name(t) == fold_name(target))
            {
                errors.push(FieldError::new(
                    format!("targets[{i}]"),
                    Rule::OneOf,
                    format!("'{target}' is named twice"),
                ));
            }
        }
        errors
    }
}

impl VirtualModel {
    /// Requests one target takes before a spillover moves on.
    pub fn per_target(&self) -> u32 {
        self.spillover.unwrap_or(1).max(1)
    }

    /// The targets to try for one request, best first, as indexes into `targets` (and into
    /// `states`, which says how each target is now). Every strategy but `fallback` names one.
    pub fn pick(&self, states: &[TargetState]) -> Vec<usize> {
        let usable = |i: &usize| states.get(*i).is_some_and(|s| s.exists);
        let all: Vec<usize> = (0..self.targets.len()).filter(usable).collect();
        let first = all.first().copied();
        let one = match self.strategy {
            Strategy::Fallback => return all,
            Strategy::Pin => first,
            Strategy::Warm => all
                .iter()
                .copied()
                .find(|&i| states[i].ready)
                .or_else(|| all.iter().copied().find(|&i| states[i].loading))
                .or(first),
            Strategy::Spillover => {
                let limit = self.per_target();
                all.iter()
                    .copied()
                    .find(|&i| states[i].requests < limit)
                    .or_else(|| all.iter().copied().min_by_key(|&i| states[i].requests))
            }
        };
        one.into_iter().collect()
    }
}

/// How one target is now, as the pick reads it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetState {
    /// The name resolves to a registered model (the caller may use).
    pub exists: bool,
    /// Its server answers requests.
    pub ready: bool,
    /// Its server is loading.
    pub loading: bool,
    /// Requests it holds now, queued and in flight.
    pub requests: u32,
}

/// A virtual model as listed: what it would use now, and targets that name no model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VirtualView {
    #[serde(flatten)]
    pub model: VirtualModel,
    /// The target a request would go to now (`None`: no target names a model).
    pub would_use: Option<String>,
    /// Targets that name no registered model (renamed or deleted since).
    pub missing: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn named(strategy: Strategy, n: usize) -> VirtualModel {
        VirtualModel {
            name: "v".into(),
            strategy,
            targets: (0..n).map(|i| format!("m{i}")).collect(),
            spillover: Some(2),
        }
    }

    fn state(ready: bool, loading: bool, requests: u32) -> TargetState {
        TargetState {
            exists: true,
            ready,
            loading,
            requests,
        }
    }

    #[test]
    fn warm_prefers_a_ready_target_then_a_loading_one_then_the_first() {
        let v = named(Strategy::Warm, 3);
        let idle = state(false, false, 0);
        assert_eq!(
            v.pick(&[idle, state(false, true, 0), state(true, false, 0)]),
            [2]
        );
        assert_eq!(v.pick(&[idle, state(false, true, 0), idle]), [1]);
        assert_eq!(v.pick(&[idle, idle, idle]), [0]);
    }

    #[test]
    fn pin_always_names_the_first_target_and_fallback_names_all_in_order() {
        let ready = state(true, false, 0);
        let idle = state(false, false, 0);
        assert_eq!(named(Strategy::Pin, 2).pick(&[idle, ready]), [0]);
        assert_eq!(
            named(Strategy::Fallback, 3).pick(&[idle, ready, idle]),
            [0, 1, 2]
        );
    }

    #[test]
    fn spillover_fills_each_target_to_its_limit_then_takes_the_least_busy() {
        let v = named(Strategy::Spillover, 3);
        let busy = |n| state(true, false, n);
        assert_eq!(v.pick(&[busy(1), busy(0), busy(0)]), [0]);
        assert_eq!(v.pick(&[busy(2), busy(1), busy(0)]), [1]);
        assert_eq!(v.pick(&[busy(2), busy(2), busy(0)]), [2]);
        assert_eq!(v.pick(&[busy(3), busy(2), busy(4)]), [1]);
    }

    #[test]
    fn a_target_that_names_no_model_is_never_picked() {
        let v = named(Strategy::Warm, 2);
        let gone = TargetState::default();
        assert_eq!(v.pick(&[gone, state(false, false, 0)]), [1]);
        assert!(v.pick(&[gone, gone]).is_empty());
    }

    #[test]
    fn a_virtual_model_is_refused_with_every_broken_rule_named() {
        let bad = json!({"name": "v", "strategy": "fastest", "targets": ["a", "A", "v"],
                         "spillover": 0, "extra": 1});
        let Err(crate::domain::AppError::Invalid { errors }) = VirtualModel::parse(&bad) else {
            panic!("accepted");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"strategy"), "{fields:?}");
        assert!(fields.contains(&"spillover"), "{fields:?}");
        assert!(fields.contains(&"extra"), "{fields:?}");
        let bad = json!({"name": "v", "targets": ["a", "A", "v"]});
        let Err(crate::domain::AppError::Invalid { errors }) = VirtualModel::parse(&bad) else {
            panic!("accepted");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["targets[1]", "targets[2]"]);
        let empty = json!({"name": "v", "targets": []});
        assert!(VirtualModel::parse(&empty).is_err());
    }

    #[test]
    fn a_virtual_model_reads_with_its_defaults() {
        let v = VirtualModel::parse(&json!({"name": "chat", "targets": ["a", "b"]})).unwrap();
        assert_eq!(v.strategy, Strategy::Warm);
        assert_eq!(v.per_target(), 1);
    }
}
