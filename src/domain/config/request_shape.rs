//! What the gateway changes in a request body before the model's server sees it: a variant's
//! parameters (`name:high` is the same run with those set), then the model's filters (keys
//! stripped, then keys set). `model` and `stream` are the gateway's and never touched. Shared
//! by the gateway and the model page's preview, so the preview is what is sent.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::error::{FieldError, Rule};

/// Keys no filter or variant may strip or set: the gateway routes and streams by them.
pub const PROTECTED: &[&str] = &["model", "stream"];
/// Most keys one filter or variant names, and most variants one model has.
pub const MAX_KEYS: usize = 32;
pub const MAX_VARIANTS: usize = 16;
/// Longest variant suffix (`high`, `no-think`).
pub const MAX_SUFFIX_LEN: usize = 32;
/// Most bytes one filter or variants setting takes, written as JSON.
pub const MAX_JSON_BYTES: usize = 16 * 1024;
/// Deepest nesting of a value set (`chat_template_kwargs: {…}` is 2).
const MAX_DEPTH: usize = 8;

/// `filters`: `{"strip": [keys], "set": {key: value}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Filters {
    pub strip: Vec<String>,
    pub set: Map<String, Value>,
}

impl Filters {
    pub fn is_empty(&self) -> bool {
        self.strip.is_empty() && self.set.is_empty()
    }
}

/// The changes for one request: the variant's parameters (if one was named) and the filters.
#[derive(Debug, Clone, Copy)]
pub struct Shape<'a> {
    pub variant: Option<&'a Map<String, Value>>,
    pub filters: Option<&'a Filters>,
}

impl Shape<'_> {
    /// Nothing to change: the body goes on as it came, unparsed.
    pub fn is_none(&self) -> bool {
        self.variant.is_none_or(Map::is_empty) && self.filters.is_none_or(Filters::is_empty)
    }

    /// The top-level keys the changes read or write (all that `apply` needs of a body).
    pub fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = Vec::new();
        let variant = self.variant.into_iter().flat_map(Map::keys);
        let filters = self
            .filters
            .into_iter()
            .flat_map(|f| f.strip.iter().chain(f.set.keys()));
        for key in variant.chain(filters) {
            if !keys.contains(&key.as_str()) {
                keys.push(key);
            }
        }
        keys
    }

    /// Applies the changes to a request's top-level object, in order: the variant's
    /// parameters, the keys stripped, the keys set. Objects set are merged into the client's
    /// (`chat_template_kwargs` keeps the client's other keys).
    pub fn apply(&self, body: &mut Map<String, Value>) {
        if let Some(variant) = self.variant {
            set_all(body, variant);
        }
        if let Some(filters) = self.filters {
            for key in &filters.strip {
                if !PROTECTED.contains(&key.as_str()) {
                    body.remove(key);
                }
            }
            set_all(body, &filters.set);
        }
    }
}

fn set_all(body: &mut Map<String, Value>, params: &Map<String, Value>) {
    for (key, value) in params {
        if PROTECTED.contains(&key.as_str()) {
            continue;
        }
        match (body.get_mut(key), value) {
            (Some(Value::Object(mine)), Value::Object(theirs)) => merge(mine, theirs),
            _ => {
                body.insert(key.clone(), value.clone());
            }
        }
    }
}

fn merge(base: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        match (base.get_mut(key), value) {
            (Some(Value::Object(mine)), Value::Object(theirs)) => merge(mine, theirs),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// `name:suffix` split where a model has that variant: the suffix after the last `:`.
pub fn split_variant(name: &str) -> Option<(&str, &str)> {
    let (base, suffix) = name.rsplit_once(':')?;
    (!base.is_empty() && valid_suffix(suffix)).then_some((base, suffix))
}

fn valid_suffix(suffix: &str) -> bool {
    !suffix.is_empty()
        && suffix.len() <= MAX_SUFFIX_LEN
        && suffix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The rules of `filters` (at `field`): keys named, none protected, values bounded.
pub fn check_filters(field: &str, filters: &Filters) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if filters.strip.len() > MAX_KEYS {
        errors.push(FieldError::new(
            format!("{field}.strip"),
            Rule::MaxItems,
            format!("must have at most {MAX_KEYS} keys"),
        ));
    }
    for (i, key) in filters.strip.iter().enumerate() {
        errors.extend(check_key(&format!("{field}.strip[{i}]"), key));
    }
    errors.extend(check_params(&format!("{field}.set"), &filters.set));
    errors
}

/// The rules of `variants`: a few, each a suffix of letters, digits, `-`, `_` or `.` with
/// parameters checked as `filters.set`.
pub fn check_variants(field: &str, variants: &Map<String, Value>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if variants.len() > MAX_VARIANTS {
        errors.push(FieldError::new(
            field,
            Rule::MaxItems,
            format!("must have at most {MAX_VARIANTS} variants"),
        ));
    }
    for (suffix, params) in variants {
        let at = format!("{field}.{suffix}");
        if !valid_suffix(suffix) {
            errors.push(FieldError::new(
                &at,
                Rule::Pattern,
                format!(
                    "a variant is named by 1 to {MAX_SUFFIX_LEN} letters, digits, '-', '_' or '.'"
                ),
            ));
        }
        match params {
            Value::Object(params) => errors.extend(check_params(&at, params)),
            _ => errors.push(FieldError::new(
                &at,
                Rule::Type,
                "must be an object of parameters",
            )),
        }
    }
    errors
}

fn check_params(field: &str, params: &Map<String, Value>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if params.len() > MAX_KEYS {
        errors.push(FieldError::new(
            field,
            Rule::MaxItems,
            format!("must have at most {MAX_KEYS} keys"),
        ));
    }
    for (key, value) in params {
        let at = format!("{field}.{key}");
        errors.extend(check_key(&at, key));
        if depth(value) > MAX_DEPTH {
            errors.push(FieldError::new(
                at,
                Rule::Range,
                format!("nests deeper than {MAX_DEPTH} levels"),
            ));
        }
    }
    if Value::Object(params.clone()).to_string().len() > MAX_JSON_BYTES {
        errors.push(FieldError::new(
            field,
            Rule::MaxLength,
            format!("must be at most {MAX_JSON_BYTES} bytes as JSON"),
        ));
    }
    errors
}

fn check_key(field: &str, key: &str) -> Vec<FieldError> {
    if PROTECTED.contains(&key) {
        return vec![FieldError::new(
            field,
            Rule::NotAllowed,
            format!("'{key}' is the gateway's: it cannot be stripped or set"),
        )];
    }
    if key.is_empty() || key.len() > 64 || key.chars().any(char::is_control) {
        return vec![FieldError::new(
            field,
            Rule::Pattern,
            "a key is 1 to 64 characters without control characters",
        )];
    }
    Vec::new()
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn a_variant_then_the_filters_shape_the_body_and_model_and_stream_stay() {
        let variant = object(json!({"chat_template_kwargs": {"reasoning_effort": "high"},
                                    "temperature": 0.2, "model": "other"}));
        let filters = Filters {
            strip: vec!["temperature".into(), "stream".into()],
            set: object(
                json!({"max_tokens": 64, "chat_template_kwargs": {"enable_thinking": true}}),
            ),
        };
        let mut body = object(json!({"model": "m", "stream": true, "temperature": 1.0,
                                     "chat_template_kwargs": {"a": 1}, "messages": []}));
        let shape = Shape {
            variant: Some(&variant),
            filters: Some(&filters),
        };
        shape.apply(&mut body);
        assert_eq!(
            Value::Object(body),
            json!({"model": "m", "stream": true, "messages": [], "max_tokens": 64,
                   "chat_template_kwargs": {"a": 1, "reasoning_effort": "high",
                                            "enable_thinking": true}})
        );
    }

    #[test]
    fn a_variant_is_the_suffix_after_the_last_colon() {
        assert_eq!(split_variant("qwen:7b:high"), Some(("qwen:7b", "high")));
        assert_eq!(split_variant("qwen"), None);
        assert_eq!(split_variant(":high"), None);
        assert_eq!(split_variant("qwen:"), None);
        assert_eq!(split_variant("qwen:a b"), None);
    }

    #[test]
    fn protected_keys_deep_values_and_bad_suffixes_are_refused_by_field() {
        let filters = Filters {
            strip: vec!["model".into(), String::new()],
            set: object(json!({"stream": false, "deep": [[[[[[[[[[1]]]]]]]]]]})),
        };
        let fields: Vec<String> = check_filters("filters", &filters)
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "filters.strip[0]",
                "filters.strip[1]",
                "filters.set.deep",
                "filters.set.stream"
            ]
        );
        let variants = object(json!({"no think": {}, "ok": 3, "fine": {"top_k": 1}}));
        let fields: Vec<String> = check_variants("variants", &variants)
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["variants.no think", "variants.ok"]);
    }

    #[test]
    fn an_empty_shape_changes_nothing_and_says_so() {
        let shape = Shape {
            variant: None,
            filters: Some(&Filters::default()),
        };
        assert!(shape.is_none());
    }
}
