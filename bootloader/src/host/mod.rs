//! Host mode on an installed system: fast kexec reboots into exactly the entry the
//! machine's own boot loader (GRUB or systemd-boot) would boot next (`leapboot reboot`,
//! `load`, `unload`, `status`), and the running system's boot volumes for `list`,
//! `check` and `boot` without `--root` or `--disk`.
//!
//! ```text
//! /proc/self/mountinfo, udev ─> mounts: ESP, XBOOTLDR, /boot, / as volumes (MountFs)
//!                                  │
//!                  menus::scan_volume_with (GRUB run as this machine's GRUB) ─> Menu
//!                                  │
//! efivarfs ─> efivars ─┐           v
//! grubenv, grub.cfg ───┼──> next: which entry the loader boots next, or the
//! /etc/default/kexec ──┤          overrides (--entry, --latest, KERNEL_IMAGE);
//! /proc/cmdline ───────┘          kernels: /boot files when no config names one;
//!                                 cmdline: --reuse-cmdline
//!                                  │
//!          traps (explained before acting) ─> handoff::prepare (the report)
//!                                  │
//!          handoff's kexec_file_load ─> one-shots consumed (writes: grubenv, boot
//!          counter; efivars: LoaderEntryOneShot) ─> state (/run/leapboot, the report
//!          under /var/log/leapboot and in the journal) ─> handover (systemctl kexec,
//!          or --now)
//! ```
//!
//! - [`mounts`]: the boot volumes from the mount table; [`efivars`]: EFI variables;
//!   [`next`]: the next entry (pure); [`cmdline`]: `--reuse-cmdline` (pure);
//!   [`kexec_default`]: Debian's `/etc/default/kexec`; [`kernels`]: kernel files in
//!   `/boot`; [`traps`]: what is checked before acting; [`state`]: the state file,
//!   the report's trail and `status`; [`handover`]: systemd, `--now`, `--fallback`;
//!   [`run`]: the subcommands.
//!
//! Testing aid: every path of the running system (`/proc`, `/sys`, `/boot`, `/etc`,
//! `/run`, `/dev`, `/var` and the mount points) is read under a [`SystemRoot`], which
//! is `/` except when the hidden `--system-root DIR` option or the
//! `LEAPBOOT_SYSTEM_ROOT` environment variable names a fixture tree; with one set,
//! nothing is ever loaded, unloaded, written or rebooted.

pub mod cmdline;
pub mod efivars;
pub mod handover;
pub mod kernels;
pub mod kexec_default;
pub mod mounts;
pub mod next;
pub mod run;
pub mod state;
pub mod traps;

pub use run::{LoadArgs, RebootArgs, StatusArgs, UnloadArgs, load, reboot, status, unload};

use crate::devices::volume::Volume;
use std::path::{Path, PathBuf};

/// The exit status for a problem found (nothing to boot, a trap, a failed load), as
/// the other host commands use 1.
pub const EXIT_PROBLEMS: u8 = 1;
/// The exit status for a usage error or input that cannot be read (an `--entry` that
/// matches nothing, an unreadable mount table), as the other host commands use 2.
pub const EXIT_UNREADABLE: u8 = 2;

/// The environment variable that sets the [`SystemRoot`] (a testing aid).
pub const SYSTEM_ROOT_ENV: &str = "LEAPBOOT_SYSTEM_ROOT";

/// Where the running system's files are read: `/`, or a fixture tree in tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemRoot {
    root: Option<PathBuf>,
}

impl SystemRoot {
    /// The real system.
    pub fn real() -> SystemRoot {
        SystemRoot { root: None }
    }

    /// A fixture tree.
    pub fn at(dir: &Path) -> SystemRoot {
        SystemRoot {
            root: Some(dir.to_path_buf()),
        }
    }

    /// `option` when given, else [`SYSTEM_ROOT_ENV`] when set and not empty, else `/`.
    pub fn from_option(option: Option<&Path>) -> SystemRoot {
        match option {
            Some(p) => SystemRoot::at(p),
            None => match std::env::var_os(SYSTEM_ROOT_ENV) {
                Some(v) if !v.is_empty() => SystemRoot::at(Path::new(&v)),
                _ => SystemRoot::real(),
            },
        }
    }

    /// True for the real system: only then are kernels loaded and machines rebooted.
    pub fn is_real(&self) -> bool {
        self.root.is_none()
    }

    /// The path of the running system's absolute path `abs`.
    pub fn path(&self, abs: &str) -> PathBuf {
        match &self.root {
            None => PathBuf::from(abs),
            Some(r) => r.join(abs.trim_start_matches('/')),
        }
    }
}

/// The running system's boot volumes for `list`, `check` and `boot` without `--root`
/// or `--disk`, with warnings about mounts that cannot be read; `None` when nothing
/// that looks like a boot volume is mounted (an initramfs, a container), where those
/// commands read the disks instead.
pub fn running_system_volumes() -> Option<(Vec<Volume>, Vec<String>)> {
    let sys = SystemRoot::from_option(None);
    let found = mounts::running_system(&sys)?;
    if !mounts::has_boot_volumes(&found) {
        return None;
    }
    Some((found.volumes, found.warnings))
}
