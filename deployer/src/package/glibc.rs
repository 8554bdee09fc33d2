//! The checks on the ELF, before anything is uploaded. Both failures would deploy fine and then
//! fail every cold start:
//! - GLIBC: a binary built on a newer distribution than Amazon Linux 2023 fails with
//!   "GLIBC_2.xx not found". Read from the ELF's version needs, so it works for x86_64 and arm64
//!   binaries alike, whatever the host.
//! - the machine: an x86_64 binary on an arm64 function (or the reverse) fails with an exec
//!   format error (Runtime.InvalidEntrypoint).

use anyhow::Context as _;
use object::read::elf::{ElfFile64, FileHeader as _};
use object::Endianness;

use crate::stack::Architecture;

/// Both checks: the binary runs on `provided.al2023` for `arch`.
pub fn check(binary: &[u8], arch: Architecture) -> anyhow::Result<()> {
    check_machine(binary, arch)?;
    check_glibc(binary)
}

/// The architecture an ELF binary is built for, as `function.architecture` names it.
pub fn machine(binary: &[u8]) -> anyhow::Result<Option<Architecture>> {
    let elf = ElfFile64::<Endianness>::parse(binary)
        .context("the binary is not a 64-bit ELF executable; Lambda runs Linux binaries")?;
    Ok(match elf.elf_header().e_machine(elf.endian()) {
        object::elf::EM_X86_64 => Some(Architecture::X86_64),
        object::elf::EM_AARCH64 => Some(Architecture::Arm64),
        _ => None,
    })
}

/// Refuses a binary built for another machine than `arch`.
pub fn check_machine(binary: &[u8], arch: Architecture) -> anyhow::Result<()> {
    match machine(binary)? {
        Some(built) if built == arch => Ok(()),
        built => anyhow::bail!(
            "the binary is built for {} but function.architecture is {}: Lambda would fail \
             every cold start with an exec format error.\n  hint: build it for {} (`deployer \
             package` does, from stack.yaml), or set function.architecture to match",
            built.map_or("another machine", Architecture::as_str),
            arch.as_str(),
            arch.rust_target()
        ),
    }
}

/// The GLIBC of Amazon Linux 2023, which `provided.al2023` runs on.
pub const AL2023_GLIBC: (u32, u32) = (2, 34);

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
    fn glibc_versions_compare_numerically() {
        assert_eq!(parse_glibc("GLIBC_2.34"), Some((2, 34)));
        assert_eq!(parse_glibc("GLIBC_2.2.5"), Some((2, 2)));
        assert_eq!(parse_glibc("GLIBC_PRIVATE"), None);
        assert_eq!(parse_glibc("GLIBC_2.4"), Some((2, 4)));
    }

    #[test]
    fn the_machine_must_match_the_architecture() {
        let me = std::fs::read(std::env::current_exe().unwrap_or_default()).unwrap_or_default();
        let host = if cfg!(target_arch = "aarch64") {
            Architecture::Arm64
        } else {
            Architecture::X86_64
        };
        let other = match host {
            Architecture::Arm64 => Architecture::X86_64,
            Architecture::X86_64 => Architecture::Arm64,
        };
        assert!(machine(&me).is_ok_and(|m| m == Some(host)));
        assert!(check_machine(&me, host).is_ok());
        let e = check_machine(&me, other).map_err(|e| e.to_string());
        assert!(
            e.as_ref().is_err_and(|e| e.contains(&format!(
                "built for {} but function.architecture is {}",
                host.as_str(),
                other.as_str()
            ))),
            "{e:?}"
        );
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
