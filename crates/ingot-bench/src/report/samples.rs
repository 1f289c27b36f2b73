//! Sample outputs side by side (the workshop: "compare quality manually on sample outputs"):
//! one row per prompt, one column per model, each answer cut at [`CUT`] characters with a
//! link to its full text further down the report.
//!
//! The answer shown is the one quality is scored on: the model's first successful measured
//! request of its first scenario for that prompt (at temperature 0 the others repeat it).

use std::fmt::Write as _;

use crate::measure::record::RequestRecord;
use crate::results::{Results, Status};
use crate::score::scoring::{first_scenario, scored_index};

/// Characters of an answer shown in the table.
pub const CUT: usize = 160;

/// `(prompt id, [(model, answer)])`, in the order the prompts were sent.
type Row = (String, Vec<(String, Option<String>)>);

fn rows(results: &Results, records: &[RequestRecord]) -> Vec<Row> {
    let models: Vec<(&str, &str)> = results
        .models
        .iter()
        .filter(|m| m.status == Status::Ok)
        .filter_map(|m| Some((m.alias.as_str(), first_scenario(m)?)))
        .collect();
    if models.is_empty() {
        return Vec::new();
    }
    // Prompt ids in first-sent order.
    let mut ids: Vec<&str> = Vec::new();
    for r in records.iter().filter(|r| !r.warmup) {
        if !ids.contains(&r.prompt_id.as_str()) {
            ids.push(&r.prompt_id);
        }
    }
    ids.into_iter()
        .map(|id| {
            let answers = models
                .iter()
                .map(|(m, sc)| {
                    let out = scored_index(records, m, sc, id).map(|i| records[i].output.clone());
                    (m.to_string(), out)
                })
                .collect();
            (id.to_string(), answers)
        })
        .collect()
}

/// The first [`CUT`] characters, and whether anything was cut.
pub fn cut(s: &str) -> (String, bool) {
    let t = s.trim();
    match t.char_indices().nth(CUT) {
        Some((i, _)) => (format!("{}…", t[..i].trim_end()), true),
        None => (t.to_string(), false),
    }
}

/// An anchor id for a model's answer to a prompt (letters, digits and `-` only).
pub fn anchor(model: &str, case: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect()
    };
    format!("out-{}-{}", clean(model), clean(case))
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|")
        .replace('\r', "")
        .replace('\n', " ")
        .replace('<', "&lt;")
}

/// report.md's section (empty without outputs).
pub fn markdown(results: &Results, records: &[RequestRecord]) -> String {
    let rows = rows(results, records);
    let Some((_, first)) = rows.first() else {
        return String::new();
    };
    let models: Vec<&str> = first.iter().map(|(m, _)| m.as_str()).collect();
    let mut o = String::new();
    let _ = writeln!(o, "## Sample outputs\n");
    let _ = writeln!(
        o,
        "The scored answer of each model to each prompt, cut at {CUT} characters; \"full\" links to the whole text.\n"
    );
    let _ = writeln!(o, "| prompt | {} |", models.join(" | "));
    let _ = writeln!(o, "|---|{}", "---|".repeat(models.len()));
    for (id, answers) in &rows {
        let cells: Vec<String> = answers
            .iter()
            .map(|(m, a)| match a {
                Some(a) => {
                    let (short, more) = cut(a);
                    if more {
                        format!("{} [full](#{})", md_cell(&short), anchor(m, id))
                    } else {
                        md_cell(&short)
                    }
                }
                None => "*(no successful answer)*".into(),
            })
            .collect();
        let _ = writeln!(o, "| {} | {} |", md_cell(id), cells.join(" | "));
    }
    let _ = writeln!(o, "\n### Full outputs\n");
    for (id, answers) in &rows {
        for (m, a) in answers {
            if let Some(a) = a.as_ref().filter(|a| cut(a).1) {
                let _ = writeln!(
                    o,
                    "<a id=\"{}\"></a>\n**{m}, {id}**\n\n```text\n{}\n```\n",
                    anchor(m, id),
                    a.trim().replace("```", "'''")
                );
            }
        }
    }
    o
}

use crate::util::text::html_escape as esc;

/// report.html's section.
pub fn html(o: &mut String, results: &Results, records: &[RequestRecord]) {
    let rows = rows(results, records);
    let Some((_, first)) = rows.first() else {
        return;
    };
    let _ = write!(
        o,
        "<h2>Sample outputs</h2>\n<p>The scored answer of each model to each prompt, cut at {CUT} characters; \"full\" opens the whole text.</p>\n<div class=\"scroll\"><table class=\"samples\"><tr><th>prompt</th>"
    );
    for (m, _) in first {
        let _ = write!(o, "<th>{}</th>", esc(m));
    }
    o.push_str("</tr>\n");
    for (id, answers) in &rows {
        let _ = write!(o, "<tr><td>{}</td>", esc(id));
        for (m, a) in answers {
            match a {
                Some(a) => {
                    let (short, more) = cut(a);
                    let link = if more {
                        format!(" <a href=\"#{}\">full</a>", anchor(m, id))
                    } else {
                        String::new()
                    };
                    let _ = write!(o, "<td>{}{link}</td>", esc(&short));
                }
                None => o.push_str("<td><i>no successful answer</i></td>"),
            }
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</table></div>\n");
    for (id, answers) in &rows {
        for (m, a) in answers {
            if let Some(a) = a.as_ref().filter(|a| cut(a).1) {
                let _ = writeln!(
                    o,
                    "<details id=\"{}\"><summary>{}, {}</summary><pre class=\"wrap\">{}</pre></details>",
                    anchor(m, id),
                    esc(m),
                    esc(id),
                    esc(a.trim())
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_on_characters_and_anchors_are_safe() {
        let long = "é".repeat(CUT + 5);
        let (s, more) = cut(&long);
        assert!(more && s.ends_with('…') && s.chars().count() == CUT + 1);
        assert_eq!(cut(" short "), ("short".to_string(), false));
        assert_eq!(
            anchor("Qwen2.5 0.5B", "workshop-1"),
            "out-qwen2-5-0-5b-workshop-1"
        );
    }
}
