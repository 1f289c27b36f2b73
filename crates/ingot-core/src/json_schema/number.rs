//! Grammar rules for a `number` with bounds, which llama.cpp's converter cannot express (it
//! drops `minimum`/`maximum` on numbers and honours them only on integers).
//!
//! The language generated is a sound subset of the bounded numbers: the integers within the
//! bounds, plus decimals `k.ddd` whose whole interval `[k, k+1)` (or `(-(k+1), -k]` for
//! negative ones) lies within them. The integer ranges themselves come from the converter
//! (`{"type": "integer", "minimum": .., "maximum": ..}`), so their digit-by-digit rules are
//! llama.cpp's own. So `0 <= x <= 1` gives `0`, `1` and `0.ddd`, and every output validates.

use super::bounds::{Bound, NumBounds};
use super::SchemaError;

/// Integers with 16 digits or more are beyond the converter's integer rules.
const LIMIT: f64 = 1e15;

/// Rules defining `name` as the bounded numbers of `b`. `convert` is the converter.
pub(crate) fn rules(
    name: &str,
    b: &NumBounds,
    convert: &dyn Fn(&str) -> Result<String, String>,
) -> Result<String, SchemaError> {
    let fail = |msg: String| SchemaError {
        path: b.path.clone(),
        keyword: Some("minimum".into()),
        message: msg,
    };
    let lo = b.lo.filter(|l| l.v > -LIMIT);
    let hi = b.hi.filter(|h| h.v < LIMIT);
    if lo.is_some_and(|l| l.v >= LIMIT) || hi.is_some_and(|h| h.v <= -LIMIT) {
        return Err(fail(format!(
            "number bounds beyond |x| < {LIMIT:e} are not supported"
        )));
    }
    let ceil_lo = |l: Bound| {
        if l.exclusive {
            l.v.floor() + 1.0
        } else {
            l.v.ceil()
        }
    };
    // Integers within the bounds.
    let imin = lo.map(ceil_lo);
    let imax = hi.map(|h| {
        if h.exclusive {
            h.v.ceil() - 1.0
        } else {
            h.v.floor()
        }
    });
    // Non-negative decimals k.ddd in [k, k+1): k >= lo, k + 1 <= hi.
    let pmin = imin.unwrap_or(0.0).max(0.0);
    let pmax = hi.map(|h| h.v.floor() - 1.0);
    // Negative decimals -k.ddd in (-(k+1), -k]: -k <= hi (or < hi), -(k+1) >= lo.
    let nmin = hi
        .map(|h| {
            if h.exclusive {
                (-h.v).floor() + 1.0
            } else {
                (-h.v).ceil()
            }
        })
        .unwrap_or(0.0)
        .max(0.0);
    let nmax = lo.map(|l| (-l.v).floor() - 1.0);

    let mut out = String::new();
    let mut alts = Vec::new();
    let mut range =
        |suffix: &str, min: Option<f64>, max: Option<f64>| -> Result<Option<String>, SchemaError> {
            if let (Some(a), Some(b)) = (min, max) {
                if a > b {
                    return Ok(None);
                }
            }
            let mut schema = serde_json::json!({"type": "integer"});
            if let Some(a) = min {
                schema["minimum"] = (a as i64).into();
            }
            if let Some(b) = max {
                schema["maximum"] = (b as i64).into();
            }
            let g = convert(&schema.to_string())
                .map_err(|e| fail(format!("cannot build the bounded number rule: {e}")))?;
            let rule = format!("{name}-{suffix}");
            out.push_str(&rename(&g, &rule));
            Ok(Some(rule))
        };
    if let Some(r) = range("int", imin, imax)? {
        alts.push(r);
    }
    if let Some(r) = range("pos", Some(pmin), pmax)? {
        alts.push(format!("{r} \".\" [0-9]{{1,15}}"));
    }
    if let Some(r) = range("neg", Some(nmin), nmax)? {
        alts.push(format!("\"-\" {r} \".\" [0-9]{{1,15}}"));
    }
    if alts.is_empty() {
        return Err(fail("no number satisfies the bounds".into()));
    }
    Ok(format!("{name} ::= {}\n{out}", alts.join(" | ")))
}

/// Renames every rule of grammar `g`: `root` becomes `prefix`, any other `r` becomes
/// `prefix-r`, references included (text inside string literals and character classes is
/// left alone).
pub(crate) fn rename(g: &str, prefix: &str) -> String {
    let names: Vec<&str> = g
        .lines()
        .filter_map(|l| l.split_once(" ::= ").map(|(n, _)| n.trim()))
        .collect();
    let new_name = |n: &str| {
        if n == "root" {
            prefix.to_string()
        } else {
            format!("{prefix}-{n}")
        }
    };
    let mut out = String::with_capacity(g.len() * 2);
    for line in g.lines() {
        let Some((n, body)) = line.split_once(" ::= ") else {
            continue;
        };
        out.push_str(&new_name(n.trim()));
        out.push_str(" ::= ");
        let mut chars = body.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' | '[' => {
                    let close = if c == '"' { '"' } else { ']' };
                    out.push(c);
                    while let Some(d) = chars.next() {
                        out.push(d);
                        if d == '\\' {
                            if let Some(e) = chars.next() {
                                out.push(e);
                            }
                        } else if d == close {
                            break;
                        }
                    }
                }
                c if c.is_ascii_alphanumeric() || c == '-' || c == '_' => {
                    let mut word = String::from(c);
                    while let Some(&d) = chars.peek() {
                        if d.is_ascii_alphanumeric() || d == '-' || d == '_' {
                            word.push(d);
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    if names.contains(&word.as_str()) {
                        out.push_str(&new_name(&word));
                    } else {
                        out.push_str(&word);
                    }
                }
                c => out.push(c),
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_leaves_literals_and_classes_alone() {
        let g = "root ::= \"root\" space [a-z] x\nspace ::= \" \"?\nx ::= [\\]x] \"\\\"x\"\n";
        assert_eq!(
            rename(g, "p"),
            "p ::= \"root\" p-space [a-z] p-x\np-space ::= \" \"?\np-x ::= [\\]x] \"\\\"x\"\n"
        );
    }
}
