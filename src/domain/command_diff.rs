//! What separates two llama-server command lines, flag by flag: the command a model runs with,
//! and the one its saved settings would start now. A saved setting does not reach a running
//! process; this says what a restart would change ("Restart to apply").

use serde::{Deserialize, Serialize};

/// One flag that differs. `before` alone: removed; `after` alone: added; both: changed. A
/// switch (a flag without a value) reads as an empty value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandChange {
    pub flag: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl CommandChange {
    /// "--ctx-size 512 → 2048", "+ --flash-attn", "− --mlock": for a list or a tooltip.
    pub fn describe(&self) -> String {
        let shown = |value: &str| {
            if value.is_empty() {
                String::new()
            } else {
                format!(" {value}")
            }
        };
        match (&self.before, &self.after) {
            (Some(before), Some(after)) => format!("{}{} → {}", self.flag, shown(before), after),
            (None, Some(after)) => format!("+ {}{}", self.flag, shown(after)),
            (Some(before), None) => format!("− {}{}", self.flag, shown(before)),
            (None, None) => self.flag.clone(),
        }
    }
}

/// A running model whose saved settings would start a different command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRestart {
    pub model_id: i64,
    /// The run the changes are measured against: they end with it.
    pub run_id: i64,
    pub changes: Vec<CommandChange>,
}

/// The program's path stands as this pseudo-flag in a change.
pub const PROGRAM: &str = "program";

/// The changes from `before` to `after`, each a full command line (program first), in the
/// order the flags appear (removed ones where they were). A flag given more than once (`--lora`
/// twice) is compared as the list of its values.
pub fn command_changes(before: &[String], after: &[String]) -> Vec<CommandChange> {
    let mut changes = Vec::new();
    let (old_program, old) = parts(before);
    let (new_program, new) = parts(after);
    if old_program != new_program {
        changes.push(CommandChange {
            flag: PROGRAM.into(),
            before: old_program.cloned(),
            after: new_program.cloned(),
        });
    }
    for (flag, value) in &new {
        match old.iter().find(|(f, _)| f == flag) {
            Some((_, was)) if was == value => {}
            Some((_, was)) => changes.push(CommandChange {
                flag: flag.clone(),
                before: Some(was.clone()),
                after: Some(value.clone()),
            }),
            None => changes.push(CommandChange {
                flag: flag.clone(),
                before: None,
                after: Some(value.clone()),
            }),
        }
    }
    for (flag, value) in &old {
        if !new.iter().any(|(f, _)| f == flag) {
            changes.push(CommandChange {
                flag: flag.clone(),
                before: Some(value.clone()),
                after: None,
            });
        }
    }
    changes
}

/// The value a command gives a flag (any of its spellings), as `command_changes` reads it.
pub fn flag_value(command: &[String], spellings: &[&str]) -> Option<String> {
    parts(command)
        .1
        .into_iter()
        .find(|(flag, _)| spellings.contains(&flag.as_str()))
        .map(|(_, value)| value)
}

/// A command's program and its flags with their values; the `NAME=value` words before the
/// program (the model's environment) read as flags named by the variable.
fn parts(command: &[String]) -> (Option<&String>, Vec<(String, String)>) {
    let env_words = command.len() - without_env(command).len();
    let program = command.get(env_words);
    let mut read: Vec<(String, String)> = command[..env_words]
        .iter()
        .filter_map(|word| env_word(word))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    read.extend(flags(command.get(env_words + 1..).unwrap_or_default()));
    (program, read)
}

/// The command without the model's `NAME=value` words: program and arguments, as the process
/// sees its own command line.
pub fn without_env(command: &[String]) -> &[String] {
    let env_words = command
        .iter()
        .take_while(|word| env_word(word).is_some())
        .count();
    &command[env_words..]
}

/// `NAME=value` with a variable's name (capitals, digits, `_`).
fn env_word(word: &str) -> Option<(&str, &str)> {
    let (name, value) = word.split_once('=')?;
    let named = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    named.then_some((name, value))
}

/// Flags in first-seen order with their values: the words up to the next flag, joined by a
/// space; a repeated flag's values joined by ", ". A word starting with `-` is a flag unless
/// it is a number (`--temp -1`).
fn flags(args: &[String]) -> Vec<(String, String)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for arg in args {
        let is_flag = arg.starts_with('-') && arg.len() > 1 && arg.parse::<f64>().is_err();
        if is_flag {
            if let Some(done) = current.take() {
                add(&mut out, done);
            }
            current = Some((arg.clone(), Vec::new()));
        } else if let Some((_, words)) = current.as_mut() {
            words.push(arg.clone());
        } else {
            add(&mut out, (String::new(), vec![arg.clone()]));
        }
    }
    if let Some(done) = current {
        add(&mut out, done);
    }
    out.into_iter()
        .map(|(flag, values)| (flag, values.join(", ")))
        .collect()
}

/// One flag's words as one value, after the values the flag already had.
fn add(out: &mut Vec<(String, Vec<String>)>, (flag, words): (String, Vec<String>)) {
    let value = words.join(" ");
    match out.iter_mut().find(|(f, _)| *f == flag) {
        Some((_, values)) => values.push(value),
        None => out.push((flag, vec![value])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn the_models_environment_before_the_program_compares_by_variable() {
        let before = cmd("CUDA_VISIBLE_DEVICES=0 /bin/llama-server --ctx-size 512");
        let after = cmd("CUDA_VISIBLE_DEVICES=1 GGML_X=1 /bin/llama-server --ctx-size 512");
        let changes: Vec<String> = command_changes(&before, &after)
            .iter()
            .map(CommandChange::describe)
            .collect();
        assert_eq!(changes, ["CUDA_VISIBLE_DEVICES 0 → 1", "+ GGML_X 1"]);
        assert_eq!(flag_value(&after, &["--ctx-size"]).as_deref(), Some("512"));
        let plain = cmd("/bin/llama-server --ctx-size 512");
        assert_eq!(
            command_changes(&plain, &before).len(),
            1,
            "the program is the same"
        );
    }

    #[test]
    fn the_same_command_has_no_changes() {
        let line = cmd("/bin/llama-server -m /m.gguf --ctx-size 512 --port 8100 --flash-attn");
        assert!(command_changes(&line, &line).is_empty());
    }

    #[test]
    fn flags_added_removed_and_changed_are_named_with_their_values() {
        let before =
            cmd("/bin/llama-server -m /m.gguf --ctx-size 512 --mlock --temp -1 --port 8100");
        let after = cmd(
            "/bin/llama-server -m /m.gguf --ctx-size 2048 --temp -1 --port 8100 --flash-attn on",
        );
        let changes = command_changes(&before, &after);
        let described: Vec<String> = changes.iter().map(CommandChange::describe).collect();
        assert_eq!(
            described,
            ["--ctx-size 512 → 2048", "+ --flash-attn on", "− --mlock"]
        );
    }

    #[test]
    fn a_repeated_flag_is_compared_as_its_list_and_a_new_program_is_a_change() {
        let before = cmd("/a/llama-server --lora /x.gguf --lora /y.gguf");
        let after = cmd("/b/llama-server --lora /x.gguf");
        let changes = command_changes(&before, &after);
        assert_eq!(changes[0].flag, PROGRAM);
        assert_eq!(changes[1].describe(), "--lora /x.gguf, /y.gguf → /x.gguf");
        assert_eq!(changes.len(), 2);
    }

    #[test]
    fn a_flags_value_is_found_by_any_spelling() {
        let line = cmd("/bin/llama-server -c 4096 --port 8100");
        assert_eq!(
            flag_value(&line, &["-c", "--ctx-size"]).as_deref(),
            Some("4096")
        );
        assert_eq!(flag_value(&line, &["--mlock"]), None);
    }
}
