//! Variants of one model (issue 15): several quantizations under one alias, like Ollama's
//! tags and Foundry Local's variants.
//!
//! A variant is an ordinary entry whose alias is `BASE-TAG`, where `TAG` is its own
//! quantization in lowercase (`tiny-q8_0` with `quantization = "Q8_0"`) and `BASE` is another
//! entry of the catalog (the default variant). Users write it `BASE:TAG` (`tiny:q8_0`, or
//! `tiny:Q8_0`); `BASE:TAG` also names the default itself when `TAG` is its quantization.
//! Because the stored alias is `BASE-TAG`, an Ollama client's `tiny:q8_0` (which Ollama
//! names map to `tiny-q8_0`) reaches the same entry, and every alias stays a valid file name.

use crate::model::ModelEntry;
use crate::Catalog;

/// The tag of an entry: its quantization in lowercase (`q4_k_m`).
pub fn tag_of(entry: &ModelEntry) -> String {
    entry.quantization.to_ascii_lowercase()
}

/// `entry`'s alias without its `-TAG` suffix (no allocation: listings call this for every
/// entry on every request).
fn strip_tag(entry: &ModelEntry) -> Option<&str> {
    let q = entry.quantization.as_bytes();
    let a = entry.alias.as_bytes();
    if a.len() <= q.len() + 1 {
        return None;
    }
    let (head, tail) = a.split_at(a.len() - q.len());
    (tail.eq_ignore_ascii_case(q) && head.last() == Some(&b'-'))
        .then(|| &entry.alias[..head.len() - 1])
}

/// The stored alias of `base`'s variant `tag` (`tiny`, `Q8_0` → `tiny-q8_0`).
pub fn variant_alias(base: &str, tag: &str) -> String {
    format!("{base}-{}", tag.to_ascii_lowercase())
}

impl Catalog {
    /// The base alias `entry` is a variant of, when it is one.
    pub fn variant_base(&self, entry: &ModelEntry) -> Option<&str> {
        let base = strip_tag(entry)?;
        let b = self.get(base).ok()?;
        // A variant of a variant is not a thing: the base is a model's default entry.
        (b.alias != entry.alias && self.variant_base_shallow(b).is_none())
            .then_some(b.alias.as_str())
    }

    fn variant_base_shallow(&self, entry: &ModelEntry) -> Option<()> {
        self.contains(strip_tag(entry)?).then_some(())
    }

    /// Every variant of the model `base` (itself first, then the others in catalog order).
    /// Empty when `base` is unknown.
    pub fn variants(&self, base: &str) -> Vec<&ModelEntry> {
        let Ok(b) = self.get(base) else {
            return Vec::new();
        };
        let mut out = vec![b];
        out.extend(
            self.entries()
                .iter()
                .filter(|e| e.alias != b.alias && self.variant_base(e) == Some(b.alias.as_str())),
        );
        out
    }

    /// How `entry` is written for users: `BASE:TAG` for a variant, else its alias.
    pub fn display_name(&self, entry: &ModelEntry) -> String {
        match self.variant_base(entry) {
            Some(base) => format!("{base}:{}", tag_of(entry)),
            None => entry.alias.clone(),
        }
    }

    /// `BASE:TAG` (any case) → the entry: the variant `BASE-TAG`, or `BASE` itself when `TAG`
    /// is its quantization. `None` when `name` has no `:` or names no variant.
    pub(crate) fn get_variant(&self, name: &str) -> Option<&ModelEntry> {
        let (base, tag) = name.rsplit_once(':')?;
        let (base, tag) = (base.to_ascii_lowercase(), tag.to_ascii_lowercase());
        let b = self.get(&base).ok()?;
        if tag_of(b) == tag {
            return Some(b);
        }
        let v = self.get(&variant_alias(&base, &tag)).ok()?;
        (self.variant_base(v) == Some(b.alias.as_str())).then_some(v)
    }

    /// The tags `base` can be asked for, for error messages (`f16, q8_0`).
    pub fn variant_tags(&self, base: &str) -> Vec<String> {
        self.variants(base).into_iter().map(tag_of).collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::local_entry;
    use crate::{Catalog, CatalogError};

    fn catalog() -> Catalog {
        let mut c = Catalog::default();
        let mut base = local_entry("tiny", "/m/tiny.gguf");
        base.quantization = "F16".into();
        let mut q8 = local_entry("tiny-q8_0", "/m/tiny-q8.gguf");
        q8.quantization = "Q8_0".into();
        // Looks like a variant by name, but its quantization says otherwise.
        let mut other = local_entry("tiny-small", "/m/s.gguf");
        other.quantization = "Q4_K_M".into();
        c.merge_entries(vec![base, q8, other]);
        c
    }

    #[test]
    fn base_colon_tag_names_a_variant_in_any_case() {
        let c = catalog();
        assert_eq!(c.get("tiny:q8_0").unwrap().alias, "tiny-q8_0");
        assert_eq!(c.get("tiny:Q8_0").unwrap().alias, "tiny-q8_0");
        assert_eq!(c.get("tiny:f16").unwrap().alias, "tiny");
        assert_eq!(c.get("tiny").unwrap().alias, "tiny");
        let e = c.get("tiny:q4_0").unwrap_err();
        assert!(
            matches!(&e, CatalogError::UnknownVariant { .. })
                && e.to_string().contains("f16, q8_0"),
            "{e}"
        );
        // An unknown base is an unknown alias, as before.
        assert!(matches!(
            c.get("nope:q8_0"),
            Err(CatalogError::InvalidAlias { .. } | CatalogError::UnknownAlias { .. })
        ));
    }

    #[test]
    fn variants_are_listed_with_their_display_names() {
        let c = catalog();
        let v: Vec<_> = c
            .variants("tiny")
            .iter()
            .map(|e| c.display_name(e))
            .collect();
        assert_eq!(v, ["tiny", "tiny:q8_0"]);
        let small = c.get("tiny-small").unwrap();
        assert_eq!(c.variant_base(small), None);
        assert_eq!(c.display_name(small), "tiny-small");
        assert!(c.variants("nope").is_empty());
    }
}
