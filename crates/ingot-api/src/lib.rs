//! ingot-api: the OpenAI-compatible wire types, the API error type and its HTTP mapping, and
//! request validation into engine requests.
//!
//! Everything here is pure (no I/O), so the server stays thin and the parsing/validation
//! surface can be fuzzed on its own.

pub mod embeddings;
pub mod error;
pub mod extras;
pub mod grammar;
pub mod logprobs;
pub mod names;
pub mod responses;
pub mod structured;
pub mod tools;
pub mod types;
pub mod validate;

pub use error::{ApiError, ErrorBody, ErrorObject, ErrorShape};
pub use grammar::JSON_GBNF;
pub use types::*;
pub use validate::{parse_json, Validated, ValidatedChat, ValidatedCompletion};
