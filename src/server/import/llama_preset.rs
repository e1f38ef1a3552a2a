//! A llama.cpp `--models-preset` INI read into Corral's models: `[*]` holds defaults for every
//! section, each other section is one model, and each key is a llama-server flag without its
//! dashes (`ctx-size`, `c`) or its environment name (`LLAMA_ARG_CTX_SIZE`). Booleans turn a
//! switch on or off.

use std::collections::{BTreeMap, HashMap};

use ini::{Ini, ParseOption};

use crate::domain::export::ExportedModel;
use crate::domain::{AppError, Rule};
use crate::server::import::command_line::{self, Arity};
use crate::server::import::{MAX_MODELS, ModelDraft};

/// Bytes the `[*]` defaults may come to once copied into every section.
const MAX_SPREAD_BYTES: usize = 8 << 20;

/// Keys only presets have (they are not llama-server flags).
const PRESET_ONLY: &[&str] = &["load-on-startup", "stop-timeout"];

pub fn read(text: &str) -> Result<(Vec<ExportedModel>, Vec<String>), AppError> {
    let options = ParseOption {
        enabled_quote: true,
        // Windows paths keep their backslashes, as llama.cpp reads them.
        enabled_escape: false,
        ..ParseOption::default()
    };
    too_many_sections(text)?;
    let ini = Ini::load_from_str_opt(text, options)
        .map_err(|e| AppError::invalid("text", Rule::Type, format!("is not an INI file: {e}")))?;
    let mut not_mapped = Vec::new();
    let mut defaults = BTreeMap::new();
    let mut sections: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    // Where each name's section is, so a repeated name is found at once (a scan per section
    // made 110,000 sections cost 11 s).
    let mut index: HashMap<String, usize> = HashMap::new();
    for (section, properties) in &ini {
        // A later key of the same name wins, as in llama.cpp.
        let keys: BTreeMap<String, String> = properties
            .iter()
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        match section {
            None => {
                for key in keys.keys().filter(|k| *k != "version") {
                    not_mapped.push(format!("{key}: keys outside a section are not read"));
                }
            }
            Some("*") => defaults.extend(keys),
            Some(name) => match index.get(name) {
                Some(&at) => sections[at].1.extend(keys),
                None if sections.len() == MAX_MODELS => {
                    return Err(AppError::invalid(
                        "text",
                        Rule::MaxItems,
                        format!("must have at most {MAX_MODELS} sections"),
                    ));
                }
                None => {
                    index.insert(name.to_string(), sections.len());
                    sections.push((name.to_string(), keys));
                }
            },
        }
    }
    // Every section reads the `[*]` defaults again: their size times the sections is what the
    // reading costs (a few KiB of defaults over a thousand sections would be gigabytes).
    let defaults_bytes: usize = defaults.iter().map(|(k, v)| k.len() + v.len() + 8).sum();
    if defaults_bytes.saturating_mul(sections.len()) > MAX_SPREAD_BYTES {
        return Err(AppError::invalid(
            "text",
            Rule::MaxLength,
            format!(
                "its [*] defaults repeated over its {} sections come to more than {} MiB",
                sections.len(),
                MAX_SPREAD_BYTES >> 20
            ),
        ));
    }
    let mut drafts = Vec::new();
    for (name, keys) in sections {
        let at = format!("[{name}]");
        let mut merged = defaults.clone();
        merged.extend(keys);
        let mut args = Vec::new();
        for (key, value) in &merged {
            if PRESET_ONLY.contains(&key.as_str()) {
                not_mapped.push(format!(
                    "{at}: {key}: a preset-only setting with no Corral equivalent"
                ));
                continue;
            }
            match words(key, value) {
                Ok(words) => args.extend(words),
                Err(why) => not_mapped.push(format!("{at}: {key} = {value}: {why}")),
            }
        }
        let read = command_line::read(&args, &at);
        drafts.push(ModelDraft { name, at, read });
    }
    super::assemble(drafts, not_mapped)
}

/// Refuses a preset with more than `MAX_MODELS` model sections before it is parsed: the INI
/// reader keeps a table per section, and 110,000 of them (880 KB of text) took 55 MiB.
fn too_many_sections(text: &str) -> Result<(), AppError> {
    let mut names = std::collections::HashSet::new();
    for line in text.lines() {
        let Some(rest) = line.trim_start().strip_prefix('[') else {
            continue;
        };
        let name = rest.split(']').next().unwrap_or_default().trim();
        if name != "*" && names.insert(name) && names.len() > MAX_MODELS {
            return Err(AppError::invalid(
                "text",
                Rule::MaxItems,
                format!("must have at most {MAX_MODELS} sections"),
            ));
        }
    }
    Ok(())
}

/// The flag a key names: `LLAMA_ARG_CTX_SIZE` and `ctx-size` → `--ctx-size`, `c` → `-c`.
fn flag_of(key: &str) -> String {
    if let Some(env) = key.strip_prefix("LLAMA_ARG_") {
        return format!("--{}", env.to_ascii_lowercase().replace('_', "-"));
    }
    let long = format!("--{key}");
    let short = format!("-{key}");
    if command_line::known(&long) || !command_line::known(&short) {
        long
    } else {
        short
    }
}

/// One key as command-line words: a switch by its boolean, anything else as flag and value.
fn words(key: &str, value: &str) -> Result<Vec<String>, &'static str> {
    let flag = flag_of(key);
    let on = match value.to_ascii_lowercase().as_str() {
        "true" | "on" | "1" | "yes" => Some(true),
        "false" | "off" | "0" | "no" => Some(false),
        _ => None,
    };
    match (command_line::arity(&flag), on) {
        (Arity::Known(0), Some(true)) => Ok(vec![flag]),
        (Arity::Known(0), Some(false)) => command_line::negation(&flag)
            .map(|off| vec![off])
            .ok_or("this switch has no way to be turned off; left out"),
        (Arity::Known(0), None) => Err("a switch takes true or false; left out"),
        (Arity::Known(2), _) => Ok(std::iter::once(flag)
            .chain(value.split_whitespace().map(str::to_string))
            .collect()),
        _ => Ok(vec![flag, value.to_string()]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preset_of_a_hundred_thousand_sections_is_refused_at_once_naming_the_limit() {
        let text: String = (0..110_000).map(|i| format!("[{i}]\n")).collect();
        let started = std::time::Instant::now();
        let error = format!("{:?}", read(&text).unwrap_err());
        assert!(error.contains("at most 1000 sections"), "{error}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn keys_name_flags_by_long_short_and_environment_spelling() {
        assert_eq!(flag_of("ctx-size"), "--ctx-size");
        assert_eq!(flag_of("c"), "-c");
        assert_eq!(flag_of("ngl"), "-ngl");
        assert_eq!(flag_of("LLAMA_ARG_N_GPU_LAYERS"), "--n-gpu-layers");
        assert_eq!(flag_of("made-up"), "--made-up");
    }

    #[test]
    fn booleans_turn_switches_on_and_off() {
        assert_eq!(words("jinja", "true"), Ok(vec!["--jinja".to_string()]));
        assert_eq!(
            words("kv-offload", "false"),
            Ok(vec!["--no-kv-offload".to_string()])
        );
        assert_eq!(
            words("warmup", "false"),
            Ok(vec!["--no-warmup".to_string()])
        );
        assert!(words("jinja", "maybe").is_err());
        // The old load-mode switches, read as `memory.load_mode` by the command reader.
        assert_eq!(words("no-mmap", "true"), Ok(vec!["--no-mmap".to_string()]));
        assert_eq!(words("mmap", "false"), Ok(vec!["--no-mmap".to_string()]));
        assert_eq!(words("mlock", "true"), Ok(vec!["--mlock".to_string()]));
        assert_eq!(
            words("temp", "0.5"),
            Ok(vec!["--temp".to_string(), "0.5".to_string()])
        );
    }
}
