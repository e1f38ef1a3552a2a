//! The model family. A closed set: a misspelt kind is rejected, never stored.

choice_enum! {
    /// Which family a model belongs to.
    pub enum ModelKind {
        Llama => "llama",
        Mistral => "mistral",
        Qwen => "qwen",
        Gemma => "gemma",
        Phi => "phi",
        DeepSeek => "deepseek",
        Granite => "granite",
        Other => "other",
    }
}

impl ModelKind {
    /// The family a GGUF `general.architecture` belongs to (`qwen3moe` → Qwen).
    pub fn from_architecture(architecture: &str) -> ModelKind {
        let arch = architecture.to_ascii_lowercase();
        [
            ("llama", ModelKind::Llama),
            ("mistral", ModelKind::Mistral),
            ("mixtral", ModelKind::Mistral),
            ("qwen", ModelKind::Qwen),
            ("gemma", ModelKind::Gemma),
            ("phi", ModelKind::Phi),
            ("deepseek", ModelKind::DeepSeek),
            ("granite", ModelKind::Granite),
        ]
        .into_iter()
        .find(|(prefix, _)| arch.starts_with(prefix))
        .map_or(ModelKind::Other, |(_, kind)| kind)
    }

    /// The name a person reads.
    pub fn label(self) -> &'static str {
        match self {
            ModelKind::Llama => "Llama",
            ModelKind::Mistral => "Mistral",
            ModelKind::Qwen => "Qwen",
            ModelKind::Gemma => "Gemma",
            ModelKind::Phi => "Phi",
            ModelKind::DeepSeek => "DeepSeek",
            ModelKind::Granite => "Granite",
            ModelKind::Other => "Other",
        }
    }

    /// A best guess from a GGUF file name (`Qwen2.5-7B-Instruct-Q4_K_M.gguf` → qwen), so the
    /// add dialog and the API can leave the kind out for well-named files.
    pub fn guess_from_path(path: &str) -> ModelKind {
        let file = path
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(path)
            .to_ascii_lowercase();
        // Mixtral and Ministral are Mistral models; CodeLlama and TinyLlama are Llama models.
        const HINTS: &[(&str, ModelKind)] = &[
            ("deepseek", ModelKind::DeepSeek),
            ("qwen", ModelKind::Qwen),
            ("qwq", ModelKind::Qwen),
            ("gemma", ModelKind::Gemma),
            ("phi", ModelKind::Phi),
            ("granite", ModelKind::Granite),
            ("mistral", ModelKind::Mistral),
            ("mixtral", ModelKind::Mistral),
            ("ministral", ModelKind::Mistral),
            ("llama", ModelKind::Llama),
        ];
        HINTS
            .iter()
            .find(|(hint, _)| file.contains(hint))
            .map_or(ModelKind::Other, |(_, kind)| *kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialise_as_their_lowercase_names() {
        for kind in ModelKind::ALL {
            let json = serde_json::to_string(kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(ModelKind::parse(kind.as_str()), Some(*kind));
        }
    }

    #[test]
    fn a_misspelt_kind_is_rejected() {
        assert_eq!(ModelKind::parse("mistrall"), None);
        assert!(serde_json::from_str::<ModelKind>("\"mistrall\"").is_err());
    }

    #[test]
    fn the_kind_is_guessed_from_well_known_file_names() {
        assert_eq!(
            ModelKind::guess_from_path("/m/Qwen2.5-7B-Instruct-Q4_K_M.gguf"),
            ModelKind::Qwen
        );
        assert_eq!(
            ModelKind::guess_from_path("/m/mixtral-8x7b.Q5.gguf"),
            ModelKind::Mistral
        );
        assert_eq!(
            ModelKind::guess_from_path("/m/DeepSeek-R1-Distill-Llama-8B.gguf"),
            ModelKind::DeepSeek
        );
        assert_eq!(
            ModelKind::guess_from_path("/m/Meta-Llama-3.1-8B.gguf"),
            ModelKind::Llama
        );
        assert_eq!(
            ModelKind::guess_from_path("/llama/models/unknown.gguf"),
            ModelKind::Other
        );
    }
}
