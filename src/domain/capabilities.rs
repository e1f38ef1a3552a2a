//! What a model can do, in the words clients and the models page use: its role (`chat`,
//! `embeddings`, `rerank`), what its projector adds (`vision`, `audio`), and what its chat
//! template handles (`tools`, `reasoning`). Read from its settings and its files' headers.

use crate::domain::config::serving::Role;
use crate::domain::gguf::GgufMetadata;

/// `projector`: what the projector set for the model projects for (`None`: no projector; an
/// empty list: one whose header cannot be read, taken for vision, the usual kind).
pub fn capabilities(
    role: Role,
    projector: Option<&[String]>,
    file: Option<&GgufMetadata>,
) -> Vec<String> {
    let mut found = vec![role.as_str().to_string()];
    if let Some(projects_for) = projector {
        if projects_for.is_empty() {
            found.push("vision".into());
        }
        for kind in projects_for {
            if (kind == "vision" || kind == "audio") && !found.contains(kind) {
                found.push(kind.clone());
            }
        }
    }
    if role == Role::Chat
        && let Some(file) = file
    {
        if file.template_tools {
            found.push("tools".into());
        }
        if file.template_reasoning {
            found.push("reasoning".into());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_model_with_a_projector_and_a_tool_template_can_see_and_call_tools() {
        let file = GgufMetadata {
            template_tools: true,
            template_reasoning: true,
            ..GgufMetadata::default()
        };
        let both = ["vision".to_string(), "audio".to_string()];
        assert_eq!(
            capabilities(Role::Chat, Some(&both), Some(&file)),
            ["chat", "vision", "audio", "tools", "reasoning"]
        );
        assert_eq!(
            capabilities(Role::Chat, Some(&[]), None),
            ["chat", "vision"]
        );
        assert_eq!(
            capabilities(Role::Embeddings, None, Some(&file)),
            ["embeddings"],
            "an embedding model's template is not offered to chat clients"
        );
    }
}
