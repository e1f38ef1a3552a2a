//! Properties over generated input: every valid config group survives save and load unchanged;
//! the argument builder passes every value through as exactly one argument, never empty, never
//! reinterpreted; invalid input is always refused with the field's name.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

use corral::domain::config::ConfigGroupKind;
use corral::domain::config::extra_args::{REVIEWED, Takes};
use corral::domain::config::sampling::SAMPLER_NAMES;
use corral::domain::fields::{FieldSpec, InputKind};
use corral::domain::{AppError, Model, ModelSpec, ModelStatus};
use corral::server::db::{config_repo, migrate, models_repo};
use corral::server::supervisor::prepare::args::{ModelConfig, argv};
use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;
use serde_json::{Map, Value, json};

/// Printable text including every character a shell would treat specially.
const PRINTABLE: &str = "[ -~]";

fn absolute_path() -> BoxedStrategy<String> {
    proptest::string::string_regex(&format!("/{PRINTABLE}{{1,60}}"))
        .unwrap()
        .boxed()
}

/// An absolute path a list flag can carry: printable, but no `,` `:` or `"` (llama-server splits
/// `--lora` and `--control-vector` values there; such paths are refused).
fn listed_path() -> BoxedStrategy<String> {
    proptest::string::string_regex("/[ !#-+\\--9;-~]{1,60}")
        .unwrap()
        .boxed()
}

fn printable(max: usize) -> BoxedStrategy<String> {
    proptest::string::string_regex(&format!("{PRINTABLE}{{1,{max}}}"))
        .unwrap()
        .boxed()
}

/// A valid value for one field, anywhere in its allowed range. Fields whose text has a grammar of
/// its own (checked across the group) get values in that grammar.
fn valid_value(field: &FieldSpec) -> BoxedStrategy<Value> {
    match field.key {
        "samplers" => {
            return prop::collection::vec(prop::sample::select(SAMPLER_NAMES.to_vec()), 1..5)
                .prop_map(|names| json!(names.join(";")))
                .boxed();
        }
        "json_schema" => {
            return (0..1000u32)
                .prop_map(|n| json!(format!(r#"{{"type": "object", "maxProperties": {n}}}"#)))
                .boxed();
        }
        // Only reviewed flags, each with a value when it takes one.
        "extra_args" => {
            let flag = prop::sample::select(REVIEWED.to_vec());
            return prop::collection::vec(
                (flag, any::<prop::sample::Index>(), printable(20)),
                0..4,
            )
            .prop_map(|flags| {
                let mut args = Vec::new();
                for (flag, pick, value) in flags {
                    args.push(flag.spellings[pick.index(flag.spellings.len())].to_string());
                    if flag.takes == Takes::Value {
                        args.push(value);
                    }
                }
                json!(args)
            })
            .boxed();
        }
        "aliases" => {
            // Distinct without regard to case, and no surrounding spaces.
            return prop::collection::btree_set("[a-z][a-z0-9 ._-]{0,30}[a-z0-9]", 0..5)
                .prop_map(|names| json!(names.into_iter().collect::<Vec<_>>()))
                .boxed();
        }
        "rpc_servers" => {
            return prop::collection::vec((1..=65535u32, 0..=255u8), 0..3)
                .prop_map(|servers| {
                    json!(
                        servers
                            .iter()
                            .map(|(port, host)| format!("10.0.0.{host}:{port}"))
                            .collect::<Vec<_>>()
                    )
                })
                .boxed();
        }
        "tensor_split" => {
            return prop::collection::vec(0..10u8, 1..4)
                .prop_map(|parts| {
                    json!(
                        parts
                            .iter()
                            .map(u8::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    )
                })
                .boxed();
        }
        _ => {}
    }
    match field.input {
        InputKind::Integer { min, max } => (min..=max).prop_map(Value::from).boxed(),
        InputKind::Float { min, max } => (0..=100u32)
            .prop_map(move |k| {
                json!(if k == 100 {
                    max
                } else {
                    min + (max - min) * f64::from(k) / 100.0
                })
            })
            .boxed(),
        InputKind::Toggle => any::<bool>().prop_map(Value::from).boxed(),
        InputKind::Choice { options } => prop::sample::select(options.to_vec())
            .prop_map(Value::from)
            .boxed(),
        InputKind::Text { max_len, .. } => printable(max_len.min(40)).prop_map(Value::from).boxed(),
        InputKind::Path { keywords } if !keywords.is_empty() => prop_oneof![
            absolute_path().prop_map(Value::from),
            prop::sample::select(keywords.to_vec()).prop_map(Value::from),
        ]
        .boxed(),
        InputKind::Path { .. } => absolute_path().prop_map(Value::from).boxed(),
        InputKind::IntegerOrKeyword { min, max, keywords } => prop_oneof![
            (min..=max).prop_map(Value::from),
            prop::sample::select(keywords.to_vec()).prop_map(Value::from),
        ]
        .boxed(),
        InputKind::List { max_items } => prop::collection::vec(printable(30), 0..=max_items.min(4))
            .prop_map(|items| json!(items))
            .boxed(),
        InputKind::ScaledPaths { max_items } => prop::collection::vec(
            (listed_path(), prop::option::of(-200..=200i32)),
            0..=max_items.min(3),
        )
        .prop_map(|items| {
            Value::Array(
                items
                    .into_iter()
                    .map(|(path, scale)| match scale {
                        Some(s) => json!({"path": path, "scale": f64::from(s) / 2.0}),
                        None => json!({"path": path}),
                    })
                    .collect(),
            )
        })
        .boxed(),
        // Filters and variants: keys of letters (never the gateway's own), small values.
        InputKind::JsonObject { .. } if field.key == "filters" => (
            prop::collection::vec("[a-z_]{1,12}", 0..=3),
            prop::option::of(1..=4096i64),
        )
            .prop_map(|(strip, max_tokens)| {
                let strip: Vec<String> = strip
                    .into_iter()
                    .filter(|k| k != "model" && k != "stream")
                    .collect();
                match max_tokens {
                    Some(n) => json!({"strip": strip, "set": {"max_tokens": n}}),
                    None => json!({"strip": strip}),
                }
            })
            .boxed(),
        // A model's environment: the variables it may be given, one-line values.
        InputKind::JsonObject { .. } if field.key == "env" => prop::collection::btree_map(
            prop_oneof![
                Just("CUDA_VISIBLE_DEVICES".to_string()),
                Just("HIP_VISIBLE_DEVICES".to_string()),
                "GGML_[A-Z_]{1,12}",
            ],
            printable(20),
            0..=3,
        )
        .prop_map(|vars| Value::Object(vars.into_iter().map(|(k, v)| (k, json!(v))).collect()))
        .boxed(),
        InputKind::JsonObject { .. } => {
            prop::collection::btree_map("[a-z0-9][a-z0-9._-]{0,8}", 0..=40i64, 0..=3)
                .prop_map(|variants| {
                    Value::Object(
                        variants
                            .into_iter()
                            .map(|(suffix, k)| (suffix, json!({"top_k": k})))
                            .collect(),
                    )
                })
                .boxed()
        }
    }
}

/// A value the field must refuse.
fn invalid_value(field: &FieldSpec) -> Value {
    match field.input {
        InputKind::Integer { max, .. } => json!(max.saturating_add(1)),
        InputKind::Float { max, .. } => json!(max + 1.0),
        InputKind::Toggle => json!(3),
        InputKind::Choice { .. } => json!("surely-not-an-option"),
        InputKind::Text { max_len, .. } => json!("x".repeat(max_len + 1)),
        InputKind::Path { .. } => json!("relative/path.gguf"),
        InputKind::IntegerOrKeyword { .. } => json!("surely-not-a-keyword"),
        InputKind::List { .. } => json!("not a list"),
        InputKind::ScaledPaths { .. } => json!(5),
        InputKind::JsonObject { .. } => json!(["not", "an", "object"]),
    }
}

/// Some of the group's fields, each with a valid value.
fn valid_group(kind: ConfigGroupKind) -> BoxedStrategy<Map<String, Value>> {
    let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = kind
        .fields()
        .iter()
        .map(|field| {
            let key = field.key.to_string();
            prop::option::of(valid_value(field).prop_map(move |v| (key.clone(), v))).boxed()
        })
        .collect();
    fields
        .prop_map(|entries| {
            let mut config: Map<String, Value> = entries.into_iter().flatten().collect();
            // A grammar and a JSON schema exclude each other.
            if config.contains_key("grammar") {
                config.remove("json_schema");
            }
            // Sleeping when idle needs the idle time it sleeps after.
            let idle = config.get("idle_ttl_seconds").and_then(Value::as_i64);
            if config.get("idle_action") == Some(&json!("sleep")) && idle.is_none_or(|s| s <= 0) {
                config.insert("idle_ttl_seconds".into(), json!(60));
            }
            config
        })
        .boxed()
}

fn any_group() -> impl Strategy<Value = (ConfigGroupKind, Map<String, Value>)> {
    prop::sample::select(ConfigGroupKind::ALL.to_vec())
        .prop_flat_map(|kind| (Just(kind), valid_group(kind)))
}

fn database() -> (rusqlite::Connection, i64) {
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    migrate::migrate(&mut conn).unwrap();
    let spec = ModelSpec::parse_new(&json!({"name": "m", "path": "/m/a.gguf"})).unwrap();
    let id = models_repo::insert(&conn, &spec, None, 0).unwrap();
    (conn, id)
}

fn model_at(path: &str) -> Model {
    Model {
        id: 1,
        spec: ModelSpec::parse_new(&json!({"name": "m", "path": "/m/a.gguf"}))
            .map(|mut spec| {
                spec.path = path.to_string();
                spec
            })
            .unwrap(),
        size_bytes: None,
        status: ModelStatus::Stopped,
        status_reason: None,
        created_at: 0,
        updated_at: 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        // 256 cases (proptest's default); `PROPTEST_CASES=10000` for a long run.
        // A failure prints its minimal input; CI machines start fresh, so nothing is saved.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_valid_config_group_survives_save_and_load_unchanged((kind, config) in any_group()) {
        let group = kind.parse_config(&Value::Object(config.clone()))
            .map_err(|e| TestCaseError::fail(format!("{config:?} refused: {e}")))?;
        let (conn, id) = database();
        config_repo::save(&conn, id, &group, 1).unwrap();
        let loaded = config_repo::load(&conn, id, kind).unwrap();
        prop_assert_eq!(loaded, Some(group));
    }

    #[test]
    fn every_value_reaches_llama_server_as_exactly_one_unchanged_argument(
        path in absolute_path(),
        extra in prop::collection::vec(printable(40), 0..6),
        (kind, config) in any_group(),
    ) {
        let group = kind.parse_config(&Value::Object(config)).unwrap();
        let mut settings = ModelConfig::from_groups([group]);
        settings.advanced.extra_args = extra.clone();
        let args: Vec<String> = argv(&model_at(&path), &settings);
        prop_assert!(args.iter().all(|a| !a.is_empty()), "{:?}", args);
        prop_assert_eq!(&args[..2], &["--model".to_string(), path]);
        prop_assert_eq!(&args[args.len() - extra.len()..], &extra[..]);
    }

    #[test]
    fn an_invalid_value_is_refused_naming_its_field(
        (kind, config) in any_group(),
        pick in any::<prop::sample::Index>(),
    ) {
        let fields = kind.fields();
        let field = fields[pick.index(fields.len())];
        let mut config = config;
        config.insert(field.key.to_string(), invalid_value(&field));
        match kind.parse_config(&Value::Object(config)) {
            Err(AppError::Invalid { errors }) => prop_assert!(
                errors.iter().any(|e| e.field == field.key || e.field.starts_with(&format!("{}[", field.key))),
                "{errors:?} does not name {}", field.key
            ),
            other => prop_assert!(false, "{} accepted an invalid value: {other:?}", field.key),
        }
    }

    #[test]
    fn an_unknown_field_is_refused_by_name(
        (kind, config) in any_group(),
        name in "[a-z_]{1,20}",
    ) {
        prop_assume!(!kind.fields().iter().any(|f| f.key == name));
        let mut config = config;
        config.insert(name.clone(), json!(1));
        match kind.parse_config(&Value::Object(config)) {
            Err(AppError::Invalid { errors }) => {
                prop_assert!(errors.iter().any(|e| e.field == name), "{errors:?}")
            }
            other => prop_assert!(false, "unknown field {name} accepted: {other:?}"),
        }
    }
}

/// Found by the save-and-load property: without serde_json's exact float parsing, this value
/// came back one unit in the last place off.
#[test]
fn a_float_setting_comes_back_bit_for_bit() {
    let (conn, id) = database();
    let group = ConfigGroupKind::Sampling
        .parse_config(&json!({"presence_penalty": -0.040000000000000036}))
        .unwrap();
    config_repo::save(&conn, id, &group, 1).unwrap();
    assert_eq!(
        config_repo::load(&conn, id, ConfigGroupKind::Sampling).unwrap(),
        Some(group)
    );
}
