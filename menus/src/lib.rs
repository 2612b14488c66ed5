//! `leapboot-menus`: where boot entries come from.
//!
//! Pure logic, no device I/O and no printing. The caller hands in one volume at a
//! time as a [`VolumeInfo`] plus a read-only [`FileSystem`] (together a
//! [`VolumeView`]); the sources read files through that trait and return [`Entry`]
//! values with [`Diagnostic`]s for everything they skipped. [`Menu`] merges the entries
//! of every volume, puts them in boot order and picks the default with one ladder used
//! by the TUI, the headless path and `leapboot list`.
//!
//! ```text
//!                    ┌─> bls::scan ──────> Type #1 entries + loader.conf   (bls::entry, bls::loader_conf)
//! VolumeView ──> scan ─> bls::uki::scan ─> Type #2 entries                 (pe <── bytes)
//!  (fs, entry)       └─> grub::scan ─────> GRUB entries, default, env writes (grub::lexer, parser, interp)
//!                                  │
//!        every volume's VolumeScan ──> Menu::assemble ──> bls::order + GRUB order ──> default ladder (glob)
//! ```
//!
//! The modules, bottom up (each uses only those above it, so no two import each other):
//!
//! - [`bytes`]: bounded little-endian reads; [`diag`]: diagnostics; [`entry`]: the entry
//!   model ([`Entry`], [`VolumeInfo`], where a UKI's sections lie); [`fs`]: the
//!   filesystem seam and [`VolumeView`].
//! - [`pe`]: the PE/COFF header reader (Microsoft "PE Format"), for UKIs and the
//!   bootloader's bzImage pre-flight. [`glob`]: the two glob dialects of the default
//!   ladder (systemd-boot's `efi_fnmatch`, leapboot's id glob).
//! - [`bls`]: the UAPI Boot Loader Specification: Type #1 entries, `loader.conf`,
//!   versions, boot counters, systemd-boot's order, and Type #2 unified kernel images
//!   ([`bls::uki`]).
//! - [`grub`]: GRUB configs run by a GRUB script interpreter (its `blscfg` reads entry
//!   files the way rhboot's GRUB does, not through [`bls`]).
//! - [`scan`]: runs every source on a volume; [`menu`]: the merged menu and default.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bls;
pub mod bytes;
pub mod diag;
pub mod entry;
pub mod fs;
pub mod glob;
pub mod grub;
pub mod menu;
pub mod pe;
pub mod scan;

/// Former path of [`bls::uki`], kept until the `leapboot` crate moves to the new one.
#[doc(hidden)]
pub use bls::uki;

pub use diag::{Diagnostic, Severity};
pub use entry::{
    Entry, EntryKind, SectionRange, Source, UkiSections, VolumeInfo, VolumeRef, VolumeRole,
};
pub use fs::{DirEntry, FileKind, FileSystem, FsError, MemFs, Metadata, VolumeView};
pub use menu::Menu;
pub use scan::{VolumeScan, scan_all, scan_volume};

/// Largest config file (BLS entry, loader.conf, grub.cfg) any source reads.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
/// Longest line any config parser accepts; longer lines are a diagnostic.
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// Most entries one source may produce on one volume.
pub const MAX_ENTRIES_PER_SOURCE: usize = 4096;
