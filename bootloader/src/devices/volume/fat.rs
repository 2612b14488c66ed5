//! FAT12/16/32 volumes (the ESP) read through `fatfs`, without mounting. Names are
//! matched without regard to case, as FAT does.
//!
//! Paths are resolved here, one component at a time, never by `fatfs`'s own path
//! lookups: those follow a directory's cluster chain until they find the name or an
//! end marker, so a chain that loops back on itself would hang them. Every
//! directory walk here stops after [`MAX_DIR_ENTRIES`] entries with an error, and
//! files are opened from the directory entry found (`to_file`/`to_dir`).

use super::slice::Slice;
use leapboot_menus::{DirEntry, FileKind, FileSystem, FsError, Metadata};
use std::io::{Read, Seek, SeekFrom};

type Fs = fatfs::FileSystem<Slice>;
type FatDir<'a> = fatfs::Dir<'a, Slice>;
type FatEntry<'a> = fatfs::DirEntry<'a, Slice>;

/// Most entries read from one directory: FAT allows 65,536 (a 2 MiB directory).
pub const MAX_DIR_ENTRIES: usize = 65_536;
/// Most path components followed.
pub const MAX_DEPTH: usize = 64;

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

/// What a path resolved to.
enum Found<'a> {
    Root,
    Entry(FatEntry<'a>),
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

    /// Every entry of `dir` except `.` and `..`, bounded.
    fn entries<'a>(dir: &FatDir<'a>, path: &str) -> Result<Vec<FatEntry<'a>>, FsError> {
        let mut out = Vec::new();
        for (n, e) in dir.iter().enumerate() {
            if n >= MAX_DIR_ENTRIES {
                return Err(FsError::Corrupt {
                    path: path.to_string(),
                    reason: format!(
                        "more than {MAX_DIR_ENTRIES} entries in a directory (a cluster chain loop?)"
                    ),
                });
            }
            let e = e.map_err(|e| io(path, e))?;
            let name = e.file_name();
            if name != "." && name != ".." {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Resolves `path` component by component with bounded directory walks.
    fn find(&self, path: &str) -> Result<Found<'_>, FsError> {
        let parts: Vec<&str> = path
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        if parts.len() > MAX_DEPTH {
            return Err(FsError::NotFound {
                path: path.to_string(),
            });
        }
        let mut dir = self.fs.root_dir();
        let mut found = Found::Root;
        for (i, part) in parts.iter().enumerate() {
            let hit = Self::entries(&dir, path)?.into_iter().find(|e| {
                e.file_name().eq_ignore_ascii_case(part)
                    || e.short_file_name().eq_ignore_ascii_case(part)
            });
            let Some(e) = hit else {
                return Err(FsError::NotFound {
                    path: path.to_string(),
                });
            };
            if i + 1 < parts.len() {
                if !e.is_dir() {
                    return Err(FsError::NotADirectory {
                        path: path.to_string(),
                    });
                }
                dir = e.to_dir();
            }
            found = Found::Entry(e);
        }
        Ok(found)
    }

    fn file(&self, path: &str) -> Result<(fatfs::File<'_, Slice>, u64), FsError> {
        match self.find(path)? {
            Found::Entry(e) if e.is_file() => {
                let len = e.len();
                Ok((e.to_file(), len))
            }
            _ => Err(FsError::NotAFile {
                path: path.to_string(),
            }),
        }
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
        let (mut f, len) = self.file(path)?;
        if len > limit {
            return Err(FsError::TooLarge {
                path: path.to_string(),
                size: len,
                limit,
            });
        }
        let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        // fatfs stops at the size in the directory entry, even on a looping chain.
        super::progress::read_to_end((&mut f).take(len), &mut out, len).map_err(|e| io(path, e))?;
        if (out.len() as u64) < len {
            return Err(FsError::Corrupt {
                path: path.to_string(),
                reason: format!(
                    "file is {len} bytes but its cluster chain holds {}",
                    out.len()
                ),
            });
        }
        Ok(out)
    }

    fn read_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, FsError> {
        let (mut f, size) = self.file(path)?;
        let end = offset
            .checked_add(len)
            .filter(|&e| e <= size)
            .ok_or_else(|| FsError::Corrupt {
                path: path.to_string(),
                reason: format!("range {offset}+{len} passes the end of the {size}-byte file"),
            })?;
        f.seek(SeekFrom::Start(offset)).map_err(|e| io(path, e))?;
        let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        (&mut f)
            .take(end - offset)
            .read_to_end(&mut out)
            .map_err(|e| io(path, e))?;
        Ok(out)
    }

    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>, FsError> {
        let dir = match self.find(path)? {
            Found::Root => self.fs.root_dir(),
            Found::Entry(e) if e.is_dir() => e.to_dir(),
            Found::Entry(_) => {
                return Err(FsError::NotADirectory {
                    path: path.to_string(),
                });
            }
        };
        Ok(Self::entries(&dir, path)?
            .into_iter()
            .map(|e| DirEntry {
                kind: if e.is_dir() {
                    FileKind::Dir
                } else {
                    FileKind::File
                },
                name: e.file_name(),
            })
            .collect())
    }

    fn metadata(&self, path: &str) -> Result<Metadata, FsError> {
        Ok(match self.find(path)? {
            Found::Root => Metadata {
                kind: FileKind::Dir,
                len: 0,
            },
            Found::Entry(e) if e.is_dir() => Metadata {
                kind: FileKind::Dir,
                len: 0,
            },
            Found::Entry(e) => Metadata {
                kind: FileKind::File,
                len: e.len(),
            },
        })
    }
}
