//! The *target* system: what leapboot kexecs into in end-to-end tests.
//!
//! [`target_initramfs`] builds an initramfs whose `/init` is the static
//! `leapboot-target-init` binary of this crate. Booted, it prints
//!
//! ```text
//! LEAPBOOT-TARGET: booted Linux <uname -r>
//! LEAPBOOT-TARGET-CMDLINE: <contents of /proc/cmdline>
//! LEAPBOOT-TARGET-INITRDS: <sorted names of the files in /markers, or "none">
//! LEAPBOOT-TARGET: powering off
//! ```
//!
//! and powers the VM off, so QEMU exits by itself. Each marker is an empty
//! file `/markers/<name>`; [`marker_initrd`] builds an initrd holding just one
//! marker. The kernel unpacks concatenated cpio archives into one rootfs, so
//! when a boot entry lists several initrds the `INITRDS` line names every
//! marker of every initrd that was loaded, which is how tests check that the
//! right initrds arrived, in full.

use leapboot_initramfs::Archive;

use crate::kernel::Kernel;
use crate::util::io_err;
use crate::{Error, Result};

/// Prefix of the target's banner line (followed by the kernel release).
pub const TARGET_BANNER: &str = "LEAPBOOT-TARGET: booted Linux ";
/// Prefix of the target's command-line line.
pub const TARGET_CMDLINE: &str = "LEAPBOOT-TARGET-CMDLINE: ";
/// Prefix of the target's marker line.
pub const TARGET_INITRDS: &str = "LEAPBOOT-TARGET-INITRDS: ";
/// The target's last line before it powers off.
pub const TARGET_POWEROFF: &str = "LEAPBOOT-TARGET: powering off";

/// Gzip-compressed cpio of the target system: `/init` (static
/// `leapboot-target-init`, built on demand by
/// [`static_binary`](crate::static_binary)), `/dev/console`, `/proc`, and
/// an empty `/markers/<m>` per entry of `markers`.
///
/// `kernel` is the kernel this initramfs will run under; the target init
/// needs no modules, so it is only used to check the kernel exists.
pub fn target_initramfs(kernel: &Kernel, markers: &[&str]) -> Result<Vec<u8>> {
    if !kernel.vmlinuz.is_file() {
        return Err(Error::Missing(format!(
            "kernel image {} does not exist",
            kernel.vmlinuz.display()
        )));
    }
    let init = crate::static_binary("leapboot-qemu", "leapboot-target-init")?;
    let init_bytes = std::fs::read(&init).map_err(io_err("cannot read", &init))?;
    let mut archive = Archive::new();
    archive.add_dir("dev", 0o755)?;
    archive.add_char_device("dev/console", 0o600, 5, 1)?;
    archive.add_dir("proc", 0o555)?;
    archive.add_dir("markers", 0o755)?;
    for marker in markers {
        check_marker(marker)?;
        archive.add_file(&format!("markers/{marker}"), 0o644, Vec::new())?;
    }
    archive.add_file("init", 0o755, init_bytes)?;
    Ok(archive.to_gzip()?)
}

/// Gzip-compressed cpio holding only the empty file `/markers/<name>` (and
/// its directory), to be passed as an additional initrd.
pub fn marker_initrd(name: &str) -> Result<Vec<u8>> {
    check_marker(name)?;
    let mut archive = Archive::new();
    archive.add_dir("markers", 0o755)?;
    archive.add_file(&format!("markers/{name}"), 0o644, Vec::new())?;
    Ok(archive.to_gzip()?)
}

fn check_marker(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '/' && c != '\\');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "marker name {name:?} must be a non-empty printable file name without spaces or '/'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_names_are_checked() {
        assert!(marker_initrd("a-1.b").is_ok());
        for bad in ["", "a b", "a/b", "..", "é"] {
            assert!(marker_initrd(bad).is_err(), "{bad:?}");
        }
    }
}
