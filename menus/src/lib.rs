//! `leapboot-menus`: where boot entries come from.
//!
//! Pure logic, no device I/O and no printing. The caller hands in one volume at a
//! time as a [`VolumeInfo`] plus a read-only [`FileSystem`]; the sources in this
//! crate (Boot Loader Specification entries, unified kernel images, and GRUB
//! configs run by a GRUB script interpreter, [`grub`]) read files through that trait
//! and return [`Entry`] values with [`Diagnostic`]s for everything they skipped.
//! [`Menu`] merges the entries of every volume, puts them in boot order and picks the
//! default with one ladder used by the TUI, the headless path and `leapboot list`.
//!
//! ```text
//! FileSystem + VolumeInfo ──> scan::scan_volume ──> VolumeScan { entries, grub, diagnostics }
//!                                                        │
//!                         every volume's scan ──> Menu::assemble ──> ordered entries + default
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bls;
pub mod diag;
pub mod entry;
pub mod fs;
pub mod glob;
pub mod grub;
pub mod menu;
pub mod scan;
pub mod uki;

pub use diag::{Diagnostic, Severity};
pub use entry::{Entry, EntryKind, Source, VolumeInfo, VolumeRef, VolumeRole};
pub use fs::{DirEntry, FileKind, FileSystem, FsError, MemFs, Metadata};
pub use menu::Menu;
pub use scan::{VolumeScan, VolumeView, scan_all, scan_volume};

/// Largest config file (BLS entry, loader.conf, grub.cfg) any source reads.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
/// Longest line any config parser accepts; longer lines are a diagnostic.
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// Most entries one source may produce on one volume.
pub const MAX_ENTRIES_PER_SOURCE: usize = 4096;
