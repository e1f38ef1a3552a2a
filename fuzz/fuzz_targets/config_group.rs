//! Config validation: any JSON, as any of the six groups, is either refused with the fields it
//! breaks (never without one) or accepted — and what is accepted validates again unchanged.
//! Found: a group that was not an object at all was refused naming no field (now `config`).
#![no_main]

use corral::domain::config::ConfigGroupKind;
use corral::domain::{AppError, FieldError, Rule};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, json)) = data.split_first() else {
        return;
    };
    let Ok(value) = serde_json::from_slice::<Value>(json) else {
        return;
    };
    let kind = ConfigGroupKind::ALL[usize::from(selector) % ConfigGroupKind::ALL.len()];
    match kind.parse_config(&value) {
        Ok(group) => {
            let again = kind
                .parse_config(&Value::Object(group.to_object()))
                .expect("an accepted group is accepted again");
            assert_eq!(again, group);
        }
        Err(AppError::Invalid { errors }) => {
            assert!(!errors.is_empty(), "a refusal names what is wrong");
            // An unknown key is named as sent, even the empty key.
            let named = |e: &FieldError| {
                !e.field.is_empty() || (e.rule == Rule::UnknownField && value.get("").is_some())
            };
            assert!(errors.iter().all(named), "{errors:?}");
        }
        Err(other) => panic!("refused without saying which field: {other:?}"),
    }
});
