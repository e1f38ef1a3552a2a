//! Field descriptions: for every editable setting, its label, help, default and rule, written
//! once. They drive three things that must agree: validation of untrusted JSON (the API), the
//! forms on the page, and the messages both show. Parsing goes JSON → checks per field → typed
//! struct → cross-field checks, so every error names its field.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::domain::error::{AppError, FieldError, Rule};

/// What kind of value a field holds and the rule it must keep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InputKind {
    Integer {
        min: i64,
        max: i64,
    },
    Float {
        min: f64,
        max: f64,
    },
    /// On or off; empty means "llama-server's default".
    Toggle,
    Choice {
        options: &'static [&'static str],
    },
    Text {
        max_len: usize,
        multiline: bool,
    },
    /// An absolute path, or one of a few keywords (`auto`).
    Path {
        keywords: &'static [&'static str],
    },
    /// A whole number or one of a few keywords (GPU layers: `auto`, `all`, or a count).
    IntegerOrKeyword {
        min: i64,
        max: i64,
        keywords: &'static [&'static str],
    },
    /// A list of separate strings, one per line in a form (never split on spaces).
    List {
        max_items: usize,
    },
    /// A list of `{path, scale}`, one `path scale` per line in a form.
    ScaledPaths {
        max_items: usize,
    },
    /// A JSON object, written as JSON in a form (its own rules are its set's `cross_check`).
    JsonObject {
        max_bytes: usize,
    },
}

/// How a set field reaches llama-server; an unset field passes nothing, so llama-server's own
/// default applies. The argument builder is a loop over these.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Flag {
    /// Not a llama-server flag: Corral's own (name, kind), or passed as typed (extra arguments).
    NotPassed,
    /// `--flag value`, the value as stored.
    Value(&'static str),
    /// `--flag word`, each stored value (`true`, `v2`) spelled as llama-server reads it.
    Spelled(&'static str, &'static [(&'static str, &'static str)]),
    /// A flag for on and one for off; `off: None` when off is llama-server's default and has
    /// no flag of its own.
    Switch {
        on: &'static str,
        off: Option<&'static str>,
    },
    /// The flag once per list entry.
    Each(&'static str),
    /// One flag, the entries joined by commas.
    Joined(&'static str),
    /// Per `{path, scale}` entry: `plain path`, or `scaled path:scale`.
    Scaled {
        plain: &'static str,
        scaled: &'static str,
    },
    /// A flag for some choices (`embeddings` → `--embeddings`); the others pass nothing.
    Chosen(&'static [(&'static str, &'static str)]),
    /// A path, or the keyword `auto`, which has a flag of its own.
    PathOrAuto {
        path: &'static str,
        auto: &'static str,
    },
}

impl Flag {
    /// The flags this description can produce, for checking them against a server's `--help`.
    pub fn spellings(self) -> Vec<&'static str> {
        match self {
            Flag::NotPassed => vec![],
            Flag::Value(flag) | Flag::Spelled(flag, _) | Flag::Each(flag) | Flag::Joined(flag) => {
                vec![flag]
            }
            Flag::Switch { on, off } => std::iter::once(on).chain(off).collect(),
            Flag::Scaled { plain, scaled } => vec![plain, scaled],
            Flag::PathOrAuto { path, auto } => vec![path, auto],
            Flag::Chosen(flags) => flags.iter().map(|(_, flag)| *flag).collect(),
        }
    }
}

/// One editable field: what a person reads, the rule it keeps, how it reaches llama-server and
/// where it is stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldSpec {
    pub key: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    /// What applies when the field is left empty, in words.
    pub default: &'static str,
    pub input: InputKind,
    pub required: bool,
    pub flag: Flag,
    /// Its own column of the `models` table; `None` for a group setting, which is stored under
    /// `key` in its group's JSON document (`config_<group>.config`).
    pub column: Option<&'static str>,
}

const MAX_PATH_LEN: usize = 4096;
const MAX_ITEM_LEN: usize = 4096;
const MAX_SCALE: f64 = 100.0;

impl FieldSpec {
    /// A valid value that is not the default, for examples and tests; `None` for free text,
    /// which needs content of its own kind (a chat template, a CPU mask).
    pub fn example_value(&self) -> Option<serde_json::Value> {
        use serde_json::json;
        // Lists whose entries have a grammar of their own (checked across the group).
        match self.key {
            "extra_args" => return Some(json!(["--no-warmup"])),
            "rpc_servers" => return Some(json!(["192.168.1.20:50052"])),
            "gpu_budget_mib" => return Some(json!(["0=20000"])),
            "filters" => return Some(json!({"strip": ["temperature"]})),
            "variants" => return Some(json!({"high": {"top_k": 1}})),
            _ => {}
        }
        Some(match self.input {
            InputKind::Integer { min, max } => json!(if min < 1 && 1 <= max { 1 } else { max }),
            InputKind::Float { max, .. } => json!(max.min(1.0)),
            InputKind::Toggle => json!(true),
            InputKind::Choice { options } => json!(options.first()?),
            InputKind::Text { .. } => return None,
            InputKind::Path { .. } => json!("/x/y.gguf"),
            InputKind::IntegerOrKeyword { .. } => json!(1),
            InputKind::List { .. } => json!(["a"]),
            InputKind::ScaledPaths { .. } => json!([{"path": "/x/y.gguf"}]),
            InputKind::JsonObject { .. } => json!({}),
        })
    }

    pub const fn new(key: &'static str, label: &'static str, input: InputKind) -> Self {
        FieldSpec {
            key,
            label,
            help: "",
            default: "",
            input,
            required: false,
            flag: Flag::NotPassed,
            column: None,
        }
    }
    pub const fn int(key: &'static str, label: &'static str, min: i64, max: i64) -> Self {
        Self::new(key, label, InputKind::Integer { min, max })
    }
    pub const fn float(key: &'static str, label: &'static str, min: f64, max: f64) -> Self {
        Self::new(key, label, InputKind::Float { min, max })
    }
    pub const fn toggle(key: &'static str, label: &'static str) -> Self {
        Self::new(key, label, InputKind::Toggle)
    }
    pub const fn choice(
        key: &'static str,
        label: &'static str,
        options: &'static [&'static str],
    ) -> Self {
        Self::new(key, label, InputKind::Choice { options })
    }
    pub const fn text(key: &'static str, label: &'static str, max_len: usize) -> Self {
        Self::new(
            key,
            label,
            InputKind::Text {
                max_len,
                multiline: false,
            },
        )
    }
    pub const fn long_text(key: &'static str, label: &'static str, max_len: usize) -> Self {
        Self::new(
            key,
            label,
            InputKind::Text {
                max_len,
                multiline: true,
            },
        )
    }
    pub const fn path(key: &'static str, label: &'static str) -> Self {
        Self::new(key, label, InputKind::Path { keywords: &[] })
    }
    pub const fn json_object(key: &'static str, label: &'static str, max_bytes: usize) -> Self {
        Self::new(key, label, InputKind::JsonObject { max_bytes })
    }
    pub const fn list(key: &'static str, label: &'static str, max_items: usize) -> Self {
        Self::new(key, label, InputKind::List { max_items })
    }
    pub const fn help(mut self, help: &'static str) -> Self {
        self.help = help;
        self
    }
    pub const fn default(mut self, default: &'static str) -> Self {
        self.default = default;
        self
    }
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub const fn flag(mut self, flag: Flag) -> Self {
        self.flag = flag;
        self
    }
    /// `--flag value`: the common case.
    pub const fn passed_as(self, flag: &'static str) -> Self {
        self.flag(Flag::Value(flag))
    }
    pub const fn column(mut self, column: &'static str) -> Self {
        self.column = Some(column);
        self
    }

    /// Checks one JSON value against this field's rule.
    pub fn check(&self, value: &Value) -> Vec<FieldError> {
        let key = self.key;
        let fail = |rule: Rule, message: String| vec![FieldError::new(key, rule, message)];
        let blank = value.is_null() || value.as_str().is_some_and(|s| s.trim().is_empty());
        if self.required && blank {
            return fail(Rule::Required, "is required".into());
        }
        if value.is_null() {
            return Vec::new();
        }
        match self.input {
            InputKind::Integer { min, max } => check_integer(key, value, min, max, &[]),
            InputKind::IntegerOrKeyword { min, max, keywords } => {
                check_integer(key, value, min, max, keywords)
            }
            InputKind::Float { min, max } => match value.as_f64() {
                None => fail(Rule::Type, "must be a number".into()),
                Some(n) if n < min || n > max => {
                    fail(Rule::Range, format!("must be between {min} and {max}"))
                }
                Some(_) => Vec::new(),
            },
            InputKind::Toggle => match value {
                Value::Bool(_) => Vec::new(),
                _ => fail(Rule::Type, "must be true or false".into()),
            },
            InputKind::Choice { options } => match value.as_str() {
                Some(s) if options.contains(&s) => Vec::new(),
                _ => fail(
                    Rule::OneOf,
                    format!("must be one of: {}", options.join(", ")),
                ),
            },
            InputKind::Text { max_len, multiline } => match value.as_str() {
                None => fail(Rule::Type, "must be text".into()),
                Some(s) => check_text(key, s, max_len, multiline),
            },
            InputKind::Path { keywords } => match value.as_str() {
                Some(s) if keywords.contains(&s) => Vec::new(),
                Some(s) => check_path(key, s, keywords),
                None => fail(Rule::Type, "must be text".into()),
            },
            InputKind::List { max_items } => check_list(key, value, max_items),
            InputKind::ScaledPaths { max_items } => check_scaled_paths(key, value, max_items),
            InputKind::JsonObject { max_bytes } => match value {
                Value::Object(_) if value.to_string().len() <= max_bytes => Vec::new(),
                Value::Object(_) => fail(
                    Rule::MaxLength,
                    format!("must be at most {max_bytes} bytes as JSON"),
                ),
                _ => fail(Rule::Type, "must be a JSON object ({…})".into()),
            },
        }
    }

    /// The text a form shows for a stored value.
    pub fn value_to_text(&self, value: &Value) -> String {
        match (self.input, value) {
            (_, Value::Null) => String::new(),
            (InputKind::JsonObject { .. }, Value::Object(map)) if map.is_empty() => String::new(),
            (InputKind::JsonObject { .. }, _) => {
                serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
            }
            (InputKind::Toggle, Value::Bool(on)) => if *on { "on" } else { "off" }.to_string(),
            (_, Value::String(s)) => s.clone(),
            (_, Value::Number(n)) => n.to_string(),
            (InputKind::ScaledPaths { .. }, Value::Array(items)) => items
                .iter()
                .map(|item| {
                    let path = item.get("path").and_then(Value::as_str).unwrap_or_default();
                    match item.get("scale").and_then(Value::as_f64) {
                        Some(scale) => format!("{path} {scale}"),
                        None => path.to_string(),
                    }
                })
                .collect::<Vec<_>>()
                .join("\n"),
            (_, Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map_or_else(|| item.to_string(), str::to_string)
                })
                .collect::<Vec<_>>()
                .join("\n"),
            (_, other) => other.to_string(),
        }
    }

    /// The JSON value for what a person typed. Text that is not a number stays text, so the
    /// check reports it with the same message the API gives.
    pub fn text_to_value(&self, text: &str) -> Value {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Value::Null;
        }
        let as_text = || Value::String(trimmed.to_string());
        match self.input {
            InputKind::Integer { .. } | InputKind::IntegerOrKeyword { .. } => trimmed
                .parse::<i64>()
                .map_or_else(|_| as_text(), Value::from),
            InputKind::Float { .. } => trimmed
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or_else(as_text, Value::Number),
            InputKind::Toggle => match trimmed {
                "on" => Value::Bool(true),
                "off" => Value::Bool(false),
                _ => as_text(),
            },
            InputKind::Text {
                multiline: true, ..
            } => Value::String(text.to_string()),
            InputKind::Choice { .. } | InputKind::Text { .. } | InputKind::Path { .. } => as_text(),
            InputKind::List { .. } => Value::Array(
                lines(text)
                    .map(|line| Value::String(line.to_string()))
                    .collect(),
            ),
            InputKind::ScaledPaths { .. } => {
                Value::Array(lines(text).map(scaled_path_line).collect())
            }
            // Not JSON stays text, for the check to name.
            InputKind::JsonObject { .. } => {
                serde_json::from_str(trimmed).unwrap_or_else(|_| as_text())
            }
        }
    }
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|line| !line.is_empty())
}

/// `path` or `path scale`: a trailing number after a space is the scale.
fn scaled_path_line(line: &str) -> Value {
    if let Some((path, scale)) = line.rsplit_once(char::is_whitespace)
        && let Some(scale) = scale
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
    {
        return serde_json::json!({"path": path.trim_end(), "scale": scale});
    }
    serde_json::json!({"path": line})
}

fn check_integer(
    key: &str,
    value: &Value,
    min: i64,
    max: i64,
    keywords: &[&str],
) -> Vec<FieldError> {
    if let Some(word) = value.as_str()
        && keywords.contains(&word)
    {
        return Vec::new();
    }
    let alternatives = if keywords.is_empty() {
        String::new()
    } else {
        format!(" or one of: {}", keywords.join(", "))
    };
    match value.as_i64() {
        Some(n) if n >= min && n <= max => Vec::new(),
        Some(_) => vec![FieldError::new(
            key,
            Rule::Range,
            format!("must be between {min} and {max}{alternatives}"),
        )],
        None => vec![FieldError::new(
            key,
            Rule::Type,
            format!("must be a whole number{alternatives}"),
        )],
    }
}

/// Control characters never belong in a setting (a NUL would even cut an argument short).
fn has_control_chars(s: &str, multiline: bool) -> bool {
    s.chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
}

fn check_text(key: &str, s: &str, max_len: usize, multiline: bool) -> Vec<FieldError> {
    if s.chars().count() > max_len {
        vec![FieldError::new(
            key,
            Rule::MaxLength,
            format!("must be at most {max_len} characters"),
        )]
    } else if has_control_chars(s, multiline) {
        vec![FieldError::new(
            key,
            Rule::NoControlChars,
            "must not contain control characters",
        )]
    } else {
        Vec::new()
    }
}

fn check_path(key: &str, s: &str, keywords: &[&str]) -> Vec<FieldError> {
    let too_long = check_text(key, s, MAX_PATH_LEN, false);
    if !too_long.is_empty() {
        return too_long;
    }
    if s.starts_with('/') {
        return Vec::new();
    }
    let message = if keywords.is_empty() {
        "must be an absolute path (starting with /)".to_string()
    } else {
        format!(
            "must be an absolute path (starting with /) or one of: {}",
            keywords.join(", ")
        )
    };
    vec![FieldError::new(key, Rule::AbsolutePath, message)]
}

fn check_list(key: &str, value: &Value, max_items: usize) -> Vec<FieldError> {
    let Some(items) = value.as_array() else {
        return vec![FieldError::new(key, Rule::Type, "must be a list of text")];
    };
    if items.len() > max_items {
        return vec![FieldError::new(
            key,
            Rule::MaxItems,
            format!("must have at most {max_items} entries"),
        )];
    }
    items
        .iter()
        .enumerate()
        .flat_map(|(i, item)| {
            let field = format!("{key}[{i}]");
            match item.as_str() {
                None => vec![FieldError::new(field, Rule::Type, "must be text")],
                Some("") => vec![FieldError::new(field, Rule::Required, "must not be empty")],
                Some(s) => check_text(&field, s, MAX_ITEM_LEN, false),
            }
        })
        .collect()
}

/// Why a path cannot go to a flag that takes a list (`--lora a.gguf,b.gguf`, and
/// `--lora-scaled a.gguf:0.5`): llama-server splits the value at `,` and `:` (and reads `"` as
/// quoting), so such a path would name other files than the one checked.
pub fn listed_path_problem(path: &str) -> Option<String> {
    path.chars()
        .find(|c| matches!(c, ',' | ':' | '"'))
        .map(|c| {
            format!(
                "may not hold '{c}': llama-server splits this setting's value at ',' and ':' \
                 (rename the file or its folder)"
            )
        })
}

fn check_scaled_paths(key: &str, value: &Value, max_items: usize) -> Vec<FieldError> {
    let Some(items) = value.as_array() else {
        return vec![FieldError::new(
            key,
            Rule::Type,
            "must be a list of {path, scale}",
        )];
    };
    if items.len() > max_items {
        return vec![FieldError::new(
            key,
            Rule::MaxItems,
            format!("must have at most {max_items} entries"),
        )];
    }
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let field = format!("{key}[{i}]");
        let Some(object) = item.as_object() else {
            errors.push(FieldError::new(field, Rule::Type, "must be {path, scale}"));
            continue;
        };
        for unknown in object
            .keys()
            .filter(|k| !matches!(k.as_str(), "path" | "scale"))
        {
            errors.push(FieldError::new(
                format!("{field}.{unknown}"),
                Rule::UnknownField,
                "is not a known setting",
            ));
        }
        match object.get("path").and_then(Value::as_str) {
            Some(path) => {
                let checked = check_path(&format!("{field}.path"), path, &[]);
                if checked.is_empty()
                    && let Some(why) = listed_path_problem(path)
                {
                    errors.push(FieldError::new(format!("{field}.path"), Rule::Pattern, why));
                }
                errors.extend(checked);
            }
            None => errors.push(FieldError::new(
                format!("{field}.path"),
                Rule::Required,
                "is required",
            )),
        }
        match object.get("scale") {
            None | Some(Value::Null) => {}
            Some(scale) => match scale.as_f64() {
                Some(s) if (-MAX_SCALE..=MAX_SCALE).contains(&s) => {}
                Some(_) => errors.push(FieldError::new(
                    format!("{field}.scale"),
                    Rule::Range,
                    format!("must be between -{MAX_SCALE} and {MAX_SCALE}"),
                )),
                None => errors.push(FieldError::new(
                    format!("{field}.scale"),
                    Rule::Type,
                    "must be a number",
                )),
            },
        }
    }
    errors
}

/// A struct whose fields are all described by `FIELDS`.
pub trait FieldSet: Serialize + DeserializeOwned {
    const FIELDS: &'static [FieldSpec];
    /// The request field that carries the whole set: named when it is not an object at all.
    const WHOLE: &'static str = "config";

    /// Rules that involve more than one field.
    fn cross_check(&self) -> Vec<FieldError> {
        Vec::new()
    }

    /// Untrusted JSON → a valid value, or every broken rule with its field.
    fn parse(value: &Value) -> Result<Self, AppError> {
        let Some(object) = value.as_object() else {
            return Err(AppError::invalid(
                Self::WHOLE,
                Rule::Type,
                "must be a JSON object",
            ));
        };
        let mut errors: Vec<FieldError> = object
            .keys()
            .filter(|key| !Self::FIELDS.iter().any(|f| f.key == key.as_str()))
            .map(|key| FieldError::new(key.clone(), Rule::UnknownField, "is not a known setting"))
            .collect();
        for field in Self::FIELDS {
            errors.extend(field.check(object.get(field.key).unwrap_or(&Value::Null)));
        }
        if !errors.is_empty() {
            return Err(AppError::Invalid { errors });
        }
        // `null` means "the default": drop it so serde's defaults apply (an empty list, None).
        let mut present = object.clone();
        present.retain(|_, v| !v.is_null());
        let parsed: Self = serde_json::from_value(Value::Object(present))
            .map_err(|e| AppError::invalid("", Rule::Type, e.to_string()))?;
        let errors = parsed.cross_check();
        if errors.is_empty() {
            Ok(parsed)
        } else {
            Err(AppError::Invalid { errors })
        }
    }

    /// The value as a JSON object (for merging a patch and for forms).
    fn to_object(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }
}

/// Applies a JSON merge patch (RFC 7396, one level: a key replaces, `null` clears) to `base`.
pub fn merge_patch(base: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        base.insert(key.clone(), value.clone());
    }
}

/// Which fields differ between two versions, for the audit trail.
pub fn changed_fields(before: &Map<String, Value>, after: &Map<String, Value>) -> Vec<FieldChange> {
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let old = before.get(key).cloned().unwrap_or(Value::Null);
            let new = after.get(key).cloned().unwrap_or(Value::Null);
            (old != new).then(|| FieldChange {
                field: key.clone(),
                before: old,
                after: new,
            })
        })
        .collect()
}

/// One field's change in the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Value,
    pub after: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PORT: FieldSpec = FieldSpec::int("port", "Port", 1, 65535);

    #[test]
    fn a_number_out_of_range_names_the_range() {
        let errors = PORT.check(&json!(70000));
        assert_eq!(errors[0].rule, Rule::Range);
        assert_eq!(errors[0].message, "must be between 1 and 65535");
    }

    #[test]
    fn text_typed_into_a_number_field_gets_the_same_message_as_the_api() {
        let typed = PORT.text_to_value("twelve");
        assert_eq!(PORT.check(&typed), PORT.check(&json!("twelve")));
        assert_eq!(PORT.check(&typed)[0].rule, Rule::Type);
    }

    #[test]
    fn an_empty_form_field_means_the_default() {
        assert_eq!(PORT.text_to_value("   "), Value::Null);
        assert!(PORT.check(&Value::Null).is_empty());
    }

    #[test]
    fn a_required_field_left_empty_is_reported() {
        let name = FieldSpec::text("name", "Name", 10).required();
        assert_eq!(name.check(&Value::Null)[0].rule, Rule::Required);
    }

    #[test]
    fn a_nul_byte_in_a_list_entry_is_rejected_with_its_index() {
        let args = FieldSpec::list("extra_args", "Extra arguments", 8);
        let errors = args.check(&json!(["--ok", "bad\u{0}"]));
        assert_eq!(errors[0].field, "extra_args[1]");
        assert_eq!(errors[0].rule, Rule::NoControlChars);
    }

    #[test]
    fn list_lines_become_separate_arguments_without_splitting_spaces() {
        let args = FieldSpec::list("extra_args", "Extra arguments", 8);
        assert_eq!(
            args.text_to_value("--alias\nmy model\n\n"),
            json!(["--alias", "my model"])
        );
        assert_eq!(
            args.value_to_text(&json!(["--alias", "my model"])),
            "--alias\nmy model"
        );
    }

    #[test]
    fn scaled_paths_read_a_trailing_number_as_the_scale() {
        let lora = FieldSpec::new("lora", "LoRA", InputKind::ScaledPaths { max_items: 4 });
        let value = lora.text_to_value("/a/b.gguf 0.5\n/c d/e.gguf");
        assert_eq!(
            value,
            json!([{"path": "/a/b.gguf", "scale": 0.5}, {"path": "/c d/e.gguf"}])
        );
        assert!(lora.check(&value).is_empty());
        assert_eq!(
            lora.check(&json!([{"path": "rel.gguf"}]))[0].rule,
            Rule::AbsolutePath
        );
    }

    #[test]
    fn a_relative_path_is_rejected() {
        let p = FieldSpec::path("mmproj", "Projector");
        assert_eq!(p.check(&json!("models/x.gguf"))[0].rule, Rule::AbsolutePath);
        assert!(p.check(&json!("/models/x.gguf")).is_empty());
    }

    #[test]
    fn a_patch_replaces_and_clears_keys() {
        let mut base = json!({"a": 1, "b": 2}).as_object().unwrap().clone();
        merge_patch(&mut base, json!({"a": 5, "b": null}).as_object().unwrap());
        assert_eq!(Value::Object(base), json!({"a": 5, "b": null}));
    }

    #[test]
    fn changed_fields_lists_only_what_differs() {
        let before = json!({"a": 1, "b": 2}).as_object().unwrap().clone();
        let after = json!({"a": 1, "b": 3}).as_object().unwrap().clone();
        assert_eq!(
            changed_fields(&before, &after),
            vec![FieldChange {
                field: "b".into(),
                before: json!(2),
                after: json!(3)
            }]
        );
    }
}
