//! A llama-swap `config.yaml` read into Corral's models: macros expanded as llama-swap expands
//! them, each model's `cmd` split as a shell would and read flag by flag, and its aliases, ttl,
//! unlisted and concurrency limit kept as serving settings. What has no place in Corral is named.

use serde_json::{Value, json};
use yaml_serde::{Mapping, Value as Yaml};

use crate::domain::export::ExportedModel;
use crate::domain::{AppError, FieldError, Rule};
use crate::server::import::{ModelDraft, command_line};

/// Longest text one macro may expand to (a macro that repeats another doubles with each level).
const MAX_EXPANDED: usize = 1 << 20;
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

pub fn read(text: &str) -> Result<(Vec<ExportedModel>, Vec<String>), AppError> {
    let document: Yaml = yaml_serde::from_str(text)
        .map_err(|e| AppError::invalid("text", Rule::Type, format!("is not YAML: {e}")))?;
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
    let globals = macros(root.get("macros"), &[], "macros", &mut errors);
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
        let name = key_text(name);
        let at = format!("models.{name}");
        let Some(settings) = settings.as_mapping() else {
            errors.push(FieldError::new(at, Rule::Type, "must be a mapping"));
            continue;
        };
        let own = macros(
            settings.get("macros"),
            &globals,
            &format!("{at}.macros"),
            &mut errors,
        );
        let Some(cmd) = settings.get("cmd").and_then(Yaml::as_str) else {
            errors.push(FieldError::new(
                format!("{at}.cmd"),
                Rule::Required,
                "must be the command that starts the model",
            ));
            continue;
        };
        let cmd = match expand(cmd, &own) {
            Ok(cmd) => cmd,
            Err(message) => {
                errors.push(FieldError::new(format!("{at}.cmd"), Rule::Pattern, message));
                continue;
            }
        };
        let Some(words) = split_command(&cmd) else {
            errors.push(FieldError::new(
                format!("{at}.cmd"),
                Rule::Pattern,
                "has an unclosed quote",
            ));
            continue;
        };
        let program = words.first().map(String::as_str).unwrap_or_default();
        let program_name = program.rsplit('/').next().unwrap_or_default();
        if !program_name.starts_with("llama-server") {
            not_mapped.push(format!(
                "{at}: runs '{program_name}', not llama-server; not imported"
            ));
            continue;
        }
        let mut read = command_line::read(&words[1..], &format!("{at}.cmd"));
        let serving = read.scopes.entry("serving").or_default();
        serving_settings(settings, serving, &at, &mut not_mapped, &mut errors);
        for (key, _) in settings {
            let key = key_text(key);
            let proxy_is_the_port = key == "proxy"
                && settings
                    .get("proxy")
                    .and_then(Yaml::as_str)
                    .is_some_and(|p| p.contains("${PORT}"));
            if !READ_KEYS.contains(&key.as_str()) || (key == "proxy" && !proxy_is_the_port) {
                not_mapped.push(format!("{at}.{key}: no Corral setting for this"));
            }
        }
        drafts.push(ModelDraft { name, at, read });
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid { errors });
    }
    super::assemble(drafts, not_mapped)
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

/// `macros` on top of `inherited`: each value expanded by the macros before it, as llama-swap
/// does, a later one of the same name replacing the earlier.
fn macros(
    value: Option<&Yaml>,
    inherited: &[(String, String)],
    at: &str,
    errors: &mut Vec<FieldError>,
) -> Vec<(String, String)> {
    let mut known = inherited.to_vec();
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
                format!("{at}.{name}"),
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
        match expand(&text, &known) {
            Ok(text) => {
                known.retain(|(n, _)| *n != name);
                known.push((name, text));
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
/// (Corral sets the port itself); any other name is an error, as in llama-swap.
fn expand(text: &str, macros: &[(String, String)]) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err("has '${' with no closing '}'".to_string());
        };
        let name = &after[..end];
        match macros.iter().rev().find(|(n, _)| n == name) {
            Some((_, value)) => out.push_str(value),
            None if PER_START.contains(&name) => {
                out.push_str("${");
                out.push_str(name);
                out.push('}');
            }
            None => return Err(format!("uses the macro ${{{name}}}, which is not defined")),
        }
        if out.len() > MAX_EXPANDED {
            return Err(format!("expands to more than {} KiB", MAX_EXPANDED >> 10));
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
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
        let yaml: Yaml =
            yaml_serde::from_str("bin: /opt/llama-server\nrun: ${bin} --port ${PORT}\nctx: 4096")
                .unwrap_or(Yaml::Null);
        let globals = macros(Some(&yaml), &[], "macros", &mut errors);
        let local: Yaml = yaml_serde::from_str("ctx: 8192").unwrap_or(Yaml::Null);
        let own = macros(Some(&local), &globals, "m", &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            expand("${run} -c ${ctx}", &own).as_deref(),
            Ok("/opt/llama-server --port ${PORT} -c 8192")
        );
        assert!(expand("${nope}", &own).is_err_and(|e| e.contains("${nope}")));
    }

    #[test]
    fn a_macro_that_doubles_at_each_level_stops_at_the_cap() {
        let mut text = String::from("a0: xxxxxxxxxxxxxxxx\n");
        for i in 1..40 {
            text.push_str(&format!("a{i}: ${{a{}}}${{a{}}}\n", i - 1, i - 1));
        }
        let yaml: Yaml = yaml_serde::from_str(&text).unwrap_or(Yaml::Null);
        let mut errors = Vec::new();
        macros(Some(&yaml), &[], "macros", &mut errors);
        assert!(
            errors
                .iter()
                .any(|e| e.message.contains("expands to more than")),
            "{errors:?}"
        );
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
