//! Debian kernels for the VMs: fetched once with `apt-get download`,
//! unpacked with `dpkg-deb -x`, given a `modules.dep` with `depmod`.
//!
//! Layout of the cache (`$LEAPBOOT_CACHE`, default `/var/cache/leapboot`):
//!
//! ```text
//! <cache>/linux-image-<ver>_<debver>_amd64.deb   the downloaded package
//! <cache>/<ver>/boot/vmlinuz-<ver>               the unpacked package ...
//! <cache>/<ver>/lib/modules/<ver>/modules.dep    ... with depmod's output
//! <cache>/.lock                                  serializes preparation
//! ```
//!
//! `<cache>/<ver>` appears only complete: it is prepared in a temporary
//! directory and renamed into place, under an exclusive `flock` so that tests
//! running in parallel (threads or processes) download and unpack only once.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{FileLock, command_failed, env_nonempty, io_err, run, run_unchecked};
use crate::{Error, Result};

/// Default kernel version (`LEAPBOOT_KERNEL_VERSION` overrides it).
pub const DEFAULT_KERNEL_VERSION: &str = "6.1.0-50-amd64";
/// Default cache directory (`LEAPBOOT_CACHE` overrides it).
pub const DEFAULT_CACHE_DIR: &str = "/var/cache/leapboot";

/// An unpacked Debian kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kernel {
    /// Kernel release, as `uname -r` prints it (e.g. `6.1.0-50-amd64`).
    pub version: String,
    /// The bzImage (`.../boot/vmlinuz-<version>`).
    pub vmlinuz: PathBuf,
    /// `.../lib/modules/<version>`, with `modules.dep`.
    pub modules_dir: PathBuf,
}

impl Kernel {
    /// The kernel unpacked at `<root>/boot/vmlinuz-<version>` and
    /// `<root>/lib/modules/<version>` (no checks).
    pub fn at(root: &Path, version: &str) -> Kernel {
        Kernel {
            version: version.to_string(),
            vmlinuz: root.join("boot").join(format!("vmlinuz-{version}")),
            modules_dir: root.join("lib/modules").join(version),
        }
    }

    fn is_complete(&self) -> bool {
        self.vmlinuz.is_file() && self.modules_dir.join("modules.dep").is_file()
    }
}

/// The cache directory: `$LEAPBOOT_CACHE` or [`DEFAULT_CACHE_DIR`].
pub fn cache_dir() -> PathBuf {
    env_nonempty("LEAPBOOT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CACHE_DIR))
}

/// The kernel version: `$LEAPBOOT_KERNEL_VERSION` or
/// [`DEFAULT_KERNEL_VERSION`].
pub fn kernel_version() -> String {
    env_nonempty("LEAPBOOT_KERNEL_VERSION").unwrap_or_else(|| DEFAULT_KERNEL_VERSION.to_string())
}

/// The Debian kernel `linux-image-<kernel_version()>`, downloaded and unpacked
/// into [`cache_dir()`] on first use; cheap (two `stat`s) once cached.
///
/// Needs `apt-get`, `dpkg-deb` and `depmod`, and write access to the cache
/// (root for the default one). Runs `apt-get update` once if the package is
/// unknown to apt.
pub fn debian_kernel() -> Result<Kernel> {
    debian_kernel_in(&cache_dir(), &kernel_version())
}

/// [`debian_kernel`] with an explicit cache directory and version.
pub fn debian_kernel_in(cache: &Path, version: &str) -> Result<Kernel> {
    if version.is_empty() || version.contains('/') || version.starts_with('.') {
        return Err(Error::Invalid(format!(
            "invalid kernel version {version:?}"
        )));
    }
    let root = cache.join(version);
    let kernel = Kernel::at(&root, version);
    if kernel.is_complete() {
        return Ok(kernel);
    }

    std::fs::create_dir_all(cache).map_err(io_err("cannot create cache directory", cache))?;
    let _lock = FileLock::acquire(&cache.join(".lock"))?;
    // Someone else may have finished while we waited for the lock.
    if kernel.is_complete() {
        return Ok(kernel);
    }

    let deb = match find_deb(cache, version)? {
        Some(deb) => deb,
        None => {
            download(cache, version)?;
            find_deb(cache, version)?.ok_or_else(|| {
                Error::Missing(format!(
                    "apt-get download linux-image-{version} succeeded but left no \
                     linux-image-{version}_*.deb in {}",
                    cache.display()
                ))
            })?
        }
    };

    let tmp = cache.join(format!(".{version}.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io_err("cannot remove", &tmp))?;
    }
    let result = unpack(&deb, &tmp, version);
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if root.exists() {
        // An incomplete leftover (e.g. from an older, non-atomic layout).
        std::fs::remove_dir_all(&root).map_err(io_err("cannot remove incomplete", &root))?;
    }
    std::fs::rename(&tmp, &root).map_err(io_err("cannot rename into place", &root))?;
    if !kernel.is_complete() {
        return Err(Error::Missing(format!(
            "{} does not contain {} and {}/modules.dep",
            deb.display(),
            kernel.vmlinuz.display(),
            kernel.modules_dir.display()
        )));
    }
    Ok(kernel)
}

/// The newest-looking `linux-image-<version>_*.deb` in `cache`, if any.
fn find_deb(cache: &Path, version: &str) -> Result<Option<PathBuf>> {
    let prefix = format!("linux-image-{version}_");
    let mut debs = Vec::new();
    for entry in std::fs::read_dir(cache).map_err(io_err("cannot list", cache))? {
        let entry = entry.map_err(io_err("cannot list", cache))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".deb") {
            debs.push(entry.path());
        }
    }
    debs.sort();
    Ok(debs.pop())
}

/// `apt-get download linux-image-<version>` in `cache`, with one
/// `apt-get update` and retry if apt does not know the package.
fn download(cache: &Path, version: &str) -> Result<()> {
    let package = format!("linux-image-{version}");
    let mut cmd = Command::new("apt-get");
    cmd.arg("download").arg(&package).current_dir(cache);
    let output = run_unchecked(&mut cmd)?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let unknown = stderr.contains("Unable to locate")
        || stderr.contains("Can't select")
        || stderr.contains("has no installation candidate")
        || stderr.contains("No packages found");
    if !unknown {
        return Err(command_failed(&cmd, &output));
    }
    run(Command::new("apt-get").arg("update").arg("-q"))?;
    let mut retry = Command::new("apt-get");
    retry.arg("download").arg(&package).current_dir(cache);
    run(&mut retry)?;
    Ok(())
}

/// `dpkg-deb -x deb dest` then `depmod -b dest version`.
fn unpack(deb: &Path, dest: &Path, version: &str) -> Result<()> {
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(dest))?;
    // Debian packages may ship modules under usr/lib/modules (merged /usr);
    // depmod -b looks in <base>/lib/modules.
    let lib_modules = dest.join("lib/modules").join(version);
    let usr_lib_modules = dest.join("usr/lib/modules").join(version);
    if !lib_modules.exists() && usr_lib_modules.exists() {
        std::fs::create_dir_all(dest.join("lib/modules"))
            .map_err(io_err("cannot create directory", dest.join("lib/modules")))?;
        std::fs::rename(&usr_lib_modules, &lib_modules)
            .map_err(io_err("cannot move modules to", &lib_modules))?;
    }
    run(Command::new("depmod").arg("-b").arg(dest).arg(version))?;
    Ok(())
}
