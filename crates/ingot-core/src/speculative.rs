//! Speculative decoding modes (`--speculative`), shared by the CLI, the server's
//! configuration and [`crate::LoadOptions`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How an engine may speculate: decode guessed tokens together with the real one and keep
/// those the model itself would have produced. The output is the same either way (greedy:
/// byte for byte; sampled: the same distribution); only the speed differs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speculative {
    /// Plain decoding: one token per sequence per step.
    Off,
    /// Prompt lookup: when the last few tokens of a sequence occurred before in its prompt
    /// or output, draft the tokens that followed them. No second model; it pays where the
    /// output copies its input (summaries, extraction, code edits) and costs little where it
    /// does not, since a sequence drafts only on a match and backs off when drafts miss.
    #[default]
    Ngram,
}

impl Speculative {
    /// Every mode, in the order help texts list them.
    pub const ALL: [Speculative; 2] = [Speculative::Off, Speculative::Ngram];

    pub fn as_str(self) -> &'static str {
        match self {
            Speculative::Off => "off",
            Speculative::Ngram => "ngram",
        }
    }
}

impl fmt::Display for Speculative {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `--speculative` value that names no mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown speculative mode '{0}' (expected off or ngram)")]
pub struct UnknownSpeculative(pub String);

impl FromStr for Speculative {
    type Err = UnknownSpeculative;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" | "none" => Ok(Speculative::Off),
            "ngram" | "n-gram" | "lookup" | "prompt-lookup" => Ok(Speculative::Ngram),
            _ => Err(UnknownSpeculative(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print_their_names() {
        for m in Speculative::ALL {
            assert_eq!(m.as_str().parse::<Speculative>(), Ok(m));
        }
        assert_eq!("NGRAM".parse(), Ok(Speculative::Ngram));
        assert!("eagle".parse::<Speculative>().is_err());
        assert_eq!(Speculative::default(), Speculative::Ngram);
        assert_eq!(serde_json::to_string(&Speculative::Off).unwrap(), "\"off\"");
    }
}
