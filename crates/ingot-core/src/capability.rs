//! The one vocabulary of capabilities: what a catalog entry declares a model is for, what a
//! model source tells the server ([`crate::provider::ModelDescriptor`]), what an engine
//! supports ([`crate::Capabilities`]), and what the APIs show, always as the same lowercase
//! words (`chat`, `completion`, `json_mode`, `embedding`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a model (or an engine) can be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Multi-turn chat (an instruction-tuned model with a chat template;
    /// `POST /v1/chat/completions`).
    Chat,
    /// Raw text completion (`POST /v1/completions`).
    Completion,
    /// Grammar-constrained output: `response_format` `json_object` and the `grammar`
    /// extension (an engine's capability; catalog entries declare chat and completion).
    JsonMode,
    /// Vectors for text (`POST /v1/embeddings`): an embedding model (issue 15).
    Embedding,
}

impl Capability {
    /// Every capability, in the order listings show them.
    pub const ALL: [Capability; 4] = [
        Capability::Chat,
        Capability::Completion,
        Capability::JsonMode,
        Capability::Embedding,
    ];

    /// The wire name: `chat`, `completion`, `json_mode` or `embedding`.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Chat => "chat",
            Capability::Completion => "completion",
            Capability::JsonMode => "json_mode",
            Capability::Embedding => "embedding",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A capability name outside the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown capability '{value}': expected chat, completion, json_mode or embedding")]
pub struct UnknownCapability {
    /// The name as given.
    pub value: String,
}

impl FromStr for Capability {
    type Err = UnknownCapability;

    /// The wire names, exactly.
    fn from_str(s: &str) -> Result<Self, UnknownCapability> {
        Capability::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCapability {
                value: s.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_as_lowercase_strings() {
        for c in Capability::ALL {
            assert_eq!(c.as_str().parse::<Capability>(), Ok(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
            assert_eq!(
                serde_json::from_value::<Capability>(c.as_str().into()).unwrap(),
                c
            );
        }
        let e = "vision".parse::<Capability>().unwrap_err().to_string();
        assert!(
            e.contains("'vision'") && e.contains("chat, completion, json_mode or embedding"),
            "{e}"
        );
    }
}
