//! No library: this crate holds the end-to-end suites in `tests/`. They run the server and
//! the benchmarks over HTTP against the real llama.cpp engine (SmolLM2-135M from
//! `ingot-testkit`) and against the scripted engine, through one harness
//! (`tests/common`): the bad-input corpus, the soak, the sampling fuzz, continuous batching,
//! remote adapters, the Foundry and Ollama routes, and the real tokenizer's counts.
