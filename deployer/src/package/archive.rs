//! The function's zip: one entry, `bootstrap`, mode 0755, stamped with a fixed time, so the same
//! binary always gives the same bytes and the same `base64(sha256)`, which is what Lambda reports
//! as `CodeSha256`: unchanged code is never uploaded again.

use std::io::{Cursor, Write};
use std::path::Path;

use anyhow::Context as _;

use super::ENTRY;

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

/// The zip at `path` of the binary whose hash is `source`: the one made before when the binary
/// has not changed (a deflate of 8 MB costs about half a second), a new one from `binary()`
/// otherwise. The zip is deterministic, so a cached one is byte for byte what a new one would
/// be. The binary's hash is kept beside the zip, in `<zip>.source-sha256`.
pub fn cached_zip(
    source: &str,
    path: &Path,
    binary: impl FnOnce() -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<Vec<u8>> {
    let stamp = path.with_extension("zip.source-sha256");
    let cached = std::fs::read_to_string(&stamp)
        .ok()
        .filter(|s| s.trim() == source)
        .and_then(|_| std::fs::read(path).ok());
    if let Some(zip) = cached {
        return Ok(zip);
    }
    let zip = zip_bootstrap(&binary()?)?;
    // The stamp goes first, so that a zip cut short never passes for a cached one.
    let _ = std::fs::remove_file(&stamp);
    std::fs::write(path, &zip).with_context(|| format!("writing {}", path.display()))?;
    std::fs::write(&stamp, source).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(zip)
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
        assert_ne!(
            a,
            zip_bootstrap(b"\x7fELF another binary").unwrap_or_default()
        );
    }

    #[test]
    fn a_zip_is_made_once_per_binary_and_again_when_it_changes() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("bootstrap.zip");
        let one = || Ok(b"binary one".to_vec());
        let first = cached_zip("hash-one", &path, one).unwrap_or_default();
        assert_eq!(first, zip_bootstrap(b"binary one").unwrap_or_default());
        // A zip on disk that the stamp vouches for is used as it is, without the binary.
        std::fs::write(&path, b"cached").unwrap_or_default();
        let unread = || anyhow::bail!("the binary was read");
        assert_eq!(
            cached_zip("hash-one", &path, unread).unwrap_or_default(),
            b"cached"
        );
        let two = || Ok(b"binary two".to_vec());
        let second = cached_zip("hash-two", &path, two).unwrap_or_default();
        assert_eq!(second, zip_bootstrap(b"binary two").unwrap_or_default());
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
}
