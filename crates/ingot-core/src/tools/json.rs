//! JSON helpers for tool calling: a value that keeps its key order (the workspace's
//! `serde_json` sorts object keys) and Python-style serialisation (`json.dumps` separators
//! `", "` and `": "`, non-ASCII kept), the way Hugging Face templates print JSON.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A JSON value that keeps the key order of its source.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OJson {
    Null,
    Bool(bool),
    Num(serde_json::Number),
    Str(String),
    Arr(Vec<OJson>),
    Obj(Vec<(String, OJson)>),
}

impl OJson {
    /// `text` parsed, when it is valid JSON.
    pub fn parse(text: &str) -> Option<OJson> {
        serde_json::from_str(text).ok()
    }

    pub fn is_object(&self) -> bool {
        matches!(self, OJson::Obj(_))
    }
}

impl Serialize for OJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OJson::Null => s.serialize_unit(),
            OJson::Bool(b) => s.serialize_bool(*b),
            OJson::Num(n) => n.serialize(s),
            OJson::Str(v) => s.serialize_str(v),
            OJson::Arr(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            OJson::Obj(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for OJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OJsonVisitor)
    }
}

struct OJsonVisitor;

impl<'de> Visitor<'de> for OJsonVisitor {
    type Value = OJson;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<OJson, E> {
        Ok(OJson::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<OJson, E> {
        Ok(OJson::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<OJson, E> {
        Ok(OJson::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<OJson, E> {
        Ok(OJson::Num(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<OJson, E> {
        Ok(OJson::Num(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<OJson, E> {
        serde_json::Number::from_f64(v)
            .map(OJson::Num)
            .ok_or_else(|| E::custom("a non-finite number"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<OJson, E> {
        Ok(OJson::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<OJson, E> {
        Ok(OJson::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OJson, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(OJson::Arr(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OJson, A::Error> {
        let mut entries: Vec<(String, OJson)> = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, OJson>()? {
            // A repeated key: the last one wins, as in serde_json and Python.
            if let Some(slot) = entries.iter_mut().find(|(key, _)| *key == k) {
                slot.1 = v;
            } else {
                entries.push((k, v));
            }
        }
        Ok(OJson::Obj(entries))
    }
}

/// `serde_json`'s compact output with Python's `json.dumps` separators.
struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(b": ")
    }
}

/// `value` as Python's `json.dumps(value, ensure_ascii=False)` writes it (key order kept).
pub(crate) fn python_json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    if value.serialize(&mut ser).is_err() {
        return "null".into();
    }
    String::from_utf8(out).unwrap_or_else(|_| "null".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_key_order_and_python_separators() {
        let v = OJson::parse(r#"{"z":1,"a":[1,2,{"é":"x"}],"m":null}"#).unwrap();
        assert_eq!(
            python_json(&v),
            r#"{"z": 1, "a": [1, 2, {"é": "x"}], "m": null}"#
        );
        assert!(v.is_object());
    }
}
