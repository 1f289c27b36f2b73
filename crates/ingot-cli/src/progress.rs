//! Download and benchmark progress on the terminal. This is the only place that knows about
//! indicatif; the bars draw to stderr and indicatif hides them when stderr is not a terminal.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub(crate) struct BarReporter {
    bar: ProgressBar,
}

impl BarReporter {
    pub fn new(alias: &str) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_prefix(alias.to_string());
        Self { bar }
    }
}

impl ingot_fetch::Reporter for BarReporter {
    fn start(&self, total: Option<u64>, resumed_from: u64) {
        let style = match total {
            Some(t) => {
                self.bar.set_length(t);
                ProgressStyle::with_template(
                    "{prefix:.bold} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {wide_msg}",
                )
            }
            None => ProgressStyle::with_template(
                "{prefix:.bold} {spinner} {bytes} {binary_bytes_per_sec} {wide_msg}",
            ),
        };
        if let Ok(style) = style {
            self.bar.set_style(style.progress_chars("=> "));
        }
        self.bar.set_position(resumed_from);
        if resumed_from > 0 {
            self.bar
                .set_message(format!("(resumed at {resumed_from} bytes)"));
        }
        self.bar.enable_steady_tick(Duration::from_millis(200));
    }

    fn progress(&self, bytes_done: u64, total: Option<u64>, _rate: f64, _eta: Option<Duration>) {
        if let Some(t) = total {
            self.bar.set_length(t);
        }
        self.bar.set_position(bytes_done);
    }

    fn message(&self, msg: &str) {
        if self.bar.is_hidden() {
            // Keep a trace of what happened in logs and CI output, where there is no bar.
            eprintln!("{msg}");
        } else {
            self.bar.println(msg);
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// `ingot bench`'s progress: one bar per phase (warm-up, scenario, judging) and notes on
/// stderr, printed above a bar that is drawing.
#[derive(Debug, Default)]
pub(crate) struct BenchBars;

impl ingot_bench::progress::BenchReporter for BenchBars {
    fn phase(
        &self,
        label: &str,
        len: Option<u64>,
    ) -> std::sync::Arc<dyn ingot_bench::progress::Phase> {
        let bar = match len {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        bar.set_draw_target(ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{msg:32} [{bar:30}] {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(label.to_string());
        std::sync::Arc::new(BenchPhase(bar))
    }

    fn note(&self, message: &str) {
        eprintln!("{message}");
    }
}

struct BenchPhase(ProgressBar);

impl ingot_bench::progress::Phase for BenchPhase {
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
