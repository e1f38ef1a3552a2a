//! YAML read into a value under a budget. A 13 KB document whose aliases point at aliases
//! describes millions of nodes, and `yaml_serde::from_str` builds every one (557 MiB seen); the
//! parser replays an alias by its events, so a builder that counts what it makes stops the
//! growth at the budget and names the limit.

use std::cell::Cell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use yaml_serde::{Mapping, Number, Value as Yaml};

/// Nodes (scalars, lists, mappings) a document may make once its aliases are followed.
pub const MAX_NODES: usize = 100_000;
/// Bytes of text its scalars may hold in all, aliases followed.
pub const MAX_TEXT_BYTES: usize = 4 << 20;

/// What has been made so far.
#[derive(Default)]
struct Spent {
    nodes: Cell<usize>,
    text: Cell<usize>,
}

impl Spent {
    fn node<E: serde::de::Error>(&self, text_bytes: usize) -> Result<(), E> {
        self.nodes.set(self.nodes.get() + 1);
        self.text.set(self.text.get().saturating_add(text_bytes));
        if self.nodes.get() > MAX_NODES {
            return Err(E::custom(format!(
                "makes more than {MAX_NODES} values once its aliases are followed"
            )));
        }
        if self.text.get() > MAX_TEXT_BYTES {
            return Err(E::custom(format!(
                "holds more than {} MiB of text once its aliases are followed",
                MAX_TEXT_BYTES >> 20
            )));
        }
        Ok(())
    }
}

/// `{` and `[` open at once at most, and `- ` opening sequences at the start of one line. The
/// parser takes time quadratic in flow nesting (100,000 levels of `{a: ` took 38 s of a core
/// before its own depth limit answered), so deeper text is refused before it is parsed.
pub const MAX_FLOW_DEPTH: usize = 64;

/// Values a document may hold before aliases are followed, estimated from its separators. The
/// parser reads every event before the budget of `MAX_NODES` applies, about 500 bytes each
/// (half a million `- ` cost 280 MiB), so a text that cannot fit is refused before it is read.
pub const MAX_WRITTEN_VALUES: usize = 100_000;

/// The document as a YAML value, or why not (not YAML, over the budget, nested too deep, a tag).
pub fn parse(text: &str) -> Result<Yaml, String> {
    shape_within(text)?;
    let spent = Spent::default();
    Node(&spent)
        .deserialize(yaml_serde::Deserializer::from_str(text))
        .map_err(|e| e.to_string())
}

/// The cheap look before parsing: brackets and braces counted everywhere, quoted or not (a quote
/// cannot hide nesting from it, and text whose brackets balance, a chat template's `{{ }}`,
/// never adds up); compact sequences (`- - - x`) counted per line; and the separators that can
/// start a value (`,` `- ` `: ` and line ends) counted against `MAX_WRITTEN_VALUES`.
fn shape_within(text: &str) -> Result<(), String> {
    let mut depth = 0usize;
    let mut values = 0usize;
    let bytes = text.as_bytes();
    for (i, byte) in bytes.iter().enumerate() {
        let next = bytes.get(i + 1).copied();
        match byte {
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Err(format!(
                        "nests '{{' and '[' more than {MAX_FLOW_DEPTH} deep"
                    ));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' | b'\n' => values += 1,
            b'-' | b':' if matches!(next, Some(b' ' | b'\t')) => values += 1,
            _ => {}
        }
    }
    if values > MAX_WRITTEN_VALUES {
        return Err(format!(
            "holds more than {MAX_WRITTEN_VALUES} values (lines, list items, keys)"
        ));
    }
    for line in text.lines() {
        let mut rest = line.trim_start();
        let mut open = 0usize;
        while let Some(after) = rest.strip_prefix('-') {
            if !after.starts_with([' ', '\t']) {
                break;
            }
            open += 1;
            if open > MAX_FLOW_DEPTH {
                return Err(format!(
                    "opens more than {MAX_FLOW_DEPTH} sequences on one line ('- - - …')"
                ));
            }
            rest = after.trim_start();
        }
    }
    Ok(())
}

/// One value, counted.
#[derive(Clone, Copy)]
struct Node<'a>(&'a Spent);

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Yaml;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Yaml, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Yaml;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Yaml, E> {
        self.0.node(0)?;
        Ok(Yaml::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Yaml, E> {
        self.0.node(0)?;
        Ok(Yaml::Number(Number::from(v)))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Yaml, E> {
        self.0.node(0)?;
        Ok(Yaml::Number(Number::from(v)))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Yaml, E> {
        self.0.node(0)?;
        Ok(Yaml::Number(Number::from(v)))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Yaml, E> {
        self.0.node(v.len())?;
        Ok(Yaml::String(v.to_string()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Yaml, E> {
        self.0.node(v.len())?;
        Ok(Yaml::String(v))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Yaml, E> {
        self.0.node(0)?;
        Ok(Yaml::Null)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Yaml, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Yaml, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Yaml, A::Error> {
        self.0.node(0)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Yaml::Sequence(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Yaml, A::Error> {
        self.0.node(0)?;
        let mut mapping = Mapping::new();
        while let Some(key) = map.next_key_seed(self)? {
            if mapping.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "has the key {} twice in one mapping",
                    crate::domain::text::kept(
                        yaml_serde::to_string(&key).unwrap_or_default().trim()
                    )
                )));
            }
            let value = map.next_value_seed(self)?;
            mapping.insert(key, value);
        }
        Ok(Yaml::Mapping(mapping))
    }

    fn visit_enum<A: serde::de::EnumAccess<'de>>(self, _data: A) -> Result<Yaml, A::Error> {
        Err(serde::de::Error::custom(
            "has a tag (!name); a llama-swap config has none",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_document_reads_as_yaml_serde_reads_it() {
        let text = "models:\n  a:\n    cmd: llama-server -m /m/a.gguf\n    ttl: 60\n    aliases: [x, 'y']\n    unlisted: true\n    n: -1.5\n    none: ~\n";
        let bounded = parse(text).unwrap();
        let whole: Yaml = yaml_serde::from_str(text).unwrap();
        assert_eq!(bounded, whole);
        assert!(parse("a: 1\na: 2\n").unwrap_err().contains("twice"));
    }

    #[test]
    fn aliases_that_multiply_stop_at_the_node_budget_quickly() {
        // 13 KB: 1,000 references to a list of 5,000 items (5 M values once followed).
        let text = format!(
            "x: &a [{}]\ny: [{}]\nmodels: {{}}\n",
            vec!["a"; 5000].join(","),
            vec!["*a"; 1000].join(",")
        );
        let started = std::time::Instant::now();
        let error = parse(&text).unwrap_err();
        assert!(error.contains("100000 values"), "{error}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn deep_flow_nesting_is_refused_before_it_is_parsed() {
        let text = format!("{}1{}", "{a: ".repeat(100_000), "}".repeat(100_000));
        let started = std::time::Instant::now();
        let error = parse(&text).unwrap_err();
        assert!(error.contains("more than 64 deep"), "{error}");
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
        let template = format!("t: \"{}\"\n", "{{ x }}".repeat(1000));
        assert!(parse(&template).is_ok(), "balanced braces in text are fine");
        let compact = format!("models:\n  {}x\n", "- ".repeat(520_000));
        let error = parse(&compact).unwrap_err();
        assert!(error.contains("100000 values"), "{error}");
        let compact = format!("models:\n  {}x\n", "- ".repeat(1000));
        let error = parse(&compact).unwrap_err();
        assert!(error.contains("sequences on one line"), "{error}");
        let flat = format!("x: [{}a]\n", "a,".repeat(200_000));
        assert!(parse(&flat).unwrap_err().contains("100000 values"));
    }

    #[test]
    fn aliases_of_long_text_stop_at_the_text_budget() {
        let long = "x".repeat(64 * 1024);
        let text = format!("t: &t '{long}'\nu: [{}]\n", vec!["*t"; 100].join(","));
        let error = parse(&text).unwrap_err();
        assert!(error.contains("4 MiB of text"), "{error}");
    }
}
