//! `leapboot`: a kexec-based Linux boot loader.
//!
//! The crate is a pipeline, one folder per stage, and each stage only looks down it:
//!
//! ```text
//!            settings ──────────────┬───────────────┬──────────────┐
//!                                   v               v              v
//! sysfs ──> devices ──────────> tui (menu) ──> handoff ──────> kexec_file_load
//!           disk: GPT/MBR        Policy ↑        cmdline, load,    reboot(KEXEC)
//!           volume: ext4/FAT      (init)         preflight, report
//!           scan, discovery                      │
//!               ^                                v
//!               └──────────────────────────── writes (boot counting, grubenv)
//! ```
//!
//! - [`init`]: PID 1. Mounts what it needs, opens the consoles, reads the [`settings`],
//!   loads [`modules`], starts [`devices::discovery`], runs the menu ([`tui`]) and
//!   boots the choice ([`handoff`]), forever. It answers the menu's questions
//!   ([`tui::Policy`]) so the menu itself owns no boot policy.
//! - [`cli`]: the same stages as host subcommands (`list`, `check`, `boot`, and
//!   [`host`]'s `reboot`, `load`, `unload`, `status`).
//! - [`host`]: an installed system's boot volumes through its mounts, and fast kexec
//!   reboots into the entry its own boot loader would boot next.
//! - [`devices`]: block devices, partition tables and filesystems, read-only, in user
//!   space, handed to `leapboot-menus` as volumes; the menu built from them.
//! - [`handoff`]: from a chosen entry to a running kernel, with the handoff report.
//! - [`writes`]: the only code that writes to a disk (boot counting, grubenv).
//! - [`sys`]: every system call that needs `unsafe`, each behind a safe function.
//! - [`log`] and [`phases`]: the log every stage writes, and where PID 1's time went.
//!
//! Only [`sys`] may use `unsafe`; every other module forbids it.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[forbid(unsafe_code)]
pub mod cli;
#[forbid(unsafe_code)]
pub mod devices;
#[forbid(unsafe_code)]
pub mod handoff;
#[forbid(unsafe_code)]
pub mod host;
#[forbid(unsafe_code)]
pub mod init;
#[forbid(unsafe_code)]
pub mod log;
#[forbid(unsafe_code)]
pub mod modules;
#[forbid(unsafe_code)]
pub mod phases;
#[forbid(unsafe_code)]
pub mod printable;
#[forbid(unsafe_code)]
pub mod settings;
pub mod sys;
#[forbid(unsafe_code)]
pub mod tui;
#[forbid(unsafe_code)]
pub mod writes;
