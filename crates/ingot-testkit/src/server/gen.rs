//! Random requests for the real-engine sampling/grammar fuzz driver: sampling parameter
//! sets (in range, at the edges, huge, out of range) and GBNF grammars (from a small
//! generator, mutated, or random characters), each with what the server may answer.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Map, Value};

/// What a generated field allows the server to do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// In range: must be accepted.
    Valid,
    /// Huge but meaningful (`top_k` past the vocabulary, `repeat_last_n` past the
    /// context): clamped (accepted) or refused with a 400 naming it.
    Either,
    /// Out of range: must be refused with a 400 naming it.
    Invalid,
}

/// One generated request and what its answer may be.
#[derive(Debug, Clone)]
pub struct GenRequest {
    pub path: &'static str,
    pub body: Value,
    pub chat: bool,
    pub stream: bool,
    pub max_tokens: u32,
    pub stop: Vec<String>,
    /// Fields that must or may be refused, by name.
    pub verdicts: Vec<(&'static str, Verdict)>,
    pub grammar: GrammarKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrammarKind {
    None,
    /// From the generator: well formed and small, so it must be accepted.
    Generated,
    /// Mutated or random characters: accepted or refused with a 400 naming `grammar`.
    Mangled,
    /// `response_format: json_object` (the built-in JSON grammar).
    JsonMode,
}

impl GenRequest {
    pub fn must_be_refused(&self) -> bool {
        self.verdicts.iter().any(|(_, v)| *v == Verdict::Invalid)
    }

    /// The params a 400 may name.
    pub fn refusable(&self) -> Vec<&'static str> {
        let mut p: Vec<&'static str> = self
            .verdicts
            .iter()
            .filter(|(_, v)| *v != Verdict::Valid)
            .map(|(n, _)| *n)
            .collect();
        if self.grammar == GrammarKind::Mangled {
            p.push("grammar");
        }
        p
    }
}

const PROMPTS: &[&str] = &[
    "Name a colour.",
    "Count from one to five.",
    "Write a JSON object describing a cat.",
    "Say yes or no.",
    "What is 2 + 2?",
    "Reply with a single word.",
    "Écris une phrase en français. 日本語も少し。",
    "List three animals, separated by commas.",
];

const WORDS: &[&str] = &[
    "yes", "no", "a", "cat", "dog", "1", "42", "hello", "{", "}", ",", " ", "\\n", "é", "日本",
];

/// A random request (chat or completion) with random sampling fields.
pub fn request(rng: &mut StdRng) -> GenRequest {
    let chat = rng.gen_bool(0.8);
    let mut body = Map::new();
    body.insert("model".into(), json!("smollm2"));
    let mut prompt = PROMPTS.choose(rng).unwrap().to_string();
    if rng.gen_bool(0.2) {
        prompt.push_str(&random_text(rng, 1..40));
    }
    if chat {
        let mut messages = vec![];
        if rng.gen_bool(0.3) {
            messages.push(json!({"role": "system", "content": "You are terse."}));
        }
        messages.push(json!({"role": "user", "content": prompt}));
        body.insert("messages".into(), json!(messages));
    } else {
        body.insert("prompt".into(), json!(prompt));
    }
    let mut verdicts = Vec::new();
    let mut put =
        |body: &mut Map<String, Value>, name: &'static str, v: Value, verdict: Verdict| {
            body.insert(name.into(), v);
            if verdict != Verdict::Valid {
                verdicts.push((name, verdict));
            }
        };

    // Short generations: the point is the sampler and grammar paths, not long outputs.
    let max_tokens: u32 = rng.gen_range(1..=32);
    match rng.gen_range(0..40) {
        0 => put(&mut body, "max_tokens", json!(0), Verdict::Invalid),
        1 => put(&mut body, "max_tokens", json!(-1), Verdict::Invalid),
        2 => put(&mut body, "max_tokens", json!(5000), Verdict::Invalid),
        _ => put(&mut body, "max_tokens", json!(max_tokens), Verdict::Valid),
    }
    maybe_f32(
        rng,
        &mut body,
        &mut put,
        "temperature",
        0.0,
        2.0,
        &[-0.5, 2.5, 1e39],
    );
    maybe_f32(rng, &mut body, &mut put, "top_p", 0.0, 1.0, &[-0.1, 1.5]);
    maybe_f32(rng, &mut body, &mut put, "min_p", 0.0, 1.0, &[-1.0, 1.01]);
    maybe_f32(
        rng,
        &mut body,
        &mut put,
        "repeat_penalty",
        0.01,
        10.0,
        &[0.0, -1.0, 11.0],
    );
    if rng.gen_bool(0.6) {
        let (v, verdict) = match rng.gen_range(0..10) {
            0 => (json!(-1), Verdict::Invalid),
            1 => (json!(rng.gen_range(49_152..1_000_000)), Verdict::Either),
            2 => (json!(i32::MAX), Verdict::Either),
            3 => (json!(0), Verdict::Valid),
            _ => (json!(rng.gen_range(1..200)), Verdict::Valid),
        };
        put(&mut body, "top_k", v, verdict);
    }
    if rng.gen_bool(0.5) {
        let (v, verdict) = match rng.gen_range(0..10) {
            0 => (json!(rng.gen_range(i32::MIN..-1)), Verdict::Invalid),
            1 => (json!(rng.gen_range(1024..100_000)), Verdict::Either),
            2 => (json!(i32::MAX), Verdict::Either),
            3 => (json!(-1), Verdict::Valid),
            4 => (json!(0), Verdict::Valid),
            _ => (json!(rng.gen_range(1..512)), Verdict::Valid),
        };
        put(&mut body, "repeat_last_n", v, verdict);
    }
    if rng.gen_bool(0.5) {
        put(&mut body, "seed", json!(rng.gen::<i64>()), Verdict::Valid);
    }
    let mut stop = Vec::new();
    if rng.gen_bool(0.3) {
        if rng.gen_range(0..10) == 0 {
            let many: Vec<String> = (0..17).map(|i| format!("s{i}")).collect();
            put(&mut body, "stop", json!(many), Verdict::Invalid);
        } else {
            stop = (0..rng.gen_range(1..=4))
                .map(|_| match rng.gen_range(0..4) {
                    0 => String::new(),
                    1 => WORDS.choose(rng).unwrap().replace("\\n", "\n"),
                    _ => random_text(rng, 1..6),
                })
                .collect();
            put(&mut body, "stop", json!(stop), Verdict::Valid);
            stop.retain(|s| !s.is_empty());
        }
    }
    let grammar = match rng.gen_range(0..10) {
        0..=4 => GrammarKind::None,
        5 | 6 => {
            body.insert("grammar".into(), json!(gbnf(rng)));
            GrammarKind::Generated
        }
        7 | 8 => {
            let g = if rng.gen_bool(0.7) {
                let g = gbnf(rng);
                mutate(rng, &g)
            } else {
                random_grammar_text(rng)
            };
            body.insert("grammar".into(), json!(g));
            GrammarKind::Mangled
        }
        _ if chat => {
            body.insert("response_format".into(), json!({"type": "json_object"}));
            GrammarKind::JsonMode
        }
        _ => GrammarKind::None,
    };
    let stream = rng.gen_bool(0.3);
    if stream {
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    GenRequest {
        path: if chat {
            "/v1/chat/completions"
        } else {
            "/v1/completions"
        },
        body: Value::Object(body),
        chat,
        stream,
        max_tokens,
        stop,
        verdicts,
        grammar,
    }
}

/// Leaves the field out, or puts an in-range value, an edge, or (1 in 12) an invalid one.
fn maybe_f32(
    rng: &mut StdRng,
    body: &mut Map<String, Value>,
    put: &mut impl FnMut(&mut Map<String, Value>, &'static str, Value, Verdict),
    name: &'static str,
    lo: f32,
    hi: f32,
    invalid: &[f64],
) {
    if rng.gen_bool(0.4) {
        return;
    }
    match rng.gen_range(0..12) {
        0 => put(
            body,
            name,
            json!(invalid.choose(rng).unwrap()),
            Verdict::Invalid,
        ),
        1 => put(body, name, json!(lo), Verdict::Valid),
        2 => put(body, name, json!(hi), Verdict::Valid),
        _ => put(body, name, json!(rng.gen_range(lo..=hi)), Verdict::Valid),
    }
}

fn random_text(rng: &mut StdRng, len: std::ops::Range<usize>) -> String {
    let n = rng.gen_range(len);
    (0..n)
        .map(|_| match rng.gen_range(0..10) {
            0 => char::from_u32(rng.gen_range(0x80..0x3000)).unwrap_or('?'),
            1 => *['\n', '\t', '"', '\\', '{', '}'].choose(rng).unwrap(),
            _ => rng.gen_range(b' '..=b'~') as char,
        })
        .collect()
}

/// A small well-formed GBNF grammar: `root` and up to three more rules, each rule only
/// referring to later ones (no recursion) except for one right-recursive list, with
/// literals, character classes, groups, alternatives and bounded repetitions.
pub fn gbnf(rng: &mut StdRng) -> String {
    let n_rules = rng.gen_range(0..=3);
    let names: Vec<String> = (0..n_rules).map(|i| format!("r{i}")).collect();
    let mut out = format!("root ::= {}\n", expr(rng, &names, 0, 3));
    for (i, name) in names.iter().enumerate() {
        let later = &names[i + 1..];
        if i == 0 && rng.gen_bool(0.3) {
            // Right recursion is fine for llama.cpp (left recursion is refused).
            out.push_str(&format!(
                "{name} ::= {} (\",\" {name})?\n",
                term(rng, later, 2)
            ));
        } else {
            out.push_str(&format!("{name} ::= {}\n", expr(rng, later, 0, 3)));
        }
    }
    out
}

fn expr(rng: &mut StdRng, refs: &[String], depth: u32, max_depth: u32) -> String {
    let alts: Vec<String> = (0..rng.gen_range(1..=3))
        .map(|_| {
            (0..rng.gen_range(1..=3))
                .map(|_| {
                    let t = if depth < max_depth && rng.gen_bool(0.25) {
                        format!("({})", expr(rng, refs, depth + 1, max_depth))
                    } else {
                        term(rng, refs, depth)
                    };
                    format!("{t}{}", quantifier(rng))
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    alts.join(" | ")
}

fn term(rng: &mut StdRng, refs: &[String], _depth: u32) -> String {
    match rng.gen_range(0..10) {
        0..=3 => format!("\"{}\"", gbnf_escape(WORDS.choose(rng).unwrap())),
        4 | 5 => [
            "[a-z]",
            "[0-9]",
            "[^\"\\\\]",
            "[ \\t]",
            "[A-Za-z0-9_]",
            "[é日]",
        ]
        .choose(rng)
        .unwrap()
        .to_string(),
        6 if !refs.is_empty() => refs.choose(rng).unwrap().clone(),
        7 => ".".to_string(),
        _ => {
            // Never empty: llama.cpp refuses a quantifier after an empty literal.
            let text = random_text(rng, 1..4).replace('\\', "");
            let text = if text.is_empty() { "x".into() } else { text };
            format!("\"{}\"", gbnf_escape(&text))
        }
    }
}

fn gbnf_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .replace('\t', "\\t")
}

fn quantifier(rng: &mut StdRng) -> String {
    match rng.gen_range(0..12) {
        0 => "?".into(),
        1 => "*".into(),
        2 => "+".into(),
        3 => format!("{{{}}}", rng.gen_range(1..5)),
        4 => {
            let m = rng.gen_range(0..3);
            format!("{{{m},{}}}", m + rng.gen_range(1..4))
        }
        5 => format!("{{{},}}", rng.gen_range(0..3)),
        _ => String::new(),
    }
}

/// 1–4 random edits: a character inserted (mostly GBNF punctuation), deleted, or a slice
/// duplicated.
pub fn mutate(rng: &mut StdRng, g: &str) -> String {
    let mut chars: Vec<char> = g.chars().collect();
    for _ in 0..rng.gen_range(1..=4) {
        let at = rng.gen_range(0..=chars.len());
        match rng.gen_range(0..3) {
            0 => {
                let c = if rng.gen_bool(0.8) {
                    *"()[]{}\"\\|*+?:=,-^. \n0123456789x"
                        .chars()
                        .collect::<Vec<_>>()
                        .choose(rng)
                        .unwrap()
                } else {
                    char::from_u32(rng.gen_range(1..0x2000)).unwrap_or('?')
                };
                chars.insert(at, c);
            }
            1 if at < chars.len() => {
                chars.remove(at);
            }
            _ => {
                let end = (at + rng.gen_range(1..20)).min(chars.len());
                let slice: Vec<char> = chars[at..end].to_vec();
                let to = rng.gen_range(0..=chars.len());
                chars.splice(to..to, slice);
            }
        }
    }
    chars.into_iter().collect()
}

/// Characters from GBNF's alphabet, in no particular order.
fn random_grammar_text(rng: &mut StdRng) -> String {
    let alphabet: Vec<char> = "root ::= ()[]{}\"\\|*+?,-^.\nabc019".chars().collect();
    let n = rng.gen_range(1..200);
    let mut s = if rng.gen_bool(0.5) {
        "root ::= ".to_string()
    } else {
        String::new()
    };
    s.extend((0..n).map(|_| *alphabet.choose(rng).unwrap()));
    s
}
