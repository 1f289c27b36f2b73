//! Numeric bounds of a schema: the tightest lower and upper bound from `minimum`/`maximum`
//! and the exclusive forms of every draft, and the placeholder records ([`NumBounds`]) that
//! [`super::number`] turns into bounded-number rules.

use super::keywords::{err, get};
use super::ordered::OVal;
use super::SchemaError;

/// One numeric bound: the value and whether it is exclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bound {
    pub v: f64,
    pub exclusive: bool,
}

/// A `number` with bounds, replaced by a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NumBounds {
    pub lo: Option<Bound>,
    pub hi: Option<Bound>,
    pub path: String,
}

/// The tightest lower and upper bound of a numeric schema, from `minimum`/`maximum`, numeric
/// `exclusiveMinimum`/`exclusiveMaximum` (draft 6+) or boolean ones (draft 4).
pub(crate) fn bounds(
    e: &[(String, OVal)],
    path: &str,
) -> Result<(Option<Bound>, Option<Bound>), SchemaError> {
    let num = |k: &str| -> Result<Option<f64>, SchemaError> {
        match get(e, k) {
            None => Ok(None),
            Some(OVal::Num(n)) => Ok(n.as_f64()),
            Some(OVal::Bool(_)) if k.starts_with("exclusive") => Ok(None),
            Some(_) => Err(err(path, k, format!("{k} must be a number"))),
        }
    };
    let flag = |k: &str| matches!(get(e, k), Some(OVal::Bool(true)));
    let tighter = |a: Option<Bound>, b: Option<Bound>, lower: bool| match (a, b) {
        (Some(a), Some(b)) => {
            let a_wins = if lower {
                a.v > b.v || (a.v == b.v && a.exclusive)
            } else {
                a.v < b.v || (a.v == b.v && a.exclusive)
            };
            Some(if a_wins { a } else { b })
        }
        (a, None) => a,
        (None, b) => b,
    };
    let lo = tighter(
        num("exclusiveMinimum")?.map(|v| Bound { v, exclusive: true }),
        num("minimum")?.map(|v| Bound {
            v,
            exclusive: flag("exclusiveMinimum"),
        }),
        true,
    );
    let hi = tighter(
        num("exclusiveMaximum")?.map(|v| Bound { v, exclusive: true }),
        num("maximum")?.map(|v| Bound {
            v,
            exclusive: flag("exclusiveMaximum"),
        }),
        false,
    );
    if let (Some(l), Some(h)) = (lo, hi) {
        if l.v > h.v || (l.v == h.v && (l.exclusive || h.exclusive)) {
            return Err(err(
                path,
                "minimum",
                "no number satisfies minimum and maximum",
            ));
        }
    }
    Ok((lo, hi))
}

/// Integer bounds beyond what the converter's 16-digit integers reach are no bound at all.
pub(crate) fn int_value(v: f64, path: &str, key: &str) -> Result<OVal, SchemaError> {
    if v.abs() >= 1e15 {
        return Err(err(
            path,
            key,
            format!("{key} {v} is beyond the supported range (|x| < 1e15)"),
        ));
    }
    Ok(OVal::Num((v as i64).into()))
}
