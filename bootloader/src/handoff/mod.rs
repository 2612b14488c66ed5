//! The handoff: from a chosen entry to a running kernel, logged step by step.
//!
//! ```text
//! Entry + Settings + BootOptions
//!   ──> attempt (PID 1: the volume found again on the disks; headless: fallback order)
//!   ──> load (volume, kernel, initrds) ──> cmdline ──> preflight (bzimage, memory)
//!   ──> report (what is about to boot) ──> execute (kexec_file_load, counting rename, jump)
//! ```
//!
//! - [`cmdline`]: the final and debug command lines (pure); [`consoles`] reads the
//!   consoles a debug boot names.
//! - [`load`]: reading the kernel and initrds, the pre-flight checks ([`preflight`],
//!   [`bzimage`]) and the handoff [`report`].
//! - [`execute`]: [`kexec`] load and jump; [`lockdown`]: the kernel's lockdown state.
//! - [`attempt`] and [`fallback`]: PID 1's attempts, each with its report.
//!
//! The TUI, the headless path and `leapboot boot` all go through [`load::prepare`] and
//! [`execute::execute`] (or [`attempt::boot_entry`] as PID 1). A failure ends the
//! report with the decoded cause and a remedy.

pub mod attempt;
pub mod bzimage;
pub mod cmdline;
pub mod consoles;
pub mod execute;
pub mod fallback;
pub mod kexec;
pub mod load;
pub mod lockdown;
pub mod preflight;
pub mod report;

pub use attempt::boot_entry;
pub use cmdline::{final_cmdline, handoff_cmdline};
pub use execute::{execute, execute_counted};
pub use fallback::boot_with_fallback;
pub use load::prepare;

use kexec::{Decoded, KexecError, Situation};
use leapboot_menus::FsError;
use preflight::Preflight;
use report::Report;

/// Largest kernel image read (bzImages are tens of MiB).
pub const MAX_KERNEL_BYTES: u64 = 256 * 1024 * 1024;
/// Largest total of initrds read.
pub const MAX_INITRD_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Why an entry could not be handed off.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// The entry says it cannot boot.
    #[error("entry '{id}' is not bootable: {problem}")]
    NotBootable {
        /// Entry id.
        id: String,
        /// Why.
        problem: String,
    },
    /// Its volume is not among those found.
    #[error("entry '{id}': volume {volume} is not present")]
    NoVolume {
        /// Entry id.
        id: String,
        /// UUID or device.
        volume: String,
    },
    /// Reading a file failed.
    #[error("entry '{id}': cannot read {what} from {device}: {source}")]
    Read {
        /// Entry id.
        id: String,
        /// `kernel` or `initrd`.
        what: &'static str,
        /// Device name.
        device: String,
        /// The filesystem error (names the path).
        source: FsError,
    },
    /// The initrds together are too large.
    #[error("entry '{id}': initrds total more than {MAX_INITRD_BYTES} bytes")]
    InitrdsTooLarge {
        /// Entry id.
        id: String,
    },
    /// A pre-flight check failed; nothing was loaded.
    #[error("entry '{id}': not loaded: {}", .failures.join("; "))]
    Preflight {
        /// Entry id.
        id: String,
        /// Each failed check's message.
        failures: Vec<String>,
    },
    /// `kexec_file_load` failed; the error decoded for the situation.
    #[error("entry '{id}': {decoded}")]
    Load {
        /// Entry id.
        id: String,
        /// Cause and remedy.
        decoded: Decoded,
    },
    /// Staging the files or the jump failed.
    #[error("entry '{id}': {source}")]
    Kexec {
        /// Entry id.
        id: String,
        /// The decoded kexec error.
        source: KexecError,
    },
}

/// Everything needed for the two syscalls, plus the report that was logged.
#[derive(Debug, Clone)]
pub struct Handoff {
    /// Entry id.
    pub id: String,
    /// Kernel image bytes.
    pub kernel: Vec<u8>,
    /// Every initrd, concatenated in order.
    pub initrd: Vec<u8>,
    /// The final command line.
    pub cmdline: String,
    /// The handoff report's lines (as `report.lines`), for `leapboot boot --dry-run`.
    pub summary: Vec<String>,
    /// The report so far; [`execute`] completes it.
    pub report: Report,
    /// What the pre-flight checks found.
    pub preflight: Preflight,
    /// What a failed load is decoded against.
    pub situation: Situation,
}

/// Choices made in the menu for one boot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootOptions {
    /// The whole command line, edited in the menu (replaces [`final_cmdline`]; debug
    /// parameters are still added for a debug boot).
    pub cmdline_override: Option<String>,
    /// Boot with handoff debugging parameters ([`debug_params`]); the `debug` setting
    /// does the same for every boot.
    pub debug: bool,
    /// GRUB environment writes this entry's menu asks for (`next_entry` cleared,
    /// `savedefault`), done just before the load.
    pub env_writes: Vec<leapboot_menus::grub::grubenv::EnvWrite>,
}

pub(crate) fn volume_name(entry: &leapboot_menus::Entry) -> String {
    match &entry.volume.uuid {
        Some(u) => format!("{} (UUID={u})", entry.volume.device),
        None => entry.volume.device.clone(),
    }
}
