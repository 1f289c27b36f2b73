//! Shared by the mock-server test binaries: one closed-loop run of the SSE client.

use std::sync::Arc;

use ingot_bench::exec::{run_scenario, Scenario, StopAt};
use ingot_bench::mock::MockServer;
use ingot_bench::record::RequestRecord;
use ingot_bench::target::{HttpTarget, Target};
use ingot_bench::workload::{builtin_prompts, GenParams, Mode};

pub fn run(
    server: &MockServer,
    clear: Option<&MockServer>,
    mode: Mode,
    concurrency: usize,
    requests: u64,
) -> Vec<RequestRecord> {
    // The runtime real runs use, so these tests check the harness as shipped.
    let rt = ingot_bench::exec::client_runtime().unwrap();
    let target: Arc<dyn Target> = Arc::new(
        HttpTarget::new(
            &server.url(),
            "mock",
            None,
            mode,
            GenParams {
                max_tokens: 16,
                timeout_s: 30.0,
                ..GenParams::default()
            },
        )
        .unwrap(),
    );
    let prompts: Vec<_> = builtin_prompts().into_iter().map(Arc::new).collect();
    // Open the connections first, as a real run's warm-up does.
    rt.block_on(run_scenario(
        target.clone(),
        &prompts,
        &Scenario::closed(concurrency, StopAt::Requests(concurrency as u64)),
        "mock",
        0,
        true,
        None,
    ));
    if let Some(s) = clear {
        s.clear_emitted();
    }
    rt.block_on(run_scenario(
        target,
        &prompts,
        &Scenario::closed(concurrency, StopAt::Requests(requests)),
        "mock",
        0,
        false,
        None,
    ))
    .1
}
