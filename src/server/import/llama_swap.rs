//! A llama-swap `config.yaml` read into Corral's models: macros expanded as llama-swap expands
//! them, each model's `cmd` split as a shell would and read flag by flag, and its aliases, ttl,
//! unlisted and concurrency limit kept as serving settings. What has no place in Corral is named.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};
use yaml_serde::{Mapping, Value as Yaml};

use crate::domain::config::request_shape::PROTECTED;
use crate::domain::fields::FieldSet;
use crate::domain::run_group::RunGroup;
use crate::domain::virtual_model::VirtualModel;
use crate::domain::{AppError, FieldError, Rule};
use crate::server::import::{ModelDraft, bounded_yaml, command_line};

/// Longest text one macro may expand to (a macro that repeats another doubles with each level).
const MAX_EXPANDED: usize = 1 << 20;
/// Bytes every macro value and every expanded command of one document may come to in all
/// (400 models each naming a 1 MiB macro would otherwise be 400 MiB).
const MAX_EXPANDED_TOTAL: usize = 4 << 20;
/// Macros llama-swap fills in per start; Corral chooses the port itself.
const PER_START: &[&str] = &["PORT", "MODEL_ID"];
/// Model keys Corral reads; any other is named as not mapped.
const READ_KEYS: &[&str] = &[
    "cmd",
    "aliases",
    "ttl",
    "unlisted",
    "concurrencyLimit",
    "macros",
    "proxy",
    "filters",
    "metadata",
    "sendLoadingState",
    // Named by `shaping_settings` with what Corral does instead.
    "capabilities",
    "env",
];
/// Top-level keys Corral reads (`hooks.on_startup.preload`, the scheduler's priorities).
const READ_TOP: &[&str] = &["models", "macros", "hooks"];

/// Reads a llama-swap `config.yaml`: each model's `cmd` as llama-server flags, its serving keys,
/// and what has no place in Corral named in `not_mapped`. `${env.NAME}` macros take their values
/// from `env` (the import request's), `HOME` else the home of the user Corral runs as; nothing
/// else is read from Corral's own environment. A model that needs a macro with no value is
/// named and left out; the others are imported.
pub fn read(text: &str, env: &BTreeMap<String, String>) -> Result<super::Read, AppError> {
    let document = bounded_yaml::parse(text)
        .map_err(|e| AppError::invalid("text", Rule::Type, format!("cannot be read: {e}")))?;
    let Some(root) = document.as_mapping() else {
        return Err(AppError::invalid(
            "text",
            Rule::Type,
            "must be a llama-swap config (a mapping with `models`)",
        ));
    };
    let mut not_mapped = Vec::new();
    let mut errors = Vec::new();
    let mut virtuals = Vec::new();
    let mut run_groups = Vec::new();
    for (key, value) in root {
        let key = key_text(key);
        match key.as_str() {
            _ if READ_TOP.contains(&key.as_str()) => {}
            "selectors" => virtuals = selectors(value, &mut not_mapped),
            // Older llama-swap configs keep `groups` at the top.
            "groups" => run_groups.extend(groups(value, "groups", &mut not_mapped)),
            "routing" => run_groups.extend(routing(value, &mut not_mapped)),
            "sendLoadingState" => not_mapped.push(
                "sendLoadingState: Corral's is --loading-state (Settings) or each model's \
                 serving.loading_state"
                    .into(),
            ),
            _ => not_mapped.push(format!(
                "{key}: llama-swap's own setting; Corral's are its flags and Settings"
            )),
        }
    }
    let mut spent = 0;
    let environment = environment(env);
    let globals = macros(
        root.get("macros"),
        Some(&environment),
        "macros",
        &mut errors,
        &mut spent,
    );
    let Some(models) = root.get("models").and_then(Yaml::as_mapping) else {
        return Err(AppError::invalid(
            "text.models",
            Rule::Required,
            "must be a mapping of model names to their settings",
        ));
    };
    if models.len() > super::MAX_MODELS {
        return Err(AppError::invalid(
            "text.models",
            Rule::MaxItems,
            format!("must have at most {} entries", super::MAX_MODELS),
        ));
    }
    let mut drafts = Vec::new();
    for (name, settings) in models {
        let mut notes = Notes {
            errors: &mut errors,
            not_mapped: &mut not_mapped,
            spent: &mut spent,
        };
        if let Some(draft) = read_model(key_text(name), settings, &globals, &mut notes) {
            drafts.push(draft);
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid { errors });
    }
    startup_and_priority(root, &mut drafts, &mut not_mapped);
    let (models, not_mapped) = super::assemble(drafts, not_mapped)?;
    Ok(super::Read {
        models,
        virtuals,
        run_groups,
        not_mapped,
    })
}

/// `hooks.on_startup.preload` → `serving.preload`, and the scheduler's priorities
/// (`routing.scheduler.settings.fifo.priority`) → `serving.priority` (Corral's range, -100 to
/// 100, with a word when one is cut).
fn startup_and_priority(root: &Mapping, drafts: &mut [ModelDraft], not_mapped: &mut Vec<String>) {
    let preload = root
        .get("hooks")
        .and_then(|h| h.get("on_startup"))
        .and_then(|h| h.get("preload"))
        .and_then(Yaml::as_sequence);
    for name in preload.into_iter().flatten() {
        let name = key_text(name);
        let what = "hooks.on_startup.preload";
        if let Some(serving) = serving_of(drafts, &name, not_mapped, what) {
            serving.insert("preload".into(), json!(true));
        }
    }
    let priorities = root
        .get("routing")
        .and_then(|r| r.get("scheduler"))
        .and_then(|s| s.get("settings"))
        .and_then(|s| s.get("fifo"))
        .and_then(|f| f.get("priority"))
        .and_then(Yaml::as_mapping);
    for (name, priority) in priorities.into_iter().flatten() {
        let (name, Some(priority)) = (key_text(name), priority.as_i64()) else {
            continue;
        };
        let what = "routing.scheduler.settings.fifo.priority";
        if let Some(serving) = serving_of(drafts, &name, not_mapped, what) {
            serving.insert("priority".into(), json!(priority.clamp(-100, 100)));
        }
        if !(-100..=100).contains(&priority) {
            not_mapped.push(format!(
                "{what}.{name}: {priority} is cut to Corral's -100 to 100"
            ));
        }
    }
}

/// The serving settings of the model `name` read here, or a word in `not_mapped` (from `what`).
fn serving_of<'a>(
    drafts: &'a mut [ModelDraft],
    name: &str,
    not_mapped: &mut Vec<String>,
    what: &str,
) -> Option<&'a mut serde_json::Map<String, Value>> {
    let found = drafts.iter_mut().find(|d| d.name == name);
    if found.is_none() {
        not_mapped.push(format!("{what}: '{name}' is not a model imported here"));
    }
    found.map(|d| d.read.scopes.entry("serving").or_default())
}

/// llama-swap's `routing`: the group engine's groups (`router.settings.groups`) are Corral's
/// run-together groups; the matrix engine has no equal and is named; the scheduler's
/// priorities are read by `startup_and_priority`.
fn routing(value: &Yaml, not_mapped: &mut Vec<String>) -> Vec<RunGroup> {
    let router = value.get("router");
    let engine = router.and_then(|r| r.get("use")).map(key_text);
    let settings = router.and_then(|r| r.get("settings"));
    if settings.and_then(|s| s.get("matrix")).is_some() || engine.as_deref() == Some("matrix") {
        not_mapped.push(
            "routing.router.settings.matrix: matrix sets have no equal in Corral; its groups, \
             serving.pinned and --max-running say what runs together"
                .into(),
        );
    }
    if engine.as_deref() == Some("matrix") {
        return Vec::new();
    }
    let read = settings
        .and_then(|s| s.get("groups"))
        .map(|g| groups(g, "routing.router.settings.groups", not_mapped))
        .unwrap_or_default();
    if !read.is_empty() {
        not_mapped.push(
            "routing.router: a model in no group runs under --max-running in Corral (llama-swap \
             runs those one at a time)"
                .into(),
        );
    }
    read
}

/// llama-swap's groups (`swap`, `exclusive`, `persistent`, `members`, its defaults kept): one
/// Corral cannot read is named and left out.
fn groups(value: &Yaml, at: &str, not_mapped: &mut Vec<String>) -> Vec<RunGroup> {
    let Some(groups) = value.as_mapping() else {
        not_mapped.push(format!("{at}: not a mapping; left out"));
        return Vec::new();
    };
    let mut read = Vec::new();
    for (name, group) in groups {
        let name = key_text(name);
        let flag = |key: &str| {
            group
                .get(key)
                .map(|v| v.as_bool().map_or(json!(key_text(v)), Value::Bool))
        };
        let members: Vec<String> = group
            .get("members")
            .and_then(Yaml::as_sequence)
            .map(|m| m.iter().map(key_text).collect())
            .unwrap_or_default();
        let body = json!({
            "name": name,
            "swap": flag("swap"),
            "exclusive": flag("exclusive"),
            "persistent": flag("persistent"),
            "members": members,
        });
        match RunGroup::parse(&body) {
            Ok(group) => read.push(group),
            Err(error) => not_mapped.push(format!(
                "{at}.{}: cannot be a group ({error}); left out",
                crate::domain::text::kept(&name)
            )),
        }
    }
    read
}

/// llama-swap's selectors are Corral's virtual models (`strategy`, `targets`,
/// `settings.spillover`); one Corral cannot read is named and left out.
fn selectors(value: &Yaml, not_mapped: &mut Vec<String>) -> Vec<VirtualModel> {
    let Some(selectors) = value.as_mapping() else {
        not_mapped.push("selectors: not a mapping; left out".into());
        return Vec::new();
    };
    let mut read = Vec::new();
    for (name, selector) in selectors {
        let name = key_text(name);
        let targets: Vec<String> = selector
            .get("targets")
            .and_then(Yaml::as_sequence)
            .map(|t| t.iter().map(key_text).collect())
            .unwrap_or_default();
        let mut body = json!({
            "name": name,
            "strategy": selector.get("strategy").map(key_text),
            "targets": targets,
            "spillover": selector.get("settings").and_then(|s| s.get("spillover")).and_then(Yaml::as_i64),
        });
        if body["strategy"].is_null() {
            body["strategy"] = json!("warm");
        }
        match VirtualModel::parse(&body) {
            Ok(model) => read.push(model),
            Err(error) => not_mapped.push(format!(
                "selectors.{}: cannot be a virtual model ({error}); left out",
                crate::domain::text::kept(&name)
            )),
        }
        for key in ["name", "description", "metadata"] {
            if selector.get(key).is_some() {
                not_mapped.push(format!(
                    "selectors.{name}.{key}: no Corral setting for this"
                ));
            }
        }
    }
    read
}

/// Where reading a document writes down what went wrong, what has no place in Corral, and how
/// much macro expansion it has spent.
struct Notes<'a> {
    errors: &'a mut Vec<FieldError>,
    not_mapped: &'a mut Vec<String>,
    spent: &'a mut usize,
}

/// One entry of `models`: its command read as llama-server flags, its serving keys, and what
/// it holds that Corral has no setting for. `None` when it is not imported (said in `notes`).
fn read_model(
    name: String,
    settings: &Yaml,
    globals: &Macros<'_>,
    notes: &mut Notes<'_>,
) -> Option<ModelDraft> {
    let at = format!("models.{name}");
    let Some(settings) = settings.as_mapping() else {
        notes
            .errors
            .push(FieldError::new(at, Rule::Type, "must be a mapping"));
        return None;
    };
    let own = macros(
        settings.get("macros"),
        Some(globals),
        &format!("{at}.macros"),
        notes.errors,
        notes.spent,
    );
    let Some(cmd) = settings.get("cmd").and_then(Yaml::as_str) else {
        notes.errors.push(FieldError::new(
            format!("{at}.cmd"),
            Rule::Required,
            "must be the command that starts the model",
        ));
        return None;
    };
    // Comment lines go first, as llama-swap parses them out: a macro named in a comment is
    // not expanded into the command.
    let cmd = without_comments(cmd);
    let cmd = match expand(&cmd, &own, notes.spent) {
        Ok(cmd) => cmd,
        Err(message) if message.contains(NO_VALUE) => {
            notes.not_mapped.push(format!(
                "{at}: its command {message} (give it in the import's env); not imported"
            ));
            return None;
        }
        Err(message) => {
            notes
                .errors
                .push(FieldError::new(format!("{at}.cmd"), Rule::Pattern, message));
            return None;
        }
    };
    let Some(words) = split_command(&cmd) else {
        notes.errors.push(FieldError::new(
            format!("{at}.cmd"),
            Rule::Pattern,
            "has an unclosed quote",
        ));
        return None;
    };
    let program = words.first().map(String::as_str).unwrap_or_default();
    let program_name = program.rsplit('/').next().unwrap_or_default();
    if !program_name.starts_with("llama-server") {
        notes.not_mapped.push(format!(
            "{at}: runs '{program_name}', not llama-server; not imported"
        ));
        return None;
    }
    let mut read = command_line::read(&words[1..], &format!("{at}.cmd"));
    let gpu = read.scopes.entry("gpu").or_default();
    env_setting(settings, gpu, &at, notes.not_mapped);
    let serving = read.scopes.entry("serving").or_default();
    serving_settings(settings, serving, &at, notes.not_mapped, notes.errors);
    shaping_settings(settings, serving, &at, notes.not_mapped);
    if let Some(metadata) = settings.get("metadata") {
        metadata_setting(metadata, serving, &own, &name, &at, notes);
    }
    for (key, _) in settings {
        let key = key_text(key);
        let proxy_is_the_port = key == "proxy"
            && settings
                .get("proxy")
                .and_then(Yaml::as_str)
                .is_some_and(|p| p.contains("${PORT}"));
        if !READ_KEYS.contains(&key.as_str()) || (key == "proxy" && !proxy_is_the_port) {
            notes
                .not_mapped
                .push(format!("{at}.{key}: no Corral setting for this"));
        }
    }
    Some(ModelDraft { name, at, read })
}

fn serving_settings(
    settings: &Mapping,
    serving: &mut serde_json::Map<String, Value>,
    at: &str,
    not_mapped: &mut Vec<String>,
    errors: &mut Vec<FieldError>,
) {
    if let Some(aliases) = settings.get("aliases") {
        match aliases.as_sequence() {
            Some(items) => {
                let names: Vec<Value> = items.iter().map(|a| json!(key_text(a))).collect();
                serving.insert("aliases".into(), Value::Array(names));
            }
            None => errors.push(FieldError::new(
                format!("{at}.aliases"),
                Rule::Type,
                "must be a list of names",
            )),
        }
    }
    // llama-swap: 0 never unloads (Corral's 0 too); a negative ttl means its global default.
    match settings.get("ttl").map(Yaml::as_i64) {
        None => {}
        Some(Some(ttl)) if ttl >= 0 => {
            serving.insert("idle_ttl_seconds".into(), json!(ttl));
        }
        Some(Some(_)) => not_mapped.push(format!(
            "{at}.ttl: a negative ttl (llama-swap's global default) leaves Corral's --idle-ttl"
        )),
        Some(None) => errors.push(FieldError::new(
            format!("{at}.ttl"),
            Rule::Type,
            "must be a whole number of seconds",
        )),
    }
    match settings.get("unlisted").map(Yaml::as_bool) {
        None => {}
        Some(Some(unlisted)) => {
            serving.insert("unlisted".into(), json!(unlisted));
        }
        Some(None) => errors.push(FieldError::new(
            format!("{at}.unlisted"),
            Rule::Type,
            "must be true or false",
        )),
    }
    match settings.get("concurrencyLimit").map(Yaml::as_i64) {
        None | Some(Some(0)) => {}
        Some(Some(limit)) => {
            serving.insert("max_requests".into(), json!(limit));
        }
        Some(None) => errors.push(FieldError::new(
            format!("{at}.concurrencyLimit"),
            Rule::Type,
            "must be a whole number",
        )),
    }
}

/// `env` (`["NAME=value", …]`) → `gpu.env`, for the variables a model may be given
/// (`gpu::env_refusal`); each other one is named and left out.
fn env_setting(
    settings: &Mapping,
    gpu: &mut serde_json::Map<String, Value>,
    at: &str,
    not_mapped: &mut Vec<String>,
) {
    let Some(entries) = settings.get("env") else {
        return;
    };
    let Some(entries) = entries.as_sequence() else {
        not_mapped.push(format!("{at}.env: not a list of NAME=value; left out"));
        return;
    };
    let mut env = serde_json::Map::new();
    for entry in entries {
        let text = key_text(entry);
        let shown = crate::domain::text::kept(&text);
        let Some((name, value)) = text.split_once('=') else {
            not_mapped.push(format!("{at}.env: '{shown}' is not NAME=value; left out"));
            continue;
        };
        if let Some(why) = crate::domain::config::gpu::env_refusal(name) {
            let name = crate::domain::text::kept(name);
            not_mapped.push(format!("{at}.env.{name}: {why}; left out"));
        } else if value.len() > crate::domain::config::gpu::MAX_ENV_VALUE
            || value.contains(['\0', '\n', '\r'])
        {
            not_mapped.push(format!(
                "{at}.env.{name}: the value is not one line of at most {} bytes; left out",
                crate::domain::config::gpu::MAX_ENV_VALUE
            ));
        } else if env.len() >= crate::domain::config::gpu::MAX_ENV {
            not_mapped.push(format!(
                "{at}.env.{name}: more variables than Corral keeps; left out"
            ));
        } else {
            env.insert(name.to_string(), json!(value));
        }
    }
    if !env.is_empty() {
        gpu.insert("env".into(), Value::Object(env));
    }
}

/// `filters` (`stripParams`, `setParams`, `setParamsByID` for `${MODEL_ID}:suffix`) → Corral's
/// `filters` and `variants`; `sendLoadingState` → `loading_state`.
fn shaping_settings(
    settings: &Mapping,
    serving: &mut serde_json::Map<String, Value>,
    at: &str,
    not_mapped: &mut Vec<String>,
) {
    if settings.contains_key("capabilities") {
        not_mapped.push(format!(
            "{at}.capabilities: Corral reads them from the model's files and settings"
        ));
    }
    if let Some(send) = settings.get("sendLoadingState").and_then(Yaml::as_bool) {
        let state = if send { "reasoning" } else { "off" };
        serving.insert("loading_state".into(), json!(state));
    }
    let Some(filters) = settings.get("filters").and_then(Yaml::as_mapping) else {
        return;
    };
    let mut corral = serde_json::Map::new();
    if let Some(strip) = filters.get("stripParams").and_then(Yaml::as_str) {
        let keys: Vec<&str> = strip
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty() && !PROTECTED.contains(k))
            .collect();
        corral.insert("strip".into(), json!(keys));
    }
    if let Some(set) = filters.get("setParams") {
        match serde_json::to_value(set) {
            Ok(Value::Object(mut set)) => {
                set.retain(|key, _| !PROTECTED.contains(&key.as_str()));
                corral.insert("set".into(), Value::Object(set));
            }
            _ => not_mapped.push(format!("{at}.filters.setParams: not a mapping; left out")),
        }
    }
    if !corral.is_empty() {
        serving.insert("filters".into(), Value::Object(corral));
    }
    let mut variants = serde_json::Map::new();
    let by_id = filters.get("setParamsByID").and_then(Yaml::as_mapping);
    for (id, params) in by_id.into_iter().flatten() {
        let id = key_text(id);
        match (
            id.strip_prefix("${MODEL_ID}:"),
            serde_json::to_value(params),
        ) {
            (Some(suffix), Ok(params @ Value::Object(_))) => {
                variants.insert(suffix.to_string(), params);
            }
            _ => not_mapped.push(format!(
                "{at}.filters.setParamsByID.{id}: only ${{MODEL_ID}}:suffix entries become \
                 variants (name:suffix); parameters for the model's own name go in filters.set"
            )),
        }
    }
    if !variants.is_empty() {
        serving.insert("variants".into(), Value::Object(variants));
    }
}

/// A key or scalar as text (YAML lets names be numbers).
fn key_text(value: &Yaml) -> String {
    match value {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// Macros in scope: a model's own over the document's, over the environment's (`env.NAME`).
struct Macros<'a> {
    own: HashMap<String, String>,
    /// Macros whose value needs one that has none: why, for whoever uses them.
    missing: HashMap<String, String>,
    outer: Option<&'a Macros<'a>>,
}

impl Macros<'_> {
    fn get(&self, name: &str) -> Result<Option<&str>, &str> {
        if let Some(value) = self.own.get(name) {
            return Ok(Some(value));
        }
        if let Some(why) = self.missing.get(name) {
            return Err(why);
        }
        self.outer.map_or(Ok(None), |outer| outer.get(name))
    }
}

/// What expansion says of a macro with no value (a model using one is left out, not refused).
const NO_VALUE: &str = "which has no value";

/// The `${env.NAME}` macros: the import request's `env`, and `HOME` (unless given there) the
/// home of the user Corral runs as.
fn environment(env: &BTreeMap<String, String>) -> Macros<'static> {
    let mut own: HashMap<String, String> = env
        .iter()
        .map(|(name, value)| (format!("env.{name}"), value.clone()))
        .collect();
    if !own.contains_key("env.HOME")
        && let Some(home) = std::env::home_dir()
    {
        own.insert("env.HOME".into(), home.display().to_string());
    }
    Macros {
        own,
        missing: HashMap::new(),
        outer: None,
    }
}

/// `macros` on top of `outer`: each value expanded by the macros before it, as llama-swap
/// does, a later one of the same name replacing the earlier. `spent` counts what expansion has
/// made in the whole document.
fn macros<'a>(
    value: Option<&Yaml>,
    outer: Option<&'a Macros<'a>>,
    at: &str,
    errors: &mut Vec<FieldError>,
    spent: &mut usize,
) -> Macros<'a> {
    let mut known = Macros {
        own: HashMap::new(),
        missing: HashMap::new(),
        outer,
    };
    let Some(value) = value else {
        return known;
    };
    let Some(mapping) = value.as_mapping() else {
        errors.push(FieldError::new(at, Rule::Type, "must be a mapping"));
        return known;
    };
    for (name, body) in mapping {
        let name = key_text(name);
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid || PER_START.contains(&name.as_str()) {
            errors.push(FieldError::new(
                format!("{at}.{}", crate::domain::text::kept(&name)),
                Rule::Pattern,
                "must be a name of letters, digits, '_' and '-' (and not PORT or MODEL_ID)",
            ));
            continue;
        }
        let text = match body {
            Yaml::String(_) | Yaml::Number(_) | Yaml::Bool(_) => key_text(body),
            _ => {
                errors.push(FieldError::new(
                    format!("{at}.{name}"),
                    Rule::Type,
                    "must be text, a number or true/false",
                ));
                continue;
            }
        };
        match expand(&text, &known, spent) {
            Ok(text) => {
                known.own.insert(name, text);
            }
            // Left undefined: only the models that use it are left out.
            Err(message) if message.contains(NO_VALUE) => {
                known.missing.insert(name, message);
            }
            Err(message) => errors.push(FieldError::new(
                format!("{at}.{name}"),
                Rule::Pattern,
                message,
            )),
        }
    }
    known
}

/// `${name}` replaced by its macro; `${PORT}` and `${MODEL_ID}` kept for the command reader
/// (Corral sets the port itself); any other name is an error, as in llama-swap. The text made
/// counts against `spent`, the whole document's expansion.
fn expand(text: &str, macros: &Macros, spent: &mut usize) -> Result<String, String> {
    let mut out = String::with_capacity(text.len().min(MAX_EXPANDED));
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err("has '${' with no closing '}'".to_string());
        };
        let name = &after[..end];
        match macros.get(name) {
            Ok(Some(value)) => out.push_str(value),
            Ok(None) if PER_START.contains(&name) => {
                out.push_str("${");
                out.push_str(name);
                out.push('}');
            }
            Ok(None) if name.starts_with("env.") => {
                return Err(format!(
                    "uses ${{{}}}, {NO_VALUE}",
                    crate::domain::text::kept(name)
                ));
            }
            Err(why) => return Err(why.to_string()),
            Ok(None) => {
                return Err(format!(
                    "uses the macro ${{{}}}, which is not defined",
                    crate::domain::text::kept(name)
                ));
            }
        }
        if out.len() > MAX_EXPANDED {
            return Err(format!("expands to more than {} KiB", MAX_EXPANDED >> 10));
        }
        if *spent + out.len() > MAX_EXPANDED_TOTAL {
            return Err(format!(
                "takes the document's macros past {} MiB expanded in all",
                MAX_EXPANDED_TOTAL >> 20
            ));
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    *spent += out.len();
    Ok(out)
}

/// `metadata` → `serving.metadata`: macros expand in its texts as in the command, and
/// `${MODEL_ID}` is the model's name.
fn metadata_setting(
    metadata: &Yaml,
    serving: &mut serde_json::Map<String, Value>,
    macros: &Macros<'_>,
    name: &str,
    at: &str,
    notes: &mut Notes<'_>,
) {
    match serde_json::to_value(metadata) {
        Ok(Value::Object(mut map)) => {
            for value in map.values_mut() {
                expand_texts(value, macros, name, notes.spent);
            }
            serving.insert("metadata".into(), Value::Object(map));
        }
        _ => notes
            .not_mapped
            .push(format!("{at}.metadata: not a mapping; left out")),
    }
}

/// Every text in `value` with its macros expanded (one that cannot be is left as written).
fn expand_texts(value: &mut Value, macros: &Macros<'_>, model: &str, spent: &mut usize) {
    match value {
        Value::String(text) => {
            if let Ok(expanded) = expand(text, macros, spent) {
                *text = expanded.replace("${MODEL_ID}", model);
            }
        }
        Value::Array(items) => {
            for item in items {
                expand_texts(item, macros, model, spent);
            }
        }
        Value::Object(map) => {
            for item in map.values_mut() {
                expand_texts(item, macros, model, spent);
            }
        }
        _ => {}
    }
}

/// The command without its comment lines.
fn without_comments(cmd: &str) -> String {
    cmd.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The command's words as llama-swap reads them: comment lines dropped, `\` line endings
/// joined, then split as a POSIX shell would (quotes kept together, no expansion).
fn split_command(cmd: &str) -> Option<Vec<String>> {
    let lines: Vec<&str> = cmd
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .map(|line| line.trim_end().strip_suffix('\\').unwrap_or(line))
        .collect();
    shlex::split(&lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macros_expand_in_order_and_a_model_macro_wins() {
        let mut errors = Vec::new();
        let mut spent = 0;
        let yaml: Yaml =
            yaml_serde::from_str("bin: /opt/llama-server\nrun: ${bin} --port ${PORT}\nctx: 4096")
                .unwrap_or(Yaml::Null);
        let globals = macros(Some(&yaml), None, "macros", &mut errors, &mut spent);
        let local: Yaml = yaml_serde::from_str("ctx: 8192").unwrap_or(Yaml::Null);
        let own = macros(Some(&local), Some(&globals), "m", &mut errors, &mut spent);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            expand("${run} -c ${ctx}", &own, &mut spent).as_deref(),
            Ok("/opt/llama-server --port ${PORT} -c 8192")
        );
        assert!(expand("${nope}", &own, &mut spent).is_err_and(|e| e.contains("${nope}")));
    }

    #[test]
    fn a_macro_that_doubles_at_each_level_stops_at_the_cap() {
        let mut text = String::from("a0: xxxxxxxxxxxxxxxx\n");
        for i in 1..40 {
            text.push_str(&format!("a{i}: ${{a{}}}${{a{}}}\n", i - 1, i - 1));
        }
        let yaml: Yaml = yaml_serde::from_str(&text).unwrap_or(Yaml::Null);
        let mut errors = Vec::new();
        macros(Some(&yaml), None, "macros", &mut errors, &mut 0);
        assert!(
            errors
                .iter()
                .any(|e| e.message.contains("expands to more than")),
            "{errors:?}"
        );
    }

    #[test]
    fn many_macros_and_commands_repeating_a_large_one_stop_at_the_documents_total() {
        let mut text = String::from("macros:\n  a0: \"xxxxxxxxxxxxxxxx\"\n");
        for i in 1..=16 {
            text.push_str(&format!("  a{i}: \"${{a{}}}${{a{}}}\"\n", i - 1, i - 1));
        }
        for j in 0..400 {
            text.push_str(&format!("  b{j}: \"${{a16}}\"\n"));
        }
        text.push_str("models:\n  m1:\n    cmd: llama-server -m /m/tiny.gguf\n");
        let started = std::time::Instant::now();
        let error = format!("{:?}", read(&text, &BTreeMap::new()).err());
        assert!(error.contains("4 MiB expanded in all"), "{error}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn commands_split_like_a_shell_with_comments_and_continuations() {
        let words = split_command(
            "llama-server \\\n  # the model\n  -m '/m/a b.gguf' \\\n  --chat-template \"x y\"\n",
        );
        assert_eq!(
            words,
            Some(
                [
                    "llama-server",
                    "-m",
                    "/m/a b.gguf",
                    "--chat-template",
                    "x y"
                ]
                .map(String::from)
                .to_vec()
            )
        );
        assert_eq!(split_command("llama-server -m 'open"), None);
    }
}
