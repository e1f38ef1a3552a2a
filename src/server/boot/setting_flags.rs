//! The flags (and environment variables) of Corral's own settings: one per entry of
//! `domain::settings::SETTINGS`, built by a loop, each value checked by the same rule the
//! Settings page and the API use. What they give (or default to) is the layer the stored
//! settings are laid over, except where a flag was given.

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Args, FromArgMatches};
use serde_json::{Value, json};

use crate::domain::AppError;
use crate::domain::fields::{FieldSet, InputKind};
use crate::domain::settings::{CorralSettings, SETTINGS, SetByFlag, Setting, Unit};

/// Every setting as its flag gave it, else its default.
#[derive(Debug, Clone, Default)]
pub struct SettingFlags(pub CorralSettings);

/// One value as typed after the flag: read and checked by the setting's field. A relative
/// path is taken from where Corral was started, as a shell user expects.
fn checked(setting: &'static Setting, text: &str) -> Result<Value, String> {
    let key = setting.key();
    // `CORRAL_MODELS_DIRS="/a, /b"`: the space after a comma is not part of the folder.
    let text = text.trim();
    // Paths and folders by their unit, not by being a list: a list of GPU budgets is no path.
    let value = match setting.unit {
        Unit::Path | Unit::Folder => std::path::absolute(text)
            .map(|path| Value::from(path.display().to_string()))
            .map_err(|e| format!("cannot read '{text}' as a path: {e}"))?,
        // One entry of a list, as typed.
        _ if setting.is_list() => Value::from(text),
        _ => setting.field.text_to_value(text),
    };
    let document = if setting.is_list() {
        json!({ key: [value.clone()] })
    } else {
        json!({ key: value.clone() })
    };
    match CorralSettings::parse(&document) {
        Ok(_) => Ok(value),
        Err(AppError::Invalid { errors }) => Err(errors
            .into_iter()
            .map(|e| e.message)
            .collect::<Vec<_>>()
            .join("; ")),
        Err(other) => Err(other.to_string()),
    }
}

fn arg(setting: &'static Setting) -> Arg {
    let mut arg = Arg::new(setting.key())
        .long(setting.flag)
        .env(setting.env)
        .value_name(setting.unit.value_name())
        .help(setting.described())
        .value_parser(move |text: &str| checked(setting, text));
    if setting.is_list() {
        arg = arg.action(ArgAction::Append).value_delimiter(',');
    }
    if matches!(setting.field.input, InputKind::Integer { .. }) {
        // `--idle-ttl -1` gets the range's message, not "unexpected argument '-1'".
        arg = arg.allow_negative_numbers(true);
    }
    if let Some(value) = setting.value {
        arg = arg.default_value(value);
    }
    arg
}

impl Args for SettingFlags {
    fn augment_args(command: clap::Command) -> clap::Command {
        SETTINGS
            .iter()
            .fold(command, |command, setting| command.arg(arg(setting)))
    }
    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

impl FromArgMatches for SettingFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut settings = CorralSettings::default();
        for setting in SETTINGS {
            let key = setting.key();
            let misread = |e: clap::parser::MatchesError| {
                clap::Error::raw(clap::error::ErrorKind::ValueValidation, e.to_string())
            };
            let value = if setting.is_list() {
                matches
                    .try_get_many::<Value>(key)
                    .map_err(misread)?
                    .map(|values| Value::Array(values.cloned().collect()))
            } else {
                matches.try_get_one::<Value>(key).map_err(misread)?.cloned()
            };
            if let Some(value) = value {
                settings = settings.with(key, value);
            }
        }
        // Each value was checked alone; the whole (a list's length) is checked here.
        let document = serde_json::to_value(&settings).unwrap_or_default();
        if let Err(AppError::Invalid { errors }) = CorralSettings::parse(&document) {
            let said: Vec<String> = errors
                .iter()
                .map(|e| {
                    let flag = crate::domain::settings::setting(
                        e.field.split('[').next().unwrap_or_default(),
                    )
                    .map_or_else(|| e.field.clone(), |s| format!("--{}", s.flag));
                    format!("{flag}: {}", e.message)
                })
                .collect();
            return Err(clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("{}\n", said.join("; ")),
            ));
        }
        Ok(SettingFlags(settings))
    }
    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

/// The settings a flag or environment variable was given for: those win over what the page
/// stored, and the page says which.
pub fn set_by_flag(matches: &ArgMatches) -> Vec<SetByFlag> {
    SETTINGS
        .iter()
        .filter_map(|setting| {
            let source = match matches.value_source(setting.key())? {
                ValueSource::CommandLine => format!("--{}", setting.flag),
                ValueSource::EnvVariable => setting.env.to_string(),
                _ => return None,
            };
            Some(SetByFlag {
                key: setting.key().to_string(),
                source,
            })
        })
        .collect()
}
