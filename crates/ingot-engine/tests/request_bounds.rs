//! Issue 12: every size-like request parameter is bounded before it reaches llama.cpp, on the
//! real engine (SmolLM2-135M, see tests/common): each is refused (or clamped) quickly, and
//! the model keeps answering afterwards.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ingot_engine::*;

/// Generous for a debug build on a loaded 2-core machine; the release figures are far lower.
const QUICK: Duration = Duration::from_secs(5);

fn refused(req: GenerateRequest, needle: &str) {
    let t0 = Instant::now();
    let err = shared_model().generate(req).expect_err("must be refused");
    let took = t0.elapsed();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            EngineError::InvalidRequest(_) | EngineError::PromptTooLong { .. }
        ),
        "{err:?}"
    );
    assert!(msg.contains(needle), "{needle:?} not in {msg}");
    // The whole input never reaches the message.
    assert!(msg.len() < 2000, "{} bytes", msg.len());
    assert!(took < QUICK, "{took:?}");
}

fn with_grammar(g: String) -> GenerateRequest {
    let mut req = chat("x", 4);
    req.sampling.grammar = Some(g);
    req
}

#[test]
fn deep_grammar_is_refused_without_overflowing_the_stack() {
    // The issue's request: 100,000 nested groups killed the server with a stack overflow.
    let n = 100_000;
    refused(
        with_grammar(format!("root ::= {}\"a\"{}", "(".repeat(n), ")".repeat(n))),
        "bytes",
    );
    // Within the size limit, still far too deep for llama.cpp's recursive parser.
    let n = 30_000;
    refused(
        with_grammar(format!("root ::= {}\"a\"{}", "(".repeat(n), ")".repeat(n))),
        "nests groups deeper than 128",
    );
}

#[test]
fn repetitions_of_long_literals_are_refused() {
    let lit = "y".repeat(500);
    refused(
        with_grammar(format!("root ::= \"{lit}\"{{100000}}")),
        "repetition count 100000",
    );
    refused(
        with_grammar(format!("root ::= \"{lit}\"{{2000}}")),
        "expands to more than",
    );
    refused(with_grammar("root ::= \"a\"{5,3}".into()), "maximum below");
}

#[test]
fn grammar_errors_name_the_problem() {
    refused(with_grammar("root ::= (\"a\"".into()), "expecting `)`");
    refused(with_grammar("root ::= other".into()), "`other`");
    refused(
        with_grammar("root ::= <not-a-token>".into()),
        "not a single token",
    );
    // Left recursion is llama.cpp's own check: its message, cut, and no crash.
    refused(
        with_grammar("root ::= root \"a\" | \"b\"".into()),
        "left recursion",
    );
    // A real special token is accepted, and the model still answers. (Not an end-of-
    // generation token: llama.cpp allows those only once the grammar is complete.)
    let mut ok = with_grammar("root ::= \"yes\" <|im_start|>".into());
    ok.sampling.max_tokens = Some(3);
    let c = collect(shared_model().generate(ok).unwrap());
    assert!(c.error.is_none(), "{:?}", c.error);
}

#[test]
fn repeat_last_n_beyond_the_context_is_refused_and_minus_one_means_all() {
    let n_ctx = shared_model().info().n_ctx_per_seq as i32;
    let mut req = chat("Say hi.", 4);
    req.sampling.repeat_penalty = 1.1;
    // The issue's request: held the queue for 25 s and doubled the RSS.
    req.sampling.repeat_last_n = i32::MAX;
    refused(req.clone(), "repeat_last_n");
    req.sampling.repeat_last_n = n_ctx + 1;
    refused(req.clone(), &format!("{n_ctx} tokens"));
    req.sampling.repeat_last_n = -2;
    refused(req.clone(), "repeat_last_n must be >= -1");
    for ok in [-1, 0, 64, n_ctx] {
        req.sampling.repeat_last_n = ok;
        let c = collect(shared_model().generate(req.clone()).unwrap());
        assert!(c.error.is_none(), "{ok}: {:?}", c.error);
    }
}

#[test]
fn top_k_beyond_the_vocabulary_keeps_every_token() {
    // Same as no top-k (the vocabulary is smaller than i32::MAX): greedy output identical.
    let mut req = chat("What is 2+2?", 8);
    req.sampling.temperature = 0.0;
    let plain = collect(shared_model().generate(req.clone()).unwrap());
    req.sampling.top_k = i32::MAX;
    req.sampling.temperature = 0.5;
    req.sampling.seed = 7;
    let huge = collect(shared_model().generate(req.clone()).unwrap());
    req.sampling.top_k = 0;
    let none = collect(shared_model().generate(req.clone()).unwrap());
    assert!(plain.error.is_none() && huge.error.is_none());
    assert_eq!(huge.ids, none.ids, "top_k = i32::MAX must equal top_k off");
    req.sampling.top_k = -1;
    refused(req, "top_k");
}

#[test]
fn sampling_values_out_of_range_are_refused() {
    let base = chat("x", 4);
    let cases: Vec<(fn(&mut SamplingParams), &str)> = vec![
        (|s| s.temperature = f32::NAN, "temperature"),
        (|s| s.top_p = 0.0, "top_p"),
        (|s| s.min_p = 1.5, "min_p"),
        (|s| s.repeat_penalty = f32::INFINITY, "repeat_penalty"),
        (|s| s.max_tokens = Some(0), "max_tokens"),
        (|s| s.stop = vec!["s".into(); 17], "stop strings"),
        (|s| s.stop = vec!["s".repeat(1025)], "stop strings"),
    ];
    for (set, needle) in cases {
        let mut req = base.clone();
        set(&mut req.sampling);
        refused(req, needle);
    }
    // Any 64-bit seed is fine.
    let mut req = base.clone();
    req.sampling.seed = u64::MAX;
    req.sampling.temperature = 1.0;
    assert!(collect(shared_model().generate(req).unwrap())
        .error
        .is_none());
    // max_tokens beyond the context: refused up front with the numbers.
    let mut req = base;
    req.sampling.max_tokens = Some(u32::MAX);
    assert!(matches!(
        shared_model().generate(req),
        Err(EngineError::ContextOverflow { .. })
    ));
}

#[test]
fn a_2mb_prompt_is_refused_by_its_length_before_tokenizing() {
    let prompt = "lorem ipsum dolor sit amet ".repeat(2_000_000 / 27);
    let mut req = raw(&prompt, Some(4));
    // Loaded first: only the request is timed.
    let model = shared_model();
    let t0 = Instant::now();
    let err = model.generate(req.clone()).unwrap_err();
    assert!(matches!(err, EngineError::PromptTooLong { .. }), "{err:?}");
    // Tokenizing 2 MB in a debug build takes seconds; the byte check takes microseconds.
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    // Through the chat template too.
    req.prompt = Prompt::Chat(vec![ChatMessage::new("user", prompt)]);
    refused(req, "bytes");
}

/// JSON schemas reach the engine as schemas (issue 13: the HTTP layer has no llama.cpp). One
/// that only llama.cpp's converter can judge, a `pattern` it cannot express, passes the pure
/// pre-scan the HTTP layer runs and is refused here, naming the request's field and the
/// keyword; a good one becomes a grammar and answers.
#[test]
fn json_schemas_the_converter_cannot_express_are_refused_naming_their_field() {
    let param = "response_format.json_schema.schema";
    let with_schema = |schema: &str| {
        let mut req = chat("Is the sky blue? Answer in JSON.", 32);
        req.sampling.json_schema = Some(JsonSchemaConstraint {
            schema: schema.into(),
            param: param.into(),
        });
        req
    };
    let bad = r#"{"type": "string", "pattern": "abc"}"#;
    assert!(
        check_json_schema(bad).is_ok(),
        "the pure pre-scan cannot judge patterns"
    );
    match shared_model().generate(with_schema(bad)) {
        Err(EngineError::InvalidJsonSchema { param: p, error }) => {
            assert_eq!(p, param);
            assert_eq!(error.keyword.as_deref(), Some("pattern"), "{error}");
        }
        other => panic!("expected InvalidJsonSchema, got {:?}", other.err()),
    }
    let good =
        r#"{"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}"#;
    let out = collect(shared_model().generate(with_schema(good)).unwrap());
    assert_eq!(out.finish, Some(FinishReason::Stop), "{}", out.text);
    let v: serde_json::Value = serde_json::from_str(out.text.trim()).expect("JSON");
    assert!(v["ok"].is_boolean(), "{}", out.text);
}
