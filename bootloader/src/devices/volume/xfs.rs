//! XFS volumes read through `lamxfs`, without mounting: v4 and v5 (CRC, ftype, sparse
//! inodes, bigtime, inobtcount, reflink, 64-bit extent counts), short-form, block,
//! leaf and node directories, extent-list and B-tree files, inline and remote
//! symlinks. A log that still holds committed changes (a power cut) is replayed in
//! memory as Linux replays it at mount; nothing is written.
//!
//! Refused, as unsupported: a realtime section, an external log, a log `lamxfs`
//! cannot replay (mount and unmount it once under Linux), ascii-ci names, unknown
//! incompatible features. Every read goes through the budget in [`super::bounded`]:
//! `lamxfs` walks B-tree nodes without checking their levels, so a node that points
//! at itself would otherwise queue pointers until memory runs out.
//!
//! `lamxfs` checks the superblock's and every inode's CRC; directory and B-tree
//! blocks are read without checking theirs (as GRUB's XFS driver does).

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

use super::bounded::{self, BoundedReader, Budget, Lookup, Meaning};
use super::slice::Slice;
use lamxfs::{EntryKind, Error, Location, SuperblockReason, Xfs};
use leapboot_menus::{DirEntry, FileKind, FileSystem, FsError, Metadata};
use std::cell::RefCell;

/// An XFS filesystem on a partition.
pub struct XfsVolume {
    fs: RefCell<Xfs<BoundedReader>>,
    budget: Budget,
    uuid: String,
    label: Option<String>,
}

/// Why an XFS filesystem could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum XfsOpenError {
    /// Damaged: bad superblock, checksum, geometry.
    #[error("{0}")]
    Corrupt(String),
    /// A layout leapboot does not read.
    #[error("{0}")]
    Unsupported(String),
}

impl XfsVolume {
    /// Checks the superblock and replays the log if it needs it.
    pub fn open(slice: Slice) -> Result<XfsVolume, XfsOpenError> {
        let budget = Budget::default();
        budget.start(bounded::OPEN_BUDGET);
        let size = slice.len();
        let fs = Xfs::open(BoundedReader::new(slice, budget.clone()), size).map_err(|e| {
            let reason = if budget.exhausted() {
                bounded::exhausted_reason(&budget)
            } else {
                describe(&e)
            };
            if is_unsupported(&e) {
                XfsOpenError::Unsupported(reason)
            } else {
                XfsOpenError::Corrupt(reason)
            }
        })?;
        let uuid = bounded::uuid_string(&fs.uuid());
        let label = fs.label().map(str::to_string).filter(|l| !l.is_empty());
        Ok(XfsVolume {
            fs: RefCell::new(fs),
            budget,
            uuid,
            label,
        })
    }

    /// Filesystem UUID (`sb_uuid`), as blkid prints it.
    pub fn uuid(&self) -> String {
        self.uuid.clone()
    }

    /// Label (`sb_fname`), if set.
    pub fn label(&self) -> Option<String> {
        self.label.clone()
    }

    /// Runs `f` on the filesystem within the current operation's budget, mapping its
    /// error ([`bounded::run`]).
    fn with<T>(
        &self,
        path: &str,
        f: impl FnOnce(&mut Xfs<BoundedReader>) -> Result<T, Error>,
    ) -> Result<T, FsError> {
        bounded::run(&self.fs, &self.budget, path, f, meaning)
    }

    /// Reads `want` bytes from `start` of the file `ino` (both within the file).
    fn read_found(
        &self,
        path: &str,
        ino: lamxfs::Inode,
        start: u64,
        want: u64,
    ) -> Result<Vec<u8>, FsError> {
        self.budget.grant(bounded::data_budget(want));
        bounded::read_chunked(path, start, want, |offset, buf| {
            self.with(path, |fs| fs.read_file_at(&ino, offset, buf))
        })
    }

    /// The regular file at `path`, links followed.
    fn file(&self, path: &str) -> Result<(lamxfs::Inode, u64), FsError> {
        let found = bounded::follow(self, path)?;
        if found.meta.kind != FileKind::File {
            return Err(FsError::NotAFile {
                path: path.to_string(),
            });
        }
        Ok((found.node, found.meta.len))
    }
}

impl Lookup for XfsVolume {
    type Node = lamxfs::Inode;

    fn lstat(&self, path: &str) -> Result<(lamxfs::Inode, Metadata), FsError> {
        self.with(path, |fs| {
            let ino = fs.resolve(lamxfs::Path::new(path.as_bytes()))?;
            let m = fs.metadata(&ino)?;
            let kind = if m.is_file() {
                FileKind::File
            } else if m.is_dir() {
                FileKind::Dir
            } else if m.is_symlink() {
                FileKind::Symlink
            } else {
                FileKind::Other
            };
            Ok((
                ino,
                Metadata {
                    kind,
                    len: m.size(),
                },
            ))
        })
    }

    fn read_link(&self, path: &str) -> Result<Vec<u8>, FsError> {
        let (_, meta) = self.lstat(path)?;
        if meta.len > bounded::MAX_LINK_TARGET {
            return Err(FsError::Corrupt {
                path: path.to_string(),
                reason: format!("symbolic link target of {} bytes", meta.len),
            });
        }
        self.with(path, |fs| fs.read_link(lamxfs::Path::new(path.as_bytes())))
    }
}

impl FileSystem for XfsVolume {
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, FsError> {
        self.budget.start(bounded::METADATA_BUDGET);
        let (ino, size) = self.file(path)?;
        bounded::within_limit(path, size, limit)?;
        self.read_found(path, ino, 0, size)
    }

    fn read_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, FsError> {
        self.budget.start(bounded::METADATA_BUDGET);
        let (ino, size) = self.file(path)?;
        let (start, want) = bounded::clip_range(path, size, offset, len)?;
        self.read_found(path, ino, start, want)
    }

    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>, FsError> {
        self.budget.start(bounded::METADATA_BUDGET);
        let found = bounded::follow(self, path)?;
        found.require_dir(path)?;
        let real = found.real;
        let entries = self.with(path, |fs| fs.read_dir(lamxfs::Path::new(real.as_bytes())))?;
        bounded::within_dir_limit(path, entries.len())?;
        Ok(entries
            .into_iter()
            .filter_map(|e| {
                let name = String::from_utf8(e.name).ok()?;
                let kind = match e.kind {
                    EntryKind::Regular => FileKind::File,
                    EntryKind::Directory => FileKind::Dir,
                    EntryKind::Symlink => FileKind::Symlink,
                    EntryKind::Other => FileKind::Other,
                };
                Some(DirEntry { name, kind })
            })
            .collect())
    }

    fn metadata(&self, path: &str) -> Result<Metadata, FsError> {
        self.budget.start(bounded::METADATA_BUDGET);
        Ok(bounded::follow(self, path)?.shown_metadata())
    }
}

/// What an `lamxfs` error means to leapboot.
fn meaning(e: Error) -> Meaning {
    match e {
        Error::NotFound { .. } => Meaning::NotFound,
        Error::NotARegularFile => Meaning::NotAFile,
        Error::FileTooLarge { size, max } => Meaning::TooLarge { size, limit: max },
        e if is_unsupported(&e) => Meaning::Unsupported("this XFS feature"),
        e => Meaning::Corrupt(describe(&e)),
    }
}

fn is_unsupported(e: &Error) -> bool {
    matches!(
        e,
        Error::UnsupportedFeature(_)
            | Error::BadSuperblock(
                SuperblockReason::UnsupportedVersion
                    | SuperblockReason::ExternalLog
                    | SuperblockReason::RealtimeDevice
                    | SuperblockReason::DirtyLog
            )
    )
}

/// What went wrong, in words (the crate's stable tokens kept for searching).
fn describe(e: &Error) -> String {
    match e {
        Error::Io { token, offset } => format!("read failed at byte {offset} ({token})"),
        Error::BadSuperblock(r) => match r {
            SuperblockReason::BadMagic => "no XFS superblock magic".into(),
            SuperblockReason::BadCrc => "superblock checksum mismatch".into(),
            SuperblockReason::UnsupportedVersion => "unsupported XFS version".into(),
            SuperblockReason::BadGeometry => "impossible superblock geometry".into(),
            SuperblockReason::ExternalLog => "the log is on an external device".into(),
            SuperblockReason::RealtimeDevice => "a realtime section".into(),
            SuperblockReason::DirtyLog => "a log that needs replaying and cannot be replayed \
                here (mount and unmount it once under Linux)"
                .into(),
        },
        Error::UnsupportedFeature(t) => format!("unsupported feature ({t})"),
        Error::BadCrc { ag, ag_block, what } => {
            format!("checksum mismatch ({what}) in AG {ag}, block {ag_block}")
        }
        Error::Inconsistent { token, where_ } => {
            format!("inconsistent metadata ({token}) in {}", location(where_))
        }
        Error::NotFound { component } => format!("not found ({component})"),
        Error::NotARegularFile => "not a regular file".into(),
        Error::NotASymlink => "not a symbolic link".into(),
        Error::FileTooLarge { size, max } => format!("{size} bytes, more than {max}"),
        Error::OutOfMemory { site } => format!("out of memory ({site})"),
    }
}

fn location(l: &Location) -> String {
    match l {
        Location::Inode { ino } => format!("inode {ino}"),
        Location::Bmbt { ino, block } => format!("the block map of inode {ino} (block {block})"),
        Location::Dir { ino, block } => format!("directory inode {ino} (block {block})"),
        Location::Symlink { ino } => format!("symlink inode {ino}"),
    }
}
