//! A host directory as a volume, for `leapboot list --root DIR` (a mounted /boot or
//! ESP). Paths are confined to the directory: `..` never leaves it.

use leapboot_menus::fs::normalize;
use leapboot_menus::{DirEntry, FileKind, FileSystem, FsError, Metadata};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// A directory tree on the host.
pub struct DirVolume {
    root: PathBuf,
}

impl DirVolume {
    /// The tree under `root`.
    pub fn new(root: &Path) -> DirVolume {
        DirVolume {
            root: root.to_path_buf(),
        }
    }

    fn host(&self, path: &str) -> PathBuf {
        match normalize(path) {
            Some(p) => self.root.join(p.trim_start_matches('/')),
            None => self.root.clone(),
        }
    }
}

fn kind(ft: std::fs::FileType) -> FileKind {
    if ft.is_file() {
        FileKind::File
    } else if ft.is_dir() {
        FileKind::Dir
    } else if ft.is_symlink() {
        FileKind::Symlink
    } else {
        FileKind::Other
    }
}

fn io(path: &str, e: std::io::Error) -> FsError {
    match e.kind() {
        std::io::ErrorKind::NotFound => FsError::NotFound {
            path: path.to_string(),
        },
        std::io::ErrorKind::NotADirectory => FsError::NotADirectory {
            path: path.to_string(),
        },
        _ => FsError::Io {
            path: path.to_string(),
            source: e,
        },
    }
}

impl FileSystem for DirVolume {
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
        let f = std::fs::File::open(self.host(path)).map_err(|e| io(path, e))?;
        let mut out = Vec::new();
        super::progress::read_to_end(f.take(limit), &mut out, meta.len).map_err(|e| io(path, e))?;
        Ok(out)
    }

    fn read_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, FsError> {
        let mut f = std::fs::File::open(self.host(path)).map_err(|e| io(path, e))?;
        f.seek(SeekFrom::Start(offset)).map_err(|e| io(path, e))?;
        let mut out = Vec::new();
        f.take(len).read_to_end(&mut out).map_err(|e| io(path, e))?;
        Ok(out)
    }

    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>, FsError> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(self.host(path)).map_err(|e| io(path, e))? {
            let e = e.map_err(|e| io(path, e))?;
            let k = std::fs::metadata(e.path())
                .map(|m| kind(m.file_type()))
                .unwrap_or(FileKind::Other);
            out.push(DirEntry {
                name: e.file_name().to_string_lossy().into_owned(),
                kind: k,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn metadata(&self, path: &str) -> Result<Metadata, FsError> {
        let m = std::fs::metadata(self.host(path)).map_err(|e| io(path, e))?;
        let k = kind(m.file_type());
        Ok(Metadata {
            kind: k,
            len: if k == FileKind::File { m.len() } else { 0 },
        })
    }
}
