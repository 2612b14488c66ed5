//! ext2/3/4 volumes read through `ext4-view`, without mounting.
//!
//! `ext4-view`'s `read()` allocates a file's claimed size before reading, so a
//! corrupt inode size would abort the process: sizes are checked against the
//! caller's limit from the metadata first, and files are streamed with `open()`.

use super::slice::Slice;
use ext4_view::{Ext4, Ext4Error};
use leapboot_menus::{DirEntry, FileKind, FileSystem, FsError, Metadata};
use std::io::Read;

/// An ext4 filesystem on a partition.
pub struct Ext4Volume {
    fs: Ext4,
}

impl Ext4Volume {
    /// Loads the superblock and group descriptors.
    pub fn open(slice: Slice) -> Result<Ext4Volume, Ext4Error> {
        Ok(Ext4Volume {
            fs: Ext4::load(Box::new(slice))?,
        })
    }

    /// Filesystem UUID, as blkid prints it.
    pub fn uuid(&self) -> String {
        self.fs.uuid().to_string()
    }

    /// Label, if set.
    pub fn label(&self) -> Option<String> {
        self.fs
            .label()
            .to_str()
            .ok()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
    }
}

fn map(path: &str, e: Ext4Error) -> FsError {
    match e {
        Ext4Error::NotFound => FsError::NotFound {
            path: path.to_string(),
        },
        Ext4Error::NotADirectory => FsError::NotADirectory {
            path: path.to_string(),
        },
        Ext4Error::IsADirectory | Ext4Error::IsASpecialFile => FsError::NotAFile {
            path: path.to_string(),
        },
        Ext4Error::Io(source) => FsError::Io {
            path: path.to_string(),
            source: std::io::Error::other(source),
        },
        other => FsError::Corrupt {
            path: path.to_string(),
            reason: other.to_string(),
        },
    }
}

fn kind(ft: ext4_view::FileType) -> FileKind {
    if ft.is_regular_file() {
        FileKind::File
    } else if ft.is_dir() {
        FileKind::Dir
    } else if ft.is_symlink() {
        FileKind::Symlink
    } else {
        FileKind::Other
    }
}

impl FileSystem for Ext4Volume {
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, FsError> {
        let meta = self.fs.metadata(path).map_err(|e| map(path, e))?;
        if meta.is_dir() {
            return Err(FsError::NotAFile {
                path: path.to_string(),
            });
        }
        let size = meta.len();
        if size > limit {
            return Err(FsError::TooLarge {
                path: path.to_string(),
                size,
                limit,
            });
        }
        let mut file = self.fs.open(path).map_err(|e| map(path, e))?;
        let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        // Read at most `limit` (+1 to notice a file that grows past its size).
        super::progress::read_to_end((&mut file).take(limit.saturating_add(1)), &mut out, size)
            .map_err(|e| FsError::Io {
                path: path.to_string(),
                source: e,
            })?;
        if out.len() as u64 > limit {
            return Err(FsError::TooLarge {
                path: path.to_string(),
                size: out.len() as u64,
                limit,
            });
        }
        Ok(out)
    }

    fn read_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, FsError> {
        let size = self.metadata(path)?.len;
        let end = offset
            .checked_add(len)
            .filter(|&e| e <= size)
            .ok_or_else(|| FsError::Corrupt {
                path: path.to_string(),
                reason: format!("range {offset}+{len} passes the end of the {size}-byte file"),
            })?;
        let mut file = self.fs.open(path).map_err(|e| map(path, e))?;
        file.seek_to(offset).map_err(|e| map(path, e))?;
        let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        (&mut file)
            .take(end - offset)
            .read_to_end(&mut out)
            .map_err(|e| FsError::Io {
                path: path.to_string(),
                source: e,
            })?;
        Ok(out)
    }

    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>, FsError> {
        let iter = self.fs.read_dir(path).map_err(|e| map(path, e))?;
        let mut out = Vec::new();
        for entry in iter {
            let entry = entry.map_err(|e| map(path, e))?;
            let name = match entry.file_name().as_str() {
                Ok(n) => n.to_string(),
                Err(_) => continue,
            };
            if name == "." || name == ".." {
                continue;
            }
            let kind = entry.file_type().map(kind).unwrap_or(FileKind::Other);
            out.push(DirEntry { name, kind });
            if out.len() > 100_000 {
                return Err(FsError::Corrupt {
                    path: path.to_string(),
                    reason: "more than 100000 entries".into(),
                });
            }
        }
        Ok(out)
    }

    fn metadata(&self, path: &str) -> Result<Metadata, FsError> {
        let meta = self.fs.metadata(path).map_err(|e| map(path, e))?;
        let k = kind(meta.file_type());
        Ok(Metadata {
            kind: k,
            len: if k == FileKind::File { meta.len() } else { 0 },
        })
    }
}
