//! How the owners of Corral's settings (`SupervisorSettings`, `Retention`) read them: by key,
//! through serde. A field named like a setting (or renamed to one) is that setting; its unit is
//! read by `#[serde(with = …)]` (seconds as a `Duration`, `8100-8199` as a port range) and
//! written back the same way, so what applies can be read back for the page. A leaf: the
//! owners use it without a circle through the settings' own owner.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::domain::settings::CorralSettings;

/// An owner filled with every setting's described default (and its own for the rest).
#[expect(
    clippy::panic,
    reason = "the defaults are Corral's own description, not outside data; \
              `every_owner_reads_the_described_defaults` fails first if one stops fitting"
)]
pub fn defaults<T: DeserializeOwned>() -> T {
    match serde_json::to_value(CorralSettings::defaults()).and_then(serde_json::from_value) {
        Ok(owner) => owner,
        Err(error) => panic!("the settings' defaults do not fill their owner: {error}"),
    }
}

/// `base` with every setting of `over` that it holds replaced; the rest of `base` kept as it
/// is. A value that does not read as the owner's type (the settings' rules rule that out; a
/// document edited by hand is the case left) is left out and named, the others still apply.
pub fn laid_over<T: Serialize + DeserializeOwned + Clone>(
    base: &T,
    over: &CorralSettings,
) -> (T, Vec<(String, serde_json::Error)>) {
    let Ok(Value::Object(object)) = serde_json::to_value(base) else {
        return (base.clone(), Vec::new());
    };
    let mut laid = object.clone();
    for (key, value) in over.set_values() {
        if laid.contains_key(key) {
            laid.insert(key.clone(), value.clone());
        }
    }
    if let Ok(owner) = serde_json::from_value(Value::Object(laid)) {
        return (owner, Vec::new());
    }
    // One at a time, so one bad value costs only itself.
    let mut laid = object;
    let mut refused = Vec::new();
    for (key, value) in over.set_values() {
        let Some(before) = laid.insert(key.clone(), value.clone()) else {
            laid.remove(key);
            continue;
        };
        if let Err(error) = serde_json::from_value::<T>(Value::Object(laid.clone())) {
            laid.insert(key.clone(), before);
            refused.push((key.clone(), error));
        }
    }
    match serde_json::from_value(Value::Object(laid)) {
        Ok(owner) => (owner, refused),
        Err(_) => (base.clone(), refused),
    }
}

/// The settings `owner` holds, by key (for "In effect now").
pub fn held_by<T: Serialize>(owner: &T) -> CorralSettings {
    match serde_json::to_value(owner) {
        Ok(Value::Object(object)) => CorralSettings::read_from(&object),
        _ => CorralSettings::default(),
    }
}

pub mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Whole seconds as an integer; a fraction (tests use milliseconds) as a float.
    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        if value.subsec_nanos() == 0 {
            serializer.serialize_u64(value.as_secs())
        } else {
            serializer.serialize_f64(value.as_secs_f64())
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let seconds = f64::deserialize(deserializer)?;
        Duration::try_from_secs_f64(seconds).map_err(serde::de::Error::custom)
    }
}

pub mod port_range {
    use std::ops::RangeInclusive;

    use serde::{Deserialize, Deserializer, Serializer};

    use crate::domain::settings::parse_port_range;

    pub fn serialize<S: Serializer>(
        value: &RangeInclusive<u16>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{}-{}", value.start(), value.end()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<RangeInclusive<u16>, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_port_range(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("'{text}' is not a port range like 8100-8199"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::supervisor::settings::SupervisorSettings;
    use std::time::Duration;

    #[test]
    fn one_value_that_does_not_read_costs_only_itself() {
        let over = CorralSettings::default()
            .with("max_running", Value::from("many"))
            .with("stop_grace", Value::from(7))
            .with("not_the_supervisors", Value::from(1));
        let base = SupervisorSettings::default();
        let (laid, refused) = laid_over(&base, &over);
        assert_eq!(laid.stop_grace, Duration::from_secs(7));
        assert_eq!(laid.max_running, base.max_running);
        let refused: Vec<&str> = refused.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(refused, ["max_running"]);
    }

    #[test]
    fn every_owner_reads_the_described_defaults_and_gives_them_back() {
        let supervisor: SupervisorSettings = defaults();
        let retention: crate::server::db::Retention = defaults();
        let held = held_by(&supervisor).overlaid(&held_by(&retention));
        // Every described default is held by an owner, under its key, as described.
        assert_eq!(held, CorralSettings::defaults());
    }
}
