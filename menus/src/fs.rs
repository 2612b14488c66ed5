//! The small read-only filesystem seam between config sources and volumes.
//!
//! Paths are absolute within one volume (`/loader/entries/a.conf`), `/`-separated,
//! and compared case-sensitively; a FAT implementation may match names without
//! regard to case, as FAT itself does.

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

use crate::entry::VolumeInfo;
use std::collections::BTreeMap;

/// What a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (filesystems follow links themselves; this is rarely seen).
    Symlink,
    /// Anything else (device node, fifo, socket).
    Other,
}

/// What [`FileSystem::metadata`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    /// Kind of the object.
    pub kind: FileKind,
    /// Size in bytes (0 for directories).
    pub len: u64,
}

/// One name in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// File name without its directory.
    pub name: String,
    /// Kind of the object.
    pub kind: FileKind,
}

/// Why a filesystem operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// No such file or directory.
    #[error("{path}: not found")]
    NotFound {
        /// The path asked for.
        path: String,
    },
    /// A directory was expected.
    #[error("{path}: not a directory")]
    NotADirectory {
        /// The path asked for.
        path: String,
    },
    /// A file was expected.
    #[error("{path}: not a regular file")]
    NotAFile {
        /// The path asked for.
        path: String,
    },
    /// The file is larger than the caller's limit; nothing was read.
    #[error("{path}: {size} bytes is more than the limit of {limit} bytes")]
    TooLarge {
        /// The path asked for.
        path: String,
        /// Its size.
        size: u64,
        /// The caller's limit.
        limit: u64,
    },
    /// The filesystem's own structures are damaged.
    #[error("{path}: corrupt filesystem: {reason}")]
    Corrupt {
        /// The path asked for.
        path: String,
        /// What the filesystem reader said.
        reason: String,
    },
    /// The device failed to read or write.
    #[error("{path}: i/o error: {source}")]
    Io {
        /// The path asked for.
        path: String,
        /// The error from the device.
        source: std::io::Error,
    },
    /// The volume was opened read-only and a write was asked for.
    #[error("{path}: volume is read-only")]
    ReadOnly {
        /// The path asked for.
        path: String,
    },
    /// The operation is not available on this filesystem.
    #[error("{path}: {what} is not supported on this filesystem")]
    Unsupported {
        /// The path asked for.
        path: String,
        /// What was asked for.
        what: &'static str,
    },
}

impl FsError {
    /// True when the error only says that the path does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, FsError::NotFound { .. })
    }
}

/// A read-only view of one volume. Implemented by the ext4, FAT and host-directory
/// volumes in the `leapboot` crate and by [`MemFs`] in tests.
pub trait FileSystem {
    /// Reads a whole file, refusing (without reading) files larger than `limit` bytes.
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, FsError>;
    /// Lists a directory, without `.` and `..`, in the filesystem's order.
    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>, FsError>;
    /// Kind and size of the object at `path`, following symlinks.
    fn metadata(&self, path: &str) -> Result<Metadata, FsError>;
    /// Reads up to `len` bytes of a file starting at byte `offset` (fewer at the end of
    /// the file, none past it). Used to read a few sections of a large unified kernel
    /// image without reading all of it. The default reads the whole file and slices it;
    /// volumes should override it with a real positioned read.
    fn read_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, FsError> {
        let size = self.metadata(path)?.len;
        let data = self.read(path, size)?;
        let start = usize::try_from(offset.min(size))
            .unwrap_or(usize::MAX)
            .min(data.len());
        let end = usize::try_from(offset.saturating_add(len).min(size))
            .unwrap_or(usize::MAX)
            .min(data.len());
        Ok(data.get(start..end.max(start)).unwrap_or_default().to_vec())
    }
    /// True when `path` exists.
    fn exists(&self, path: &str) -> bool {
        self.metadata(path).is_ok()
    }
    /// True when `path` is a regular file.
    fn is_file(&self, path: &str) -> bool {
        matches!(
            self.metadata(path),
            Ok(Metadata {
                kind: FileKind::File,
                ..
            })
        )
    }
    /// True when `path` is a directory.
    fn is_dir(&self, path: &str) -> bool {
        matches!(
            self.metadata(path),
            Ok(Metadata {
                kind: FileKind::Dir,
                ..
            })
        )
    }
}

/// One volume as the sources see it: identity plus read-only files. A scan gets every
/// volume's view, since a source may look at the others (GRUB's `search`).
#[derive(Clone, Copy)]
pub struct VolumeView<'a> {
    /// Identity and role.
    pub info: &'a VolumeInfo,
    /// Its files.
    pub fs: &'a dyn FileSystem,
}

/// Joins a directory and a name with one `/`.
pub fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Normalises a path within a volume: makes it absolute, collapses `//` and `.`,
/// and rejects `..` (as systemd's `mangle_path` does) and empty paths.
pub fn normalize(path: &str) -> Option<String> {
    let mut out = String::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => {
                out.push('/');
                out.push_str(p);
            }
        }
    }
    if out.is_empty() { None } else { Some(out) }
}

/// An in-memory filesystem for tests and fuzzing: a map from path to contents.
/// Directories exist implicitly wherever a file path passes through them.
#[derive(Debug, Default, Clone)]
pub struct MemFs {
    files: BTreeMap<String, Vec<u8>>,
}

impl MemFs {
    /// An empty filesystem.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file; the path is normalised.
    pub fn insert(&mut self, path: &str, data: impl Into<Vec<u8>>) -> &mut Self {
        if let Some(p) = normalize(path) {
            self.files.insert(p, data.into());
        }
        self
    }

    /// Builder form of [`MemFs::insert`].
    pub fn with(mut self, path: &str, data: impl Into<Vec<u8>>) -> Self {
        self.insert(path, data);
        self
    }

    fn dir_prefix(path: &str) -> String {
        if path == "/" {
            "/".to_string()
        } else {
            format!("{path}/")
        }
    }
}

/// A buffer's length as a file size.
fn len_u64(data: &[u8]) -> u64 {
    u64::try_from(data.len()).unwrap_or(u64::MAX)
}

impl FileSystem for MemFs {
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, FsError> {
        let key = normalize(path).unwrap_or_default();
        match self.files.get(&key) {
            Some(data) if len_u64(data) > limit => Err(FsError::TooLarge {
                path: path.to_string(),
                size: len_u64(data),
                limit,
            }),
            Some(data) => Ok(data.clone()),
            None if self.is_dir(path) => Err(FsError::NotAFile {
                path: path.to_string(),
            }),
            None => Err(FsError::NotFound {
                path: path.to_string(),
            }),
        }
    }

    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>, FsError> {
        let key = normalize(path).unwrap_or_else(|| "/".to_string());
        if self.files.contains_key(&key) {
            return Err(FsError::NotADirectory {
                path: path.to_string(),
            });
        }
        let prefix = Self::dir_prefix(&key);
        let mut out: Vec<DirEntry> = Vec::new();
        for name in self.files.keys() {
            if let Some(rest) = name.strip_prefix(&prefix) {
                let (first, kind) = match rest.split_once('/') {
                    Some((first, _)) => (first, FileKind::Dir),
                    None => (rest, FileKind::File),
                };
                if out.last().map(|e| e.name.as_str()) != Some(first) {
                    out.push(DirEntry {
                        name: first.to_string(),
                        kind,
                    });
                }
            }
        }
        if out.is_empty() && key != "/" {
            return Err(FsError::NotFound {
                path: path.to_string(),
            });
        }
        Ok(out)
    }

    fn metadata(&self, path: &str) -> Result<Metadata, FsError> {
        let key = normalize(path).unwrap_or_else(|| "/".to_string());
        if let Some(data) = self.files.get(&key) {
            return Ok(Metadata {
                kind: FileKind::File,
                len: len_u64(data),
            });
        }
        let prefix = Self::dir_prefix(&key);
        if key == "/" || self.files.keys().any(|k| k.starts_with(&prefix)) {
            return Ok(Metadata {
                kind: FileKind::Dir,
                len: 0,
            });
        }
        Err(FsError::NotFound {
            path: path.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_rejects_dotdot_and_collapses() {
        assert_eq!(normalize("a//b/./c").as_deref(), Some("/a/b/c"));
        assert_eq!(normalize("/a/../b"), None);
        assert_eq!(normalize("/"), None);
    }

    #[test]
    fn memfs_dirs_and_files() {
        let fs = MemFs::new()
            .with("/loader/entries/a.conf", "x")
            .with("/loader/loader.conf", "y");
        let names: Vec<_> = fs
            .read_dir("/loader")
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["entries", "loader.conf"]);
        assert!(fs.is_dir("/loader/entries"));
        assert!(fs.is_file("/loader/loader.conf"));
        assert!(fs.read("/nope", 10).unwrap_err().is_not_found());
        assert!(matches!(
            fs.read("/loader/loader.conf", 0),
            Err(FsError::TooLarge { .. })
        ));
    }
}
