//! The host-memory prompt cache (issue 18, found while measuring TTFT on the `summarize`
//! prompts): prompts that no slot holds any more come back from RAM instead of being
//! computed again, and the answer is the same as computing them afresh.

mod common;
use common::*;
use ingot_engine::*;

/// Long enough (well over the cache's 32-token minimum) that a restore is worth it.
fn notes(topic: &str) -> String {
    format!(
        "Meeting notes, {topic}: Priya opened by reviewing last week's action items. Marcus \
         reported that the payments migration is two days behind because the vendor API \
         changed its rate limits. The team agreed to move the launch review to Thursday. \
         Summarize these notes in one sentence."
    )
}

fn one_slot(prompt_cache_bytes: u64) -> std::sync::Arc<dyn LoadedModel> {
    load(&LoadOptions {
        prefix_cache: true,
        prompt_cache_bytes,
        ..opts()
    })
}

#[test]
fn a_prompt_that_lost_its_slot_is_restored_from_ram_with_the_same_answer() {
    let m = one_slot(64 << 20);
    let a1 = collect(m.generate(helpful(&notes("standup"), 12)).unwrap());
    // The single slot now takes another prompt: the first one's cells go to RAM.
    let b = collect(m.generate(helpful(&notes("budget review"), 12)).unwrap());
    assert!(
        b.timings.cached_tokens < b.usage.prompt_tokens / 2,
        "{:?}",
        b.timings
    );
    let a2 = collect(m.generate(helpful(&notes("standup"), 12)).unwrap());
    assert_eq!(
        a2.timings.cached_tokens, a2.usage.prompt_tokens,
        "the whole prompt comes back from RAM, with the logits it ended with: {:?}",
        a2.timings
    );
    assert_eq!(
        a1.text, a2.text,
        "restored cells give the same greedy answer"
    );
    // And the same as a model that never cached anything.
    let fresh = collect(
        shared_model()
            .generate(helpful(&notes("standup"), 12))
            .unwrap(),
    );
    assert_eq!(a2.text, fresh.text);
}

/// One slot: "standup", then `other` takes the slot, then "standup" again, which must be
/// computed again past the start the two share (system prompt, preamble, "Meeting notes, ").
fn assert_recomputed_after_eviction(prompt_cache_bytes: u64, other: &str) {
    let m = one_slot(prompt_cache_bytes);
    let _ = collect(m.generate(helpful(&notes("standup"), 4)).unwrap());
    let _ = collect(m.generate(helpful(&notes(other), 4)).unwrap());
    let a2 = collect(m.generate(helpful(&notes("standup"), 4)).unwrap());
    assert!(
        a2.timings.cached_tokens < a2.usage.prompt_tokens / 2,
        "{:?}",
        a2.timings
    );
}

#[test]
fn without_ram_a_prompt_that_lost_its_slot_is_computed_again() {
    assert_recomputed_after_eviction(0, "budget review");
}

#[test]
fn a_cache_too_small_for_one_prompt_keeps_nothing() {
    // 1 KiB holds no prompt state of this model (about 23 KiB per token).
    assert_recomputed_after_eviction(1024, "retro");
}

#[test]
fn idle_slots_each_keep_a_different_prompt() {
    // Two slots, one request at a time: the second prompt takes the other (least recently
    // used) slot instead of evicting the first, so both stay cached without RAM.
    let m = load(&LoadOptions {
        prefix_cache: true,
        prompt_cache_bytes: 0,
        n_parallel: 2,
        context_length: Some(4096),
        ..opts()
    });
    let _ = collect(m.generate(helpful(&notes("standup"), 4)).unwrap());
    let _ = collect(m.generate(helpful(&notes("budget review"), 4)).unwrap());
    let a = collect(m.generate(helpful(&notes("standup"), 4)).unwrap());
    let b = collect(m.generate(helpful(&notes("budget review"), 4)).unwrap());
    // Every token: each slot also kept the logits its prompt ended with.
    assert_eq!(a.timings.cached_tokens, a.usage.prompt_tokens);
    assert_eq!(b.timings.cached_tokens, b.usage.prompt_tokens);
}

#[test]
fn a_cache_with_room_for_one_state_never_restores_the_wrong_one() {
    // Room for one saved prompt (about 1.8 MiB each here): taking the slot back for "standup"
    // saves "budget review" first, which evicts "standup"'s own entry. Found by the real-engine
    // fuzz: the restore picked its entry before the save moved it, and restored another prompt's
    // cells (or indexed past the end and stopped the model's thread).
    let m = one_slot(5 << 19);
    for _ in 0..2 {
        for topic in ["standup", "budget review"] {
            let c = collect(m.generate(helpful(&notes(topic), 4)).unwrap());
            // Only the shared start (system prompt, preamble) is reused: the entry that held
            // this prompt was evicted, so nothing else may claim to be its cells.
            assert!(
                c.timings.cached_tokens < c.usage.prompt_tokens / 2,
                "{topic}: {:?}",
                c.timings
            );
        }
    }
}

#[test]
fn short_prompts_sharing_their_chat_template_each_keep_their_own_cells() {
    // Two short chat prompts whose shared chat template is about half of each. Taking the slot
    // that shares the most by llama-server's similarity rule alone made them trade one slot,
    // and the restore threshold (16 tokens) then left the dozen tokens past the template to be
    // computed again on every request: 45 ms of first token instead of 10 in
    // `scripts/compare-servers.py --full` at c=1 (PERFORMANCE.md round 4).
    let m = load(&LoadOptions {
        prefix_cache: true,
        prompt_cache_bytes: 8 << 20,
        n_parallel: 2,
        context_length: Some(4096),
        ..opts()
    });
    let questions = [
        "What is the capital of France?",
        "List 3 privacy benefits of local inference.",
    ];
    for round in 0..3 {
        for q in questions {
            let c = collect(m.generate(chat(q, 4)).unwrap());
            if round > 0 {
                // All but the last token when the prompt comes back from RAM, all of it when
                // its slot also kept the logits it ended with (scheduler/saved_logits.rs).
                assert!(
                    c.timings.cached_tokens >= c.usage.prompt_tokens - 1,
                    "round {round}, {q:?}: {:?}",
                    c.timings
                );
            }
        }
    }
}

#[test]
fn an_odd_prompt_tail_is_evened_by_computing_a_cached_token_again_with_the_same_state() {
    // ggml runs ingot's two-row kernel only on batches with an even number of rows, so a
    // prompt whose new part is odd computes its last cached token again (scheduler/even.rs).
    //
    // The reference is not a model that computes the prompt in one batch: llama.cpp's logits
    // depend on how a prompt is split into batches (its CPU flash attention tiles batches of
    // 64 rows and more, and sums differently), which is why llama-server warns that prompt
    // caching changes results. It is a second slot whose cells end one token earlier to begin
    // with (its first prompt lacks the final full stop): it computes the same tail, from the
    // same position, in one batch, without evening anything, and must give the same
    // logprobs, bit for bit. The prompts stay under 64 tokens so that no batch is tiled.
    let pairs = matches!(
        ingot_engine::kernels::status(),
        Some(ingot_engine::kernels::KernelStatus::Installed(_))
    ) || {
        let _ = shared_model(); // loading starts the backend, which installs the kernels
        matches!(
            ingot_engine::kernels::status(),
            Some(ingot_engine::kernels::KernelStatus::Installed(_))
        )
    };
    if !pairs {
        eprintln!("skipped: ingot's two-row kernel is not installed on this machine");
        return;
    }
    let evened = one_slot(0);
    let reference = one_slot(0);
    let base = "Notes: Marcus said the payments migration is two days behind. Summarize them.";
    let shorter = base
        .strip_suffix('.')
        .expect("the notes end with a full stop");
    let endings = [
        "Answer.",
        "Answer briefly.",
        "Answer briefly, please.",
        "Answer briefly, please, in English.",
        "Answer briefly, please, in plain English.",
    ];
    let ask = |q: &str| {
        let mut r = helpful(q, 3);
        r.sampling.logprobs = Some(5);
        r
    };
    let mut compared = 0;
    for ending in endings {
        let _ = collect(evened.generate(helpful(base, 1)).unwrap());
        let _ = collect(reference.generate(helpful(shorter, 1)).unwrap());
        let q = format!("{base} {ending}");
        let e = collect(evened.generate(ask(&q)).unwrap());
        assert!(e.usage.prompt_tokens < 64, "{:?}", e.usage);
        let r = collect(reference.generate(ask(&q)).unwrap());
        let e_rows = e.usage.prompt_tokens - e.timings.cached_tokens;
        let r_rows = r.usage.prompt_tokens - r.timings.cached_tokens;
        for (who, rows) in [("evened", e_rows), ("reference", r_rows)] {
            assert!(
                rows == 1 || rows % 2 == 0,
                "{ending:?}: {rows} new prompt rows in the {who} slot"
            );
        }
        if e.timings.cached_tokens == r.timings.cached_tokens {
            // Both computed the same tail from the same cells: the evened slot by giving one
            // cached token back, the reference because its cells ended there.
            compared += 1;
            assert_eq!(e.ids, r.ids, "{ending:?}");
            for (a, b) in e.logprobs.iter().zip(&r.logprobs) {
                for (x, y) in a.top.iter().zip(&b.top) {
                    assert_eq!((x.id, x.logprob.to_bits()), (y.id, y.logprob.to_bits()));
                }
            }
        }
    }
    assert!(
        compared > 0,
        "no ending made the evened slot give a token back"
    );
}

#[test]
fn a_repeated_prompt_takes_its_first_token_from_the_kept_logits() {
    // scheduler/saved_logits.rs: no decode for a prompt the slot ended with, and the same
    // first-token distribution the first request had, for every sampler.
    let m = one_slot(0);
    // A question per case: the prompt is what the kept logits belong to, not the sampler.
    let with = |q: &str, temperature: f32, grammar: Option<&str>| {
        let mut r = helpful(q, 6);
        r.sampling.temperature = temperature;
        r.sampling.seed = 7;
        r.sampling.logprobs = Some(5);
        r.sampling.grammar = grammar.map(String::from);
        r
    };
    let cases = [
        ("greedy", with("What is the capital of France?", 0.0, None)),
        ("seeded", with("Name a large river in Europe.", 0.9, None)),
        (
            "grammar",
            with(
                "What is the capital of Italy?",
                0.0,
                Some(r#"root ::= "The capital is " ("Rome" | "Paris" | "Milan")"#),
            ),
        ),
    ];
    for (name, req) in cases {
        let first = collect(m.generate(req.clone()).unwrap());
        let again = collect(m.generate(req).unwrap());
        assert!(
            first.timings.cached_tokens < first.usage.prompt_tokens,
            "{name}"
        );
        assert_eq!(
            again.timings.cached_tokens, again.usage.prompt_tokens,
            "{name}: every prompt token from the slot: {:?}",
            again.timings
        );
        assert_eq!(again.text, first.text, "{name}");
        let (a, b) = (&first.logprobs[0], &again.logprobs[0]);
        assert_eq!(a.id, b.id, "{name}");
        for (x, y) in a.top.iter().zip(&b.top) {
            assert_eq!(
                (x.id, x.logprob.to_bits()),
                (y.id, y.logprob.to_bits()),
                "{name}"
            );
        }
    }
    // One token more or less is another prompt: its last token is computed.
    let other = collect(
        m.generate(helpful("What is the capital of France", 6))
            .unwrap(),
    );
    assert!(
        other.timings.cached_tokens < other.usage.prompt_tokens,
        "{:?}",
        other.timings
    );
}
