//! Which llama-server flags a person may add as extra arguments. llama-server has flags that run
//! commands (`--mcp-servers-json`, `--tools`), write or serve files (`--log-file`, `--path`),
//! open the server to others (`--cors-origins`, `--api-key`) or replace what Corral sets itself
//! (`--model`, `--port`). Only flags reviewed here pass, in every spelling llama-server reads;
//! everything else is refused by name, at save time and again before a start.

use crate::domain::error::{FieldError, Rule};

/// Whether a flag reads the next argument as its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    Nothing,
    Value,
}

/// One reviewed flag: every spelling of it (short, long, aliases, negations) and its arity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewedFlag {
    pub spellings: &'static [&'static str],
    pub takes: Takes,
}

const fn value(spellings: &'static [&'static str]) -> ReviewedFlag {
    ReviewedFlag {
        spellings,
        takes: Takes::Value,
    }
}

const fn switch(spellings: &'static [&'static str]) -> ReviewedFlag {
    ReviewedFlag {
        spellings,
        takes: Takes::Nothing,
    }
}

/// The flags extra arguments may carry (llama.cpp b11434). They tune threads, memory, batching,
/// sampling, attention, offload, templates and speculative decoding; none names a file, opens a
/// socket, runs anything or changes how Corral talks to the server.
pub const REVIEWED: &[ReviewedFlag] = &[
    // Threads and CPU placement.
    value(&["-t", "--threads"]),
    value(&["-tb", "--threads-batch"]),
    value(&["-C", "--cpu-mask"]),
    value(&["-Cr", "--cpu-range"]),
    value(&["--cpu-strict"]),
    value(&["--prio"]),
    value(&["--poll"]),
    value(&["-Cb", "--cpu-mask-batch"]),
    value(&["-Crb", "--cpu-range-batch"]),
    value(&["--cpu-strict-batch"]),
    value(&["--prio-batch"]),
    value(&["--poll-batch"]),
    value(&["--threads-http"]),
    // Context, batching, cache.
    value(&["-c", "--ctx-size"]),
    value(&["-n", "--predict", "--n-predict"]),
    value(&["-b", "--batch-size"]),
    value(&["-ub", "--ubatch-size"]),
    value(&["--keep"]),
    value(&["-ctxcp", "--ctx-checkpoints", "--swa-checkpoints"]),
    value(&["-cms", "--checkpoint-min-step"]),
    value(&["-cram", "--cache-ram"]),
    switch(&["-kvu", "--kv-unified", "-no-kvu", "--no-kv-unified"]),
    switch(&["--cache-idle-slots", "--no-cache-idle-slots"]),
    switch(&["--context-shift", "--no-context-shift"]),
    switch(&["--swa-full"]),
    value(&["-np", "--parallel"]),
    switch(&["-cb", "--cont-batching", "-nocb", "--no-cont-batching"]),
    switch(&["--cache-prompt", "--no-cache-prompt"]),
    value(&["--cache-reuse"]),
    value(&["-sps", "--slot-prompt-similarity"]),
    value(&["-ctk", "--cache-type-k"]),
    value(&["-ctv", "--cache-type-v"]),
    value(&["-dt", "--defrag-thold"]),
    value(&["--sleep-idle-seconds"]),
    switch(&["--warmup", "--no-warmup"]),
    // Attention and RoPE.
    value(&["-fa", "--flash-attn"]),
    value(&["--rope-scaling"]),
    value(&["--rope-scale"]),
    value(&["--rope-freq-base"]),
    value(&["--rope-freq-scale"]),
    value(&["--yarn-orig-ctx"]),
    value(&["--yarn-ext-factor"]),
    value(&["--yarn-attn-factor"]),
    value(&["--yarn-beta-slow"]),
    value(&["--yarn-beta-fast"]),
    // Sampling defaults.
    value(&["--samplers"]),
    value(&["-s", "--seed"]),
    value(&["--sampler-seq", "--sampling-seq"]),
    switch(&["--ignore-eos"]),
    value(&["--temp", "--temperature"]),
    value(&["--top-k"]),
    value(&["--top-p"]),
    value(&["--min-p"]),
    value(&["--top-nsigma", "--top-n-sigma"]),
    value(&["--xtc-probability"]),
    value(&["--xtc-threshold"]),
    value(&["--typical", "--typical-p"]),
    value(&["--repeat-last-n"]),
    value(&["--repeat-penalty"]),
    value(&["--presence-penalty"]),
    value(&["--frequency-penalty"]),
    value(&["--dry-multiplier"]),
    value(&["--dry-base"]),
    value(&["--dry-allowed-length"]),
    value(&["--dry-penalty-last-n"]),
    value(&["--dry-sequence-breaker"]),
    value(&["--adaptive-target"]),
    value(&["--adaptive-decay"]),
    value(&["--dynatemp-range"]),
    value(&["--dynatemp-exp"]),
    value(&["--mirostat"]),
    value(&["--mirostat-lr"]),
    value(&["--mirostat-ent"]),
    value(&["-l", "--logit-bias"]),
    value(&["--grammar"]),
    value(&["-j", "--json-schema"]),
    switch(&["-bs", "--backend-sampling"]),
    switch(&["-sp", "--special"]),
    value(&["-r", "--reverse-prompt"]),
    // Memory, devices and offload.
    value(&["-lm", "--load-mode"]),
    value(&["--numa"]),
    value(&["-dev", "--device"]),
    value(&["-ngl", "--gpu-layers", "--n-gpu-layers"]),
    value(&["-sm", "--split-mode"]),
    value(&["-ts", "--tensor-split"]),
    value(&["-mg", "--main-gpu"]),
    value(&["-fit", "--fit"]),
    value(&["-fitt", "--fit-target"]),
    value(&["-fitc", "--fit-ctx"]),
    switch(&["-kvo", "--kv-offload", "-nkvo", "--no-kv-offload"]),
    switch(&["--repack", "-nr", "--no-repack"]),
    switch(&["--no-host"]),
    switch(&["--op-offload", "--no-op-offload"]),
    switch(&["--check-tensors"]),
    value(&["-ot", "--override-tensor"]),
    switch(&["-cmoe", "--cpu-moe"]),
    value(&["-ncmoe", "--n-cpu-moe"]),
    value(&["--override-kv"]),
    // Multimodal tuning (the projector itself is the `multimodal.mmproj` setting).
    switch(&["--mmproj-auto", "--no-mmproj", "--no-mmproj-auto"]),
    switch(&["--mmproj-offload", "--no-mmproj-offload"]),
    value(&["--image-min-tokens"]),
    value(&["--image-max-tokens"]),
    // What the server offers and how it answers.
    value(&["--tags"]),
    value(&["--pooling"]),
    value(&["--embd-normalize"]),
    value(&["-to", "--timeout"]),
    switch(&["--jinja", "--no-jinja"]),
    value(&["--chat-template"]),
    value(&["--chat-template-kwargs"]),
    switch(&["--skip-chat-parsing", "--no-skip-chat-parsing"]),
    switch(&["--prefill-assistant", "--no-prefill-assistant"]),
    value(&["--reasoning-format"]),
    value(&["-rea", "--reasoning"]),
    value(&["--reasoning-budget"]),
    value(&["--reasoning-budget-message"]),
    switch(&["--spm-infill"]),
    switch(&["--lora-init-without-apply"]),
    value(&["-lv", "--verbosity", "--log-verbosity"]),
    switch(&["-v", "--verbose", "--log-verbose"]),
    // Speculative decoding (the draft model itself is the `lora.draft_model` setting).
    value(&["--draft", "--draft-n", "--draft-max"]),
    value(&["--draft-min", "--draft-n-min"]),
    value(&["--spec-draft-p-min", "--draft-p-min"]),
    value(&["--spec-draft-p-split", "--draft-p-split"]),
    value(&["--spec-draft-n-max"]),
    value(&["--spec-draft-n-min"]),
    value(&["--spec-draft-threads", "-td", "--threads-draft"]),
    value(&[
        "--spec-draft-threads-batch",
        "-tbd",
        "--threads-batch-draft",
    ]),
    value(&["--spec-draft-type-k", "-ctkd", "--cache-type-k-draft"]),
    value(&["--spec-draft-type-v", "-ctvd", "--cache-type-v-draft"]),
    value(&["--spec-draft-device", "-devd", "--device-draft"]),
    value(&[
        "--spec-draft-ngl",
        "-ngld",
        "--gpu-layers-draft",
        "--n-gpu-layers-draft",
    ]),
    switch(&["--spec-draft-cpu-moe", "-cmoed", "--cpu-moe-draft"]),
    value(&[
        "--spec-draft-n-cpu-moe",
        "--spec-draft-ncmoe",
        "-ncmoed",
        "--n-cpu-moe-draft",
    ]),
    value(&["--spec-draft-sampling"]),
    value(&["--spec-type"]),
];

/// Why a flag is refused, for the ones people reach for; any other unknown flag gets the general
/// message. Spellings are compared after `--some_flag` is read as `--some-flag`, as llama-server does.
pub const REFUSED: &[(&[&str], &str)] = &[
    (
        &[
            "--mcp-servers-json",
            "--mcp-servers-config",
            "--tools",
            "--tools-runtime",
            "-ag",
            "--agent",
            "--ui-mcp-proxy",
            "--webui-mcp-proxy",
        ],
        "it lets the model server run commands or tools on this machine",
    ),
    (
        &[
            "--log-file",
            "--slot-save-path",
            "--log-prompts-dir",
            "-lcs",
            "--lookup-cache-static",
            "-lcd",
            "--lookup-cache-dynamic",
        ],
        "it makes the model server write files",
    ),
    (
        &[
            "--path",
            "--media-path",
            "--models-dir",
            "--models-preset",
            "--ui-config-file",
            "--webui-config-file",
            "--api-key-file",
            "--ssl-key-file",
            "--ssl-cert-file",
            "--chat-template-file",
            "--grammar-file",
            "-jf",
            "--json-schema-file",
            "-f",
            "--file",
            "-bf",
            "--binary-file",
            "--video-ffmpeg-dir",
        ],
        "it makes the model server read or serve files",
    ),
    (
        &["-a", "--alias"],
        "Corral names the model to clients; add other names in the `serving.aliases` setting",
    ),
    (
        &["--embedding", "--embeddings", "--rerank", "--reranking"],
        "what the server answers is the `serving.role` setting",
    ),
    (
        &["-m", "--model"],
        "Corral passes the model's own file; change the model's path instead",
    ),
    (
        &["--lora", "--lora-scaled"],
        "LoRA adapters are the `lora.lora` setting, where their files are checked",
    ),
    (
        &[
            "--control-vector",
            "--control-vector-scaled",
            "--control-vector-layer-range",
        ],
        "control vectors are the `lora.control_vectors` setting, where their files are checked",
    ),
    (
        &["-mm", "--mmproj"],
        "the projector is the `multimodal.mmproj` setting, where its file is checked",
    ),
    (
        &["--spec-draft-model", "-md", "--model-draft"],
        "the draft model is the `lora.draft_model` setting, where its file is checked",
    ),
    (
        &[
            "-hf",
            "-hfr",
            "--hf-repo",
            "-hff",
            "--hf-file",
            "-hfv",
            "-hfrv",
            "--hf-repo-v",
            "-hffv",
            "--hf-file-v",
            "-hft",
            "--hf-token",
            "-hfd",
            "-hfrd",
            "--hf-repo-draft",
            "--spec-draft-hf",
            "-mu",
            "--model-url",
            "-mmu",
            "--mmproj-url",
            "-dr",
            "--docker-repo",
        ],
        "it downloads files from the network",
    ),
    (
        &["--rpc"],
        "RPC servers are the `advanced.rpc_servers` setting",
    ),
    (
        &[
            "--host",
            "--port",
            "--reuse-port",
            "--api-prefix",
            "--api-key",
            "--cors-origins",
            "--cors-methods",
            "--cors-headers",
            "--cors-credentials",
            "--no-cors-credentials",
            "--metrics",
            "--props",
            "--slots",
            "--no-slots",
            "--ui",
            "--webui",
            "--no-ui",
            "--no-webui",
            "--ui-config",
            "--webui-config",
            "--models-max",
            "--models-autoload",
            "--no-models-autoload",
        ],
        "Corral sets how the model server listens and who may reach it",
    ),
    (
        &[
            "--log-disable",
            "--log-jsonl",
            "--no-log-jsonl",
            "--log-prefix",
            "--no-log-prefix",
            "--log-timestamps",
            "--no-log-timestamps",
            "--log-colors",
        ],
        "Corral reads the model server's log as it is",
    ),
    (
        &[
            "-h",
            "--help",
            "--usage",
            "--version",
            "--list-devices",
            "--cache-list",
            "--completion-bash",
        ],
        "it makes llama-server print something and exit",
    ),
];

/// llama-server reads `--some_flag` as `--some-flag`; so does this check.
pub fn normalise(flag: &str) -> String {
    if flag.starts_with("--") {
        flag.replace('_', "-")
    } else {
        flag.to_string()
    }
}

/// The reviewed flag spelt `flag` (normalised), if any.
pub fn reviewed(flag: &str) -> Option<&'static ReviewedFlag> {
    let flag = normalise(flag);
    REVIEWED
        .iter()
        .find(|f| f.spellings.contains(&flag.as_str()))
}

/// One flag of a checked list, with the index of the argument that spelt it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraFlag {
    pub index: usize,
    pub flag: &'static ReviewedFlag,
}

/// Checks a list of extra arguments: each flag reviewed, each value after a flag that takes one,
/// no value without a flag. Returns the flags found, or every problem with its `extra_args[i]`.
pub fn check(args: &[String]) -> Result<Vec<ExtraFlag>, Vec<FieldError>> {
    let field = |i: usize| format!("extra_args[{i}]");
    let mut errors = Vec::new();
    let mut flags = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        if !arg.starts_with('-') || arg.len() < 2 {
            errors.push(FieldError::new(
                field(i),
                Rule::NotAllowed,
                format!("'{arg}' is a value with no flag before it"),
            ));
            i += 1;
            continue;
        }
        if let Some((flag, _)) = arg.split_once('=') {
            let message = match refusal(flag) {
                Some(why) => format!("{flag} is not allowed: {why}"),
                None if reviewed(flag).is_some() => format!(
                    "llama-server does not read '{flag}=...'; put the value on the next line"
                ),
                None => not_reviewed(flag),
            };
            errors.push(FieldError::new(field(i), Rule::NotAllowed, message));
            i += 1;
            continue;
        }
        match reviewed(arg) {
            Some(flag) => {
                flags.push(ExtraFlag { index: i, flag });
                if flag.takes == Takes::Value {
                    if i + 1 >= args.len() {
                        errors.push(FieldError::new(
                            field(i),
                            Rule::Required,
                            format!("{arg} needs a value on the next line"),
                        ));
                    }
                    i += 1;
                }
            }
            None => {
                let message = match refusal(arg) {
                    Some(why) => format!("{arg} is not allowed: {why}"),
                    None => not_reviewed(arg),
                };
                errors.push(FieldError::new(field(i), Rule::NotAllowed, message));
            }
        }
        i += 1;
    }
    if errors.is_empty() {
        Ok(flags)
    } else {
        Err(errors)
    }
}

fn refusal(flag: &str) -> Option<&'static str> {
    refused_group(flag).map(|(_, why)| why)
}

/// The refused flags spelt like `flag` (normalised) is refused with, and why.
pub fn refused_group(flag: &str) -> Option<(&'static [&'static str], &'static str)> {
    let flag = normalise(flag);
    REFUSED
        .iter()
        .find(|(spellings, _)| spellings.contains(&flag.as_str()))
        .copied()
}

fn not_reviewed(flag: &str) -> String {
    format!(
        "{flag} is not a flag Corral passes on; extra arguments may only tune how the model runs \
         (threads, memory, sampling, offload, templates)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn refused(list: &[&str]) -> Vec<(String, Rule, String)> {
        check(&args(list))
            .expect_err("must be refused")
            .into_iter()
            .map(|e| (e.field, e.rule, e.message))
            .collect()
    }

    #[test]
    fn reviewed_flags_with_their_values_pass() {
        let flags = check(&args(&[
            "--tags",
            "my model",
            "-c",
            "4096",
            "--no-warmup",
            "--temp",
            "-0.5",
            "--jinja",
        ]))
        .unwrap();
        let found: Vec<usize> = flags.iter().map(|f| f.index).collect();
        assert_eq!(found, [0, 2, 4, 5, 7]);
    }

    #[test]
    fn every_spelling_of_a_dangerous_flag_is_refused_by_name() {
        for spelling in [
            "--mcp-servers-json",
            "--mcp_servers_json",
            "--log-file",
            "--log_file",
            "--path",
            "--tools",
            "-ag",
            "--agent",
            "--model",
            "-m",
            "--api-key",
            "--cors-origins",
            "-hf",
            "--rpc",
            "--slot-save-path",
            "--media-path",
            "--chat-template-file",
            "--webui-config-file",
            "--models-dir",
            "--alias",
            "--embeddings",
        ] {
            let errors = refused(&[spelling, "x"]);
            assert_eq!(errors[0].0, "extra_args[0]", "{spelling}");
            assert_eq!(errors[0].1, Rule::NotAllowed, "{spelling}");
            assert!(
                errors[0].2.contains(spelling),
                "{spelling}: {}",
                errors[0].2
            );
        }
    }

    #[test]
    fn the_equals_form_is_refused_naming_the_flag() {
        let errors = refused(&["--log-file=/tmp/x"]);
        assert!(
            errors[0].2.contains("--log-file is not allowed"),
            "{errors:?}"
        );
        let errors = refused(&["--ctx-size=4096"]);
        assert!(errors[0].2.contains("next line"), "{errors:?}");
    }

    #[test]
    fn an_unknown_flag_is_refused() {
        let errors = refused(&["--no-such-flag"]);
        assert!(errors[0].2.contains("--no-such-flag"));
    }

    #[test]
    fn a_list_ending_in_a_flag_that_needs_a_value_is_refused() {
        let errors = refused(&["--threads", "2", "--ctx-size"]);
        assert_eq!(errors[0].0, "extra_args[2]");
        assert_eq!(errors[0].1, Rule::Required);
    }

    #[test]
    fn a_value_cannot_smuggle_a_flag_past_a_switch() {
        // `--jinja` takes no value, so the next argument is read as a flag of its own.
        let errors = refused(&["--jinja", "--log-file", "/x"]);
        assert_eq!(errors[0].0, "extra_args[1]");
        let errors = refused(&["--jinja", "/etc/passwd"]);
        assert!(errors[0].2.contains("value with no flag"));
    }

    #[test]
    fn no_spelling_is_both_reviewed_and_refused_or_listed_twice() {
        let mut seen = std::collections::BTreeSet::new();
        for flag in REVIEWED {
            for spelling in flag.spellings {
                assert!(seen.insert(*spelling), "{spelling} listed twice");
                assert!(
                    refusal(spelling).is_none(),
                    "{spelling} both reviewed and refused"
                );
            }
        }
    }
}
