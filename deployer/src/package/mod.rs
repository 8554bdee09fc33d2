//! `package`: the function built in release and written as a deterministic zip.
//!
//! - [`build`]: the cargo build, and what went into it;
//! - [`fresh`]: knowing without cargo that the last build is current;
//! - [`glibc`]: refusing a binary that `provided.al2023` could not start (its GLIBC needs, its
//!   machine);
//! - [`archive`]: the deterministic zip, made once per binary.

pub mod archive;
pub mod build;
pub mod fresh;
pub mod glibc;

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context as _;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::stack::{Architecture, Stack};

pub use archive::zip_bootstrap;
pub use build::{build, Built};
pub use glibc::{check, check_glibc, machine, required_glibc, AL2023_GLIBC};

/// The one entry of the zip: Lambda's OS-only runtimes run this file.
pub const ENTRY: &str = "bootstrap";

/// A function zip, ready to upload.
#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    pub path: PathBuf,
    pub zip: Vec<u8>,
    /// `base64(sha256(zip))`, as Lambda reports `CodeSha256`.
    pub sha256: String,
    /// Whether cargo ran for it; `false` for a prebuilt zip and when the last build was current.
    pub built: bool,
}

impl Artifact {
    /// What to tell the user when [`package`] found the last build current and ran no cargo.
    pub fn note(&self) -> Option<&'static str> {
        (!self.built).then_some(
            "  ✓ bootstrap is current: nothing it is built from changed since the last build",
        )
    }
}

/// A checked `bootstrap` binary.
#[derive(Debug, Clone, PartialEq)]
pub struct Bootstrap {
    pub path: PathBuf,
    /// `base64(sha256)` of the binary.
    pub sha256: String,
    /// Whether cargo ran; `false` when nothing it is made from changed since the last build.
    pub built: bool,
}

/// Where `package` writes for `package`: `target/lambda/PACKAGE/`.
fn output_dir(root: &Path, package: &str) -> anyhow::Result<PathBuf> {
    let dir = root.join("target").join("lambda").join(package);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// The function's `bootstrap` for `arch`, checked against `provided.al2023`: built by cargo,
/// unless nothing it is made from changed since the last build ([`fresh`]).
pub fn bootstrap(package: &str, arch: Architecture, root: &Path) -> anyhow::Result<Bootstrap> {
    let record =
        output_dir(root, package)?.join(format!("bootstrap-{}.inputs.json", arch.as_str()));
    if let Some(current) = fresh::current(&record, root) {
        return Ok(Bootstrap {
            path: current.executable,
            sha256: current.sha256,
            built: false,
        });
    }
    let started = SystemTime::now();
    let built = build(package, arch, root)?;
    let path = &built.executable;
    let binary = std::fs::read(path)
        .with_context(|| format!("reading the built binary {}", path.display()))?;
    check(&binary, arch).with_context(|| format!("checking {}", path.display()))?;
    let sha256 = sha256_base64(&binary);
    fresh::record(&record, root, &built, &sha256, started)?;
    Ok(Bootstrap {
        path: built.executable,
        sha256,
        built: true,
    })
}

/// Builds the stack's function package and writes its zip under `target/lambda/`.
pub fn package(stack: &Stack, root: &Path) -> anyhow::Result<Artifact> {
    let (name, arch) = (&stack.function.package, stack.function.architecture);
    let bootstrap = bootstrap(name, arch, root)?;
    let path = output_dir(root, name)?.join(format!("bootstrap-{}.zip", arch.as_str()));
    let zip = archive::cached_zip(&bootstrap.sha256, &path, || {
        std::fs::read(&bootstrap.path)
            .with_context(|| format!("reading the built binary {}", bootstrap.path.display()))
    })?;
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    Ok(Artifact {
        sha256: sha256_base64(&zip),
        path,
        zip,
        built: bootstrap.built,
    })
}

/// Reads a prebuilt zip (`--zip`) for a function of `arch`, checking it the way `package` checks
/// its own.
pub fn load(path: &Path, arch: Architecture) -> anyhow::Result<Artifact> {
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
    check(&binary, arch).with_context(|| format!("checking `{ENTRY}` in {}", path.display()))?;
    Ok(Artifact {
        sha256: sha256_base64(&zip),
        path: path.to_path_buf(),
        zip,
        built: false,
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

pub fn sha256_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}
