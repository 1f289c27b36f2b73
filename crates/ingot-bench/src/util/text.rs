//! Text helpers shared by the report formats and the annotation sheet: numbers, escaping,
//! CSV cells.

/// A number with `d` decimals, or `–` when absent.
pub fn num(v: Option<f64>, d: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.d$}"),
        _ => "–".into(),
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Escapes only `<` and `>`: error messages drawn into charts, which may be shown as
/// Markdown or HTML (so no tag gets through, and `&` stays readable in Markdown).
pub fn angle_escape(s: &str) -> String {
    s.replace('<', "&lt;").replace('>', "&gt;")
}

/// A Markdown table cell: `|` escaped, line breaks folded into spaces.
pub fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// A CSV cell, quoted (inner quotes doubled) when it holds a comma, a quote or a newline.
/// `strict` (annotations.csv, which people open in spreadsheets) also quotes on `\r`, `;` and
/// leading or trailing spaces, which some spreadsheets otherwise split or trim.
pub fn csv_field(s: &str, strict: bool) -> String {
    let quote = s.contains([',', '"', '\n'])
        || (strict && (s.contains(['\r', ';']) || s.starts_with(' ') || s.ends_with(' ')));
    if quote {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
