//! One model's benchmark, in steps: prepare the target (load it, or point at its server),
//! warm up, measure the scenarios, then the resources and the verdict.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ingot_core::{Engine, LoadOptions, LoadedModel, Tokenizer};

use crate::measure::exec::{run_scenario, OnRecord, Scenario, StopAt};
use crate::measure::record::RequestRecord;
use crate::measure::resources::{cpu_seconds, drop_page_cache, MemorySampler};
use crate::measure::target::{HttpTarget, InProcessTarget, Job, Target};
use crate::pipeline::config::{bar, RunConfig, TargetSpec};
use crate::pipeline::measure::Tally;
use crate::results::{LoadMetrics, Manifest, ModelFile, ModelResult, ResourceMetrics, Status};
use crate::spec::model::{ModelFiles, ModelProvider, ModelSpec, RemoteModel, ResolvedModel};
use crate::spec::workload::{GenParams, Mode, PromptSpec};

/// What every model of a run shares.
pub(crate) struct RunContext<'a> {
    pub cfg: &'a RunConfig,
    pub resolver: &'a dyn ModelProvider,
    pub engine: &'a dyn Engine,
    pub rt: &'a tokio::runtime::Runtime,
    pub scenarios: &'a [Scenario],
    pub n_parallel: usize,
    pub server_pid: Option<u32>,
}

/// One model's benchmark.
pub(crate) struct ModelBench<'a> {
    pub ctx: &'a RunContext<'a>,
    pub spec: &'a ModelSpec,
    pub prompts: &'a [Arc<PromptSpec>],
}

/// A target ready to take requests. Fields drop in order: the target, then the model.
struct Prepared {
    target: Arc<dyn Target>,
    /// Keeps an in-process model loaded until the model's benchmark ends.
    _model: Option<Arc<dyn LoadedModel>>,
    /// Counts tokens when the server sends no usage (the model's vocabulary only, when its
    /// GGUF is cached locally).
    tokenizer: Option<Box<dyn Tokenizer>>,
}

/// What the resource figures are measured from.
struct Usage {
    pid: u32,
    baseline_rss: Option<u64>,
    cpu_before: Option<f64>,
    sampler: Option<MemorySampler>,
    remote: bool,
}

impl ModelBench<'_> {
    /// Runs every step, filling `mr` and appending to `records`.
    pub fn run(
        &self,
        mr: &mut ModelResult,
        records: &mut Vec<RequestRecord>,
        manifest: &mut Manifest,
    ) -> anyhow::Result<()> {
        let (cfg, server_pid) = (self.ctx.cfg, self.ctx.server_pid);
        let pid = server_pid.unwrap_or_else(std::process::id);
        let baseline_rss = crate::measure::resources::memory(pid).map(|m| m.rss);
        // A remote adapter in an in-process run: its server is elsewhere, so this process's
        // memory and CPU say nothing about it.
        let remote = match cfg.target {
            TargetSpec::InProcess => self.ctx.resolver.upstream(&self.spec.alias),
            TargetSpec::Endpoint { .. } | TargetSpec::Endpoints(_) => None,
        };
        let sampler = if in_process_or_pid(cfg, server_pid) && remote.is_none() {
            Some(MemorySampler::start(pid, Duration::from_millis(50)))
        } else {
            None
        };
        let prepared = self.prepare_target(remote.as_ref(), mr, records, manifest)?;
        self.warm_up(&prepared.target, records);
        let cpu_before = cpu_seconds(pid);
        let tally = crate::pipeline::measure::measure_all(
            cfg,
            self.ctx.rt,
            &prepared.target,
            self.prompts,
            self.ctx.scenarios,
            &self.spec.alias,
            prepared.tokenizer.as_deref(),
            mr,
            records,
        );
        let usage = Usage {
            pid,
            baseline_rss,
            cpu_before,
            sampler,
            remote: remote.is_some(),
        };
        self.finish_model(usage, tally, mr);
        drop(prepared);
        Ok(())
    }

    /// The target requests go to: the endpoint, a remote adapter's server, or the model
    /// loaded in-process.
    fn prepare_target(
        &self,
        remote: Option<&RemoteModel>,
        mr: &mut ModelResult,
        records: &mut Vec<RequestRecord>,
        manifest: &mut Manifest,
    ) -> anyhow::Result<Prepared> {
        let cfg = self.ctx.cfg;
        match (&cfg.target, remote) {
            (TargetSpec::Endpoints(_), _) => {
                anyhow::bail!(
                    "several endpoints are compared in interleaved rounds (crate::pipeline::ab)"
                )
            }
            (TargetSpec::Endpoint { url, api_key, .. }, _) => {
                self.endpoint_target(url, api_key.clone(), mr)
            }
            (TargetSpec::InProcess, Some(r)) => {
                mr.mode = self.spec.mode.unwrap_or(Mode::Chat);
                mr.remote = Some(format!(
                    "{} at {}",
                    r.model,
                    crate::util::redact::redact_url(&r.url)
                ));
                let t = HttpTarget::new(
                    &r.url,
                    &r.model,
                    r.api_key.clone(),
                    mr.mode,
                    cfg.gen.clone(),
                )?;
                Ok(Prepared {
                    target: Arc::new(t.with_connections(cfg.connections)),
                    _model: None,
                    tokenizer: None,
                })
            }
            (TargetSpec::InProcess, None) => self.load_in_process(mr, records, manifest),
        }
    }

    /// The server given with `--endpoint`; the model's local GGUF, when cached, gives its file
    /// facts and a tokenizer.
    fn endpoint_target(
        &self,
        url: &str,
        api_key: Option<String>,
        mr: &mut ModelResult,
    ) -> anyhow::Result<Prepared> {
        let cfg = self.ctx.cfg;
        mr.mode = self.spec.mode.unwrap_or(Mode::Chat);
        let mut tokenizer = None;
        if let Some(local) = self.ctx.resolver.cached_file(&self.spec.alias) {
            tokenizer = self.ctx.engine.load_tokenizer(&local.path).ok();
            mr.file = Some(ModelFile {
                path: local.path.display().to_string(),
                sha256: local.sha256,
                size_bytes: local.size_bytes,
                quantization: local.quantization,
                parameters: local.parameters,
            });
        }
        let t = HttpTarget::new(url, &self.spec.alias, api_key, mr.mode, cfg.gen.clone())?;
        Ok(Prepared {
            target: Arc::new(t.with_connections(cfg.connections)),
            _model: None,
            tokenizer,
        })
    }

    /// Loads the model (twice with `--load-test`: cold, then warm) and measures the first
    /// request after each load.
    fn load_in_process(
        &self,
        mr: &mut ModelResult,
        records: &mut Vec<RequestRecord>,
        manifest: &mut Manifest,
    ) -> anyhow::Result<Prepared> {
        let cfg = self.ctx.cfg;
        let resolved = self
            .ctx
            .resolver
            .file(&self.spec.alias)
            .map_err(|e| anyhow::anyhow!("download: {e:#}"))?;
        mr.mode = self.spec.mode.unwrap_or(if resolved.chat_template {
            Mode::Chat
        } else {
            Mode::Completion
        });
        mr.file = Some(ModelFile {
            path: resolved.path.display().to_string(),
            sha256: resolved.sha256.clone(),
            size_bytes: resolved
                .size_bytes
                .or_else(|| std::fs::metadata(&resolved.path).ok().map(|m| m.len())),
            quantization: resolved.quantization.clone(),
            parameters: resolved.parameters,
        });
        let mut load = LoadMetrics::default();
        let mut model = None;
        let passes: &[bool] = if cfg.load_test {
            &[true, false]
        } else {
            &[false]
        };
        for &cold in passes {
            drop(model.take());
            if cold {
                // Nothing an earlier load left may make this one warm: kept weights first,
                // since the pages they map cannot leave the page cache.
                self.ctx.engine.forget_unloaded();
                load.page_cache_dropped = drop_page_cache(&resolved.path);
            }
            model = Some(self.load_pass(cold, &resolved, mr.mode, &mut load, records, manifest)?);
        }
        if cfg.load_test {
            mr.load = Some(load);
        }
        let m = model.expect("loaded");
        Ok(Prepared {
            target: Arc::new(InProcessTarget::new(m.clone(), mr.mode, cfg.gen.clone())),
            _model: Some(m),
            tokenizer: None,
        })
    }

    /// One load and the first request after it.
    fn load_pass(
        &self,
        cold: bool,
        resolved: &ResolvedModel,
        mode: Mode,
        load: &mut LoadMetrics,
        records: &mut Vec<RequestRecord>,
        manifest: &mut Manifest,
    ) -> anyhow::Result<Arc<dyn LoadedModel>> {
        let cfg = self.ctx.cfg;
        let opts = LoadOptions {
            threads: cfg.threads,
            n_parallel: self.ctx.n_parallel,
            prefix_cache: false,
            max_queue: 1 << 20,
            chat_template: resolved.chat_template_override.clone(),
            max_memory: cfg.max_memory,
            ..LoadOptions::default()
        };
        let started = Instant::now();
        let m = self
            .ctx
            .engine
            .load(&resolved.path, &opts)
            .map_err(|e| anyhow::anyhow!("load: {e}"))?;
        let load_ms = started.elapsed().as_secs_f64() * 1000.0;
        if let Some(e) = manifest.engine.as_mut() {
            e.system_info = m.info().system_info.clone();
        }
        // TTFT does not depend on max_tokens: a short probe is enough.
        let probe = GenParams {
            max_tokens: cfg.gen.max_tokens.clamp(1, 4),
            // The first token's time is what the probe is for, streamed or not.
            stream: true,
            ..cfg.gen.clone()
        };
        let t: Arc<dyn Target> = Arc::new(InProcessTarget::new(m.clone(), mode, probe));
        let name = if cold { "load-cold" } else { "load-warm" };
        let r = first_ttft(
            self.ctx.rt,
            t,
            self.prompts[0].clone(),
            &self.spec.alias,
            name,
        );
        if let Some(e) = &r.error {
            anyhow::bail!("first request after load failed: {e}");
        }
        if cfg.load_test {
            let phases = m.info().load_phases;
            if cold {
                load.cold_load_ms = Some(load_ms);
                load.cold_first_ttft_ms = r.ttft_ms();
                load.cold_load_phases = phases;
            } else {
                load.warm_load_ms = Some(load_ms);
                load.warm_first_ttft_ms = r.ttft_ms();
                load.warm_load_phases = phases;
            }
        }
        records.push(r);
        Ok(m)
    }

    /// Warm-up: full rounds of the prompt set, one at a time, excluded from every metric.
    fn warm_up(&self, target: &Arc<dyn Target>, records: &mut Vec<RequestRecord>) {
        let cfg = self.ctx.cfg;
        if cfg.warmup == 0 {
            return;
        }
        let n = u64::from(cfg.warmup) * self.prompts.len() as u64;
        let pb = bar(cfg, Some(n), format!("{} warm-up", self.spec.alias));
        let cb: OnRecord = {
            let pb = pb.clone();
            Arc::new(move |_| pb.inc(1))
        };
        let (_, recs) = self.ctx.rt.block_on(run_scenario(
            target.clone(),
            self.prompts,
            &Scenario {
                name: "warmup".into(),
                ..Scenario::closed(1, StopAt::Requests(n))
            },
            &self.spec.alias,
            cfg.gen.seed,
            true,
            Some(cb),
        ));
        pb.finish();
        records.extend(recs);
    }

    /// The model's resources (memory, CPU, energy) and its status once measured.
    fn finish_model(&self, u: Usage, tally: Tally, mr: &mut ModelResult) {
        let (cfg, server_pid) = (self.ctx.cfg, self.ctx.server_pid);
        let cpu = match (u.cpu_before, cpu_seconds(u.pid)) {
            (Some(a), Some(b))
                if !u.remote && (server_pid.is_some() || in_process_or_pid(cfg, server_pid)) =>
            {
                Some(b - a)
            }
            _ => None,
        };
        let peaks = u.sampler.map(|s| s.finish()).unwrap_or_default();
        let per_1k = cpu
            .filter(|_| tally.tokens > 0)
            .map(|c| c / tally.tokens as f64 * 1000.0);
        mr.resources = Some(ResourceMetrics {
            baseline_rss_bytes: u.baseline_rss,
            peak_rss_bytes: peaks.rss,
            peak_pss_bytes: peaks.pss,
            peak_private_bytes: peaks.private,
            cpu_seconds: cpu,
            cpu_s_per_1k_tokens: per_1k,
            energy_j_per_1k_tokens: per_1k.map(|c| c * cfg.watts_per_core),
            process: match server_pid {
                Some(p) => format!("pid {p}"),
                None => "self".into(),
            },
        });
        if u.remote {
            mr.resources = None;
        }
        if tally.measured > 0 && tally.failed == tally.measured {
            mr.status = Status::Failed;
            mr.reason = Some(format!(
                "every request failed: {}",
                tally.first_error.unwrap_or_default()
            ));
        }
    }
}

/// One request, measured: the first after a load.
fn first_ttft(
    rt: &tokio::runtime::Runtime,
    target: Arc<dyn Target>,
    prompt: Arc<PromptSpec>,
    model: &str,
    scenario: &str,
) -> RequestRecord {
    let t0 = Instant::now();
    let mut r = rt.block_on(target.execute(
        Job {
            index: 0,
            round: 0,
            prompt,
            warmup: true,
            intended_ms: 0.0,
        },
        t0,
    ));
    r.model = model.to_string();
    r.scenario = scenario.to_string();
    r
}

fn in_process_or_pid(cfg: &RunConfig, server_pid: Option<u32>) -> bool {
    matches!(cfg.target, TargetSpec::InProcess) || server_pid.is_some()
}
