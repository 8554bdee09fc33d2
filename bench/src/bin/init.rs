//! `init BOOTSTRAP [N]`: the init time of a Lambda binary, from spawn to its first request for an
//! invocation (`GET /2018-06-01/runtime/invocation/next`), the median of N fresh processes.
//!
//! That span is what a cold start costs the function itself: reading the configuration and
//! building the SDK client. It is measured against a bare listener standing in for the Runtime
//! API, so nothing else is timed.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().ok_or("usage: init BOOTSTRAP [N]")?;
    let n: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(20);
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let started = Instant::now();
        let mut child = Command::new(&bootstrap)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "vc-prod")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("TABLE_NAME", "visitors")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let (mut stream, _) = listener.accept()?;
        let mut buf = [0u8; 64];
        let read = stream.read(&mut buf)?;
        let elapsed = started.elapsed();
        child.kill()?;
        child.wait()?;
        if !buf[..read].starts_with(b"GET /2018-06-01/runtime/invocation/next") {
            return Err(format!(
                "unexpected first request: {:?}",
                String::from_utf8_lossy(&buf[..read])
            )
            .into());
        }
        samples.push(elapsed);
    }
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{bootstrap}: init median {:.2} ms, min {:.2} ms, max {:.2} ms over {n} processes",
        ms(samples[n / 2]),
        ms(samples[0]),
        ms(samples[n - 1])
    );
    Ok(())
}
