//! A Playground conversation: the model, the system prompt and the messages with each reply's
//! figures, saved whole (per signed-in person where a login is required) so a reload finds it.

use serde::{Deserialize, Serialize};

use crate::domain::answer::Cost;
use crate::domain::error::{AppError, FieldError, Rule};
use crate::domain::model::MAX_NAME_LEN;

/// Bounds of what one conversation holds (the API's body limit, 1 MiB, bounds the whole).
pub const MAX_TITLE_CHARS: usize = 120;
pub const MAX_SYSTEM_BYTES: usize = 32 * 1024;
pub const MAX_MESSAGES: usize = 400;
pub const MAX_TEXT_BYTES: usize = 256 * 1024;
pub const MAX_IMAGES: usize = 4;
/// An attached image as a `data:image/...` URL.
pub const MAX_IMAGE_BYTES: usize = 768 * 1024;
/// Conversations one person keeps; the oldest must be deleted first.
pub const MAX_CONVERSATIONS: usize = 1000;

choice_enum! {
    /// Who wrote a message.
    pub enum Speaker {
        User => "user",
        Assistant => "assistant",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Speaker,
    pub text: String,
    /// Images sent with a person's message (`data:image/...` URLs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// A reply's time to first token, once it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<i64>,
    /// A reply's token counts and speeds, once it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
}

impl ChatMessage {
    pub fn user(text: String, images: Vec<String>) -> ChatMessage {
        ChatMessage {
            role: Speaker::User,
            text,
            images,
            ttft_ms: None,
            cost: None,
        }
    }

    pub fn reply() -> ChatMessage {
        ChatMessage {
            role: Speaker::Assistant,
            text: String::new(),
            images: Vec::new(),
            ttft_ms: None,
            cost: None,
        }
    }

    pub fn from_user(&self) -> bool {
        self.role == Speaker::User
    }
}

/// A conversation as saved (`id` none: a new one).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    #[serde(default)]
    pub id: Option<i64>,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub system: String,
    #[serde(default)]
    pub messages: Vec<ChatMessage>,
    /// Unix ms of the last save (set by the server).
    #[serde(default)]
    pub updated_at: i64,
}

/// A conversation in the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub id: i64,
    pub title: String,
    pub model: String,
    pub messages: usize,
    pub updated_at: i64,
}

impl Conversation {
    /// The title a conversation gets from its first message when it has none.
    pub fn derived_title(&self) -> String {
        let first = self
            .messages
            .iter()
            .find(|m| m.from_user())
            .map(|m| m.text.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        if first.is_empty() {
            return "New chat".to_string();
        }
        let mut title: String = first.chars().take(60).collect();
        if first.chars().count() > 60 {
            title.push('…');
        }
        title
    }

    /// Every bound, as field errors naming where (`messages[3].images[0]`).
    pub fn check(&self) -> Result<(), AppError> {
        let mut errors = Vec::new();
        let mut too_long = |field: String, max: String| {
            errors.push(FieldError::new(
                field,
                Rule::MaxLength,
                format!("must be at most {max}"),
            ));
        };
        if self.title.chars().count() > MAX_TITLE_CHARS {
            too_long("title".into(), format!("{MAX_TITLE_CHARS} characters"));
        }
        if self.model.len() > MAX_NAME_LEN * 4 {
            too_long("model".into(), format!("{} bytes", MAX_NAME_LEN * 4));
        }
        if self.system.len() > MAX_SYSTEM_BYTES {
            too_long("system".into(), format!("{MAX_SYSTEM_BYTES} bytes"));
        }
        if self.messages.len() > MAX_MESSAGES {
            errors.push(FieldError::new(
                "messages",
                Rule::MaxItems,
                format!("must hold at most {MAX_MESSAGES} messages"),
            ));
        }
        for (i, message) in self.messages.iter().enumerate() {
            if message.text.len() > MAX_TEXT_BYTES {
                errors.push(FieldError::new(
                    format!("messages[{i}].text"),
                    Rule::MaxLength,
                    format!("must be at most {MAX_TEXT_BYTES} bytes"),
                ));
            }
            if message.images.len() > MAX_IMAGES {
                errors.push(FieldError::new(
                    format!("messages[{i}].images"),
                    Rule::MaxItems,
                    format!("must hold at most {MAX_IMAGES} images"),
                ));
            }
            for (j, image) in message.images.iter().enumerate() {
                let field = format!("messages[{i}].images[{j}]");
                if !image.starts_with("data:image/") {
                    errors.push(FieldError::new(
                        field,
                        Rule::Type,
                        "must be a data:image/... URL",
                    ));
                } else if image.len() > MAX_IMAGE_BYTES {
                    errors.push(FieldError::new(
                        field,
                        Rule::MaxLength,
                        format!("must be at most {MAX_IMAGE_BYTES} bytes"),
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(AppError::Invalid { errors })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(messages: Vec<ChatMessage>) -> Conversation {
        Conversation {
            messages,
            ..Conversation::default()
        }
    }

    #[test]
    fn a_title_comes_from_the_first_message_cut_at_sixty_characters() {
        let short = with(vec![ChatMessage::user("  Hello\n  there ".into(), vec![])]);
        assert_eq!(short.derived_title(), "Hello there");
        let long = with(vec![ChatMessage::user("x".repeat(100), vec![])]);
        assert_eq!(long.derived_title().chars().count(), 61);
        assert_eq!(with(vec![]).derived_title(), "New chat");
    }

    #[test]
    fn overlong_parts_and_foreign_images_are_named() {
        let mut message = ChatMessage::user("x".repeat(MAX_TEXT_BYTES + 1), vec![]);
        message.images = vec![
            "javascript:alert(1)".into(),
            "data:image/png;base64,AA".into(),
        ];
        let mut conversation = with(vec![message]);
        conversation.title = "t".repeat(MAX_TITLE_CHARS + 1);
        let Err(AppError::Invalid { errors }) = conversation.check() else {
            panic!("refused");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["title", "messages[0].text", "messages[0].images[0]"]
        );
    }
}
