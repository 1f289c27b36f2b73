//! A JSON value that keeps the key order of its source.
//!
//! The workspace's `serde_json` sorts object keys (no `preserve_order`), but a schema's
//! property order is the order the model writes the keys in, as OpenAI does it: a
//! meeting-notes schema should give `summary` before `action_items`. Enabling
//! `preserve_order` would change key order in every JSON the workspace writes, so the schema
//! path parses into this small ordered value instead.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OVal {
    Null,
    Bool(bool),
    Num(serde_json::Number),
    Str(String),
    Arr(Vec<OVal>),
    Obj(Vec<(String, OVal)>),
}

impl OVal {
    pub fn get(&self, key: &str) -> Option<&OVal> {
        match self {
            OVal::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            OVal::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            OVal::Null => "null",
            OVal::Bool(_) => "boolean",
            OVal::Num(_) => "number",
            OVal::Str(_) => "string",
            OVal::Arr(_) => "array",
            OVal::Obj(_) => "object",
        }
    }

    pub fn to_json_string(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "null".into())
    }

    /// The value `pointer` (a `#/a/b` JSON pointer, `~0`/`~1` unescaped) points at.
    pub fn pointer(&self, pointer: &str) -> Option<&OVal> {
        let rest = pointer.strip_prefix('#')?;
        if rest.is_empty() {
            return Some(self);
        }
        let mut cur = self;
        for raw in rest.strip_prefix('/')?.split('/') {
            let token = raw.replace("~1", "/").replace("~0", "~");
            cur = match cur {
                OVal::Obj(_) => cur.get(&token)?,
                OVal::Arr(items) => items.get(token.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(cur)
    }
}

impl From<&serde_json::Value> for OVal {
    fn from(v: &serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => OVal::Null,
            serde_json::Value::Bool(b) => OVal::Bool(*b),
            serde_json::Value::Number(n) => OVal::Num(n.clone()),
            serde_json::Value::String(s) => OVal::Str(s.clone()),
            serde_json::Value::Array(a) => OVal::Arr(a.iter().map(OVal::from).collect()),
            serde_json::Value::Object(m) => {
                OVal::Obj(m.iter().map(|(k, v)| (k.clone(), OVal::from(v))).collect())
            }
        }
    }
}

impl Serialize for OVal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OVal::Null => s.serialize_unit(),
            OVal::Bool(b) => s.serialize_bool(*b),
            OVal::Num(n) => n.serialize(s),
            OVal::Str(v) => s.serialize_str(v),
            OVal::Arr(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    seq.serialize_element(i)?;
                }
                seq.end()
            }
            OVal::Obj(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for OVal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OVal;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<OVal, E> {
                Ok(OVal::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<OVal, E> {
                Ok(OVal::Null)
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<OVal, E> {
                Ok(OVal::Bool(b))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<OVal, E> {
                Ok(OVal::Num(n.into()))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<OVal, E> {
                Ok(OVal::Num(n.into()))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<OVal, E> {
                serde_json::Number::from_f64(n)
                    .map(OVal::Num)
                    .ok_or_else(|| E::custom("non-finite number"))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<OVal, E> {
                Ok(OVal::Str(s.to_string()))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<OVal, E> {
                Ok(OVal::Str(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<OVal, A::Error> {
                let mut items = Vec::new();
                while let Some(v) = a.next_element()? {
                    items.push(v);
                }
                Ok(OVal::Arr(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<OVal, A::Error> {
                let mut entries: Vec<(String, OVal)> = Vec::new();
                while let Some((k, v)) = a.next_entry::<String, OVal>()? {
                    // Last one wins, as in serde_json's own maps.
                    if let Some(e) = entries.iter_mut().find(|(ek, _)| *ek == k) {
                        e.1 = v;
                    } else {
                        entries.push((k, v));
                    }
                }
                Ok(OVal::Obj(entries))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_key_order_and_resolves_pointers() {
        let v: OVal = serde_json::from_str(r#"{"z":1,"a":{"b/c":[true,{"x":null}]}}"#).unwrap();
        assert_eq!(
            v.to_json_string(),
            r#"{"z":1,"a":{"b/c":[true,{"x":null}]}}"#
        );
        assert_eq!(v.pointer("#/a/b~1c/1/x"), Some(&OVal::Null));
        assert_eq!(v.pointer("#"), Some(&v));
        assert_eq!(v.pointer("#/nope"), None);
    }
}
