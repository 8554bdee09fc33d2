//! Knowing without cargo that the last build is still current.
//!
//! cargo's no-op build loads and resolves the whole workspace before it can say "Finished", and
//! that was most of a no-op `up` (`make bench` measures both: `deployer.package_noop`). So after each
//! build, `package` records what the binary was made from, and the next run skips cargo when
//! none of it differs:
//! - every file of each local package compiled in (size and modification time, and the list
//!   itself, so a new file counts), the way cargo itself judges local packages; registry and git
//!   packages are pinned by `Cargo.lock`;
//! - the workspace's `Cargo.toml` and `Cargo.lock`, the toolchain files, and cargo's and rustup's
//!   configuration files, here and in every parent directory;
//! - the environment variables that steer a build (`CARGO*`, `RUST*`, the C compiler's);
//! - the binary itself, so a build by other hands (`cargo build`) is noticed;
//! - the deployer's version.
//!
//! A file saved while cargo ran (or just before) leaves no record, because the build may have
//! read it before or after the change: the next run builds again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::build::Built;

/// A file as `stat` sees it; `None` in [`Inputs::files`] when it does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileState {
    len: u64,
    modified_s: u64,
    modified_ns: u32,
}

impl FileState {
    fn of(path: &Path) -> Option<FileState> {
        let meta = std::fs::metadata(path).ok()?;
        let modified = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
        Some(FileState {
            len: meta.len(),
            modified_s: modified.as_secs(),
            modified_ns: modified.subsec_nanos(),
        })
    }

    fn modified(&self) -> Duration {
        Duration::new(self.modified_s, self.modified_ns)
    }
}

/// Everything a build reads that cargo's lock file does not pin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    files: BTreeMap<PathBuf, Option<FileState>>,
    env: BTreeMap<String, String>,
}

impl Inputs {
    /// Reads the inputs of a build in `root` from the local packages in `sources`.
    pub fn read(root: &Path, sources: &[PathBuf]) -> Inputs {
        let mut paths = config_files(root);
        for dir in sources {
            walk(dir, &mut paths);
        }
        Inputs {
            files: paths
                .into_iter()
                .map(|p| {
                    let state = FileState::of(&p);
                    (p, state)
                })
                .collect(),
            env: std::env::vars().filter(|(k, _)| steers_builds(k)).collect(),
        }
    }

    /// The most recent modification of any input.
    fn latest(&self) -> Duration {
        self.files
            .values()
            .flatten()
            .map(FileState::modified)
            .max()
            .unwrap_or_default()
    }
}

/// The manifests, the lock file, and the toolchain and configuration files cargo and rustup
/// read for a build in `root`, whether they exist or not (a new one counts).
fn config_files(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("Cargo.toml"), root.join("Cargo.lock")];
    for dir in root.ancestors() {
        files.push(dir.join("rust-toolchain.toml"));
        files.push(dir.join("rust-toolchain"));
        files.push(dir.join(".cargo/config.toml"));
        files.push(dir.join(".cargo/config"));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".cargo")));
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".rustup")));
    if let Some(cargo) = cargo_home {
        files.push(cargo.join("config.toml"));
        files.push(cargo.join("config"));
    }
    if let Some(rustup) = rustup_home {
        // The default toolchain, and the hash each `rustup update` rewrites.
        files.push(rustup.join("settings.toml"));
        walk(&rustup.join("update-hashes"), &mut files);
    }
    files
}

/// Every file under `dir`, except build output (`target`) and hidden entries (`.git`).
fn walk(dir: &Path, into: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&entry.path(), into),
            Ok(_) => into.push(entry.path()),
            Err(_) => {}
        }
    }
}

/// The environment variables that change what cargo, rustc or a C build script makes.
fn steers_builds(name: &str) -> bool {
    const PREFIXES: [&str; 8] = [
        "CARGO", "RUST", "CC", "CXX", "CFLAGS", "LDFLAGS", "TARGET_", "HOST_",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p)) || name == "AR"
}

/// What a build made and what it was made from, kept beside the zip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    deployer: String,
    pub executable: PathBuf,
    binary: FileState,
    /// `base64(sha256)` of the binary.
    pub sha256: String,
    sources: Vec<PathBuf>,
    inputs: Inputs,
}

/// Files modified this close to the start of a build may or may not be in it.
const UNSURE: Duration = Duration::from_secs(1);

/// The record at `path`, if the binary it describes is still what a build would make.
pub fn current(path: &Path, root: &Path) -> Option<Record> {
    let text = std::fs::read_to_string(path).ok()?;
    let record: Record = serde_json::from_str(&text).ok()?;
    let unchanged = record.deployer == env!("CARGO_PKG_VERSION")
        && FileState::of(&record.executable) == Some(record.binary)
        && Inputs::read(root, &record.sources) == record.inputs;
    unchanged.then_some(record)
}

/// Records the build that started at `started` and made `built`, whose hash is `sha256`, unless
/// an input changed too close to the build to be sure the binary has it: then the record is
/// removed, and the next run builds again.
pub fn record(
    path: &Path,
    root: &Path,
    built: &Built,
    sha256: &str,
    started: SystemTime,
) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(path);
    let inputs = Inputs::read(root, &built.sources);
    let started = started.duration_since(UNIX_EPOCH).unwrap_or_default();
    let Some(binary) = FileState::of(&built.executable) else {
        return Ok(());
    };
    if inputs.latest() + UNSURE > started {
        return Ok(());
    }
    let record = Record {
        deployer: env!("CARGO_PKG_VERSION").to_string(),
        executable: built.executable.clone(),
        binary,
        sha256: sha256.to_string(),
        sources: built.sources.clone(),
        inputs,
    };
    // Written aside and renamed, so that a concurrent run reads a whole record or none.
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    std::fs::write(&partial, serde_json::to_vec_pretty(&record)?)
        .with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    /// A workspace with one local package, its files last modified a minute ago.
    struct Workspace {
        dir: tempfile::TempDir,
    }

    impl Workspace {
        fn new() -> Workspace {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let w = Workspace { dir };
            for file in [
                "Cargo.toml",
                "Cargo.lock",
                "function/Cargo.toml",
                "function/src/main.rs",
            ] {
                w.write(file, "x");
            }
            w.write("target/release/bootstrap", "binary");
            w.write("function/.hidden/notes", "x");
            w
        }

        fn root(&self) -> &Path {
            self.dir.path()
        }

        fn write(&self, file: &str, text: &str) {
            let path = self.root().join(file);
            let _ = std::fs::create_dir_all(path.parent().unwrap_or(self.root()));
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
            let minute_ago = SystemTime::now() - Duration::from_secs(60);
            let f = File::options().write(true).open(&path);
            f.and_then(|f| f.set_modified(minute_ago))
                .unwrap_or_else(|e| panic!("{e}"));
        }

        fn built(&self) -> Built {
            Built {
                executable: self.root().join("target/release/bootstrap"),
                sources: vec![self.root().join("function")],
            }
        }

        fn record(&self) -> PathBuf {
            let path = self.root().join("record.json");
            record(&path, self.root(), &self.built(), "hash", SystemTime::now())
                .unwrap_or_else(|e| panic!("{e}"));
            path
        }
    }

    #[test]
    fn an_unchanged_build_is_current() {
        let w = Workspace::new();
        let path = w.record();
        let record = current(&path, w.root());
        assert_eq!(record.map(|r| r.sha256), Some("hash".to_string()));
    }

    type Change = dyn Fn(&Workspace);

    #[test]
    fn any_changed_input_makes_it_stale() {
        let changes: [(&str, &Change); 6] = [
            ("a source edited", &|w| {
                std::fs::write(w.root().join("function/src/main.rs"), "y").unwrap_or_default()
            }),
            ("a new source file", &|w| {
                w.write("function/src/new.rs", "x")
            }),
            ("a source removed", &|w| {
                std::fs::remove_file(w.root().join("function/src/main.rs")).unwrap_or_default()
            }),
            ("the lock file", &|w| w.write("Cargo.lock", "changed")),
            ("a new cargo config", &|w| {
                w.write(".cargo/config.toml", "x")
            }),
            ("the binary rebuilt by hand", &|w| {
                std::fs::write(w.root().join("target/release/bootstrap"), "other")
                    .unwrap_or_default()
            }),
        ];
        for (what, change) in changes {
            let w = Workspace::new();
            let path = w.record();
            change(&w);
            assert!(current(&path, w.root()).is_none(), "{what}");
        }
    }

    #[test]
    fn hidden_files_and_build_output_are_not_inputs() {
        let w = Workspace::new();
        let path = w.record();
        w.write("function/.hidden/notes", "edited");
        w.write("function/target/debug/x", "x");
        assert!(current(&path, w.root()).is_some());
    }

    #[test]
    fn a_file_saved_during_the_build_leaves_no_record() {
        let w = Workspace::new();
        std::fs::write(w.root().join("function/src/main.rs"), "saved just now").unwrap_or_default();
        let path = w.record();
        assert!(!path.exists());
        assert!(current(&path, w.root()).is_none());
    }

    #[test]
    fn a_record_of_another_deployer_version_or_unreadable_is_stale() {
        let w = Workspace::new();
        let path = w.record();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let older = text.replace(env!("CARGO_PKG_VERSION"), "0.0.0-older");
        std::fs::write(&path, older).unwrap_or_default();
        assert!(current(&path, w.root()).is_none());
        std::fs::write(&path, "{ not json").unwrap_or_default();
        assert!(current(&path, w.root()).is_none());
    }

    #[test]
    fn the_variables_that_steer_a_build_are_inputs() {
        for name in [
            "RUSTFLAGS",
            "CARGO_PROFILE_RELEASE_LTO",
            "CC",
            "CFLAGS_aarch64",
            "AR",
        ] {
            assert!(steers_builds(name), "{name}");
        }
        for name in ["AWS_REGION", "PATH", "ARCH_HINT", "HOME"] {
            assert!(!steers_builds(name), "{name}");
        }
    }
}
