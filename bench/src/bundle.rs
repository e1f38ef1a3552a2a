//! The browser bundle (issue 15, goal 1): what the models page loads first — the main WASM
//! and the JS that starts it — against the chunks other pages load on their first visit, each
//! file compressed on its own as a server would send it; and what the main WASM is made of,
//! by crate, from `twiggy` on the build that still has function names.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::{Options, Report, compressed_sizes};

/// Files of the site's `pkg/` the first page loads: the main module, its JS and the loader of
/// split chunks.
fn first_bundle(name: &str) -> bool {
    name == "corral.wasm"
        || name == "corral.js"
        || (name.starts_with("__wasm_split.") && name.ends_with(".js"))
}

pub fn measure(report: &mut Report, options: &Options) {
    let group = "footprint";
    let Ok(entries) = std::fs::read_dir(options.site.join("pkg")) else {
        eprintln!("no pkg directory under {}", options.site.display());
        return;
    };
    let (mut first, mut later) = (Totals::default(), Totals::default());
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if first_bundle(&name) {
            first.add(&entry.path());
        } else if name.ends_with(".wasm") {
            later.add(&entry.path());
        }
    }
    report.figure(
        group,
        "first bundle (models page): main WASM + JS, raw / gzip / brotli",
        first.line(),
        first.json(),
    );
    report.figure(
        group,
        &format!(
            "other pages' chunks ({} files, loaded on first visit)",
            later.files
        ),
        later.line(),
        later.json(),
    );
    if let Some(names) = &options.wasm_names {
        contributors(report, names);
    }
}

#[derive(Default)]
struct Totals {
    files: usize,
    raw: u64,
    gzip: u64,
    brotli: u64,
}

impl Totals {
    fn add(&mut self, path: &Path) {
        let (gzip, brotli) = compressed_sizes(path);
        self.files += 1;
        self.raw += std::fs::metadata(path).map_or(0, |m| m.len());
        self.gzip += gzip;
        self.brotli += brotli;
    }

    fn line(&self) -> String {
        format!(
            "{} / {} / {} KiB",
            self.raw / 1024,
            self.gzip / 1024,
            self.brotli / 1024
        )
    }

    fn json(&self) -> Value {
        json!({"files": self.files, "raw": self.raw, "gzip": self.gzip, "brotli": self.brotli})
    }
}

/// The crates whose code makes up most of the main WASM (`twiggy top` on the build with names,
/// before wasm-opt and wasm-bindgen, so the shares, not the bytes, are what to read).
fn contributors(report: &mut Report, names: &Path) {
    let output = std::process::Command::new("twiggy")
        .args(["top", "-n", "1000000", "--format", "json"])
        .arg(names)
        .output();
    let items: Vec<Value> = match output {
        Ok(out) if out.status.success() => serde_json::from_slice(&out.stdout).unwrap_or_default(),
        _ => {
            eprintln!(
                "twiggy could not read {} (scripts/bench installs it)",
                names.display()
            );
            return;
        }
    };
    let mut by_crate: BTreeMap<String, u64> = BTreeMap::new();
    let mut largest: Vec<(u64, String)> = Vec::new();
    for item in &items {
        let (Some(name), Some(size)) = (item["name"].as_str(), item["shallow_size"].as_u64())
        else {
            continue;
        };
        // Custom sections (names, wasm-bindgen's descriptions) and wasm-bindgen's describe
        // functions and placeholders are not shipped.
        if name.contains("section")
            || name.contains("__wbindgen_describe")
            || name.contains("__wbindgen_placeholder__")
        {
            continue;
        }
        *by_crate.entry(crate_of(name)).or_default() += size;
        largest.push((size, name.to_string()));
    }
    let total: u64 = by_crate.values().sum();
    let mut crates: Vec<(String, u64)> = by_crate.into_iter().collect();
    crates.sort_by_key(|c| std::cmp::Reverse(c.1));
    largest.sort_by_key(|l| std::cmp::Reverse(l.0));
    let share = |bytes: u64| 100.0 * bytes as f64 / total.max(1) as f64;
    let top: Vec<String> = crates
        .iter()
        .take(10)
        .map(|(name, bytes)| format!("{name} {:.0}%", share(*bytes)))
        .collect();
    report.figure(
        "footprint",
        "main WASM by crate (twiggy top, shares of code and data)",
        top.join(" · "),
        json!(crates.iter().take(25).map(|(n, b)| json!({"crate": n, "bytes": b, "percent": (share(*b) * 10.0).round() / 10.0})).collect::<Vec<_>>()),
    );
    report.figure(
        "footprint",
        "main WASM, largest items (twiggy top)",
        largest
            .iter()
            .take(5)
            .map(|(bytes, name)| format!("{} ({bytes} B)", short(name)))
            .collect::<Vec<_>>()
            .join(" · "),
        json!(
            largest
                .iter()
                .take(25)
                .map(|(b, n)| json!({"item": n, "bytes": b}))
                .collect::<Vec<_>>()
        ),
    );
}

/// The crate a symbol's code belongs to: for `<Type as Trait>::f`, the type's crate unless the
/// type is from the standard library or generic, then the trait's.
fn crate_of(symbol: &str) -> String {
    let leading = |text: &str| -> Option<String> {
        let text = text
            .trim_start_matches(['&', ' '])
            .trim_start_matches("mut ")
            .trim_start_matches("dyn ");
        let end = text.find("::")?;
        let name = text[..end].split('[').next().unwrap_or_default();
        (!name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
        .then(|| name.to_string())
    };
    if let Some((ty, tail)) = symbol
        .strip_prefix('<')
        .and_then(|rest| rest.split_once(" as "))
    {
        if let Some(ty_crate) =
            leading(ty).filter(|c| !matches!(c.as_str(), "core" | "alloc" | "std"))
        {
            return ty_crate;
        }
        if let Some(trait_crate) = leading(tail) {
            return trait_crate;
        }
    }
    if symbol.starts_with("data segment") || symbol.starts_with("data[") {
        return "(data)".to_string();
    }
    leading(symbol).unwrap_or_else(|| "(other)".to_string())
}

/// A symbol without its hash and generic arguments, for one line of a table.
fn short(symbol: &str) -> String {
    let without_hash = symbol.rsplit_once("::h").map_or(symbol, |(head, _)| head);
    let mut text = String::new();
    let mut depth = 0;
    for c in without_hash.chars() {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            _ if depth <= 1 => text.push(c),
            _ => {}
        }
    }
    text.chars().take(70).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symbol_is_counted_to_the_crate_whose_code_it_is() {
        assert_eq!(crate_of("tachys::view::iterators::hydrate::h01"), "tachys");
        assert_eq!(
            crate_of(
                "<&mut serde_json::de::Deserializer<R> as serde_core::de::Deserializer>::deserialize_struct::h1"
            ),
            "serde_json"
        );
        assert_eq!(
            crate_of(
                "<core::option::Option<reactive_graph::X> as reactive_graph::graph::WithObserver>::with_observer::h2"
            ),
            "reactive_graph"
        );
        assert_eq!(
            crate_of("<T as tachys::view::any_view::IntoAny>::into_any::h3"),
            "tachys"
        );
        assert_eq!(
            crate_of("core[c5930c85a12de822]::num::flt2dec::format_shortest"),
            "core"
        );
        assert_eq!(crate_of("data segment \".rodata\""), "(data)");
        assert_eq!(crate_of("elem[0]"), "(other)");
    }

    #[test]
    fn the_first_bundle_is_the_main_module_its_js_and_the_chunk_loader() {
        assert!(first_bundle("corral.wasm") && first_bundle("corral.js"));
        assert!(first_bundle("__wasm_split.______________________.js"));
        assert!(!first_bundle("chunk_12.wasm") && !first_bundle("corral.css"));
        assert!(!first_bundle("split___monitoring_route_view_1.wasm"));
    }
}
