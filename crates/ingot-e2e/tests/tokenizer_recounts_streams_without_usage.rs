//! Issue 5: "where the count came from (server usage, or the engine's tokenizer as fallback)".
//! Against a server that rejects `stream_options` (so it reports no usage), the records first
//! count content chunks; with the model's GGUF at hand its tokenizer recounts them.

use std::sync::Arc;
use std::time::Duration;

use ingot_bench::exec::{run_scenario, Scenario, StopAt};
use ingot_bench::mock::{MockServer, MockServerConfig};
use ingot_bench::record::CountSource;
use ingot_bench::target::{recount_with_tokenizer, HttpTarget, Target};
use ingot_bench::workload::{builtin_prompts, GenParams, Mode};
use ingot_engine::{Engine, LlamaEngine};

use ingot_testkit as model_file;

#[test]
fn counts_without_server_usage_are_recounted_with_the_model_tokenizer() {
    let server = MockServer::start(
        MockServerConfig {
            ttft: Duration::ZERO,
            itl: Duration::ZERO,
            tokens: 6,
            reject_stream_options: true,
            ..MockServerConfig::default()
        },
        1,
    )
    .unwrap();
    let gen = GenParams {
        max_tokens: 16,
        ..GenParams::default()
    };
    let target: Arc<dyn Target> =
        Arc::new(HttpTarget::new(&server.url(), "mock", None, Mode::Chat, gen).unwrap());
    let prompts: Vec<_> = builtin_prompts().into_iter().map(Arc::new).collect();
    let rt = ingot_bench::exec::client_runtime().unwrap();
    let once = Scenario::closed(1, StopAt::Requests(2));
    let (_, mut recs) = rt.block_on(run_scenario(
        target, &prompts, &once, "mock", 0, false, None,
    ));
    assert!(recs
        .iter()
        .all(|r| r.ok() && r.count_source == CountSource::Chunks));
    assert!(recs.iter().all(|r| r.completion_tokens == Some(6)));

    let tok = LlamaEngine::new()
        .load_tokenizer(&model_file::model_path())
        .unwrap();
    recount_with_tokenizer(&mut recs, tok.as_ref());
    // The mock streams "tok0 tok1 ... tok5 ": six chunks, but more than six SmolLM2 tokens.
    let expected = tok.count("tok0 tok1 tok2 tok3 tok4 tok5 ").unwrap();
    assert!(expected > 6, "{expected}");
    for r in &recs {
        assert_eq!(r.output, "tok0 tok1 tok2 tok3 tok4 tok5 ");
        assert_eq!(r.count_source, CountSource::Engine);
        assert_eq!(r.completion_tokens, Some(expected));
    }
}
