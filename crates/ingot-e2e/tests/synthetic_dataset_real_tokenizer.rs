//! Issue 17: `--dataset synthetic:in=N,out=M` builds prompts of exactly N tokens with the
//! model's own tokenizer and forces M output tokens. Checked against SmolLM2-135M's real
//! tokenizer, and in a whole in-process run on the real engine.

use std::sync::Arc;

use ingot_bench::run::{ModelSpec, RunConfig, Synthetic};
use ingot_bench::workload::{GenParams, Mode};
use ingot_core::{ModelDescriptor, ModelDetails, ModelProvider, ProviderError, ResolvedModel};
use ingot_engine::{Engine, LlamaEngine};

use ingot_testkit as model_file;

struct Smol;

impl ModelProvider for Smol {
    fn list(&self) -> Vec<ModelDescriptor> {
        Vec::new()
    }
    fn resolve(&self, id: &str) -> Result<ResolvedModel, ProviderError> {
        Ok(ResolvedModel {
            id: id.into(),
            path: model_file::model_path(),
            chat_template: None,
            context_length: None,
        })
    }
    fn details(&self, _id: &str) -> Option<ModelDetails> {
        Some(ModelDetails {
            sha256: Some(model_file::MODEL_SHA256.into()),
            quantization: Some("Q4_1".into()),
            chat_template: Some(true),
            ..ModelDetails::default()
        })
    }
}

#[test]
fn synthetic_prompts_have_exactly_512_smollm2_tokens() {
    let engine = LlamaEngine::new();
    let prompts =
        ingot_bench::dataset::synthetic_for_model(&Smol, &engine, "smollm2-135m", 512, 4, 42)
            .unwrap();
    let tok = engine.load_tokenizer(&model_file::model_path()).unwrap();
    assert_eq!(prompts.len(), 4);
    for p in &prompts {
        assert_eq!(tok.count(&p.raw_text()).unwrap(), 512, "{}", p.id);
    }
    assert_ne!(prompts[0].raw_text(), prompts[1].raw_text());
}

#[test]
fn synthetic_in_512_out_128_on_the_real_engine() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = RunConfig::builder()
        .models(vec![ModelSpec {
            alias: "smollm2-135m".into(),
            // Raw completions: the engine sees the prompt's tokens and nothing else.
            mode: Some(Mode::Completion),
        }])
        .gen(GenParams {
            max_tokens: 128,
            fixed_length: true,
            ..GenParams::default()
        })
        .synthetic(Some(Synthetic {
            input_tokens: 512,
            prompts: 2,
        }))
        .rounds(1)
        .requests(Some(2))
        .warmup(0)
        .out_dir(dir.path().to_path_buf())
        .calibrate(false)
        .load_test(false)
        // One thread: OpenMP threads that wait for each other crawl on a busy machine.
        .threads(Some(1))
        .build()
        .unwrap();
    let engine: Arc<dyn Engine> = Arc::new(LlamaEngine::new());
    let out = ingot_bench::run::run(&cfg, &Smol, engine).unwrap();
    let m = &out.results.models[0];
    assert_eq!(m.status, ingot_bench::results::Status::Ok, "{:?}", m.reason);
    let measured: Vec<_> = out.records.iter().filter(|r| !r.warmup).collect();
    assert_eq!(measured.len(), 2);
    for r in measured {
        assert!(r.ok(), "{:?}", r.error);
        assert!(r.prompt_id.starts_with("synthetic-"));
        // SmolLM2 adds no BOS: the engine's prompt is exactly the 512 tokens.
        assert_eq!(r.prompt_tokens, Some(512));
        assert_eq!(r.completion_tokens, Some(128));
    }
}
