//! Where models come from: the [`ModelProvider`] port lives in ingot-core (the benchmarks
//! resolve models through it too); the server adds the lookup by the names that Foundry
//! Local and Ollama clients use.

pub use ingot_core::provider::*;

/// The model `name` refers to in `list`: its id or an alias, else a Foundry Local id or an
/// Ollama `name:tag` that spells one ([`ingot_api::names::candidates`], most likely first).
pub fn find_descriptor<'a>(list: &'a [ModelDescriptor], name: &str) -> Option<&'a ModelDescriptor> {
    if let Some(d) = list.iter().find(|d| d.matches(name)) {
        return Some(d);
    }
    ingot_api::names::candidates(name)
        .iter()
        .find_map(|c| list.iter().find(|d| d.matches(c)))
}
