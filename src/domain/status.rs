//! Where a model is in its life. The one spelling of each state, for the database, the API, the
//! live channel and the page.

choice_enum! {
    /// A model's run status.
    pub enum ModelStatus {
        Stopped => "stopped",
        Loading => "loading",
        Running => "running",
        Stopping => "stopping",
        Error => "error",
    }
}

impl ModelStatus {
    /// The word the page shows.
    pub fn label(self) -> &'static str {
        match self {
            ModelStatus::Stopped => "Stopped",
            ModelStatus::Loading => "Loading",
            ModelStatus::Running => "Running",
            ModelStatus::Stopping => "Stopping",
            ModelStatus::Error => "Error",
        }
    }

    /// True while a process may exist for the model: such a model cannot be deleted.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            ModelStatus::Loading | ModelStatus::Running | ModelStatus::Stopping
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_serialise_as_the_documented_words() {
        let words: Vec<String> = ModelStatus::ALL
            .iter()
            .map(|s| serde_json::to_string(s).unwrap())
            .collect();
        assert_eq!(
            words,
            [
                "\"stopped\"",
                "\"loading\"",
                "\"running\"",
                "\"stopping\"",
                "\"error\""
            ]
        );
    }

    #[test]
    fn the_old_idle_spelling_is_not_a_status() {
        assert!(serde_json::from_str::<ModelStatus>("\"idle\"").is_err());
    }
}
