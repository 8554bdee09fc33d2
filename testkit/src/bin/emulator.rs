//! The emulator a user runs (`scripts/emulator start`, `make emulator`, `make demo`): moto,
//! single-threaded, behind the proxy that serves the emulated request path (the deployed
//! stages at `/_aws/execute-api/{api}/{stage}/…`, Lambda's `Invoke`, the function's own calls
//! authorized by its role, its logs in CloudWatch Logs), on one loopback port.
//!
//! `--realism fast` (or `aws`) puts real AWS's settling times and quotas in front of moto too,
//! as the tests do.

use std::process::ExitCode;
use std::time::Duration;

use testkit::{Moto, Realism, Recorder};

fn main() -> ExitCode {
    let mut port: u16 = 5000;
    let mut realism = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--port", Some(p)) => match p.parse() {
                Ok(p) => port = p,
                Err(_) => return usage(&format!("--port {p}: not a port")),
            },
            ("--realism", Some(r)) => {
                realism = match r.as_str() {
                    "off" => None,
                    "fast" => Some(Realism::fast()),
                    "aws" => Some(Realism::aws()),
                    other => return usage(&format!("--realism {other}: use off, fast or aws")),
                }
            }
            (other, _) => return usage(&format!("unknown argument {other}")),
        }
    }
    let moto = Moto::start();
    let proxy = match Recorder::start_on(moto.endpoint(), port) {
        Ok(proxy) => proxy,
        Err(why) => {
            eprintln!("emulator: {why}; pass --port to pick another");
            return ExitCode::from(1);
        }
    };
    proxy.realism(realism);
    println!("READY {}", proxy.endpoint());
    eprintln!(
        "emulator: AWS on {0} (export AWS_ENDPOINT_URL={0}); deployed stages at \
         {0}/_aws/execute-api/API/STAGE/…; Ctrl-C stops it",
        proxy.endpoint()
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let stop = std::sync::Arc::clone(&stop);
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        let _ = unsafe {
            signal_hook_registry::register(signal, move || {
                stop.store(true, std::sync::atomic::Ordering::SeqCst)
            })
        };
    }
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        // Nothing to hold in memory for a long session: what the tests read is dropped.
        let _ = proxy.take();
        let _ = proxy.served();
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(proxy);
    drop(moto);
    ExitCode::SUCCESS
}

fn usage(why: &str) -> ExitCode {
    eprintln!("emulator: {why}\nusage: emulator [--port PORT] [--realism off|fast|aws]");
    ExitCode::from(2)
}
