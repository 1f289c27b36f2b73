//! Issue 5: "where the count came from (server usage, or the engine's tokenizer as fallback)".
//! Against a server that rejects `stream_options` (so it reports no usage), the records first
//! count content chunks; with the model's GGUF at hand its tokenizer recounts them.

use std::time::Duration;

use ingot_bench::mock::{MockServer, MockServerConfig};
use ingot_bench::record::CountSource;
use ingot_bench::target::recount_with_tokenizer;
use ingot_bench::workload::Mode;

mod common;

#[path = "../../ingot-engine/tests/common/model_file.rs"]
mod model_file;

#[test]
fn issue5_no_usage_counts_are_recounted_with_the_model_tokenizer() {
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
    let mut recs = common::run(&server, None, Mode::Chat, 1, 2);
    assert!(recs
        .iter()
        .all(|r| r.ok() && r.count_source == CountSource::Chunks));
    assert!(recs.iter().all(|r| r.completion_tokens == Some(6)));

    let tok = ingot_engine::Tokenizer::load(&model_file::model_path()).unwrap();
    recount_with_tokenizer(&mut recs, &tok);
    // The mock streams "tok0 tok1 ... tok5 ": six chunks, but more than six SmolLM2 tokens.
    let expected = tok.count("tok0 tok1 tok2 tok3 tok4 tok5 ").unwrap();
    assert!(expected > 6, "{expected}");
    for r in &recs {
        assert_eq!(r.output, "tok0 tok1 tok2 tok3 tok4 tok5 ");
        assert_eq!(r.count_source, CountSource::Engine);
        assert_eq!(r.completion_tokens, Some(expected));
    }
}
