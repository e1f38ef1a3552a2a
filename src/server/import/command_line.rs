//! A llama-server command line read back into Corral's settings: the argument builder run
//! backwards, from the same field descriptions. A flag Corral types becomes that setting; a
//! reviewed flag it does not type becomes an extra argument; every other flag is named, with
//! why, and left out.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::domain::ModelSpec;
use crate::domain::config::ConfigGroupKind;
use crate::domain::config::extra_args::{self, Takes};
use crate::domain::fields::{FieldSet, FieldSpec, Flag, InputKind};

/// Settings read from one command line, by scope (`model` or a group's name), the reviewed
/// flags kept as extra arguments, and what was left out, in words.
#[derive(Debug, Default)]
pub struct ReadSettings {
    pub scopes: BTreeMap<&'static str, Map<String, Value>>,
    pub extra_args: Vec<String>,
    pub not_mapped: Vec<String>,
}

/// Flags Corral sets for every server it starts: dropped without a word.
const CORRALS_OWN: &[&str] = &["--host", "--port"];

/// How many values a flag reads, when Corral knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    Known(usize),
    Unknown,
}

/// What a flag does to a setting.
#[derive(Debug, Clone, Copy)]
enum FlagUse {
    /// The value as typed (`--ctx-size 4096`).
    Value,
    /// A word that stands for a stored value (`--fit on`).
    Spelled(&'static [(&'static str, &'static str)]),
    On,
    Off,
    /// One more list entry.
    Append,
    /// Several list entries, comma-separated.
    Joined,
    ScaledPlain,
    ScaledWithScale,
    /// A choice its flag stands for (`--embeddings`).
    Chosen(&'static str),
    Auto,
}

impl FlagUse {
    fn arity(self) -> usize {
        match self {
            FlagUse::On | FlagUse::Off | FlagUse::Chosen(_) | FlagUse::Auto => 0,
            FlagUse::ScaledWithScale => 2,
            _ => 1,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Meaning {
    Set {
        scope: &'static str,
        field: &'static FieldSpec,
        role: FlagUse,
    },
    Extra(Takes),
    Refused(&'static str),
    CorralsOwn,
    Unknown,
}

fn fields() -> impl Iterator<Item = (&'static str, &'static FieldSpec)> {
    ModelSpec::FIELDS
        .iter()
        .map(|field| (ModelSpec::WHOLE, field))
        .chain(ConfigGroupKind::ALL.iter().flat_map(|kind| {
            kind.fields()
                .iter()
                .map(move |field| (kind.as_str(), field))
        }))
}

/// Whether `flag` turns a switch off: `--no-…`, or a short negation (`-nkvo`, `-nocb`, `-nr`).
fn negates(flag: &str) -> bool {
    flag.starts_with("--no-") || (!flag.starts_with("--") && flag.starts_with("-n"))
}

/// Whether `flag` is `full` less a short ending (`--embedding` for `--embeddings`, `--rerank`
/// for `--reranking`), as llama-server reads them.
fn shortened(full: &str, flag: &str) -> bool {
    flag.starts_with("--") && full.starts_with(flag) && full.len() - flag.len() <= 3
}

/// The role `flag` plays for a field whose flag description is `described`, given every
/// spelling of the same flag (`same`).
fn role_in(described: Flag, flag: &str, same: &[&str]) -> Option<FlagUse> {
    let spelt = |wanted: &str| same.contains(&wanted);
    match described {
        Flag::NotPassed => None,
        Flag::Value(f) => spelt(f).then_some(FlagUse::Value),
        Flag::Spelled(f, words) => spelt(f).then_some(FlagUse::Spelled(words)),
        Flag::Switch { on, off } => {
            if flag == on {
                Some(FlagUse::On)
            } else if off == Some(flag) {
                Some(FlagUse::Off)
            } else if spelt(on) || off.is_some_and(spelt) {
                Some(if negates(flag) {
                    FlagUse::Off
                } else {
                    FlagUse::On
                })
            } else {
                None
            }
        }
        Flag::Each(f) => spelt(f).then_some(FlagUse::Append),
        Flag::Joined(f) => spelt(f).then_some(FlagUse::Joined),
        Flag::Scaled { plain, scaled } => {
            if flag == plain {
                Some(FlagUse::ScaledPlain)
            } else if flag == scaled {
                Some(FlagUse::ScaledWithScale)
            } else {
                None
            }
        }
        Flag::Chosen(choices) => choices
            .iter()
            .find(|(_, f)| spelt(f) || shortened(f, flag))
            .map(|(stored, _)| FlagUse::Chosen(stored)),
        Flag::PathOrAuto { path, auto } => {
            if flag == auto {
                Some(FlagUse::Auto)
            } else {
                spelt(path).then_some(FlagUse::Value)
            }
        }
    }
}

fn meaning(flag: &str) -> Meaning {
    if CORRALS_OWN.contains(&flag) {
        return Meaning::CorralsOwn;
    }
    let reviewed = extra_args::reviewed(flag);
    let same: Vec<&str> = reviewed.map_or_else(|| vec![flag], |r| r.spellings.to_vec());
    for (scope, field) in fields() {
        if let Some(role) = role_in(field.flag, flag, &same) {
            return Meaning::Set { scope, field, role };
        }
    }
    if let Some(reviewed) = reviewed {
        return Meaning::Extra(reviewed.takes);
    }
    let Some((group, why)) = extra_args::refused_group(flag) else {
        return Meaning::Unknown;
    };
    // A refused spelling of a flag Corral types (`-m`, `-mm`, `-md`, `--embedding`) is that
    // setting; the refusal is only about passing it as an extra argument.
    let mut typed = fields().filter_map(|(scope, field)| {
        let role = match field.flag {
            Flag::Value(f) | Flag::PathOrAuto { path: f, .. } if group.contains(&f) => {
                FlagUse::Value
            }
            Flag::Chosen(_) => role_in(field.flag, flag, &[flag])?,
            _ => return None,
        };
        Some(Meaning::Set { scope, field, role })
    });
    match (typed.next(), typed.next()) {
        (Some(only), None) => only,
        _ => Meaning::Refused(why),
    }
}

/// The old load-mode switches `legacy_load_mode` reads.
const LEGACY_SWITCHES: &[&str] = &["--mlock", "--no-mmap", "--mmap"];

/// How many values `flag` (normalised) reads.
pub fn arity(flag: &str) -> Arity {
    if LEGACY_SWITCHES.contains(&flag) {
        return Arity::Known(0);
    }
    match meaning(flag) {
        Meaning::Set { role, .. } => Arity::Known(role.arity()),
        Meaning::Extra(Takes::Nothing) => Arity::Known(0),
        Meaning::Extra(Takes::Value) => Arity::Known(1),
        Meaning::Refused(_) | Meaning::CorralsOwn | Meaning::Unknown => Arity::Unknown,
    }
}

/// The spelling that turns `flag` (a switch) off, if llama-server has one.
pub fn negation(flag: &str) -> Option<String> {
    if flag == "--mmap" {
        return Some("--no-mmap".into());
    }
    match meaning(flag) {
        Meaning::Set {
            field:
                FieldSpec {
                    flag: Flag::Switch { off: Some(off), .. },
                    ..
                },
            ..
        } => Some((*off).to_string()),
        Meaning::Extra(Takes::Nothing) => extra_args::reviewed(flag)?
            .spellings
            .iter()
            .find(|s| s.starts_with("--no-"))
            .map(|s| (*s).to_string()),
        _ => None,
    }
}

/// Whether Corral knows `flag` at all (typed, reviewed, refused or its own).
pub fn known(flag: &str) -> bool {
    LEGACY_SWITCHES.contains(&flag) || !matches!(meaning(flag), Meaning::Unknown)
}

/// A value as the field stores it: numbers as numbers, `true`/`false` for a toggle.
fn typed(field: &FieldSpec, text: &str) -> Value {
    match (field.input, text.trim()) {
        (InputKind::Toggle, "true" | "1" | "on") => Value::Bool(true),
        (InputKind::Toggle, "false" | "0" | "off") => Value::Bool(false),
        _ => field.text_to_value(text),
    }
}

/// Older llama.cpp builds spelt the load mode as switches (`--mlock`, `--no-mmap`, `--mmap`),
/// and many llama-swap configs still do: they become `memory.load_mode` (a `--load-mode` given
/// as well wins). Answers the other arguments.
fn legacy_load_mode(args: &[String], read: &mut ReadSettings) -> Vec<String> {
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let mode = match (has("--mlock"), has("--no-mmap"), has("--mmap")) {
        (true, true, _) => Some("mlock"),
        (true, false, _) => Some("mmap+mlock"),
        (false, true, _) => Some("none"),
        (false, false, true) => Some("mmap"),
        (false, false, false) => None,
    };
    if let Some(mode) = mode {
        read.scopes
            .entry("memory")
            .or_default()
            .insert("load_mode".into(), Value::String(mode.into()));
    }
    args.iter()
        .filter(|a| !LEGACY_SWITCHES.contains(&a.as_str()))
        .cloned()
        .collect()
}

/// Reads `args` (a command line without the program), naming what it leaves out after `at`.
pub fn read(args: &[String], at: &str) -> ReadSettings {
    let mut read = ReadSettings::default();
    let args = &legacy_load_mode(args, &mut read);
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if !arg.starts_with('-') || arg.len() < 2 {
            read.not_mapped.push(format!(
                "{at}: '{arg}' is a value with no flag before it; left out"
            ));
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (extra_args::normalise(flag), Some(value.to_string()))
            }
            _ => (extra_args::normalise(arg), None),
        };
        let meaning = meaning(&flag);
        let wanted = match meaning {
            Meaning::Set { role, .. } => role.arity(),
            Meaning::Extra(Takes::Nothing) => 0,
            Meaning::Extra(Takes::Value) => 1,
            // Unknown arity: a following word that is not a flag is taken as its value.
            Meaning::Refused(_) | Meaning::CorralsOwn | Meaning::Unknown => usize::from(
                inline.is_none()
                    && args
                        .get(i)
                        .is_some_and(|next| !next.starts_with('-') || next.parse::<f64>().is_ok()),
            ),
        };
        // Older llama.cpp's `--flash-attn` was a switch: bare, it meant on.
        let bare_switch = matches!(flag.as_str(), "--flash-attn" | "-fa")
            && inline.is_none()
            && args.get(i).is_none_or(|next| next.starts_with('-'));
        let mut values: Vec<String> = inline.into_iter().collect();
        if bare_switch {
            values.push("on".into());
        }
        while values.len() < wanted && i < args.len() {
            values.push(args[i].clone());
            i += 1;
        }
        if values.len() < wanted {
            read.not_mapped
                .push(format!("{at}: {flag} needs a value; left out"));
            continue;
        }
        match meaning {
            Meaning::Set { scope, field, role } => {
                set(&mut read, at, &flag, scope, field, role, &values)
            }
            Meaning::Extra(_) => {
                read.extra_args.push(flag);
                read.extra_args.extend(values);
            }
            Meaning::CorralsOwn => {}
            Meaning::Refused(why) => read
                .not_mapped
                .push(format!("{at}: {flag} is not allowed: {why}")),
            Meaning::Unknown => read.not_mapped.push(format!(
                "{at}: {flag} is not a llama-server flag Corral knows; left out"
            )),
        }
    }
    check_fields(&mut read, at);
    // An answer names a bounded number of lines: a thousand models of a thousand unknown flags
    // each would otherwise hold a million lines until they were cut.
    if read.not_mapped.len() > MAX_NOT_MAPPED_PER_COMMAND {
        let more = read.not_mapped.len() - MAX_NOT_MAPPED_PER_COMMAND;
        read.not_mapped.truncate(MAX_NOT_MAPPED_PER_COMMAND);
        read.not_mapped
            .push(format!("{at}: … and {more} more arguments left out"));
    }
    read
}

/// Lines one command adds to `not_mapped` at most (then one that counts the rest).
const MAX_NOT_MAPPED_PER_COMMAND: usize = 32;

fn set(
    read: &mut ReadSettings,
    at: &str,
    flag: &str,
    scope: &'static str,
    field: &FieldSpec,
    role: FlagUse,
    values: &[String],
) {
    let object = read.scopes.entry(scope).or_default();
    let first = values.first().map(String::as_str).unwrap_or_default();
    let mut push = |item: Value| match object.get_mut(field.key) {
        Some(Value::Array(items)) => items.push(item),
        _ => {
            object.insert(field.key.to_string(), Value::Array(vec![item]));
        }
    };
    let value = match role {
        FlagUse::Value => typed(field, first),
        FlagUse::Spelled(words) => match words.iter().find(|(_, word)| *word == first) {
            Some((stored, _)) => typed(field, stored),
            None => {
                read.not_mapped.push(format!(
                    "{at}: {flag} {first}: Corral does not know this value; left out"
                ));
                return;
            }
        },
        FlagUse::On => Value::Bool(true),
        FlagUse::Off => Value::Bool(false),
        FlagUse::Chosen(stored) => Value::String(stored.to_string()),
        FlagUse::Auto => Value::String("auto".to_string()),
        FlagUse::Append => return push(Value::String(first.to_string())),
        FlagUse::Joined => {
            for item in first.split(',').filter(|item| !item.is_empty()) {
                push(Value::String(item.to_string()));
            }
            return;
        }
        FlagUse::ScaledPlain => return push(serde_json::json!({"path": first})),
        FlagUse::ScaledWithScale => {
            let scale = values.get(1).and_then(|s| s.parse::<f64>().ok());
            return push(serde_json::json!({"path": first, "scale": scale}));
        }
    };
    object.insert(field.key.to_string(), value);
}

/// Each optional setting against its own rule: one that breaks it is named and left out, so the
/// rest of the command line still imports.
fn check_fields(read: &mut ReadSettings, at: &str) {
    for (scope, object) in &mut read.scopes {
        let specs = if *scope == ModelSpec::WHOLE {
            ModelSpec::FIELDS
        } else {
            ConfigGroupKind::parse(scope).map_or(&[][..], ConfigGroupKind::fields)
        };
        object.retain(|key, value| {
            // A required setting (the model's file) that breaks its rule fails the model
            // instead, by name, when the model is read.
            let Some(field) = specs
                .iter()
                .find(|field| field.key == key && !field.required)
            else {
                return true;
            };
            let errors = field.check(value);
            for error in &errors {
                read.not_mapped.push(format!(
                    "{at}: {scope}.{} {}; left out",
                    error.field, error.message
                ));
            }
            errors.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn short_and_long_spellings_become_the_same_typed_settings() {
        let read = read(
            &args("-m /m/a.gguf -c 4096 -ngl 99 -fa on --temp=0.7 -nkvo --embedding -np 2"),
            "x",
        );
        assert_eq!(read.not_mapped, Vec::<String>::new());
        let model = &read.scopes["model"];
        assert_eq!(model["path"], "/m/a.gguf");
        assert_eq!(model["ctx_size"], 4096);
        assert_eq!(model["parallel"], 2);
        assert_eq!(read.scopes["gpu"]["gpu_layers"], 99);
        assert_eq!(read.scopes["gpu"]["kv_offload"], false);
        assert_eq!(read.scopes["advanced"]["flash_attn"], "on");
        for bare in [&["-fa", "--mlock"][..], &["--flash-attn"]] {
            let args: Vec<String> = bare.iter().map(|a| (*a).to_string()).collect();
            let bare_read = super::read(&args, "cmd");
            assert_eq!(bare_read.scopes["advanced"]["flash_attn"], "on", "{bare:?}");
            assert!(
                bare_read.not_mapped.is_empty(),
                "{:?}",
                bare_read.not_mapped
            );
        }
        assert_eq!(read.scopes["sampling"]["temperature"], 0.7);
        assert_eq!(read.scopes["serving"]["role"], "embeddings");
    }

    #[test]
    fn reviewed_flags_without_a_setting_become_extra_arguments() {
        let read = read(&args("--no-warmup --threads-http 4 -m /m/a.gguf"), "x");
        assert_eq!(read.extra_args, args("--no-warmup --threads-http 4"));
        assert_eq!(read.not_mapped, Vec::<String>::new());
    }

    #[test]
    fn refused_and_unknown_flags_are_named_and_left_out() {
        let read = read(
            &args("--port 9999 --log-file /tmp/l --frobnicate 3 --mlock-it -m /m/a.gguf"),
            "models.a.cmd",
        );
        assert_eq!(read.not_mapped.len(), 3, "{:?}", read.not_mapped);
        assert!(read.not_mapped[0].starts_with("models.a.cmd: --log-file is not allowed"));
        assert!(read.not_mapped[1].contains("--frobnicate is not a llama-server flag"));
        assert!(read.not_mapped[2].contains("--mlock-it"));
        assert_eq!(read.scopes["model"]["path"], "/m/a.gguf");
    }

    #[test]
    fn a_value_outside_the_settings_rule_is_named_and_left_out() {
        let read = read(&args("-c lots --top-p 7 -t 4"), "x");
        assert_eq!(read.not_mapped.len(), 2, "{:?}", read.not_mapped);
        assert!(!read.scopes["model"].contains_key("ctx_size"));
        assert_eq!(read.scopes["model"]["threads"], 4);
        assert!(!read.scopes["sampling"].contains_key("top_p"));
    }

    #[test]
    fn the_old_mlock_and_mmap_switches_become_the_load_mode() {
        for (line, mode) in [
            ("--mlock", "mmap+mlock"),
            ("--no-mmap", "none"),
            ("--mlock --no-mmap", "mlock"),
            ("--mmap", "mmap"),
            ("--mlock --load-mode dio", "dio"),
        ] {
            let read = read(&args(line), "x");
            assert_eq!(read.not_mapped, Vec::<String>::new(), "{line}");
            assert_eq!(read.scopes["memory"]["load_mode"], mode, "{line}");
        }
    }

    #[test]
    fn lists_collect_every_occurrence() {
        let read = read(
            &args(
                "--lora /m/a.gguf --lora-scaled /m/b.gguf 0.5 -dev CUDA0,CUDA1 --override-kv a=int:1 --override-kv b=int:2",
            ),
            "x",
        );
        assert_eq!(
            read.scopes["lora"]["lora"],
            serde_json::json!([{"path": "/m/a.gguf"}, {"path": "/m/b.gguf", "scale": 0.5}])
        );
        assert_eq!(
            read.scopes["gpu"]["devices"],
            serde_json::json!(["CUDA0", "CUDA1"])
        );
        assert_eq!(
            read.scopes["advanced"]["override_kv"],
            serde_json::json!(["a=int:1", "b=int:2"])
        );
    }
}
