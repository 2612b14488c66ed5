//! `leapboot`: a kexec-based Linux boot loader.
//!
//! As PID 1 of a firmware initramfs ([`init`]) it mounts the kernel's virtual
//! filesystems, opens the consoles, reads its [`settings`], loads [`modules`], finds
//! block devices ([`disk`]), reads their partition tables and ext4/FAT filesystems in
//! user space ([`volume`]), hands the volumes to the config sources of
//! `leapboot-menus` ([`scan`]), lets the user or the countdown choose in the
//! full-screen menu ([`tui`]; [`console`]'s text chooser when none can be drawn),
//! and boots the entry with `kexec_file_load` ([`boot`], [`kexec`]), logging every
//! step ([`log`]). Run as any other process, the same code serves the host
//! subcommands ([`cli`]).
//!
//! ```text
//! settings ─┐
//! sysfs ──> disk (gpt/mbr) ──> volume (ext4/fat) ──> menus::scan ──> Menu ──> console ──> boot ──> kexec
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod boot;
pub mod bzimage;
pub mod cli;
pub mod console;
pub mod discovery;
pub mod disk;
pub mod init;
pub mod kexec;
pub mod lockdown;
pub mod log;
pub mod modules;
pub mod preflight;
pub mod report;
pub mod scan;
pub mod settings;
pub mod tui;
pub mod volume;
