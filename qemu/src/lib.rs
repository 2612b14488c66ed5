//! QEMU harness for leapboot's end-to-end tests and scripts.
//!
//! A scenario reads top to bottom the way a person would describe it: "this
//! Debian kernel, a disk with these files and these settings, boot it, expect
//! this serial line". Each step has a module:
//!
//! 1. [`kernel`]: [`debian_kernel`] fetches a Debian `linux-image` package once
//!    into a cache (`apt-get download`, `dpkg-deb -x`, `depmod`) and returns
//!    its `vmlinuz` and module tree.
//! 2. [`binaries`]: [`static_binary`] builds a workspace binary statically
//!    (`+crt-static`) so it can run as PID 1 in an initramfs.
//! 3. [`target`]: the *target* system that leapboot kexecs into: a tiny
//!    initramfs whose `/init` prints `LEAPBOOT-TARGET: ...` lines (kernel
//!    release, command line, which initrds were loaded) and powers off.
//! 4. [`disk`]: [`DiskImage`] builds GPT, MBR or partitionless raw disk
//!    images with FAT and ext4 filesystems without root (`mkfs.vfat`, `mtools`,
//!    `mke2fs -d`, `sgdisk`, `sfdisk`), byte-for-byte reproducibly.
//! 5. [`vm`]: [`Vm`] runs `qemu-system-x86_64` (TCG unless
//!    `LEAPBOOT_QEMU_ACCEL=kvm`) with the serial console captured to a log
//!    file; [`Vm::wait_for`] waits for serial lines, [`Vm::send`] types keys,
//!    [`Vm::wait_exit`] waits for the guest to power off.
//! 6. [`grub`]: real GRUB (Debian's BIOS build) installed on a [`DiskImage`]
//!    and booted by SeaBIOS, for tests that compare leapboot with GRUB.
//!
//! ```no_run
//! use leapboot_qemu::{debian_kernel, target_initramfs, default_append, default_timeout, Vm, VmConfig};
//! # fn main() -> leapboot_qemu::Result<()> {
//! let kernel = debian_kernel()?;
//! let dir = std::env::temp_dir();
//! let initrd = dir.join("target.cpio.gz");
//! std::fs::write(&initrd, target_initramfs(&kernel, &["a"])?).unwrap();
//! let config = VmConfig::new(&kernel.vmlinuz, &initrd)
//!     .append(default_append())
//!     .serial_log(dir.join("serial.log"));
//! let mut vm = Vm::start(config)?;
//! vm.wait_for("LEAPBOOT-TARGET-INITRDS: a", default_timeout())?;
//! vm.wait_exit(default_timeout())?;
//! # Ok(())
//! # }
//! ```
//!
//! Every failure is an [`Error`] that names the command or file involved and
//! carries the failed tool's stderr, or the tail of the serial log for a VM
//! that did not print what was expected.

// The test harness, not the boot loader: sparse-file seeks (SEEK_DATA/SEEK_HOLE) and
// flock on the kernel cache call libc directly, and a missing QEMU under
// LEAPBOOT_REQUIRE_QEMU=1 is a panic that fails the test.
#![allow(unsafe_code, clippy::panic)]

pub mod binaries;
pub mod disk;
pub mod distro;
pub mod fixtures;
pub mod grub;
pub mod hostfs;
pub mod hostile;
pub mod kernel;
pub mod target;
pub mod vm;

mod util;

pub use binaries::{is_static_elf, static_binary};
pub use disk::{
    DiskImage, FileSource, Filesystem, LogicalVolume, PartType, Partition, VolumeGroup,
    file_digest, lvm_uuid,
};
pub use kernel::{Kernel, debian_kernel};
pub use target::{marker_initrd, target_initramfs};
pub use vm::{
    Accel, DiskSpec, Firmware, Interface, Machine, Vm, VmConfig, default_append, default_timeout,
    qemu_available, qemu_or_skip,
};

/// Everything that can go wrong while preparing or running a scenario.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system operation on a named path failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done, e.g. "cannot read".
        action: &'static str,
        /// The file or directory involved.
        path: std::path::PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An external tool could not be started at all (missing binary, ...).
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        /// The command line, shell-quoted for reading.
        command: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An external tool ran and failed.
    #[error("`{command}` failed ({status}){}", fmt_stderr(.stderr))]
    Command {
        /// The command line, shell-quoted for reading.
        command: String,
        /// How it ended ("exit status: 1", ...).
        status: String,
        /// Its standard error (and standard output when stderr was empty).
        stderr: String,
    },
    /// Building a cpio/gzip archive failed.
    #[error("initramfs: {0}")]
    Initramfs(#[from] leapboot_initramfs::Error),
    /// A scenario or builder was given something that cannot work.
    #[error("{0}")]
    Invalid(String),
    /// A prerequisite (binary, environment setting, file) is missing.
    #[error("{0}")]
    Missing(String),
    /// The VM did not print what was expected in time, or exited first.
    #[error("{0}")]
    Vm(Box<VmFailure>),
}

/// Details of an [`Error::Vm`]: what was awaited and what the VM printed.
#[derive(Debug)]
pub struct VmFailure {
    /// "timed out", "QEMU exited (exit status: 0)", ...
    pub what: String,
    /// What was awaited, e.g. "a serial line containing `X`".
    pub expected: String,
    /// Time spent waiting.
    pub elapsed: std::time::Duration,
    /// Path of the serial log file.
    pub log: std::path::PathBuf,
    /// The last lines of the serial log.
    pub tail: String,
    /// QEMU's own stderr (and its command line once it exited), if any.
    pub qemu_stderr: String,
}

impl std::fmt::Display for VmFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} while waiting for {} ({:.1?} elapsed)\nserial log: {}\n\
             --- last serial lines ---\n{}\n--- end of serial log ---{}",
            self.what,
            self.expected,
            self.elapsed,
            self.log.display(),
            self.tail,
            fmt_qemu_stderr(&self.qemu_stderr)
        )
    }
}

fn fmt_stderr(stderr: &str) -> String {
    let stderr = stderr.trim_end();
    if stderr.is_empty() {
        String::new()
    } else {
        format!(":\n{stderr}")
    }
}

fn fmt_qemu_stderr(stderr: &str) -> String {
    let stderr = stderr.trim_end();
    if stderr.is_empty() {
        String::new()
    } else {
        format!("\n--- qemu ---\n{stderr}")
    }
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
