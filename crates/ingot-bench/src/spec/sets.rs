//! The built-in prompt sets: `workshop` (the four seed prompts) and `summarize` (meeting notes
//! and short paragraphs, written for this project), each case with its checks.
//!
//! The rule checks are deliberately simple (key facts present, length limits, no invented
//! names): they are cheap, run on every model, and leave the finer judgement to a judge check,
//! which scores only when the run has a judge (`--judge` or `--judge-endpoint`).

use crate::spec::checks::{Check, CheckKind};
use crate::spec::workload::{Message, PromptSpec};

fn icontains_any(values: &[&str]) -> Check {
    Check::new(CheckKind::Contains {
        values: values.iter().map(|s| s.to_string()).collect(),
        any: true,
        ignore_case: true,
        whole_word: false,
    })
}

fn judge(rubric: &str) -> Check {
    Check::new(CheckKind::Judge {
        rubric: rubric.to_string(),
        min_score: crate::spec::checks::DEFAULT_JUDGE_MIN_SCORE,
    })
}

/// The four workshop prompts of the seed.
pub fn workshop() -> Vec<PromptSpec> {
    let cases: [(&str, Vec<Check>); 4] = [
        (
            "Explain the principle of retrieval augmented generation in 2 sentences.",
            vec![
                icontains_any(&["retriev"]).weight(2.0).required(),
                icontains_any(&["generat", "answer", "response"]),
                icontains_any(&["document", "context", "knowledge", "source", "database"]),
                Check::new(CheckKind::MaxWords(90)),
                judge("Explains that relevant documents or passages are retrieved (for example from a search index or vector store) and given to the model as context, so that the generated answer is grounded in them; in about two sentences.")
                    .weight(2.0),
            ],
        ),
        (
            "List 3 privacy benefits of local inference.",
            vec![
                // Three list items: bullets or numbers, each starting a line.
                Check::new(CheckKind::Regex {
                    pattern: r"(?s)(?:(?:^|\n)\s*(?:[-*•]|\d+[.)])\s+\S.*?){3}".into(),
                }),
                icontains_any(&["data", "information"]),
                icontains_any(&["device", "local", "premises", "machine", "third part", "cloud", "server"]),
                Check::new(CheckKind::MaxWords(200)),
                judge("Lists three distinct, correct privacy benefits of running a model locally, such as data never leaving the device, no third party seeing or storing prompts, easier compliance with data-protection rules, or working without a network.")
                    .weight(2.0),
            ],
        ),
        (
            "Summarize why model size impacts latency on consumer hardware.",
            vec![
                icontains_any(&["memory", "bandwidth", "ram", "vram"]),
                icontains_any(&["parameter", "weights", "larger", "bigger", "size"]),
                icontains_any(&["compute", "computation", "calculation", "operations", "cpu", "gpu", "flops"]),
                Check::new(CheckKind::MaxWords(200)),
                judge("Explains that bigger models have more parameters, so each generated token needs more computation and more weights moved through memory (memory bandwidth), and that consumer hardware has limited memory, bandwidth and compute; concise.")
                    .weight(2.0),
            ],
        ),
        (
            "Provide two scenarios where an SLM is preferable to an LLM.",
            vec![
                icontains_any(&["offline", "privacy", "private", "edge", "device", "latency", "cost", "cheap", "mobile", "embedded"]),
                Check::new(CheckKind::MinWords(20)),
                Check::new(CheckKind::MaxWords(250)),
                judge("Gives two distinct, realistic scenarios where a small language model is the better choice than a large one (for example on-device or offline use, strict latency or cost budgets, private data, narrow well-defined tasks), each with a reason.")
                    .weight(2.0),
            ],
        ),
    ];
    cases
        .into_iter()
        .enumerate()
        .map(|(i, (text, checks))| {
            PromptSpec::user(format!("workshop-{}", i + 1), text).with_checks(checks)
        })
        .collect()
}

/// One summarisation case: source text, instruction, key facts (each an any-of list), word
/// limit.
struct Summary {
    id: &'static str,
    instruction: &'static str,
    source: &'static str,
    facts: &'static [&'static [&'static str]],
    max_words: usize,
}

const SUMMARIES: &[Summary] = &[
    Summary {
        id: "standup",
        instruction: "Summarize these stand-up notes in at most three sentences.",
        source: "Stand-up, Tuesday. Attendees: Priya, Tomasz, Ana.\n- Priya finished the login page redesign; it ships on Thursday.\n- Tomasz is blocked on the payments API because the sandbox keys expired.\n- Ana will request new sandbox keys today.\n- From next week the stand-up moves to 10:30.",
        facts: &[&["Thursday"], &["payment"], &["key"], &["10:30"]],
        max_words: 70,
    },
    Summary {
        id: "budget-review",
        instruction: "Summarize the decisions of this budget review in at most three sentences.",
        source: "Q3 budget review. Present: Oluwaseun (finance), Marta (engineering).\nCloud spend was 18% over plan, mostly GPU instances left running over weekends.\nDecision: development instances shut down automatically at 8 pm, starting next Monday. Marta owns the rollout.\nThe Q4 plan stays unchanged.",
        facts: &[&["18%", "18 %", "18 percent"], &["shut", "auto"], &["Marta"], &["Monday"]],
        max_words: 70,
    },
    Summary {
        id: "incident",
        instruction: "Write a two-sentence summary of this incident report for the status page.",
        source: "Incident 2291, Saturday 02:10-03:40 UTC. The search service returned errors for 90 minutes because its TLS certificate had expired. An alert detected it before any customer report. Fix: the certificate was renewed, and expiry monitoring now warns 30 days ahead. Owner of the follow-up: Kenji.",
        facts: &[&["certificate"], &["90 minutes", "ninety minutes", "02:10", "1.5 hours", "an hour and a half"], &["search"], &["monitor", "warn", "alert"]],
        max_words: 60,
    },
    Summary {
        id: "hiring-sync",
        instruction: "Summarize this hiring meeting in at most three sentences.",
        source: "Hiring sync for the two open backend roles. 41 applications so far, 6 phone screens done. Lena proposed replacing the second interview with a take-home exercise capped at two hours; the group agreed. Rafael must approve every offer before Friday.",
        facts: &[&["take-home", "take home"], &["Rafael"], &["Friday"], &["41", "forty-one"]],
        max_words: 70,
    },
    Summary {
        id: "launch-plan",
        instruction: "Summarize the launch plan below in at most three sentences.",
        source: "Launch planning for version 2.0 of the mobile app. Launch date: 14 May. Chloé prepares the press kit; Dmitri runs the full regression suite by 7 May. Open risk: app-store review can take up to a week. Fallback launch date: 21 May.",
        facts: &[&["14 May", "May 14"], &["21 May", "May 21"], &["review"], &["2.0"]],
        max_words: 70,
    },
    Summary {
        id: "battery",
        instruction: "Summarize this paragraph in one sentence.",
        source: "Lithium-ion batteries lose capacity over time because side reactions consume lithium and thicken a layer on the anode. Heat speeds these reactions up, which is why phones left in hot cars age faster. Keeping the charge between 20 and 80 percent also slows the wear.",
        facts: &[&["heat", "hot", "temperature"], &["capacity", "wear", "degrad", "age"], &["20", "80"]],
        max_words: 45,
    },
    Summary {
        id: "council-vote",
        instruction: "Summarize this news item in one sentence.",
        source: "The city council voted 7 to 2 to turn Elm Street into a pedestrian zone from June. Shops worried about deliveries will get a loading window from 6 to 10 am. The council will review the scheme after six months.",
        facts: &[&["Elm Street"], &["pedestrian"], &["June"]],
        max_words: 45,
    },
    Summary {
        id: "retro",
        instruction: "Summarize this sprint retrospective in at most three sentences.",
        source: "Sprint retrospective.\nWent well: the new CI pipeline cut build time from 25 to 9 minutes.\nWent badly: three releases slipped because of flaky end-to-end tests.\nActions: Sofia quarantines the flaky tests; Amir adds automatic retries to the test runner.",
        facts: &[&["9 minutes", "nine minutes", "25"], &["flaky"], &["Sofia"], &["Amir"]],
        max_words: 70,
    },
    Summary {
        id: "customer-call",
        instruction: "Summarize this customer call for the sales team in at most three sentences.",
        source: "Call with Northwind Logistics. They want to run the assistant on their own premises because their contracts forbid sending shipment data to third parties. Answers must come back in under 2 seconds on laptops without GPUs. A pilot with 20 users starts in March.",
        facts: &[&["Northwind"], &["premises", "on-prem", "locally", "local"], &["2 seconds", "two seconds"], &["March"]],
        max_words: 70,
    },
    Summary {
        id: "bees",
        instruction: "Summarize this paragraph in one sentence.",
        source: "Honeybees tell each other where food is with a waggle dance. The angle of the dance relative to vertical gives the direction of the food relative to the sun, and the length of the waggle run gives the distance.",
        facts: &[&["dance"], &["direction", "angle"], &["distance", "far"]],
        max_words: 45,
    },
    Summary {
        id: "security-review",
        instruction: "Summarize the findings of this security review in at most two sentences.",
        source: "Security review of the file-upload feature. Findings: uploaded files are not scanned for malware, and file names are used in storage paths without sanitising, which allows path traversal. Both findings are rated high. Fixes are due in two weeks; Noor will retest.",
        facts: &[&["malware"], &["traversal"], &["high"]],
        max_words: 60,
    },
    Summary {
        id: "architecture-decision",
        instruction: "Summarize this architecture decision in at most two sentences.",
        source: "Decision record 14: the desktop client will store its data in SQLite rather than PostgreSQL, because SQLite needs no server and ships inside the app. PostgreSQL stays for the cloud backend. Revisit this if the client ever needs multi-user sync.",
        facts: &[&["SQLite"], &["PostgreSQL", "Postgres"], &["server"]],
        max_words: 60,
    },
];

/// A dozen summarisation cases: meeting notes and short paragraphs. Each case checks the key
/// facts (one check per fact, any of its spellings), the length limit, and that no common
/// first name absent from the source appears (invented people); a judge check covers
/// faithfulness.
pub fn summarize() -> Vec<PromptSpec> {
    SUMMARIES
        .iter()
        .map(|s| {
            let mut checks: Vec<Check> = s.facts.iter().map(|f| icontains_any(f)).collect();
            checks.push(Check::new(CheckKind::MaxWords(s.max_words)).required());
            let invented: Vec<String> = COMMON_FIRST_NAMES
                .iter()
                .filter(|n| !s.source.contains(*n))
                .map(|n| n.to_string())
                .collect();
            checks.push(
                Check::new(CheckKind::NotContains {
                    values: invented,
                    whole_word: true,
                })
                .required(),
            );
            checks.push(
                judge("The summary is faithful to the source text: it keeps the key facts (decisions, owners, dates, numbers), states nothing that is not in the source, names no person who is not in it, and respects the requested length.")
                    .weight(2.0),
            );
            PromptSpec {
                id: format!("sum-{}", s.id),
                messages: vec![
                    Message {
                        role: "system".into(),
                        content: "You summarise text faithfully and concisely. Use only facts from the text.".into(),
                    },
                    Message {
                        role: "user".into(),
                        content: format!("{}\n\n{}", s.instruction, s.source),
                    },
                ],
                checks,
                threshold: None,
            }
        })
        .collect()
}

/// The four workshop prompts, with checks: ingot's default prompt set (`--prompts workshop`).
pub fn builtin_prompts() -> Vec<PromptSpec> {
    workshop()
}

/// A built-in prompt set by name: `workshop` or `summarize`.
pub fn builtin_set(name: &str) -> Option<Vec<PromptSpec>> {
    match name {
        "workshop" | "builtin" => Some(workshop()),
        "summarize" | "summarise" => Some(summarize()),
        _ => None,
    }
}

/// Names of the built-in prompt sets.
pub const BUILTIN_SETS: &[&str] = &["workshop", "summarize"];

/// Common first names, used by the built-in summarisation cases to catch invented people
/// (each case leaves out the names its source text contains).
pub(crate) const COMMON_FIRST_NAMES: &[&str] = &[
    "John", "Sarah", "Michael", "David", "Emily", "James", "Maria", "Jennifer", "Robert",
    "Jessica", "Daniel", "Laura", "Kevin", "Anna", "Peter", "Lisa",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::quality::{combine, evaluate};
    use crate::spec::workload::{parse_prompts, prompts_json};

    #[test]
    fn sets_round_trip_through_their_file_form() {
        for set in [workshop(), summarize()] {
            let back = parse_prompts(&prompts_json(&set)).unwrap();
            assert_eq!(back, set);
        }
        assert_eq!(workshop().len(), 4);
        assert_eq!(summarize().len(), 12);
        assert_eq!(
            workshop()[1].messages[0].content,
            "List 3 privacy benefits of local inference."
        );
    }

    /// ingot-engine's speculative-decoding test runs these prompts from a copy (the engine
    /// cannot depend on the benchmarks); the copy must stay the same.
    #[test]
    fn engine_test_copy_of_the_summarize_set_is_current() {
        let copy: serde_json::Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../ingot-engine/tests/fixtures/summarize.json"
        )))
        .unwrap();
        let cases = copy["cases"].as_array().unwrap();
        let set = summarize();
        assert_eq!(cases.len(), set.len());
        for (c, p) in cases.iter().zip(&set) {
            assert_eq!(c["id"], p.id.as_str());
            assert_eq!(copy["system"], p.messages[0].content.as_str());
            assert_eq!(c["user"], p.messages[1].content.as_str(), "{}", p.id);
        }
    }

    fn rule_score(p: &PromptSpec, answer: &str) -> crate::score::quality::CaseScore {
        let checks = p.checks.iter().map(|c| evaluate(c, answer)).collect();
        combine(&p.id, p.threshold(), checks)
    }

    #[test]
    fn a_good_summary_passes_and_a_bad_one_fails() {
        let set = summarize();
        let standup = set.iter().find(|p| p.id == "sum-standup").unwrap();
        let good = rule_score(
            standup,
            "Priya's login redesign ships Thursday. Tomasz is blocked on the payments API until Ana gets new sandbox keys today. The stand-up moves to 10:30 next week.",
        );
        assert!(good.passed, "{good:#?}");
        // The judge check is skipped without a judge; it does not count.
        assert!(good.checks.last().unwrap().skipped);
        assert_eq!(good.score, Some(1.0));
        // An invented person fails the case (required check), whatever the other checks say.
        let invented = rule_score(
            standup,
            "Priya's login redesign ships Thursday; John says the payments API keys expired. Stand-up at 10:30.",
        );
        assert!(!invented.passed);
        assert!(invented.score.unwrap() > 0.75);
        // Too long fails too.
        let long = format!("Thursday payments keys 10:30 {}", "word ".repeat(80));
        assert!(!rule_score(standup, &long).passed);
        // Three list items in the privacy case.
        let privacy = &workshop()[1];
        let list = rule_score(
            privacy,
            "1. Data stays on the device.\n2. No third party sees prompts.\n3. Easier compliance.",
        );
        assert!(list.checks[0].passed, "{list:#?}");
        let prose = rule_score(privacy, "Data stays on the device, which is private.");
        assert!(!prose.checks[0].passed);
    }
}
