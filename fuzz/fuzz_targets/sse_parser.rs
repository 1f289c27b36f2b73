//! The bench client's SSE parser: any byte stream, cut at any points, gives the same events
//! as the stream fed whole, never panics, and applying the events to a record never panics.
#![no_main]

use ingot_bench::record::RequestRecord;
use ingot_bench::target::{apply_sse_event, SseParser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cuts, stream)) = data.split_first() else {
        return;
    };
    let mut whole = SseParser::default();
    let expected = whole.feed(stream);

    // The same bytes in pieces whose sizes come from the first byte.
    let mut pieces = SseParser::default();
    let mut got = Vec::new();
    let mut rest = stream;
    let mut step = (cuts as usize % 7) + 1;
    while !rest.is_empty() {
        let n = step.min(rest.len());
        got.extend(pieces.feed(&rest[..n]));
        rest = &rest[n..];
        step = step * 3 % 11 + 1;
    }
    assert_eq!(got, expected);
    assert_eq!(pieces.pending(), whole.pending());

    let mut r = RequestRecord::start("m", "s", 0, 0, "p", false, 0.0, 0.0);
    for (i, (name, payload)) in expected.iter().enumerate() {
        if apply_sse_event(&mut r, name.as_deref(), payload, i as f64) {
            break;
        }
    }
    assert!(r.first_token_ms.is_none() || !r.token_ms.is_empty());
});
