//! Every check type on known answers; weights, required checks and judge errors combined.

use serde_json::json;

use super::*;

fn check(v: Value) -> Check {
    Check::try_from(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn score(v: Value, answer: &str) -> (f64, bool) {
    let r = evaluate(&check(v), answer);
    (r.score.unwrap(), r.passed)
}

#[test]
fn contains_all_any_and_case() {
    let all = json!({"type": "contains", "values": ["Paris", "France"]});
    assert_eq!(score(all.clone(), "Paris is in France."), (1.0, true));
    // Partial credit: one of two found.
    assert_eq!(score(all.clone(), "Paris, of course."), (0.5, false));
    // Case-sensitive.
    assert_eq!(score(all, "paris, france"), (0.0, false));
    let icontains = json!({"type": "icontains", "values": ["Paris", "France"]});
    assert_eq!(score(icontains, "paris, FRANCE"), (1.0, true));
    let any = json!({"icontains": ["rome", "paris"], "match": "any"});
    assert_eq!(score(any.clone(), "It is Paris."), (1.0, true));
    assert_eq!(score(any, "It is Berlin."), (0.0, false));
    // Whole words only when asked.
    let word = json!({"type": "icontains", "value": "cat", "whole_word": true});
    assert_eq!(score(word.clone(), "a category"), (0.0, false));
    assert_eq!(score(word, "the Cat sat"), (1.0, true));
    // The missing values are named.
    let r = evaluate(&check(json!({"contains": ["a", "zz"]})), "a");
    assert_eq!(r.detail.as_deref(), Some("missing: \"zz\""));
}

#[test]
fn not_contains_regex_equals() {
    let nc = json!({"type": "not_contains", "values": ["John", "Sarah"], "whole_word": true});
    assert_eq!(score(nc.clone(), "Priya and Ana agreed."), (1.0, true));
    assert_eq!(score(nc.clone(), "priya told john."), (0.0, false));
    assert_eq!(score(nc, "Johnson & Johnson"), (1.0, true));
    assert_eq!(
        score(json!({"not_contains": "sorry"}), "Sorry, I cannot."),
        (0.0, false)
    );
    let re = json!({"type": "regex", "pattern": r"^\d{4}-\d{2}-\d{2}$"});
    assert_eq!(score(re.clone(), "2026-11-29"), (1.0, true));
    assert_eq!(score(re, "on 2026-11-29"), (0.0, false));
    assert_eq!(
        score(json!({"regex": "(?i)yes"}), "YES, it does"),
        (1.0, true)
    );
    assert!(Check::try_from(json!({"type": "regex", "pattern": "("})).is_err());
    let eq = json!({"type": "equals", "value": "42"});
    assert_eq!(score(eq.clone(), "  42\n"), (1.0, true));
    assert_eq!(score(eq, "42."), (0.0, false));
    assert_eq!(
        score(
            json!({"type": "equals", "value": "Yes", "ignore_case": true}),
            "yes"
        ),
        (1.0, true)
    );
}

#[test]
fn length_checks() {
    assert_eq!(
        score(json!({"max_words": 3}), "one two  three"),
        (1.0, true)
    );
    assert_eq!(
        score(json!({"max_words": 3}), "one two three four"),
        (0.0, false)
    );
    assert_eq!(score(json!({"min_words": 2}), "one"), (0.0, false));
    assert_eq!(score(json!({"min_words": 2}), "one two"), (1.0, true));
    assert_eq!(
        score(json!({"type": "max_chars", "value": 5}), " héllo "),
        (1.0, true)
    );
    assert_eq!(score(json!({"max_chars": 4}), "hello"), (0.0, false));
    let r = evaluate(&check(json!({"max_words": 1})), "a b");
    assert_eq!(r.detail.as_deref(), Some("2 words > 1"));
}

#[test]
fn json_and_json_schema() {
    assert_eq!(score(json!({"type": "json"}), r#" {"a": 1} "#), (1.0, true));
    assert_eq!(
        score(json!({"type": "json"}), "```json\n[1, 2]\n```"),
        (1.0, true)
    );
    assert_eq!(score(json!({"type": "json"}), "{a: 1}"), (0.0, false));
    let schema = json!({"type": "json_schema", "schema": {
        "type": "object",
        "required": ["name", "age"],
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}
    }});
    assert_eq!(
        score(schema.clone(), r#"{"name": "Ada", "age": 36}"#),
        (1.0, true)
    );
    assert_eq!(score(schema.clone(), r#"{"name": "Ada"}"#), (0.0, false));
    assert_eq!(
        score(schema.clone(), r#"{"name": "Ada", "age": -1}"#),
        (0.0, false)
    );
    assert_eq!(score(schema, "not json"), (0.0, false));
    assert!(Check::try_from(json!({"type": "json_schema", "schema": {"type": 12}})).is_err());
}

#[test]
fn judge_checks_scale_fail_on_errors_and_skip_without_a_judge() {
    let c = check(json!({"type": "judge", "rubric": "Mentions Paris.", "weight": 2}));
    let r = evaluate(&c, "Paris");
    assert!(r.skipped && !r.passed && r.score.is_none());
    let v = |score: Option<f64>| JudgeVerdict {
        judge: "j".into(),
        score,
        reason: Some("because".into()),
        error: score.is_none().then(|| "no score".to_string()),
        ..JudgeVerdict::default()
    };
    let r = judge_result(&c, v(Some(4.0)));
    assert_eq!((r.score, r.passed), (Some(0.75), true));
    let r = judge_result(&c, v(Some(2.0)));
    assert_eq!((r.score, r.passed), (Some(0.25), false));
    // A judge error scores 0, never passes, and marks the case.
    let r = judge_result(&c, v(None));
    assert_eq!((r.score, r.passed), (Some(0.0), false));
    assert!(r.detail.unwrap().starts_with("judge error"));
    let case = combine("c", 0.0, vec![judge_result(&c, v(None))]);
    assert!(case.judge_error);
    assert!(
        !case.passed,
        "a judge error is never a pass, even at threshold 0"
    );
    // min_score moves the pass mark.
    let strict = check(json!({"judge": "x", "min_score": 5}));
    assert!(!judge_result(&strict, v(Some(4.0))).passed);
}

#[test]
fn weights_required_and_threshold_combine() {
    let a = check(json!({"contains": "alpha", "weight": 3}));
    let b = check(json!({"contains": "beta"}));
    let req = check(json!({"max_words": 3, "required": true}));
    let judge = check(json!({"judge": "anything"}));
    let run = |answer: &str, threshold: f64| {
        let checks = [&a, &b, &req, &judge]
            .iter()
            .map(|c| evaluate(c, answer))
            .collect();
        combine("case", threshold, checks)
    };
    // alpha (3) found, beta (1) missing, length ok (1): (3 + 0 + 1)/5 = 0.8; the skipped
    // judge check does not count.
    let c = run("alpha gamma", 0.75);
    assert!((c.score.unwrap() - 0.8).abs() < 1e-12);
    assert!((c.score_5.unwrap() - 4.2).abs() < 1e-12);
    assert!(c.passed);
    assert!(!run("alpha gamma", 0.85).passed);
    // The required check fails: the case fails although the score (3/5) is above threshold.
    let c = run("alpha one two three four", 0.5);
    assert!((c.score.unwrap() - 0.6).abs() < 1e-12);
    assert!(!c.passed);
    // Exactly at the threshold passes.
    let c = run("alpha beta", 1.0);
    assert_eq!(c.score, Some(1.0));
    assert!(c.passed);
    // Every check skipped: no score, not passed.
    let only_judge = combine("j", 0.0, vec![evaluate(&judge, "x")]);
    assert_eq!(only_judge.score, None);
    assert!(!only_judge.passed);
}

#[test]
fn model_quality_is_the_mean_with_a_ci() {
    let mk = |s: f64, passed: bool| {
        CaseScore {
            passed,
            ..combine("c", 0.5, Vec::new())
        }
        .with_score(s)
    };
    let q = aggregate(vec![
        mk(1.0, true),
        mk(0.5, true),
        mk(0.0, false),
        mk(0.5, false),
    ]);
    assert_eq!(q.cases, 4);
    assert_eq!(q.passed, 2);
    assert_eq!(q.pass_rate, Some(0.5));
    assert_eq!(q.score, Some(0.5));
    assert_eq!(q.score_5, Some(3.0));
    let [lo, hi] = q.score_ci.unwrap();
    assert!(lo <= 0.5 && hi >= 0.5 && lo >= 0.0 && hi <= 1.0);
    assert!(q.human.is_none());
    // Human scores are averaged on their own.
    let mut h = mk(1.0, true);
    h.human = Some(4.0);
    let q = aggregate(vec![h, mk(0.0, false)]);
    assert_eq!(q.human.unwrap().mean, Some(4.0));
}

impl CaseScore {
    fn with_score(mut self, s: f64) -> Self {
        self.score = Some(s);
        self.score_5 = Some(to_5(s));
        self
    }
}

#[test]
fn checks_parse_in_every_form_and_round_trip() {
    for v in [
        json!("plain"),
        json!({"type": "contains", "values": ["a", "b"], "match": "any", "weight": 2.5}),
        json!({"icontains": "x", "required": true}),
        json!({"not_contains": ["x"], "whole_word": true}),
        json!({"regex": "a+"}),
        json!({"equals": "x", "ignore_case": true}),
        json!({"max_words": 5}),
        json!({"type": "max_chars", "max": 9}),
        json!({"min_words": 1}),
        json!({"type": "json"}),
        json!({"json_schema": {"type": "object"}}),
        json!({"judge": "Polite.", "min_score": 4}),
    ] {
        let c = check(v);
        let back = Check::try_from(Value::from(c.clone())).unwrap();
        assert_eq!(back, c);
    }
    for bad in [
        json!({"type": "contains"}),
        json!({"type": "max_words", "value": -1}),
        json!({"type": "contains", "values": "x", "weight": 0}),
        json!({"max_words": 1, "max_chars": 2}),
        json!({"weight": 1}),
        json!({"judge": ""}),
        json!({"judge": "x", "min_score": 7}),
        json!(3),
    ] {
        assert!(Check::try_from(bad.clone()).is_err(), "{bad}");
    }
    // Bare strings: short ones are keywords, long ones aspects for the judge.
    assert_eq!(check(json!("Paris")).kind.type_name(), "icontains");
    let aspect = check(json!("mentions that documents are retrieved first"));
    assert_eq!(aspect.kind.type_name(), "judge");
    assert!(matches!(&aspect.kind, CheckKind::Judge { rubric, .. }
        if rubric == "The answer covers this expected aspect: mentions that documents are retrieved first"));
    assert_eq!(
        check(json!({"kind": "max_words", "value": 3})).kind,
        CheckKind::MaxWords(3)
    );
    assert!(Check::try_from(json!("  ")).is_err());
    assert_eq!(normalize_threshold(0.6), Ok(0.6));
    assert_eq!(normalize_threshold(3.0), Ok(0.5));
    assert!(normalize_threshold(6.0).is_err());
}
