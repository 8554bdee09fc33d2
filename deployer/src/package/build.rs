//! The cargo build of the function: `cargo build --release -p PACKAGE`, read through its JSON
//! messages for the binary it made and the local packages that went into it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context as _;

use super::ENTRY;
use crate::stack::Architecture;

/// What a build made, and what it was made from.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    /// The `bootstrap` binary.
    pub executable: PathBuf,
    /// The directories of the local (path) packages compiled into it: the sources a change to
    /// which makes the binary stale. Registry and git packages are pinned by `Cargo.lock`.
    pub sources: Vec<PathBuf>,
}

/// Runs `cargo build --release -p PACKAGE` (with `--target` for a cross build) and returns the
/// `bootstrap` binary it made.
pub fn build(package: &str, arch: Architecture, root: &Path) -> anyhow::Result<Built> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = Command::new(&cargo);
    command
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--message-format=json-render-diagnostics",
            "-p",
            package,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if arch.rust_target() != host_target() {
        ensure_target_installed(arch)?;
        command.args(["--target", arch.rust_target()]);
        command.envs(cross_env(arch, |k| std::env::var_os(k).is_some(), on_path)?);
    }
    let mut child = command.spawn().with_context(|| {
        format!("running `{cargo} build`: is Rust installed (https://rustup.rs)?")
    })?;
    let stdout = child.stdout.take().context("cargo's stdout is not piped")?;
    let (executable, mut sources) = read_messages(stdout)?;
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        anyhow::bail!(
            "`cargo build --release -p {package}` failed ({status}); its errors are above"
        );
    }
    let executable = executable.with_context(|| {
        format!(
            "package {package} built no binary named `{ENTRY}`; add [[bin]] name = \"{ENTRY}\" to its Cargo.toml"
        )
    })?;
    sources.sort();
    Ok(Built {
        executable,
        sources,
    })
}

/// From cargo's JSON messages: the `bootstrap` it built, and the local packages compiled in.
fn read_messages(
    stdout: std::process::ChildStdout,
) -> anyhow::Result<(Option<PathBuf>, Vec<PathBuf>)> {
    let (mut executable, mut sources) = (None, Vec::new());
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading cargo's output")?;
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if let Some(dir) = local_package_dir(&message) {
            if !sources.contains(&dir) {
                sources.push(dir);
            }
        }
        let is_bootstrap = message["reason"] == "compiler-artifact"
            && message["target"]["name"] == ENTRY
            && message["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"));
        if is_bootstrap {
            executable = message["executable"].as_str().map(PathBuf::from);
        }
    }
    Ok((executable, sources))
}

/// The directory of a compiled package that lives in the workspace (`path+file://…` ids).
fn local_package_dir(message: &serde_json::Value) -> Option<PathBuf> {
    if message["reason"] != "compiler-artifact" {
        return None;
    }
    let id = message["package_id"].as_str()?;
    if !id.starts_with("path+file://") {
        return None;
    }
    let manifest = PathBuf::from(message["manifest_path"].as_str()?);
    manifest.parent().map(Path::to_path_buf)
}

/// The Rust target of the machine the deployer runs on.
pub fn host_target() -> &'static str {
    if cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        "x86_64-unknown-linux-gnu"
    } else if cfg!(all(target_arch = "aarch64", target_os = "linux")) {
        "aarch64-unknown-linux-gnu"
    } else {
        "unsupported-host"
    }
}

/// The Debian cross toolchain of each target (`make setup` installs the other architecture's):
/// the GNU triple that prefixes its `gcc`, `ar`, and the Debian package.
fn cross_toolchain(arch: Architecture) -> (&'static str, &'static str) {
    match arch {
        Architecture::Arm64 => ("aarch64-linux-gnu", "gcc-aarch64-linux-gnu"),
        Architecture::X86_64 => ("x86_64-linux-gnu", "gcc-x86-64-linux-gnu"),
    }
}

/// The variables a cross build needs: the linker for rustc, and the C compiler and archiver for
/// the crates that build C (aws-lc-sys, ring), each set only when the user has not set it.
fn cross_env(
    arch: Architecture,
    is_set: impl Fn(&str) -> bool,
    on_path: impl Fn(&str) -> bool,
) -> anyhow::Result<Vec<(String, String)>> {
    let target = arch.rust_target();
    let (triple, package) = cross_toolchain(arch);
    let upper = target.to_uppercase().replace('-', "_");
    let lower = target.replace('-', "_");
    let linker = format!("CARGO_TARGET_{upper}_LINKER");
    let gcc = format!("{triple}-gcc");
    let wanted = [
        (linker.clone(), gcc.clone()),
        (format!("CC_{lower}"), gcc.clone()),
        (format!("AR_{lower}"), format!("{triple}-ar")),
    ];
    if is_set(&linker) {
        return Ok(Vec::new());
    }
    if !on_path(&gcc) {
        anyhow::bail!(
            "function.architecture is {} but no linker for {target} was found ({gcc}).\n  \
             hint: install Debian's cross toolchain, `apt-get install {package}` (`make setup` \
             does it for this project), or set {linker}",
            arch.as_str()
        );
    }
    Ok(wanted.into_iter().filter(|(k, _)| !is_set(k)).collect())
}

/// Whether `program` is an executable file in one of `$PATH`'s directories.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Installs the Rust target of `arch` with rustup when it is missing: the one download a cross
/// build needs, said once on stderr.
fn ensure_target_installed(arch: Architecture) -> anyhow::Result<()> {
    let target = arch.rust_target();
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == target)
        })
        .unwrap_or(false);
    if installed {
        return Ok(());
    }
    eprintln!(
        "  installing the Rust target {target} for function.architecture {} (rustup target add {target})",
        arch.as_str()
    );
    let added = Command::new("rustup")
        .args(["target", "add", target])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status();
    match added {
        Ok(status) if status.success() => Ok(()),
        _ => anyhow::bail!(
            "function.architecture is {} but the Rust target {target} is not installed, and \
             `rustup target add {target}` failed.\n  hint: run `rustup target add {target}` \
             and read what it says",
            arch.as_str()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_cross_build_sets_the_linker_cc_and_ar_the_user_has_not_set() {
        let env = cross_env(Architecture::Arm64, |_| false, |_| true).unwrap_or_default();
        assert_eq!(
            env,
            [
                (
                    "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER".to_string(),
                    "aarch64-linux-gnu-gcc".to_string()
                ),
                (
                    "CC_aarch64_unknown_linux_gnu".to_string(),
                    "aarch64-linux-gnu-gcc".to_string()
                ),
                (
                    "AR_aarch64_unknown_linux_gnu".to_string(),
                    "aarch64-linux-gnu-ar".to_string()
                ),
            ]
        );
        // The user's own linker wins, and then nothing is guessed.
        let theirs = cross_env(
            Architecture::Arm64,
            |k| k == "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER",
            |_| false,
        );
        assert!(theirs.is_ok_and(|e| e.is_empty()));
        let missing = cross_env(Architecture::X86_64, |_| false, |_| false);
        assert!(missing.is_err_and(|e| e
            .to_string()
            .contains("apt-get install gcc-x86-64-linux-gnu")));
    }

    #[test]
    fn only_workspace_packages_are_sources() {
        let local = json!({
            "reason": "compiler-artifact",
            "package_id": "path+file:///work/main/function#0.1.0",
            "manifest_path": "/work/main/function/Cargo.toml",
        });
        assert_eq!(
            local_package_dir(&local),
            Some(PathBuf::from("/work/main/function"))
        );
        let registry = json!({
            "reason": "compiler-artifact",
            "package_id": "registry+https://github.com/rust-lang/crates.io-index#tokio@1.54.1",
            "manifest_path": "/root/.cargo/registry/src/x/tokio-1.54.1/Cargo.toml",
        });
        assert_eq!(local_package_dir(&registry), None);
        let finished = json!({"reason": "build-finished", "success": true});
        assert_eq!(local_package_dir(&finished), None);
    }
}
