//! One embedding model's benchmark (issue 15): prepare the target (load the model, or point at
//! `/v1/embeddings`), warm up, then every scenario of the run with batches of texts, each
//! request timed; the figures go to `models[].embedding`, the records to `requests.jsonl`.
//! Which models get this workload and which texts: [`crate::spec::embed`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use ingot_core::{Capability, LoadOptions, LoadedModel};

use crate::analyze::embedding::{embedding_metrics_safe, observed_shape, sanity};
use crate::measure::embed::{EmbedBackend, EmbedTarget, Expected};
use crate::measure::exec::{run_scenario, OnRecord, Scenario, StopAt};
use crate::measure::record::RequestRecord;
use crate::measure::resources::{cpu_seconds, drop_page_cache, MemorySampler};
use crate::measure::target::Target;
use crate::pipeline::config::{bar, RunConfig, TargetSpec};
use crate::pipeline::model::RunContext;
use crate::results::embedding::{EmbeddingResult, EmbeddingScenario};
use crate::results::{now_rfc3339, LoadMetrics, Manifest, ModelFile, ModelResult};
use crate::results::{ResourceMetrics, Status};
use crate::spec::embed::{embedding_texts, requests_per_round};
use crate::spec::model::{ModelFiles, ModelProvider, ResolvedModel};
use crate::spec::workload::PromptSpec;

/// Whether `alias` gets the embedding workload: its catalog capabilities contain
/// `embedding`, or the run says so (`--embeddings`, `--embedding-models`).
pub(crate) fn is_embedding(cfg: &RunConfig, resolver: &dyn ModelProvider, alias: &str) -> bool {
    let catalog_says = || {
        resolver
            .list()
            .iter()
            .any(|d| d.matches(alias) && d.capabilities.contains(&Capability::Embedding))
    };
    cfg.embed.all || cfg.embed.models.iter().any(|m| m == alias) || catalog_says()
}

/// One embedding model's benchmark.
pub(crate) struct EmbedBench<'a> {
    pub ctx: &'a RunContext<'a>,
    pub alias: &'a str,
    pub prompts: &'a [Arc<PromptSpec>],
}

/// A target ready to embed. Fields drop in order: the target, then the model.
struct Prepared {
    target: Arc<dyn Target>,
    _model: Option<Arc<dyn LoadedModel>>,
    expected: Expected,
    pooling: Option<String>,
}

impl EmbedBench<'_> {
    /// Runs every step, filling `mr.embedding` as it goes (a failure or a panic half-way keeps
    /// what was measured) and appending to `records`.
    pub fn run(
        &self,
        mr: &mut ModelResult,
        records: &mut Vec<RequestRecord>,
        manifest: &mut Manifest,
    ) -> anyhow::Result<()> {
        let cfg = self.ctx.cfg;
        let texts = embedding_texts(self.prompts);
        anyhow::ensure!(!texts.is_empty(), "no text to embed in the prompt set");
        mr.embedding = Some(EmbeddingResult {
            batch_size: cfg.embed.batch,
            dimensions: None,
            pooling: None,
            normalized: None,
            sanity: Default::default(),
            scenarios: Vec::new(),
        });
        let server_pid = self.ctx.server_pid;
        let pid = server_pid.unwrap_or_else(std::process::id);
        let remote = match cfg.target {
            TargetSpec::InProcess => self.ctx.resolver.upstream(self.alias),
            _ => None,
        };
        let measures_pid = (matches!(cfg.target, TargetSpec::InProcess) || server_pid.is_some())
            && remote.is_none();
        let baseline_rss = crate::measure::resources::memory(pid).map(|m| m.rss);
        let sampler = measures_pid.then(|| MemorySampler::start(pid, Duration::from_millis(50)));
        let prepared = self.prepare(texts.clone(), mr, manifest)?;
        if let Some(e) = mr.embedding.as_mut() {
            e.dimensions = prepared.expected.dimensions;
            e.normalized = prepared.expected.normalized;
            e.pooling = prepared.pooling.clone();
        }
        let per_round = requests_per_round(texts.len(), cfg.embed.batch);
        let start = records.len();
        self.warm_up(&prepared.target, per_round, records);
        let cpu_before = cpu_seconds(pid);
        for sc in self.scenarios(per_round) {
            self.measure_one(&prepared.target, &sc, mr, records);
        }
        let cpu = match (cpu_before, cpu_seconds(pid)) {
            (Some(a), Some(b)) if measures_pid => Some(b - a),
            _ => None,
        };
        let peaks = sampler.map(|s| s.finish()).unwrap_or_default();
        if measures_pid {
            mr.resources = Some(ResourceMetrics {
                baseline_rss_bytes: baseline_rss,
                peak_rss_bytes: peaks.rss,
                peak_pss_bytes: peaks.pss,
                peak_private_bytes: peaks.private,
                cpu_seconds: cpu,
                // Per 1k *output* tokens elsewhere: an embedding model has none.
                cpu_s_per_1k_tokens: None,
                energy_j_per_1k_tokens: None,
                process: match server_pid {
                    Some(p) => format!("pid {p}"),
                    None => "self".into(),
                },
            });
        }
        let own = &records[start..];
        let (dims, pooling, normalized) = observed_shape(own);
        if let Some(e) = mr.embedding.as_mut() {
            e.dimensions = e.dimensions.or(dims);
            e.pooling = e.pooling.take().or(pooling);
            e.normalized = e.normalized.or(normalized);
            e.sanity = sanity(own);
        }
        let measured: Vec<_> = own.iter().filter(|r| !r.warmup).collect();
        if !measured.is_empty() && measured.iter().all(|r| !r.ok()) {
            mr.status = Status::Failed;
            mr.reason = Some(format!(
                "every request failed: {}",
                measured[0].error.clone().unwrap_or_default()
            ));
        }
        drop(prepared);
        Ok(())
    }

    /// The run's scenarios; without `--requests` or `--duration`, each runs `--rounds` passes
    /// over the texts (a pass: ⌈texts / batch⌉ requests).
    fn scenarios(&self, per_round: u64) -> Vec<Scenario> {
        let cfg = self.ctx.cfg;
        let default_stop = cfg.requests.is_none() && cfg.duration_s.is_none();
        self.ctx
            .scenarios
            .iter()
            .cloned()
            .map(|mut sc| {
                if default_stop {
                    sc.stop = StopAt::Requests(u64::from(cfg.rounds.max(1)) * per_round);
                }
                sc
            })
            .collect()
    }

    fn prepare(
        &self,
        texts: Vec<Arc<str>>,
        mr: &mut ModelResult,
        manifest: &mut Manifest,
    ) -> anyhow::Result<Prepared> {
        let cfg = self.ctx.cfg;
        let (batch, timeout_s) = (cfg.embed.batch, cfg.gen.timeout_s);
        let http = |url: &str, model: &str, key: Option<String>| -> anyhow::Result<Prepared> {
            let t = EmbedTarget::http(url, model, key, texts.clone(), batch, timeout_s)?;
            Ok(Prepared {
                target: Arc::new(t),
                _model: None,
                expected: Expected::default(),
                pooling: None,
            })
        };
        match &cfg.target {
            TargetSpec::Endpoints(_) => {
                anyhow::bail!("embedding models are not compared in interleaved rounds")
            }
            TargetSpec::Endpoint { url, api_key, .. } => {
                if let Some(local) = self.ctx.resolver.cached_file(self.alias) {
                    mr.file = Some(model_file(&local));
                }
                http(url, self.alias, api_key.clone())
            }
            TargetSpec::InProcess => match self.ctx.resolver.upstream(self.alias) {
                Some(r) => {
                    mr.remote = Some(format!(
                        "{} at {}",
                        r.model,
                        crate::util::redact::redact_url(&r.url)
                    ));
                    http(&r.url, &r.model, r.api_key.clone())
                }
                None => self.load(texts, mr, manifest),
            },
        }
    }

    /// Loads the model in-process (after dropping its file from the page cache with
    /// `--load-test`: the load time is then a cold one).
    fn load(
        &self,
        texts: Vec<Arc<str>>,
        mr: &mut ModelResult,
        manifest: &mut Manifest,
    ) -> anyhow::Result<Prepared> {
        let cfg = self.ctx.cfg;
        let resolved = self
            .ctx
            .resolver
            .file(self.alias)
            .map_err(|e| anyhow::anyhow!("download: {e:#}"))?;
        mr.file = Some(model_file(&resolved));
        let mut load = LoadMetrics::default();
        if cfg.load_test {
            load.page_cache_dropped = drop_page_cache(&resolved.path);
        }
        let opts = LoadOptions {
            threads: cfg.threads,
            n_parallel: self.ctx.n_parallel,
            prefix_cache: false,
            max_queue: 1 << 20,
            max_memory: cfg.max_memory,
            ..LoadOptions::default()
        };
        let started = Instant::now();
        let m = self
            .ctx
            .engine
            .load(&resolved.path, &opts)
            .map_err(|e| anyhow::anyhow!("load: {e}"))?;
        if cfg.load_test {
            load.cold_load_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
            mr.load = Some(load);
        }
        if let Some(e) = manifest.engine.as_mut() {
            e.system_info = m.info().system_info.clone();
        }
        let info = m.embedding_info().ok_or_else(|| {
            anyhow::anyhow!("the model cannot embed (its engine offers no embeddings)")
        })?;
        let expected = Expected {
            dimensions: Some(info.dimensions),
            normalized: Some(info.normalized),
        };
        let target = EmbedTarget::new(
            EmbedBackend::InProcess(m.clone()),
            texts,
            cfg.embed.batch,
            cfg.gen.timeout_s,
            expected,
        );
        Ok(Prepared {
            target: Arc::new(target),
            _model: Some(m),
            expected,
            pooling: Some(info.pooling.as_str().to_string()),
        })
    }

    /// Warm-up: `--warmup` passes over the texts, one request at a time, kept in the records
    /// as warm-up and excluded from every figure.
    fn warm_up(&self, target: &Arc<dyn Target>, per_round: u64, records: &mut Vec<RequestRecord>) {
        let cfg = self.ctx.cfg;
        if cfg.warmup == 0 {
            return;
        }
        let n = u64::from(cfg.warmup) * per_round;
        let sc = Scenario {
            name: "warmup".into(),
            ..Scenario::closed(1, StopAt::Requests(n))
        };
        let (_, recs) = self.ctx.rt.block_on(run_scenario(
            target.clone(),
            self.prompts,
            &sc,
            self.alias,
            cfg.gen.seed,
            true,
            None,
        ));
        records.extend(recs);
    }

    fn measure_one(
        &self,
        target: &Arc<dyn Target>,
        sc: &Scenario,
        mr: &mut ModelResult,
        records: &mut Vec<RequestRecord>,
    ) {
        let cfg = self.ctx.cfg;
        let len = match sc.stop {
            StopAt::Requests(n) => Some(n),
            StopAt::Duration(_) => None,
        };
        let pb = bar(cfg, len, format!("{} {} (embeddings)", self.alias, sc.name));
        let cb: OnRecord = {
            let pb = pb.clone();
            Arc::new(move |_| pb.inc(1))
        };
        let started = now_rfc3339();
        let (_, recs) = self.ctx.rt.block_on(run_scenario(
            target.clone(),
            self.prompts,
            sc,
            self.alias,
            cfg.gen.seed,
            false,
            Some(cb),
        ));
        pb.finish();
        let (metrics, metrics_error) = match embedding_metrics_safe(&recs) {
            Ok(m) => (Some(m), None),
            Err(e) => (None, Some(e)),
        };
        records.extend(recs);
        if let Some(e) = mr.embedding.as_mut() {
            e.scenarios.push(EmbeddingScenario {
                scenario: sc.clone(),
                started,
                metrics,
                metrics_error,
            });
        }
    }
}

fn model_file(r: &ResolvedModel) -> ModelFile {
    ModelFile {
        path: r.path.display().to_string(),
        sha256: r.sha256.clone(),
        size_bytes: r
            .size_bytes
            .or_else(|| std::fs::metadata(&r.path).ok().map(|m| m.len())),
        quantization: r.quantization.clone(),
        parameters: r.parameters,
    }
}
