//! Time to interactive in a real Chromium (issue 15, goal 3): `end2end/bench/time_to_interactive.mjs`
//! drives the release build (playwright-core, installed by `scripts/setup --browser`) and
//! writes its figures as JSON; they are added to this run's table.

use serde_json::{Value, json};

use crate::{Options, Report};

pub fn measure(report: &mut Report, options: &Options, work: &std::path::Path) {
    let out = work.join("time_to_interactive.json");
    let mut command = std::process::Command::new("node");
    command
        .arg("end2end/bench/time_to_interactive.mjs")
        .arg("--out")
        .arg(&out)
        .env(
            "CORRAL_BIN",
            std::path::absolute(&options.binary).unwrap_or_else(|_| options.binary.clone()),
        )
        .env(
            "CORRAL_SITE_ROOT",
            std::path::absolute(&options.site).unwrap_or_else(|_| options.site.clone()),
        );
    if options.quick {
        command.arg("--quick");
    }
    let ran = command.status();
    let rows: Vec<Value> = match ran {
        Ok(status) if status.success() => std::fs::read(&out)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default(),
        other => {
            eprintln!(
                "the Chromium measurement did not run ({other:?}); scripts/setup --browser installs what it needs"
            );
            return;
        }
    };
    let group = "time to interactive (Chromium)";
    for row in rows {
        let models = row["models"].as_u64().unwrap_or(0);
        let figure = |key: &str| {
            format!(
                "median {:.0} ms, p90 {:.0} ms",
                row[key]["median_ms"].as_f64().unwrap_or(f64::NAN),
                row[key]["p90_ms"].as_f64().unwrap_or(f64::NAN)
            )
        };
        let at = |key: &str| row[key]["median_ms"].as_f64().unwrap_or(f64::NAN);
        report.figure(
            group,
            &format!("{models} models: navigation → hydrated and live, first visit"),
            format!(
                "{} (HTML in at {:.0}, main WASM in at {:.0}, hydrated at {:.0})",
                figure("first_visit"),
                at("first_visit_html_received"),
                at("first_visit_wasm_received"),
                at("first_visit_hydrated")
            ),
            json!({
                "first_visit": row["first_visit"],
                "html_received": row["first_visit_html_received"],
                "wasm_received": row["first_visit_wasm_received"],
                "hydrated": row["first_visit_hydrated"],
            }),
        );
        report.figure(
            group,
            &format!("{models} models: the same, return visit (bundle cached)"),
            figure("return_visit"),
            row["return_visit"].clone(),
        );
        report.figure(
            group,
            &format!("{models} models: click Monitoring → its page drawn"),
            figure("click_to_monitoring"),
            row["click_to_monitoring"].clone(),
        );
    }
}
