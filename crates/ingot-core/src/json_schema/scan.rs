//! The pre-scan: every keyword of a schema is either honoured by llama.cpp's converter,
//! rewritten here into a form it honours, harmless (annotations), or refused with an error
//! that names it. The converter itself ignores keywords it does not know, and a dropped
//! constraint would let the model write JSON that does not validate, so nothing passes
//! silently.
//!
//! Rewrites: `true` schemas become `{}`; `"type": [..]` becomes the `anyOf` it means (so
//! each branch is checked on its own); integer bounds are normalised (draft-4 boolean
//! `exclusiveMinimum`, both `minimum` and `exclusiveMinimum` given); a `number` with bounds
//! becomes a placeholder `const` that [`super::number`] replaces with a bounded-number rule
//! (the converter drops number bounds).

use super::bounds::{bounds, int_value, NumBounds};
use super::keywords::{count, err, get, is_constraint, FORMATS, UNSUPPORTED};
use super::ordered::OVal;
use super::SchemaError;

/// Nesting deeper than this is refused: the converter recurses on the C++ stack.
pub(crate) const MAX_DEPTH: usize = 40;

pub(crate) struct Rewritten {
    pub schema: OVal,
    pub numbers: Vec<NumBounds>,
}

/// The placeholder string for number `i` (a `const` the converter writes as a literal).
pub(crate) fn placeholder(i: usize) -> String {
    format!("ingot-bounded-number-{i}")
}

pub(crate) fn rewrite(
    root: &OVal,
    pattern_ok: &dyn Fn(&str) -> bool,
) -> Result<Rewritten, SchemaError> {
    let mut s = Scan {
        root,
        numbers: Vec::new(),
        pattern_ok,
    };
    let schema = s.node(root, "#", 0)?;
    Ok(Rewritten {
        schema,
        numbers: s.numbers,
    })
}

struct Scan<'a> {
    root: &'a OVal,
    numbers: Vec<NumBounds>,
    pattern_ok: &'a dyn Fn(&str) -> bool,
}

impl Scan<'_> {
    fn node(&mut self, v: &OVal, path: &str, depth: usize) -> Result<OVal, SchemaError> {
        if depth > MAX_DEPTH {
            return Err(err(
                path,
                "",
                format!("the schema nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        let entries = match v {
            OVal::Bool(true) => return Ok(OVal::Obj(Vec::new())),
            OVal::Bool(false) => {
                return Err(err(
                    path,
                    "false",
                    "a `false` schema accepts nothing, so no output could match",
                ))
            }
            OVal::Obj(m) => m,
            other => {
                return Err(err(
                    path,
                    "",
                    format!(
                        "a schema must be an object or a boolean, got {}",
                        other.kind()
                    ),
                ))
            }
        };
        for (k, _) in entries {
            if UNSUPPORTED.contains(&k.as_str()) {
                return Err(err(
                    path,
                    k,
                    format!("the JSON-schema keyword `{k}` is not supported in structured outputs"),
                ));
            }
        }
        let mut out: Vec<(String, OVal)> = Vec::with_capacity(entries.len());
        // Definitions are walked (rewritten) wherever they are; references point into them.
        for key in ["$defs", "definitions"] {
            if let Some(defs) = get(entries, key) {
                let OVal::Obj(defs) = defs else {
                    return Err(err(path, key, format!("{key} must be an object")));
                };
                let mut new = Vec::with_capacity(defs.len());
                for (name, d) in defs {
                    new.push((
                        name.clone(),
                        self.node(d, &format!("{path}/{key}/{name}"), depth + 1)?,
                    ));
                }
                out.push((key.to_string(), OVal::Obj(new)));
            }
        }
        let constraints: Vec<&str> = entries
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| is_constraint(k))
            .collect();

        if let Some(r) = get(entries, "$ref") {
            self.check_ref(r, path)?;
            if let Some(k) = constraints.iter().find(|k| **k != "$ref") {
                return Err(err(path, k, format!("`{k}` next to `$ref` is not supported: the converter follows the reference and would ignore it")));
            }
            out.push(("$ref".into(), r.clone()));
            return Ok(OVal::Obj(out));
        }
        for key in ["anyOf", "oneOf"] {
            let Some(alts) = get(entries, key) else {
                continue;
            };
            if let Some(k) = constraints.iter().find(|k| **k != key) {
                return Err(err(path, k, format!("`{k}` next to `{key}` is not supported: the converter would ignore it (move it into each alternative)")));
            }
            let new = self.alternatives(alts, key, path, depth)?;
            // `oneOf` is generated as `anyOf`; alternatives that overlap could both match.
            out.push(("anyOf".into(), new));
            return Ok(OVal::Obj(out));
        }
        if let Some(OVal::Arr(types)) = get(entries, "type") {
            if types.is_empty() {
                return Err(err(path, "type", "type must not be an empty array"));
            }
            let mut alts = Vec::with_capacity(types.len());
            for t in types {
                let mut alt: Vec<(String, OVal)> = entries
                    .iter()
                    .filter(|(k, _)| k != "$defs" && k != "definitions")
                    .cloned()
                    .collect();
                for e in alt.iter_mut() {
                    if e.0 == "type" {
                        e.1 = t.clone();
                    }
                }
                alts.push(OVal::Obj(alt));
            }
            let new = self.alternatives(&OVal::Arr(alts), "type", path, depth)?;
            out.push(("anyOf".into(), new));
            return Ok(OVal::Obj(out));
        }
        if get(entries, "const").is_some() || get(entries, "enum").is_some() {
            if let Some(OVal::Arr(values)) = get(entries, "enum") {
                if values.is_empty() {
                    return Err(err(path, "enum", "enum must not be empty"));
                }
            } else if get(entries, "enum").is_some() {
                return Err(err(path, "enum", "enum must be an array"));
            }
            // The value list is the whole constraint; the converter writes the literals.
            out.extend(
                entries
                    .iter()
                    .filter(|(k, _)| k == "const" || k == "enum")
                    .cloned(),
            );
            return Ok(OVal::Obj(out));
        }
        let type_name = match get(entries, "type") {
            None => None,
            Some(OVal::Str(t)) => Some(t.as_str()),
            Some(other) => {
                return Err(err(
                    path,
                    "type",
                    format!(
                        "type must be a string or an array of strings, got {}",
                        other.kind()
                    ),
                ))
            }
        };
        let has = |k: &str| get(entries, k).is_some();
        let kind = match type_name {
            Some(t) => t,
            None if has("properties") || has("additionalProperties") || has("required") => "object",
            None if has("allOf") => "allOf",
            None if has("items") || has("prefixItems") || has("minItems") || has("maxItems") => {
                "array"
            }
            None if has("pattern") || has("minLength") || has("maxLength") || has("format") => {
                "string"
            }
            None => {
                if let Some(k) = constraints.first() {
                    return Err(err(
                        path,
                        k,
                        format!(
                            "`{k}` without a `type` is not supported: say which type it applies to"
                        ),
                    ));
                }
                return Ok(OVal::Obj(out));
            }
        };
        if type_name.is_some() {
            out.push(("type".into(), OVal::Str(kind.to_string())));
        }
        // `{"type": "object", "allOf": [..]}` without properties is the converter's allOf
        // path; with properties it ignores allOf.
        let kind = if kind == "object" && has("allOf") {
            if has("properties") {
                return Err(err(path, "allOf", "allOf next to properties is not supported: the converter would ignore it (merge the properties instead)"));
            }
            "allOf"
        } else {
            kind
        };
        if kind == "allOf" {
            if let Some(k) = constraints
                .iter()
                .find(|k| !["allOf", "type", "required", "additionalProperties"].contains(k))
            {
                return Err(err(
                    path,
                    k,
                    format!("`{k}` next to allOf is not supported: the converter would ignore it"),
                ));
            }
        }
        match kind {
            "object" => self.object(entries, path, depth, &mut out)?,
            "allOf" => self.all_of(entries, path, depth, &mut out)?,
            "array" => self.array(entries, path, depth, &mut out)?,
            "string" => self.string(entries, path, &mut out)?,
            "integer" => {
                let (lo, hi) = bounds(entries, path)?;
                if let Some(lo) = lo {
                    let v = if lo.exclusive {
                        lo.v.floor() + 1.0
                    } else {
                        lo.v.ceil()
                    };
                    out.push(("minimum".into(), int_value(v, path, "minimum")?));
                }
                if let Some(hi) = hi {
                    let v = if hi.exclusive {
                        hi.v.ceil() - 1.0
                    } else {
                        hi.v.floor()
                    };
                    out.push(("maximum".into(), int_value(v, path, "maximum")?));
                }
            }
            "number" => {
                let (lo, hi) = bounds(entries, path)?;
                if lo.is_some() || hi.is_some() {
                    let i = self.numbers.len();
                    self.numbers.push(NumBounds {
                        lo,
                        hi,
                        path: path.to_string(),
                    });
                    out.retain(|(k, _)| k != "type");
                    out.push(("const".into(), OVal::Str(placeholder(i))));
                }
            }
            "boolean" | "null" => {}
            other => {
                return Err(err(
                    path,
                    "type",
                    format!("unknown type `{other}`; expected object, array, string, integer, number, boolean or null"),
                ))
            }
        }
        Ok(OVal::Obj(out))
    }

    fn check_ref(&self, r: &OVal, path: &str) -> Result<(), SchemaError> {
        let Some(r) = r.as_str() else {
            return Err(err(path, "$ref", "$ref must be a string"));
        };
        if !(r.starts_with("#/") || r == "#") || r.contains('%') || r.contains('~') {
            return Err(err(path, "$ref", format!("$ref `{r}` is not supported: only plain references into the same schema (`#/$defs/Name`) are")));
        }
        if self.root.pointer(r).is_none() {
            return Err(err(
                path,
                "$ref",
                format!("$ref `{r}` points at nothing in the schema"),
            ));
        }
        Ok(())
    }

    fn alternatives(
        &mut self,
        alts: &OVal,
        key: &str,
        path: &str,
        depth: usize,
    ) -> Result<OVal, SchemaError> {
        let OVal::Arr(items) = alts else {
            return Err(err(path, key, format!("{key} must be an array of schemas")));
        };
        if items.is_empty() {
            return Err(err(path, key, format!("{key} must not be empty")));
        }
        let mut new = Vec::with_capacity(items.len());
        for (i, a) in items.iter().enumerate() {
            new.push(self.node(a, &format!("{path}/{key}/{i}"), depth + 1)?);
        }
        Ok(OVal::Arr(new))
    }

    fn object(
        &mut self,
        e: &[(String, OVal)],
        path: &str,
        depth: usize,
        out: &mut Vec<(String, OVal)>,
    ) -> Result<(), SchemaError> {
        let mut names: Vec<&str> = Vec::new();
        if let Some(props) = get(e, "properties") {
            let OVal::Obj(props) = props else {
                return Err(err(path, "properties", "properties must be an object"));
            };
            let mut new = Vec::with_capacity(props.len());
            for (name, p) in props {
                names.push(name);
                new.push((
                    name.clone(),
                    self.node(p, &format!("{path}/properties/{name}"), depth + 1)?,
                ));
            }
            out.push(("properties".into(), OVal::Obj(new)));
        }
        if let Some(req) = get(e, "required") {
            let OVal::Arr(req) = req else {
                return Err(err(
                    path,
                    "required",
                    "required must be an array of property names",
                ));
            };
            for r in req {
                let Some(r) = r.as_str() else {
                    return Err(err(
                        path,
                        "required",
                        "required must be an array of property names",
                    ));
                };
                if !names.contains(&r) {
                    return Err(err(path, "required", format!("required property `{r}` is not declared in `properties` (the grammar can only produce declared properties)")));
                }
            }
            out.push(("required".into(), OVal::Arr(req.clone())));
        }
        match get(e, "additionalProperties") {
            None => {}
            Some(OVal::Bool(b)) => out.push(("additionalProperties".into(), OVal::Bool(*b))),
            Some(s @ OVal::Obj(_)) => {
                let s = self.node(s, &format!("{path}/additionalProperties"), depth + 1)?;
                out.push(("additionalProperties".into(), s));
            }
            Some(_) => {
                return Err(err(
                    path,
                    "additionalProperties",
                    "additionalProperties must be a boolean or a schema",
                ))
            }
        }
        Ok(())
    }

    fn all_of(
        &mut self,
        e: &[(String, OVal)],
        path: &str,
        depth: usize,
        out: &mut Vec<(String, OVal)>,
    ) -> Result<(), SchemaError> {
        let Some(OVal::Arr(items)) = get(e, "allOf") else {
            return Err(err(path, "allOf", "allOf must be an array of schemas"));
        };
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}/allOf/{i}");
            let target = match item.get("$ref").and_then(OVal::as_str) {
                Some(r) => self.root.pointer(r).unwrap_or(item),
                None => item,
            };
            let objectish = target.get("properties").is_some()
                || target.get("type").and_then(OVal::as_str) == Some("object");
            if !objectish {
                return Err(err(&p, "allOf", "allOf is supported only over object schemas (with `properties`); the converter would drop anything else"));
            }
        }
        let new = self.alternatives(&OVal::Arr(items.clone()), "allOf", path, depth)?;
        out.push(("allOf".into(), new));
        Ok(())
    }

    fn array(
        &mut self,
        e: &[(String, OVal)],
        path: &str,
        depth: usize,
        out: &mut Vec<(String, OVal)>,
    ) -> Result<(), SchemaError> {
        let min = count(e, "minItems", path)?;
        let max = count(e, "maxItems", path)?;
        if let (Some(a), Some(b)) = (min, max) {
            if a > b {
                return Err(err(
                    path,
                    "minItems",
                    format!("minItems ({a}) is larger than maxItems ({b})"),
                ));
            }
        }
        let tuple = match (get(e, "items"), get(e, "prefixItems")) {
            (Some(_), Some(_)) => {
                return Err(err(path, "prefixItems", "prefixItems together with items is not supported (the converter uses only one of them)"))
            }
            (Some(OVal::Arr(t)), None) => Some(("items", t)),
            (None, Some(OVal::Arr(t))) => Some(("prefixItems", t)),
            (None, Some(_)) => {
                return Err(err(
                    path,
                    "prefixItems",
                    "prefixItems must be an array of schemas",
                ))
            }
            (Some(OVal::Bool(false)), None) => {
                return Err(err(
                    path,
                    "items",
                    "`items: false` is not supported",
                ))
            }
            (Some(items), None) => {
                let s = self.node(items, &format!("{path}/items"), depth + 1)?;
                out.push(("items".into(), s));
                None
            }
            (None, None) => None,
        };
        if let Some((key, t)) = tuple {
            // The converter generates exactly one item per tuple schema.
            let n = t.len() as u64;
            if min.is_some_and(|m| m > n) || max.is_some_and(|m| m < n) {
                return Err(err(path, "minItems", format!("minItems/maxItems that differ from the tuple's {n} items are not supported")));
            }
            let mut new = Vec::with_capacity(t.len());
            for (i, s) in t.iter().enumerate() {
                new.push(self.node(s, &format!("{path}/{key}/{i}"), depth + 1)?);
            }
            out.push((key.into(), OVal::Arr(new)));
            return Ok(());
        }
        if let Some(m) = min {
            out.push(("minItems".into(), OVal::Num(m.into())));
        }
        if let Some(m) = max {
            out.push(("maxItems".into(), OVal::Num(m.into())));
        }
        Ok(())
    }

    fn string(
        &mut self,
        e: &[(String, OVal)],
        path: &str,
        out: &mut Vec<(String, OVal)>,
    ) -> Result<(), SchemaError> {
        let min = count(e, "minLength", path)?;
        let max = count(e, "maxLength", path)?;
        if let (Some(a), Some(b)) = (min, max) {
            if a > b {
                return Err(err(
                    path,
                    "minLength",
                    format!("minLength ({a}) is larger than maxLength ({b})"),
                ));
            }
        }
        let pattern = get(e, "pattern");
        let format = get(e, "format");
        if let Some(p) = pattern {
            let Some(p) = p.as_str() else {
                return Err(err(path, "pattern", "pattern must be a string"));
            };
            if min.is_some() || max.is_some() || format.is_some() {
                return Err(err(path, "pattern", "pattern together with minLength/maxLength/format is not supported (the converter uses only the pattern)"));
            }
            if !(self.pattern_ok)(p) {
                return Err(err(path, "pattern", format!("pattern `{p}` is not supported by the grammar converter (patterns must be anchored with ^ and $ and use plain regex syntax: literals, classes, groups, alternation, quantifiers)")));
            }
            out.push(("pattern".into(), OVal::Str(p.to_string())));
            return Ok(());
        }
        if let Some(f) = format {
            let Some(f) = f.as_str() else {
                return Err(err(path, "format", "format must be a string"));
            };
            if !FORMATS.contains(&f) {
                return Err(err(
                    path,
                    "format",
                    format!(
                        "string format `{f}` is not supported; supported: {}",
                        FORMATS[..4].join(", ")
                    ),
                ));
            }
            if min.is_some() || max.is_some() {
                return Err(err(path, "format", "format together with minLength/maxLength is not supported (the converter uses only the format)"));
            }
            out.push(("format".into(), OVal::Str(f.to_string())));
            return Ok(());
        }
        if let Some(m) = min {
            out.push(("minLength".into(), OVal::Num(m.into())));
        }
        if let Some(m) = max {
            out.push(("maxLength".into(), OVal::Num(m.into())));
        }
        Ok(())
    }
}
