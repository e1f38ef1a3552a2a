//! A llama-swap `config.yaml` read into Corral's models: macros expanded as llama-swap expands
//! them, each model's `cmd` split as a shell would and read flag by flag, and its aliases, ttl,
//! unlisted and concurrency limit kept as serving settings. What has no place in Corral is named.

use std::collections::HashMap;

use serde_json::{Value, json};
use yaml_serde::{Mapping, Value as Yaml};

use crate::domain::export::ExportedModel;
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
];

/// Reads a llama-swap `config.yaml`: each model's `cmd` as llama-server flags, its serving keys,
/// and what has no place in Corral named in `not_mapped`.
pub fn read(text: &str) -> Result<(Vec<ExportedModel>, Vec<String>), AppError> {
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
    for (key, _) in root {
        let key = key_text(key);
        if !matches!(key.as_str(), "models" | "macros") {
            not_mapped.push(format!(
                "{key}: llama-swap's own setting; Corral's are its flags and Settings"
            ));
        }
    }
    let mut spent = 0;
    let globals = macros(root.get("macros"), None, "macros", &mut errors, &mut spent);
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
    super::assemble(drafts, not_mapped)
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
    let cmd = match expand(cmd, &own, notes.spent) {
        Ok(cmd) => cmd,
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
    let serving = read.scopes.entry("serving").or_default();
    serving_settings(settings, serving, &at, notes.not_mapped, notes.errors);
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

/// A key or scalar as text (YAML lets names be numbers).
fn key_text(value: &Yaml) -> String {
    match value {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// Macros in scope: a model's own over the document's.
struct Macros<'a> {
    own: HashMap<String, String>,
    outer: Option<&'a Macros<'a>>,
}

impl Macros<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.own
            .get(name)
            .map(String::as_str)
            .or_else(|| self.outer.and_then(|outer| outer.get(name)))
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
            Some(value) => out.push_str(value),
            None if PER_START.contains(&name) => {
                out.push_str("${");
                out.push_str(name);
                out.push('}');
            }
            None => {
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
        let error = format!("{:?}", read(&text).unwrap_err());
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
