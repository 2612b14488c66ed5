//! FAT12/16/32 volumes (the ESP) read through `fatfs`, without mounting. Names are
//! matched without regard to case, as FAT does.

use super::slice::Slice;
use leapboot_menus::{DirEntry, FileKind, FileSystem, FsError, Metadata};
use std::io::{Read, Seek, SeekFrom};

type Fs = fatfs::FileSystem<Slice>;

/// A FAT filesystem on a partition.
pub struct FatVolume {
    fs: Fs,
}

/// Volume id and label from a FAT boot sector.
pub struct FatIdentity {
    /// `XXXX-XXXX` as blkid and GRUB print it.
    pub uuid: String,
    /// Label, unless `NO NAME`.
    pub label: Option<String>,
}

impl FatVolume {
    /// Reads the boot sector and opens the filesystem.
    pub fn open(slice: Slice) -> std::io::Result<FatVolume> {
        Ok(FatVolume {
            fs: fatfs::FileSystem::new(slice, fatfs::FsOptions::new())?,
        })
    }

    /// UUID (volume id) and label.
    pub fn identity(&self) -> FatIdentity {
        let id = self.fs.volume_id();
        let label = self.fs.volume_label().trim_end().to_string();
        FatIdentity {
            uuid: format!("{:04X}-{:04X}", id >> 16, id & 0xffff),
            label: Some(label).filter(|l| !l.is_empty() && l != "NO NAME"),
        }
    }

    fn rel(path: &str) -> &str {
        path.trim_start_matches('/')
    }
}

fn io(path: &str, e: std::io::Error) -> FsError {
    match e.kind() {
        std::io::ErrorKind::NotFound => FsError::NotFound {
            path: path.to_string(),
        },
        std::io::ErrorKind::InvalidData
        | std::io::ErrorKind::InvalidInput
        | std::io::ErrorKind::UnexpectedEof => FsError::Corrupt {
            path: path.to_string(),
            reason: e.to_string(),
        },
        _ => FsError::Io {
            path: path.to_string(),
            source: e,
        },
    }
}

impl FileSystem for FatVolume {
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, FsError> {
        let meta = self.metadata(path)?;
        if meta.kind != FileKind::File {
            return Err(FsError::NotAFile {
                path: path.to_string(),
            });
        }
        if meta.len > limit {
            return Err(FsError::TooLarge {
                path: path.to_string(),
                size: meta.len,
                limit,
            });
        }
        let mut f = self
            .fs
            .root_dir()
            .open_file(Self::rel(path))
            .map_err(|e| io(path, e))?;
        let mut out = Vec::with_capacity(usize::try_from(meta.len).unwrap_or(0));
        f.seek(SeekFrom::Start(0)).map_err(|e| io(path, e))?;
        (&mut f)
            .take(limit)
            .read_to_end(&mut out)
            .map_err(|e| io(path, e))?;
        if (out.len() as u64) < meta.len {
            return Err(FsError::Corrupt {
                path: path.to_string(),
                reason: format!(
                    "file is {} bytes but its cluster chain holds {}",
                    meta.len,
                    out.len()
                ),
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
        let mut f = self
            .fs
            .root_dir()
            .open_file(Self::rel(path))
            .map_err(|e| io(path, e))?;
        f.seek(SeekFrom::Start(offset)).map_err(|e| io(path, e))?;
        let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        (&mut f)
            .take(end - offset)
            .read_to_end(&mut out)
            .map_err(|e| io(path, e))?;
        Ok(out)
    }

    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>, FsError> {
        let rel = Self::rel(path);
        let dir = if rel.is_empty() {
            self.fs.root_dir()
        } else {
            self.fs.root_dir().open_dir(rel).map_err(|e| io(path, e))?
        };
        let mut out = Vec::new();
        for e in dir.iter() {
            let e = e.map_err(|e| io(path, e))?;
            let name = e.file_name();
            if name == "." || name == ".." {
                continue;
            }
            let kind = if e.is_dir() {
                FileKind::Dir
            } else {
                FileKind::File
            };
            out.push(DirEntry { name, kind });
            // A FAT directory with a cluster chain loop would list forever.
            if out.len() > 65_536 {
                return Err(FsError::Corrupt {
                    path: path.to_string(),
                    reason: "more than 65536 entries".into(),
                });
            }
        }
        Ok(out)
    }

    fn metadata(&self, path: &str) -> Result<Metadata, FsError> {
        let rel = Self::rel(path).trim_end_matches('/');
        if rel.is_empty() {
            return Ok(Metadata {
                kind: FileKind::Dir,
                len: 0,
            });
        }
        let (parent, name) = match rel.rsplit_once('/') {
            Some((p, n)) => (p, n),
            None => ("", rel),
        };
        let dir = if parent.is_empty() {
            self.fs.root_dir()
        } else {
            self.fs
                .root_dir()
                .open_dir(parent)
                .map_err(|e| io(path, e))?
        };
        for (n, e) in dir.iter().enumerate() {
            if n > 65_536 {
                break;
            }
            let e = e.map_err(|e| io(path, e))?;
            if e.file_name().eq_ignore_ascii_case(name)
                || e.short_file_name().eq_ignore_ascii_case(name)
            {
                return Ok(if e.is_dir() {
                    Metadata {
                        kind: FileKind::Dir,
                        len: 0,
                    }
                } else {
                    Metadata {
                        kind: FileKind::File,
                        len: e.len(),
                    }
                });
            }
        }
        Err(FsError::NotFound {
            path: path.to_string(),
        })
    }
}
