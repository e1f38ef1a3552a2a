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
/// is. Fails (and the caller keeps `base`) only where a value does not read as the owner's
/// type, which the settings' rules rule out.
pub fn laid_over<T: Serialize + DeserializeOwned>(
    base: &T,
    over: &CorralSettings,
) -> Result<T, serde_json::Error> {
    let Value::Object(mut object) = serde_json::to_value(base)? else {
        return Err(serde::de::Error::custom(
            "an owner of settings is not a struct",
        ));
    };
    for (key, value) in over.set_values() {
        if object.contains_key(key) {
            object.insert(key.clone(), value.clone());
        }
    }
    serde_json::from_value(Value::Object(object))
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
