//! `init_steps [N]`: what each step of the function's init costs, in a fresh process each time
//! (the steps `function/src/main.rs` takes before its first `/next`, in its order), as medians
//! of N processes. Run by itself it measures one process (`--once`), printing JSON.

use std::process::Command;
use std::time::{Duration, Instant};

fn once() -> Vec<(&'static str, Duration)> {
    let mut steps = Vec::new();
    let mut at = Instant::now();
    let mut step = |name: &'static str, at: &mut Instant| {
        steps.push((name, at.elapsed()));
        *at = Instant::now();
    };
    let multi = std::env::var_os("MULTI").is_some();
    let runtime = if multi {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .unwrap_or_else(|e| panic!("{e}"));
    step(
        if multi {
            "tokio runtime, multi-threaded"
        } else {
            "tokio runtime, current-thread"
        },
        &mut at,
    );
    runtime.block_on(async {
        function::log::init();
        step("JSON log subscriber", &mut at);
        let config = function::Config::from_env().unwrap_or_else(|e| panic!("{e}"));
        step("configuration from the environment", &mut at);
        let roots = function::tls::Roots::from_lookup(|k| std::env::var(k).ok());
        let http = function::tls::http_client(&roots).unwrap_or_else(|e| panic!("{e}"));
        step("HTTPS client, compiled-in roots", &mut at);
        let loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http);
        let db = function::dynamodb_client(loader).await;
        step("aws-config chain and DynamoDB client", &mut at);
        let _state = function::State::new(db, config);
        step("state", &mut at);
    });
    steps
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = std::env::args().nth(1);
    if arg.as_deref() == Some("--once") {
        let steps: Vec<String> = once()
            .iter()
            .map(|(name, d)| format!("{name}\t{}", d.as_secs_f64() * 1000.0))
            .collect();
        println!("{}", steps.join("\n"));
        return Ok(());
    }
    let n: usize = arg.map(|n| n.parse()).transpose()?.unwrap_or(40);
    let me = std::env::current_exe()?;
    for multi in [false, true] {
        let mut samples: Vec<(String, Vec<f64>)> = Vec::new();
        for _ in 0..n {
            let mut cmd = Command::new(&me);
            cmd.arg("--once")
                .env_clear()
                .env("AWS_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("TABLE_NAME", "visitors");
            if multi {
                cmd.env("MULTI", "1");
            }
            let out = String::from_utf8(cmd.output()?.stdout)?;
            for (i, line) in out.lines().filter(|l| l.contains('\t')).enumerate() {
                let (name, ms) = line.split_once('\t').ok_or("bad line")?;
                if samples.len() <= i {
                    samples.push((name.to_string(), Vec::new()));
                }
                samples[i].1.push(ms.parse()?);
            }
        }
        for (name, mut v) in samples {
            v.sort_by(f64::total_cmp);
            println!("{name:<40} median {:.3} ms", v[v.len() / 2]);
        }
    }
    Ok(())
}
