//! `package`: builds the function in release mode and writes a deterministic zip of it.
//!
//! The zip holds one entry, `bootstrap`, mode 0755, stamped with a fixed time, so the same
//! binary always gives the same bytes and the same `base64(sha256)`. That hash is what Lambda
//! reports as `CodeSha256`, so unchanged code is never uploaded again.
//!
//! Before anything ships, the binary's GLIBC requirements are checked against
//! `provided.al2023`: a binary built on a newer distribution would otherwise fail at cold start
//! with "GLIBC_2.xx not found", after a successful deploy.

use std::io::{BufRead, BufReader, Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context as _;
use base64::Engine as _;
use object::read::elf::ElfFile64;
use object::Endianness;
use sha2::{Digest, Sha256};

use crate::stack::{Architecture, Stack};

/// The GLIBC of Amazon Linux 2023, which `provided.al2023` runs on.
pub const AL2023_GLIBC: (u32, u32) = (2, 34);
/// The one entry of the zip: Lambda's OS-only runtimes run this file.
pub const ENTRY: &str = "bootstrap";

/// A function zip, ready to upload.
#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    pub path: PathBuf,
    pub zip: Vec<u8>,
    /// `base64(sha256(zip))`, as Lambda reports `CodeSha256`.
    pub sha256: String,
}

/// Builds the stack's function package and writes its zip under `target/lambda/`.
pub fn package(stack: &Stack, root: &Path) -> anyhow::Result<Artifact> {
    let binary_path = build(&stack.function.package, stack.function.architecture, root)?;
    let binary = std::fs::read(&binary_path)
        .with_context(|| format!("reading the built binary {}", binary_path.display()))?;
    check_glibc(&binary).with_context(|| format!("checking {}", binary_path.display()))?;
    let dir = root
        .join("target")
        .join("lambda")
        .join(&stack.function.package);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!(
        "bootstrap-{}.zip",
        stack.function.architecture.as_str()
    ));
    let zip = cached_zip(&binary, &path)?;
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    Ok(Artifact {
        sha256: sha256_base64(&zip),
        path,
        zip,
    })
}

/// The zip of `binary` at `path`: the one made before when the binary has not changed (a
/// deflate of 8 MB costs about half a second; the hash that tells, a few milliseconds), a new
/// one otherwise. The zip is deterministic, so a cached one is byte for byte what a new one
/// would be. The binary's hash is kept beside the zip, in `<zip>.source-sha256`.
fn cached_zip(binary: &[u8], path: &Path) -> anyhow::Result<Vec<u8>> {
    let source = sha256_base64(binary);
    let stamp = path.with_extension("zip.source-sha256");
    let cached = std::fs::read_to_string(&stamp)
        .ok()
        .filter(|s| s.trim() == source)
        .and_then(|_| std::fs::read(path).ok());
    if let Some(zip) = cached {
        return Ok(zip);
    }
    let zip = zip_bootstrap(binary)?;
    // The stamp goes first, so that a zip cut short never passes for a cached one.
    let _ = std::fs::remove_file(&stamp);
    std::fs::write(path, &zip).with_context(|| format!("writing {}", path.display()))?;
    std::fs::write(&stamp, &source).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(zip)
}

/// Reads a prebuilt zip (`--zip`), checking it the way `package` checks its own.
pub fn load(path: &Path) -> anyhow::Result<Artifact> {
    let zip = std::fs::read(path)
        .with_context(|| format!("reading the function zip {}", path.display()))?;
    let mut archive = zip::ZipArchive::new(Cursor::new(&zip))
        .with_context(|| format!("{} is not a zip file", path.display()))?;
    let mut binary = Vec::new();
    archive
        .by_name(ENTRY)
        .with_context(|| {
            format!(
                "{} has no `{ENTRY}` entry: Lambda's provided.al2023 runtime runs that file",
                path.display()
            )
        })?
        .read_to_end(&mut binary)
        .with_context(|| format!("reading `{ENTRY}` from {}", path.display()))?;
    check_glibc(&binary).with_context(|| format!("checking `{ENTRY}` in {}", path.display()))?;
    Ok(Artifact {
        sha256: sha256_base64(&zip),
        path: path.to_path_buf(),
        zip,
    })
}

/// Writes the zip's `bootstrap` into a fresh directory under `dir`, executable, and returns its
/// path: how `invoke --local --zip` and `serve --zip` run the exact artifact that ships.
pub fn extract(artifact: &Artifact, dir: &Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut archive =
        zip::ZipArchive::new(Cursor::new(&artifact.zip)).context("reading the function zip")?;
    let mut binary = Vec::new();
    archive
        .by_name(ENTRY)
        .with_context(|| format!("the zip has no `{ENTRY}` entry"))?
        .read_to_end(&mut binary)?;
    let short = artifact
        .sha256
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect::<String>();
    let dir = dir.join(format!("deployer-bootstrap-{short}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(ENTRY);
    std::fs::write(&path, &binary).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(path)
}

/// Runs `cargo build --release -p PACKAGE` (with `--target` for a cross build) and returns the
/// path of the `bootstrap` binary it made.
pub fn build(package: &str, arch: Architecture, root: &Path) -> anyhow::Result<PathBuf> {
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
    }
    let mut child = command.spawn().with_context(|| {
        format!("running `{cargo} build`: is Rust installed (https://rustup.rs)?")
    })?;
    let stdout = child.stdout.take().context("cargo's stdout is not piped")?;
    let mut executable = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading cargo's output")?;
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let is_bootstrap = message["reason"] == "compiler-artifact"
            && message["target"]["name"] == ENTRY
            && message["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"));
        if is_bootstrap {
            executable = message["executable"].as_str().map(PathBuf::from);
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        anyhow::bail!(
            "`cargo build --release -p {package}` failed ({status}); its errors are above"
        );
    }
    executable.with_context(|| {
        format!(
            "package {package} built no binary named `{ENTRY}`; add [[bin]] name = \"{ENTRY}\" to its Cargo.toml"
        )
    })
}

fn host_target() -> &'static str {
    if cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        "x86_64-unknown-linux-gnu"
    } else if cfg!(all(target_arch = "aarch64", target_os = "linux")) {
        "aarch64-unknown-linux-gnu"
    } else {
        "unsupported-host"
    }
}

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
        Ok(())
    } else {
        anyhow::bail!(
            "function.architecture is {} but the Rust target {target} is not installed.\n  \
             hint: run `rustup target add {target}`, and install a linker for it \
             (on Debian: `apt-get install gcc-aarch64-linux-gnu`, then set \
             CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc)",
            arch.as_str()
        )
    }
}

/// The zip of one `bootstrap` entry: deflated, mode 0755, stamped 1980-01-01 00:00.
pub fn zip_bootstrap(binary: &[u8]) -> anyhow::Result<Vec<u8>> {
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9))
        .unix_permissions(0o755)
        .last_modified_time(zip::DateTime::default());
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    writer
        .start_file(ENTRY, options)
        .context("starting the zip entry")?;
    writer.write_all(binary).context("writing the zip entry")?;
    Ok(writer.finish().context("finishing the zip")?.into_inner())
}

pub fn sha256_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

/// The highest `GLIBC_x.y` version the binary needs, if it links GLIBC at all.
pub fn required_glibc(binary: &[u8]) -> anyhow::Result<Option<(u32, u32)>> {
    let elf = ElfFile64::<Endianness>::parse(binary)
        .context("the binary is not a 64-bit ELF executable; Lambda runs Linux binaries")?;
    let endian = elf.endian();
    let sections = elf.elf_section_table();
    let Some((mut needs, strings_index)) = sections.gnu_verneed(endian, binary)? else {
        return Ok(None);
    };
    let strings = sections.strings(endian, binary, strings_index)?;
    let mut highest = None;
    while let Some((_, mut aux)) = needs.next()? {
        while let Some(a) = aux.next()? {
            let name = String::from_utf8_lossy(a.name(endian, strings)?).into_owned();
            if let Some(version) = parse_glibc(&name) {
                highest = highest.max(Some(version));
            }
        }
    }
    Ok(highest)
}

fn parse_glibc(name: &str) -> Option<(u32, u32)> {
    let rest = name.strip_prefix("GLIBC_")?;
    let mut parts = rest.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().unwrap_or("0").parse().ok()?;
    Some((major, minor))
}

/// Refuses a binary that needs a newer GLIBC than `provided.al2023` has.
pub fn check_glibc(binary: &[u8]) -> anyhow::Result<()> {
    match required_glibc(binary)? {
        Some(needed) if needed > AL2023_GLIBC => anyhow::bail!(
            "the binary needs GLIBC_{}.{} but provided.al2023 has GLIBC_{}.{}: it would fail at \
             cold start with \"GLIBC_{}.{} not found\".\n  hint: build on a distribution with GLIBC \
             {}.{} or older (such as Amazon Linux 2023), or build a static binary for the \
             x86_64-unknown-linux-musl target",
            needed.0,
            needed.1,
            AL2023_GLIBC.0,
            AL2023_GLIBC.1,
            needed.0,
            needed.1,
            AL2023_GLIBC.0,
            AL2023_GLIBC.1
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_binary_zips_to_the_same_bytes() {
        let a = zip_bootstrap(b"\x7fELF pretend binary").unwrap_or_default();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let b = zip_bootstrap(b"\x7fELF pretend binary").unwrap_or_default();
        assert!(!a.is_empty());
        assert_eq!(a, b);
        assert_eq!(sha256_base64(&a), sha256_base64(&b));
        assert_ne!(
            a,
            zip_bootstrap(b"\x7fELF another binary").unwrap_or_default()
        );
    }

    #[test]
    fn a_zip_is_made_once_per_binary_and_again_when_it_changes() {
        let dir = tempfile_dir();
        let path = dir.join("bootstrap.zip");
        let first = cached_zip(b"binary one", &path).unwrap_or_default();
        assert_eq!(first, zip_bootstrap(b"binary one").unwrap_or_default());
        // A zip on disk that the stamp vouches for is used as it is.
        std::fs::write(&path, b"cached").unwrap_or_default();
        assert_eq!(
            cached_zip(b"binary one", &path).unwrap_or_default(),
            b"cached"
        );
        let second = cached_zip(b"binary two", &path).unwrap_or_default();
        assert_eq!(second, zip_bootstrap(b"binary two").unwrap_or_default());
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("zip-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        dir
    }

    #[test]
    fn the_zip_has_one_executable_bootstrap_entry() {
        let zip = zip_bootstrap(b"binary").unwrap_or_default();
        let mut archive = zip::ZipArchive::new(Cursor::new(zip)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(archive.len(), 1);
        let entry = archive.by_index(0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(entry.name().unwrap_or_default(), ENTRY);
        assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
        assert_eq!(entry.last_modified(), Some(zip::DateTime::default()));
    }

    #[test]
    fn glibc_versions_compare_numerically() {
        assert_eq!(parse_glibc("GLIBC_2.34"), Some((2, 34)));
        assert_eq!(parse_glibc("GLIBC_2.2.5"), Some((2, 2)));
        assert_eq!(parse_glibc("GLIBC_PRIVATE"), None);
        assert!((2, 4) < (2, 34) && (2, 35) > AL2023_GLIBC);
    }

    #[test]
    fn this_test_binary_is_readable_as_elf() {
        // The test binary links GLIBC like the function does.
        let me = std::fs::read(std::env::current_exe().unwrap_or_default()).unwrap_or_default();
        let needed = required_glibc(&me).unwrap_or_else(|e| panic!("{e}"));
        assert!(needed.is_some_and(|v| v >= (2, 2)));
    }

    #[test]
    fn a_non_elf_file_is_refused_with_a_reason() {
        let e = check_glibc(b"#!/bin/sh\necho hi\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a 64-bit ELF"), "{e}");
    }
}
