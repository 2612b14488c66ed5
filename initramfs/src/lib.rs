//! Reproducible initramfs builder for leapboot.
//!
//! Data flows one way: callers describe a file tree in an in-memory [`Archive`]
//! (directories, files, device nodes, symlinks, and kernel modules resolved from
//! a kernel's `modules.dep` by [`ModulesDep`]); the archive then serialises to a
//! newc cpio stream ([`Archive::to_cpio`]) or gzip-compressed cpio
//! ([`Archive::to_gzip`]) that the Linux kernel unpacks as its initramfs.
//! Output depends only on the archive contents: entries are sorted by path,
//! timestamps and owners are zero and inode numbers are assigned in order, so
//! identical inputs give byte-identical payloads.
//!
//! [`read_cpio`] parses newc archives back (for tests and inspection), and the
//! bootloader's PID 1 reuses [`ModulesDep`] to compute module load order from
//! the `modules.dep` written into the payload.

#![forbid(unsafe_code)]

pub mod cpio;
pub mod modules;

pub use cpio::{Archive, CpioEntry, read_cpio};
pub use modules::ModulesDep;

use std::path::PathBuf;

/// Every error this crate reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file on the host failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The host path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A path given for an archive entry cannot be stored.
    #[error("invalid archive path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given by the caller.
        path: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// A symlink target cannot be stored.
    #[error("invalid symlink target {target:?} for {path}: {reason}")]
    InvalidSymlinkTarget {
        /// The (normalised) symlink path.
        path: String,
        /// The target as given.
        target: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// The permission bits given for an entry are out of range.
    #[error("invalid mode {mode:#o} for {path}: only permission bits (at most 0o7777) are allowed")]
    InvalidMode {
        /// The (normalised) archive path.
        path: String,
        /// The rejected mode.
        mode: u32,
    },

    /// An entry already exists at this path.
    #[error("archive path {path} already exists")]
    Duplicate {
        /// The (normalised) archive path.
        path: String,
    },

    /// A parent component of a path exists but is not a directory.
    #[error("cannot add {path}: parent {parent} exists and is not a directory")]
    NotADirectory {
        /// The path being added.
        path: String,
        /// The conflicting parent.
        parent: String,
    },

    /// A file is too large for the newc format (32-bit size field).
    #[error("file {path} is too large for newc cpio ({size} bytes, at most 4294967295)")]
    FileTooLarge {
        /// The (normalised) archive path.
        path: String,
        /// Its size in bytes.
        size: u64,
    },

    /// Compressing the archive failed.
    #[error("gzip compression failed: {0}")]
    Compress(#[source] std::io::Error),

    /// A newc archive being read is malformed.
    #[error("malformed cpio archive at byte {offset}: {reason}")]
    Cpio {
        /// Byte offset of the offending header or field.
        offset: usize,
        /// What is wrong.
        reason: String,
    },

    /// A line of `modules.dep` (or `modules.builtin`) is malformed.
    #[error("{origin}:{line}: {reason}")]
    ModulesDepSyntax {
        /// The file name or path the text came from.
        origin: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },

    /// A requested module is neither in `modules.dep` nor built in.
    #[error("unknown kernel module {name:?}: not in {origin} and not built in")]
    UnknownModule {
        /// The name as requested.
        name: String,
        /// Where the module list came from.
        origin: String,
    },

    /// `modules.dep` contains a dependency cycle.
    #[error("dependency cycle in {origin} involving {module}")]
    DependencyCycle {
        /// Relative path of a module on the cycle.
        module: String,
        /// Where the module list came from.
        origin: String,
    },

    /// A module path from `modules.dep` cannot be copied safely.
    #[error("refusing module path {path:?} from {origin}: {reason}")]
    UnsafeModulePath {
        /// The path as listed.
        path: String,
        /// Where the module list came from.
        origin: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// The kernel version cannot be derived from the modules directory name.
    #[error("cannot derive a kernel version from modules directory {path}")]
    ModulesDirVersion {
        /// The directory given.
        path: PathBuf,
    },
}

/// Result alias using [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
