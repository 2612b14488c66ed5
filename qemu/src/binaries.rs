//! Static builds of workspace binaries, for use as PID 1 in initramfs images.
//!
//! [`static_binary`] either takes a prebuilt binary from `$LEAPBOOT_BIN_DIR`
//! (scripts and CI can build once and point there) or runs
//!
//! ```text
//! RUSTFLAGS="-C target-feature=+crt-static" CARGO_TARGET_DIR=<workspace>/target/static \
//!     cargo build --release -p <package> --bin <bin> --target x86_64-unknown-linux-gnu
//! ```
//!
//! under a file lock (tests run in parallel), and checks with
//! [`is_static_elf`] that the result has no ELF interpreter.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::util::{FileLock, env_nonempty, io_err, run};
use crate::{Error, Result};

/// Target triple of the static builds.
pub const STATIC_TARGET: &str = "x86_64-unknown-linux-gnu";

/// The workspace root (the parent of this crate's directory).
pub fn workspace_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Target directory of the static builds: `$LEAPBOOT_STATIC_TARGET_DIR` or
/// `<workspace>/target/static`.
pub fn static_target_dir() -> PathBuf {
    env_nonempty("LEAPBOOT_STATIC_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join("target/static"))
}

/// Path of the statically linked binary `bin` of workspace package `package`,
/// building it first if needed (see the module docs). Each (package, bin) is
/// built at most once per process; cargo makes later builds cheap anyway.
///
/// With `$LEAPBOOT_BIN_DIR` set, returns `$LEAPBOOT_BIN_DIR/<bin>` without
/// building (an error if it is missing).
pub fn static_binary(package: &str, bin: &str) -> Result<PathBuf> {
    if let Some(dir) = env_nonempty("LEAPBOOT_BIN_DIR") {
        let path = PathBuf::from(dir).join(bin);
        if !path.is_file() {
            return Err(Error::Missing(format!(
                "LEAPBOOT_BIN_DIR is set but {} does not exist",
                path.display()
            )));
        }
        return Ok(path);
    }

    static BUILT: Mutex<Option<HashMap<(String, String), PathBuf>>> = Mutex::new(None);
    // Holding the mutex across the build serializes builds within the process;
    // the file lock serializes them across processes.
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let key = (package.to_string(), bin.to_string());
    if let Some(path) = built.get_or_insert_with(HashMap::new).get(&key) {
        return Ok(path.clone());
    }

    let target_dir = static_target_dir();
    let _lock = FileLock::acquire(&target_dir.join(".leapboot-build.lock"))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_dir())
        .args(["build", "--release", "--quiet", "-p", package, "--bin", bin])
        .args(["--target", STATIC_TARGET])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET");
    run(&mut cmd)?;

    let path = target_dir.join(STATIC_TARGET).join("release").join(bin);
    if !is_static_elf(&path)? {
        return Err(Error::Invalid(format!(
            "{} was built with +crt-static but has an ELF interpreter (dynamically linked)",
            path.display()
        )));
    }
    built
        .get_or_insert_with(HashMap::new)
        .insert(key, path.clone());
    Ok(path)
}

/// Whether `path` is an ELF executable without a `PT_INTERP` program header,
/// i.e. one the kernel can run without a dynamic loader (static or
/// static-pie). An error if it is not an ELF file at all.
pub fn is_static_elf(path: &Path) -> Result<bool> {
    const PT_INTERP: u32 = 3;
    let mut file = std::fs::File::open(path).map_err(io_err("cannot open", path))?;
    let mut header = [0u8; 64];
    let n = read_up_to(&mut file, &mut header).map_err(io_err("cannot read", path))?;
    let not_elf = || Error::Invalid(format!("{} is not an ELF file", path.display()));
    if n < 52 || &header[..4] != b"\x7fELF" {
        return Err(not_elf());
    }
    let is64 = match header[4] {
        1 => false,
        2 => true,
        _ => return Err(not_elf()),
    };
    let le = match header[5] {
        1 => true,
        2 => false,
        _ => return Err(not_elf()),
    };
    let u16_at = |b: &[u8], o: usize| {
        let v = [b[o], b[o + 1]];
        if le {
            u16::from_le_bytes(v)
        } else {
            u16::from_be_bytes(v)
        }
    };
    let u32_at = |b: &[u8], o: usize| {
        let v = [b[o], b[o + 1], b[o + 2], b[o + 3]];
        if le {
            u32::from_le_bytes(v)
        } else {
            u32::from_be_bytes(v)
        }
    };
    let u64_at = |b: &[u8], o: usize| {
        let mut v = [0u8; 8];
        v.copy_from_slice(&b[o..o + 8]);
        if le {
            u64::from_le_bytes(v)
        } else {
            u64::from_be_bytes(v)
        }
    };
    if is64 && n < 64 {
        return Err(not_elf());
    }
    let (phoff, phentsize, phnum) = if is64 {
        (
            u64_at(&header, 32),
            u16_at(&header, 54),
            u16_at(&header, 56),
        )
    } else {
        (
            u64::from(u32_at(&header, 28)),
            u16_at(&header, 42),
            u16_at(&header, 44),
        )
    };
    let min_entsize = if is64 { 56 } else { 32 };
    if phnum == 0 {
        return Ok(true);
    }
    if usize::from(phentsize) < min_entsize {
        return Err(not_elf());
    }
    let mut table = vec![0u8; usize::from(phentsize) * usize::from(phnum)];
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(phoff))
        .map_err(io_err("cannot seek in", path))?;
    file.read_exact(&mut table)
        .map_err(io_err("cannot read program headers of", path))?;
    let has_interp = table
        .chunks_exact(usize::from(phentsize))
        .any(|ph| u32_at(ph, 0) == PT_INTERP);
    Ok(!has_interp)
}

fn read_up_to(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_binaries_are_not_static() {
        // The test binary itself is dynamically linked against glibc.
        let me = std::env::current_exe().unwrap();
        assert!(!is_static_elf(&me).unwrap());
    }

    #[test]
    fn non_elf_is_an_error() {
        let path = std::env::temp_dir().join(format!("leapboot-not-elf-{}", std::process::id()));
        std::fs::write(&path, b"#!/bin/sh\necho hi\n").unwrap();
        let err = is_static_elf(&path).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(err.to_string().contains("not an ELF"), "{err}");
    }

    #[test]
    fn target_init_builds_static() {
        let path = static_binary("leapboot-qemu", "leapboot-target-init").unwrap();
        assert!(is_static_elf(&path).unwrap(), "{}", path.display());
    }
}
