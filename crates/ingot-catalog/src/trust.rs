//! What a catalog fetched from a URL may do without the user's explicit trust.
//!
//! Whoever serves a catalog URL is not the user. Without trust, an entry from such a catalog
//! is refused when it:
//!
//! - names an environment variable in `[models.remote] api_key_env`: its value would be sent
//!   as a Bearer token to an endpoint the catalog chose;
//! - ships a `chat_template_override`: a template that runs on every request;
//! - turns an alias defined by ingot, on this machine (the user catalog, a catalog file) or by
//!   a trusted catalog into a remote endpoint: requests the user means for that model would go
//!   to a server the catalog chose.
//!
//! A refused entry is left out and reported ([`Refusal`]); asking for its alias is an error
//! that says why ([`crate::CatalogError::Untrusted`]). Catalog files are the user's own and
//! always trusted. A URL is trusted when it is listed, exactly as given, in
//! `--trust-catalog` / [`crate::env::INGOT_TRUST_CATALOG`].

use std::collections::HashSet;
use std::fmt;

use crate::{CatalogLocation, ModelEntry, Origin};

/// The catalog field that caused a [`Refusal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UntrustedField {
    /// `[models.remote] api_key_env`.
    ApiKeyEnv,
    /// `chat_template_override`.
    ChatTemplateOverride,
    /// `[models.remote]` on an alias defined by ingot, on this machine or by a trusted catalog.
    Remote,
}

impl UntrustedField {
    /// The field's name in a catalog file.
    pub fn name(self) -> &'static str {
        match self {
            UntrustedField::ApiKeyEnv => "remote.api_key_env",
            UntrustedField::ChatTemplateOverride => "chat_template_override",
            UntrustedField::Remote => "remote",
        }
    }
}

/// An entry of an untrusted (URL) catalog that was left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The entry's alias.
    pub alias: String,
    /// The catalog's URL (credentials redacted).
    pub catalog: String,
    /// The field that may not come from an untrusted catalog.
    pub field: UntrustedField,
    /// What the field would have done.
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "catalog {url}: model '{alias}' refused: `{field}` {reason}, which a catalog \
             fetched from a URL may not do; if you trust this catalog, pass \
             --trust-catalog {url} (or list it in {var})",
            url = self.catalog,
            alias = self.alias,
            field = self.field.name(),
            reason = self.reason,
            var = crate::env::INGOT_TRUST_CATALOG,
        )
    }
}

/// The URLs of `list` (an `INGOT_TRUST_CATALOG` value, or the `--trust-catalog` flags joined
/// the same way). Files are left out: they are trusted anyway.
pub fn trusted_urls(list: &[CatalogLocation]) -> Vec<String> {
    list.iter()
        .filter_map(|l| match l {
            CatalogLocation::Url(u) => Some(u.trim().to_string()),
            CatalogLocation::File(_) => None,
        })
        .collect()
}

/// Whether `location` is trusted: a file, or a URL listed in `trusted`.
pub(crate) fn is_trusted(location: &CatalogLocation, trusted: &[String]) -> bool {
    match location {
        CatalogLocation::File(_) => true,
        CatalogLocation::Url(u) => trusted.iter().any(|t| t == u.trim()),
    }
}

/// Why `entry`, from an untrusted catalog, is refused; `None` when it is acceptable.
/// `protected` holds the aliases defined by ingot, on this machine or by trusted catalogs.
pub(crate) fn check(entry: &ModelEntry, protected: &HashSet<String>) -> Option<Refusal> {
    let catalog = match &entry.origin {
        Origin::Url(u) => u.clone(),
        other => other.to_string(),
    };
    let refuse = |field, reason: String| {
        Some(Refusal {
            alias: entry.alias.clone(),
            catalog: catalog.clone(),
            field,
            reason,
        })
    };
    if let Some(remote) = &entry.remote {
        if let Some(var) = &remote.api_key_env {
            return refuse(
                UntrustedField::ApiKeyEnv,
                format!(
                    "would send the value of the environment variable {var} as a Bearer token \
                     to {}",
                    remote.endpoint
                ),
            );
        }
        if protected.contains(&entry.alias) {
            return refuse(
                UntrustedField::Remote,
                format!(
                    "would redefine a model defined by ingot or on this machine as a remote \
                     endpoint, sending its requests to {}",
                    remote.endpoint
                ),
            );
        }
    }
    if entry.chat_template_override.is_some() {
        return refuse(
            UntrustedField::ChatTemplateOverride,
            "would ship a chat template that runs on every request".to_string(),
        );
    }
    None
}

#[cfg(test)]
mod tests;
