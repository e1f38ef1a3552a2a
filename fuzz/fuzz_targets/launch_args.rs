//! The argument builder: for any model and settings that validation accepts, the llama-server
//! command line has the model's path once, exactly as given, and no empty argument (an empty
//! argument shifts every flag after it). Nothing goes through a shell, so shell characters
//! need no escaping — but they must arrive as they were typed. And any extra-argument list the
//! allow-list accepts, read the way llama-server reads it, has only reviewed flags where
//! llama-server expects a flag: no value can smuggle one in.
#![no_main]

use corral::domain::config::ConfigGroupKind;
use corral::domain::config::extra_args::{self, Takes};
use corral::domain::{Model, ModelSpec, ModelStatus};
use corral::server::supervisor::prepare::args::{ModelConfig, argv};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Object(input)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Some(Value::Array(items)) = input.get("extra") {
        let extra: Vec<String> = items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        if extra_args::check(&extra).is_ok() {
            let mut i = 0;
            while i < extra.len() {
                let flag = extra_args::reviewed(&extra[i]).unwrap_or_else(|| {
                    panic!("{:?} passed at a flag position in {extra:?}", extra[i])
                });
                i += if flag.takes == Takes::Value { 2 } else { 1 };
            }
        }
    }
    let Some(Ok(spec)) = input.get("model").map(ModelSpec::parse_new) else {
        return;
    };
    let mut groups = Vec::new();
    for kind in ConfigGroupKind::ALL {
        if let Some(value) = input.get(kind.as_str()) {
            let Ok(group) = kind.parse_config(value) else {
                return;
            };
            groups.push(group);
        }
    }
    let model = Model {
        id: 1,
        spec,
        size_bytes: None,
        status: ModelStatus::Stopped,
        status_reason: None,
        created_at: 0,
        updated_at: 0,
    };
    let args = argv(&model, &ModelConfig::from_groups(groups));
    assert!(args.iter().all(|a| !a.is_empty()), "{args:?}");
    let at = args
        .iter()
        .position(|a| a == "--model")
        .expect("--model is always passed");
    assert_eq!(args.get(at + 1).cloned(), Some(model.spec.path.clone()));
    assert_eq!(args.iter().filter(|a| *a == "--model").count(), 1);
});
