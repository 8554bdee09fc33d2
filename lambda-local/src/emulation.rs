//! Running a `bootstrap` built for the other architecture: under Debian's user-mode emulator
//! (`qemu-aarch64` or `qemu-x86_64`, from `qemu-user`), with that architecture's glibc from the
//! cross toolchain's sysroot.

use std::path::{Path, PathBuf};

/// The Rust target of this host, as Lambda names machines: `x86_64-unknown-linux-gnu` or
/// `aarch64-unknown-linux-gnu`.
pub fn host_target() -> &'static str {
    if cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        "x86_64-unknown-linux-gnu"
    } else if cfg!(all(target_arch = "aarch64", target_os = "linux")) {
        "aarch64-unknown-linux-gnu"
    } else {
        "unsupported-host"
    }
}

/// How this host runs a `bootstrap` built for `target` (a Rust target triple): natively
/// (`None`), or under the emulator, as the program and its first arguments.
pub fn emulation(target: &str) -> anyhow::Result<Option<(PathBuf, Vec<String>)>> {
    if target == host_target() {
        return Ok(None);
    }
    let (qemu, sysroot, libc) = if target.starts_with("aarch64") {
        (
            "/usr/bin/qemu-aarch64",
            "/usr/aarch64-linux-gnu",
            "libc6-arm64-cross",
        )
    } else {
        (
            "/usr/bin/qemu-x86_64",
            "/usr/x86_64-linux-gnu",
            "libc6-amd64-cross",
        )
    };
    if !Path::new(qemu).exists() || !Path::new(sysroot).join("lib").exists() {
        anyhow::bail!(
            "the bootstrap is built for {target} and this host runs {}: running it here needs \
             user-mode emulation ({qemu}) and that architecture's glibc ({sysroot}).\n  hint: \
             `apt-get install qemu-user {libc}` (`make setup` does it for this project)",
            host_target()
        );
    }
    Ok(Some((
        PathBuf::from(qemu),
        vec!["-L".into(), sysroot.into()],
    )))
}
