//! Progress on stderr: a spinner per step on a terminal, plain lines in CI and in pipes.
//!
//! stdout stays free for the result (text or `--output json`), so progress never corrupts it.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where steps report. Cheap to share by reference across concurrent steps.
#[derive(Debug)]
pub struct Progress {
    bars: Option<MultiProgress>,
    quiet: bool,
}

impl Progress {
    /// Spinners when stderr is a terminal, plain lines otherwise.
    pub fn new() -> Progress {
        let term = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        Progress {
            bars: term.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            quiet: false,
        }
    }

    /// Reports nothing; for tests and library callers.
    pub fn silent() -> Progress {
        Progress {
            bars: None,
            quiet: true,
        }
    }

    /// Starts a step, such as "creating table visitor-counter-prod".
    pub fn step(&self, label: impl Into<String>) -> Step {
        let label = label.into();
        let bar = self.bars.as_ref().map(|bars| {
            let bar = bars.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("  {spinner} {msg} {elapsed:.dim}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message(label.clone());
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        if bar.is_none() && !self.quiet {
            eprintln!("  … {label}");
        }
        Step {
            bar,
            label,
            started: Instant::now(),
            quiet: self.quiet,
        }
    }

    /// A line of its own, above any spinners.
    pub fn line(&self, text: &str) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(text);
            }
            None if !self.quiet => eprintln!("{text}"),
            None => {}
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

/// One step in progress.
#[derive(Debug)]
pub struct Step {
    bar: Option<ProgressBar>,
    label: String,
    started: Instant,
    quiet: bool,
}

impl Step {
    /// What the step is waiting for right now ("waiting for the role to propagate, try 3").
    pub fn waiting(&self, what: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(format!("{}: {what}", self.label)),
            None if !self.quiet => eprintln!("    {}: {what}", self.label),
            None => {}
        }
    }

    /// Ends the step: `✓ LABEL OUTCOME (1.2 s)`, or without an outcome when it is empty.
    pub fn done(self, outcome: &str) {
        let outcome = match outcome {
            "" => String::new(),
            text => format!("{text} "),
        };
        let line = format!(
            "  ✓ {} {outcome}({:.1} s)",
            self.label,
            self.started.elapsed().as_secs_f64()
        );
        self.finish(line);
    }

    pub fn failed(self, why: &str) {
        let line = format!("  ✗ {}: {why}", self.label);
        self.finish(line);
    }

    fn finish(self, line: String) {
        match &self.bar {
            Some(bar) => bar.finish_with_message(line.trim_start().to_string()),
            None if !self.quiet => eprintln!("{line}"),
            None => {}
        }
    }
}
