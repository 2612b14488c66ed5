//! Btrfs volumes read through `lambutter`, without mounting: one device (single, DUP
//! and RAID1-family profiles read from the copy on it), subvolumes, inline and
//! regular extents, holes and preallocated extents, zlib, lzo and zstd compression,
//! symlinks.
//!
//! # What the volume shows
//! The top-level tree (subvolume 5) with every subvolume as a directory, which is what
//! GRUB's btrfs driver shows: an openSUSE disk whose root is the subvolume `@` has
//! `/@/boot/grub2/grub.cfg`. A path that is not found there is then looked up in the
//! default subvolume (`btrfs subvolume set-default`, the one Linux mounts), when that
//! is not the top level, so `/boot/grub2/grub.cfg` and `/boot/loader/entries` are
//! found on the same disk too, as openSUSE's GRUB finds them with
//! `btrfs_relative_path`. A directory listing of `/` shows the top level only.
//!
//! # Checks before the crate
//! Every superblock copy on the partition (64 KiB, 64 MiB, 256 GiB) is read here:
//! `lambutter` uses the valid copy with the highest generation (as GRUB does; Linux
//! mounts only with a valid primary), and one whose checksum holds but whose system
//! chunk array claims more than its 2048 bytes would make `lambutter` index past it,
//! so such a volume is refused as corrupt. Every read then goes through the budget in
//! [`super::bounded`].
//!
//! Not read: filesystems spread over several devices (a chunk with no copy on this
//! one is refused), RAID0/10/5/6 chunks, checksums other than crc32c, encryption,
//! zoned and remap-tree layouts. Data checksums are not verified (as GRUB).

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

use super::bounded::{self, BoundedReader, Budget, Found, Lookup, Meaning};
use super::slice::Slice;
use lambutter::{Btrfs, Error, SuperblockReason};
use leapboot_menus::bytes;
use leapboot_menus::{DirEntry, FileKind, FileSystem, FsError, Metadata};
use std::cell::RefCell;

/// Byte offsets of the superblock copies.
pub const SUPERBLOCK_OFFSETS: [u64; 3] = [0x1_0000, 0x400_0000, 0x40_0000_0000];
/// Size of a superblock.
const SUPERBLOCK_SIZE: usize = 4096;
/// `_BHRfS_M`, at byte 0x40 of a superblock.
pub const MAGIC: [u8; 8] = *b"_BHRfS_M";
/// Offset of the magic within a superblock.
pub const MAGIC_OFFSET: u64 = 0x40;
/// Capacity of the superblock's `sys_chunk_array`.
const SYS_CHUNK_ARRAY_MAX: u32 = 2048;
/// The top-level subvolume (`BTRFS_FS_TREE_OBJECTID`).
const TOP_LEVEL: u64 = 5;

// Superblock fields (btrfs_super_block in the kernel's uapi/linux/btrfs_tree.h).
const SB_FSID: usize = 0x20;
const SB_MAGIC: usize = 0x40;
const SB_GENERATION: usize = 0x48;
const SB_SYS_CHUNK_ARRAY_SIZE: usize = 0xa0;
const SB_CSUM_TYPE: usize = 0xc4;
const SB_LABEL: usize = 0x12b;
const SB_LABEL_LEN: usize = 256;
const CSUM_TYPE_CRC32C: u16 = 0;

/// A Btrfs filesystem on a partition.
pub struct BtrfsVolume {
    top: RefCell<Btrfs<BoundedReader>>,
    /// The default subvolume, when it is not the top level.
    default: Option<RefCell<Btrfs<BoundedReader>>>,
    default_id: u64,
    budget: Budget,
    uuid: String,
    label: Option<String>,
}

/// Why a Btrfs filesystem could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum BtrfsOpenError {
    /// Damaged: superblocks, checksums, trees.
    #[error("{0}")]
    Corrupt(String),
    /// A layout leapboot does not read.
    #[error("{0}")]
    Unsupported(String),
    /// The device failed.
    #[error("cannot read superblock: {0}")]
    Io(std::io::Error),
}

/// Which tree a lookup runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    Top,
    Default,
}

/// UUID and label from the superblock `lambutter` will use.
struct Identity {
    uuid: String,
    label: Option<String>,
}

impl BtrfsVolume {
    /// Checks the superblocks, reads the chunk tree, and finds the default subvolume.
    pub fn open(slice: Slice) -> Result<BtrfsVolume, BtrfsOpenError> {
        let id = identity(&slice)?;
        let budget = Budget::default();
        let size = slice.len();
        let reader = || BoundedReader::new(slice.clone(), budget.clone());
        let opened = |r: Result<Btrfs<BoundedReader>, Error>| {
            r.map_err(|e| {
                let reason = if budget.exhausted() {
                    bounded::exhausted_reason(&budget)
                } else {
                    describe(&e)
                };
                if is_unsupported(&e) {
                    BtrfsOpenError::Unsupported(reason)
                } else {
                    BtrfsOpenError::Corrupt(reason)
                }
            })
        };
        budget.start(bounded::OPEN_BUDGET);
        let top = opened(Btrfs::open_subvol_id(reader(), size, TOP_LEVEL))?;
        budget.start(bounded::OPEN_BUDGET);
        let default = opened(Btrfs::open(reader(), size))?;
        let default_id = default.subvolume();
        Ok(BtrfsVolume {
            top: RefCell::new(top),
            default: (default_id != TOP_LEVEL).then(|| RefCell::new(default)),
            default_id,
            budget,
            uuid: id.uuid,
            label: id.label,
        })
    }

    /// Filesystem UUID (the superblock's `fsid`), as blkid prints it.
    pub fn uuid(&self) -> String {
        self.uuid.clone()
    }

    /// Label, if set.
    pub fn label(&self) -> Option<String> {
        self.label.clone()
    }

    /// Id of the default subvolume (5 when it is the top level).
    pub fn default_subvolume(&self) -> u64 {
        self.default_id
    }

    /// Runs `f` on a view within the current operation's budget, mapping its error
    /// ([`bounded::run`]).
    fn with<T>(
        &self,
        view: View,
        path: &str,
        f: impl FnOnce(&mut Btrfs<BoundedReader>) -> Result<T, Error>,
    ) -> Result<T, FsError> {
        let cell = match view {
            View::Top => &self.top,
            View::Default => self.default.as_ref().unwrap_or(&self.top),
        };
        bounded::run(cell, &self.budget, path, f, meaning)
    }

    /// `path` followed in the top level, then (when not found there) in the default
    /// subvolume.
    fn find(&self, path: &str) -> Result<(View, Found<lambutter::Inode>), FsError> {
        match bounded::follow(&In(self, View::Top), path) {
            Err(e) if e.is_not_found() && self.default.is_some() => Ok((
                View::Default,
                bounded::follow(&In(self, View::Default), path)?,
            )),
            r => Ok((View::Top, r?)),
        }
    }

    /// The regular file at `path`, links followed.
    fn file(&self, path: &str) -> Result<(View, lambutter::Inode, u64), FsError> {
        let (view, found) = self.find(path)?;
        if found.meta.kind != FileKind::File {
            return Err(FsError::NotAFile {
                path: path.to_string(),
            });
        }
        Ok((view, found.node, found.meta.len))
    }

    /// Reads `want` bytes from `start` of a file (both within the file).
    fn read_found(
        &self,
        view: View,
        path: &str,
        inode: lambutter::Inode,
        start: u64,
        want: u64,
    ) -> Result<Vec<u8>, FsError> {
        self.budget.grant(bounded::data_budget(want));
        bounded::read_chunked(path, start, want, |offset, buf| {
            self.with(view, path, |fs| fs.read_file_at(&inode, offset, buf))
        })
    }
}

/// One view of a volume, as a [`Lookup`].
struct In<'a>(&'a BtrfsVolume, View);

impl Lookup for In<'_> {
    type Node = lambutter::Inode;

    fn lstat(&self, path: &str) -> Result<(lambutter::Inode, Metadata), FsError> {
        let p = lambutter::Path::new(path.as_bytes()).ok_or_else(|| FsError::NotFound {
            path: path.to_string(),
        })?;
        self.0.with(self.1, path, |fs| {
            let inode = fs.resolve(p)?;
            let m = fs.metadata(&inode)?;
            let kind = if m.is_file() {
                FileKind::File
            } else if m.is_dir() {
                FileKind::Dir
            } else if m.is_symlink() {
                FileKind::Symlink
            } else {
                FileKind::Other
            };
            Ok((inode, Metadata { kind, len: m.size }))
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
        let p = lambutter::Path::new(path.as_bytes()).ok_or_else(|| FsError::NotFound {
            path: path.to_string(),
        })?;
        self.0.with(self.1, path, |fs| fs.read_link(p))
    }
}

impl FileSystem for BtrfsVolume {
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, FsError> {
        self.budget.start(bounded::METADATA_BUDGET);
        let (view, inode, size) = self.file(path)?;
        bounded::within_limit(path, size, limit)?;
        self.read_found(view, path, inode, 0, size)
    }

    fn read_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, FsError> {
        self.budget.start(bounded::METADATA_BUDGET);
        let (view, inode, size) = self.file(path)?;
        let (start, want) = bounded::clip_range(path, size, offset, len)?;
        self.read_found(view, path, inode, start, want)
    }

    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>, FsError> {
        self.budget.start(bounded::METADATA_BUDGET);
        let (view, found) = self.find(path)?;
        found.require_dir(path)?;
        let real = found.real;
        let p = lambutter::Path::new(real.as_bytes()).ok_or_else(|| FsError::NotFound {
            path: path.to_string(),
        })?;
        let entries = self.with(view, path, |fs| fs.read_dir(p))?;
        bounded::within_dir_limit(path, entries.len())?;
        Ok(entries
            .into_iter()
            .filter_map(|e| {
                let kind = kind(e.kind_byte);
                let name = String::from_utf8(e.name).ok()?;
                Some(DirEntry { name, kind })
            })
            .collect())
    }

    fn metadata(&self, path: &str) -> Result<Metadata, FsError> {
        self.budget.start(bounded::METADATA_BUDGET);
        Ok(self.find(path)?.1.shown_metadata())
    }
}

/// A directory entry's type byte (`BTRFS_FT_*`).
fn kind(ft: u8) -> FileKind {
    match ft {
        1 => FileKind::File,
        2 => FileKind::Dir,
        7 => FileKind::Symlink,
        _ => FileKind::Other,
    }
}

/// UUID and label from the superblock copy `lambutter` will pick (valid crc32c,
/// highest generation), after refusing any valid copy whose system chunk array claims
/// more than it holds.
fn identity(slice: &Slice) -> Result<Identity, BtrfsOpenError> {
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
    let mut best: Option<(u64, Identity)> = None;
    let mut seen_magic = false;
    for at in SUPERBLOCK_OFFSETS {
        let fits = at.checked_add(4096).is_some_and(|end| end <= slice.len());
        if !fits {
            continue;
        }
        let mut sb = [0u8; SUPERBLOCK_SIZE];
        slice
            .read_exact_at(at, &mut sb)
            .map_err(BtrfsOpenError::Io)?;
        if bytes::array::<8>(&sb, SB_MAGIC) != Some(MAGIC) {
            continue;
        }
        seen_magic = true;
        if bytes::u16_le(&sb, SB_CSUM_TYPE) != Some(CSUM_TYPE_CRC32C) {
            // lambutter names the checksum type it does not read.
            continue;
        }
        let stored = bytes::u32_le(&sb, 0);
        let body = sb.get(SB_FSID..).unwrap_or_default();
        if stored != Some(crc.checksum(body)) {
            continue;
        }
        let sys = bytes::u32_le(&sb, SB_SYS_CHUNK_ARRAY_SIZE).unwrap_or(u32::MAX);
        if sys > SYS_CHUNK_ARRAY_MAX {
            return Err(BtrfsOpenError::Corrupt(format!(
                "the superblock at byte {at} claims a system chunk array of {sys} bytes \
                 (it holds {SYS_CHUNK_ARRAY_MAX})"
            )));
        }
        let generation = bytes::u64_le(&sb, SB_GENERATION).unwrap_or(0);
        let fsid = bytes::array::<16>(&sb, SB_FSID).unwrap_or_default();
        let label = bytes::slice(&sb, SB_LABEL, SB_LABEL_LEN)
            .map(|l| l.split(|&b| b == 0).next().unwrap_or_default())
            .and_then(|l| std::str::from_utf8(l).ok())
            .map(str::to_string)
            .filter(|l| !l.is_empty());
        if best.as_ref().is_none_or(|(g, _)| generation > *g) {
            best = Some((
                generation,
                Identity {
                    uuid: bounded::uuid_string(&fsid),
                    label,
                },
            ));
        }
    }
    match best {
        Some((_, id)) => Ok(id),
        None if seen_magic => Err(BtrfsOpenError::Corrupt(
            "no superblock copy with a valid crc32c checksum".into(),
        )),
        None => Err(BtrfsOpenError::Corrupt("no Btrfs superblock magic".into())),
    }
}

/// What a `lambutter` error means to leapboot.
fn meaning(e: Error) -> Meaning {
    match e {
        Error::NotFound => Meaning::NotFound,
        Error::NotARegularFile => Meaning::NotAFile,
        e if is_unsupported(&e) => Meaning::Unsupported("this Btrfs feature"),
        e => Meaning::Corrupt(describe(&e)),
    }
}

fn is_unsupported(e: &Error) -> bool {
    matches!(
        e,
        Error::UnsupportedFeature(_) | Error::UnsupportedProfile(_) | Error::UnsupportedChecksum(_)
    )
}

/// What went wrong, in words (the crate's stable tokens kept for searching).
fn describe(e: &Error) -> String {
    match e {
        Error::Io { token, offset } => format!("read failed at byte {offset} ({token})"),
        Error::BadSuperblock(r) => match r {
            SuperblockReason::BadMagic => "no Btrfs superblock magic".into(),
            SuperblockReason::BadCsum => "superblock checksum mismatch".into(),
            SuperblockReason::GenerationSkew => "superblock copies disagree".into(),
            SuperblockReason::NoValidCopy => "no valid superblock copy".into(),
            SuperblockReason::UnsupportedCsumType => "unsupported checksum type".into(),
            SuperblockReason::UnsupportedIncompat => "unsupported incompatible feature".into(),
            SuperblockReason::BadGeometry => "impossible sector or node size".into(),
        },
        Error::UnsupportedFeature(t) => format!("unsupported feature ({t})"),
        Error::UnsupportedProfile(t) => format!("unsupported chunk profile ({t})"),
        Error::UnsupportedChecksum(t) => format!("unsupported checksum type ({t})"),
        Error::CsumMismatch { logical } => {
            format!("metadata checksum mismatch in the tree block at logical {logical:#x}")
        }
        Error::CorruptBtree { token, logical } => {
            format!("corrupt B-tree ({token}) at logical {logical:#x}")
        }
        Error::NotFound => "not found".into(),
        Error::NotARegularFile => "not a regular file".into(),
        Error::NotASymlink => "not a symbolic link".into(),
        Error::NotASubvolume => "not a subvolume".into(),
        Error::BadCompression { algorithm } => format!("bad compressed extent ({algorithm})"),
        Error::OutOfMemory { token } => format!("out of memory ({token})"),
    }
}
