//! Boot counting's one write (Boot Loader Specification, "Boot counting"): renaming
//! an entry file `+LEFT[-DONE]` to `+(LEFT-1)-(DONE+1)` on its FAT volume before the
//! entry boots. The only place leapboot opens a disk read-write.
//!
//! The rename is done here, on the directory's sectors, rather than through `fatfs`:
//! `fatfs` 0.3's `Dir::rename` frees the old directory entries before it writes the
//! new ones, so a power cut in between loses the file. The rename must leave either
//! the old name or the new one.
//!
//! # On-disk facts used (Microsoft's FAT specification, "FAT Directory Structure" and
//! "Long File Name Implementation")
//! - The boot sector's BPB gives bytes per sector (offset 0x0B), sectors per cluster
//!   (0x0D), reserved sectors (0x0E), number of FATs (0x10), root entry count (0x11),
//!   16-bit total sectors (0x13), 16-bit FAT size (0x16), 32-bit total sectors (0x20) and,
//!   on FAT32, the 32-bit FAT size (0x24) and the root directory's first cluster (0x2C).
//!   The FAT type follows from the count of data clusters alone: below 4085 FAT12,
//!   below 65525 FAT16, else FAT32.
//! - A directory is an array of 32-byte slots. A first byte of 0x00 ends the directory
//!   (every later slot is free too); 0xE5 marks a deleted slot; 0x05 stands for a name
//!   starting with the byte 0xE5.
//! - A long name is stored in slots with attribute 0x0F just before its 8.3 ("short")
//!   slot, last part first: the first slot's ordinal has bit 0x40 set and carries the
//!   highest number, the slot just before the short slot has ordinal 1. Each holds 13
//!   UTF-16 units (bytes 1–10, 14–25, 28–31), ends with 0x0000 when there is room, and
//!   is padded with 0xFFFF. Byte 13 of each holds a checksum of the 11-byte short name
//!   (rotate the sum right by one bit, add the next byte); a long name whose checksum
//!   does not match its short slot is ignored by every reader.
//!
//! # How the rename is written
//! 1. **In place** (the usual case): the short slot is left as it is, so the long name's
//!    checksum stays valid, and only the long-name slots before it are rewritten with
//!    the new name: one aligned 512-byte write, which a disk completes whole or not at
//!    all. This is done when every slot touched lies in one 512-byte block of the disk:
//!    the new name needs as many slots as the old one; or fewer (the old leading slots
//!    are marked deleted in the same write); or more, and the slots just before the old
//!    set are deleted ones that can be reused. A counted name changes `+3` to `+2-1` and
//!    later `+2-1` to `+1-2`, so its length rarely crosses a multiple of 13 units.
//! 2. **Copy, then delete** (otherwise): a new set of long-name slots and a new short slot
//!    (a fresh `~N` short name, the same first cluster, size, attributes and times) is
//!    written into free slots of the same directory and flushed; only then are the old
//!    slots marked deleted (short slot first, so a half-deleted set is an orphan long
//!    name that readers skip). A power cut between the two steps leaves **both names**,
//!    sharing one cluster chain. The menu lists such a pair as one entry, the renamed
//!    one (`leapboot_menus::bls::merge_interrupted_renames`), and the next rename renames
//!    that one. The old name stays until something removes it: `fsck.fat` reports the
//!    shared clusters, and a repairing `fsck.fat -a` truncates the one later in the
//!    directory (the new name) to 0 bytes, after which the old name (with the try not
//!    counted) is the entry again.
//!
//! Every write is followed by `fsync` on the device. Only the 512-byte blocks holding
//! the directory slots are written: no FAT, FSInfo or data sector changes.
//!
//! Not supported: growing a directory (a rename that needs more slots than the
//! directory has free fails with [`CountError::DirectoryFull`]); writing ext4 volumes
//! (counted entries belong on the ESP or XBOOTLDR, which are FAT) or host directories.

// Parses bytes from disks and consoles: no indexing that can panic, no silent casts.
#![deny(clippy::indexing_slicing, clippy::as_conversions)]

use crate::devices::disk::Disk;
use crate::devices::volume::Volume;
use crate::devices::volume::slice::Slice;
use leapboot_menus::FsError;
use leapboot_menus::bytes::{u8_at, u16_le, u32_le};
use std::collections::HashSet;
use std::path::Path;

/// Bytes of one directory slot.
const SLOT: usize = 32;
/// [`SLOT`] as a `u64`, for disk offsets.
const SLOT_U64: u64 = 32;
/// The unit a disk writes whole: a 512-byte logical sector (4Kn disks write 4096 bytes
/// whole, and an aligned 512-byte block lies inside one of those). Blocks are counted
/// from the start of the partition, which GPT and MBR place on a sector boundary.
const BLOCK: u64 = 512;
/// [`BLOCK`] as a buffer length.
const BLOCK_LEN: usize = 512;
/// Most slots a FAT directory may have (the specification's limit of 65536 entries);
/// also the bound that stops a looping cluster chain.
const MAX_DIR_SLOTS: usize = 65_536;
/// UTF-16 units in one long-name slot.
const LFN_UNITS: usize = 13;
/// Most long-name slots of one name (255 units).
const MAX_LFN_SLOTS: usize = 20;
/// Longest long name, in UTF-16 units.
const MAX_NAME_UNITS: usize = 255;
/// Attribute byte of a long-name slot.
const ATTR_LFN: u8 = 0x0F;
/// Attribute bit: volume label.
const ATTR_VOLUME: u8 = 0x08;
/// Attribute bit: directory.
const ATTR_DIR: u8 = 0x10;
/// First byte of a deleted slot.
const DELETED: u8 = 0xE5;
/// Ordinal bit of the first-stored (last logical) long-name slot.
const LAST_LFN: u8 = 0x40;
/// Byte offsets of the 13 UTF-16 units in a long-name slot.
const LFN_UNIT_AT: [usize; LFN_UNITS] = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];

/// Why boot counting's rename failed. Nothing was written unless the variant says so.
#[derive(Debug, thiserror::Error)]
pub enum CountError {
    /// The volume is not FAT.
    #[error(
        "{path} on {device}: boot counting renames files only on FAT volumes, and this one is {fs} \
         (counted entries belong on the ESP or XBOOTLDR)"
    )]
    NotFat {
        /// The file to rename.
        path: String,
        /// Partition name.
        device: String,
        /// Its filesystem type.
        fs: String,
    },
    /// The volume is a host directory, not a partition of a disk.
    #[error("{path} on {device}: boot counting renames files only on FAT volumes on a disk")]
    NoDisk {
        /// The file to rename.
        path: String,
        /// The directory.
        device: String,
    },
    /// The new name is not acceptable.
    #[error("{path}: cannot rename to {new}: {why}")]
    BadName {
        /// The file to rename.
        path: String,
        /// The name asked for.
        new: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The file (or a directory on its path) does not exist.
    #[error("{path}: not found")]
    NotFound {
        /// The path looked for.
        path: String,
    },
    /// Another file already has the new name.
    #[error("{path}: cannot rename to {new}: a file of that name already exists")]
    Exists {
        /// The file to rename.
        path: String,
        /// The name asked for.
        new: String,
    },
    /// The copy-then-delete rename needs more free slots than the directory has.
    #[error(
        "{path}: cannot rename to {new}: the directory has no {needed} consecutive free slots \
         (leapboot does not grow directories)"
    )]
    DirectoryFull {
        /// The file to rename.
        path: String,
        /// The name asked for.
        new: String,
        /// Slots needed.
        needed: usize,
    },
    /// The filesystem's structures are damaged; nothing was written.
    #[error("{path} on {device}: corrupt FAT filesystem: {reason}")]
    Corrupt {
        /// The file to rename.
        path: String,
        /// Partition name.
        device: String,
        /// What is wrong, with the bad value and where.
        reason: String,
    },
    /// Opening, reading, writing or flushing the device failed.
    #[error("{path}: {source}")]
    Io {
        /// The file to rename.
        path: String,
        /// The device error (its message names the device, offset and errno).
        source: std::io::Error,
    },
}

impl From<CountError> for FsError {
    fn from(e: CountError) -> FsError {
        match e {
            CountError::NotFat { path, .. } => FsError::Unsupported {
                path,
                what: "renaming for boot counting (leapboot writes only FAT volumes; \
                       counted entries belong on the ESP or XBOOTLDR)",
            },
            CountError::NoDisk { path, .. } => FsError::Unsupported {
                path,
                what: "renaming for boot counting outside a FAT volume on a disk",
            },
            CountError::NotFound { path } => FsError::NotFound { path },
            CountError::Corrupt {
                path,
                device,
                reason,
            } => FsError::Corrupt {
                path,
                reason: format!("{device}: {reason}"),
            },
            CountError::Io { path, source } => FsError::Io { path, source },
            CountError::BadName { ref path, .. }
            | CountError::Exists { ref path, .. }
            | CountError::DirectoryFull { ref path, .. } => {
                let path = path.clone();
                let kind = match e {
                    CountError::Exists { .. } => std::io::ErrorKind::AlreadyExists,
                    CountError::DirectoryFull { .. } => std::io::ErrorKind::StorageFull,
                    _ => std::io::ErrorKind::InvalidInput,
                };
                let full = e.to_string();
                let msg = full
                    .strip_prefix(&format!("{path}: "))
                    .unwrap_or(&full)
                    .to_string();
                FsError::Io {
                    path,
                    source: std::io::Error::new(kind, msg),
                }
            }
        }
    }
}

/// How the rename was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Long-name slots rewritten in place: one 512-byte write.
    InPlace,
    /// New slots written, then the old ones marked deleted.
    CopyThenDelete,
}

/// What the rename wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renamed {
    /// How.
    pub method: Method,
    /// Byte offsets on the disk of the 512-byte blocks written, in write order (a block
    /// written in both steps of [`Method::CopyThenDelete`] is listed twice).
    pub blocks: Vec<u64>,
}

/// Boot counting on a mounted filesystem (host mode, `leapboot reboot`): the kernel's
/// own rename of `old` to `new` in their directory (both host paths), then the
/// directory synced; the filesystem driver keeps the rename whole (Linux's vfat adds
/// the new name before it removes the old one).
pub fn rename_mounted(old: &Path, new: &Path) -> std::io::Result<()> {
    std::fs::rename(old, new)?;
    if let Some(dir) = new.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Renames `old` to `new` (both absolute within `vol`, in the same directory) on the
/// volume's device. Boot counting's rename, called by the boot path after the kernel
/// was loaded and before the jump. See the module docs for how it stays crash-safe.
pub fn rename(vol: &Volume, old: &str, new: &str) -> Result<(), FsError> {
    if vol.info.fs_type != crate::devices::volume::FsType::Fat.as_str() {
        return Err(CountError::NotFat {
            path: old.to_string(),
            device: vol.info.device.clone(),
            fs: vol.info.fs_type.clone(),
        }
        .into());
    }
    let Some(loc) = &vol.location else {
        return Err(CountError::NoDisk {
            path: old.to_string(),
            device: vol.info.device.clone(),
        }
        .into());
    };
    rename_at(
        &loc.disk_path,
        &vol.info.device,
        loc.partition.offset,
        loc.partition.len,
        old,
        new,
    )
    .map(|_| ())
    .map_err(FsError::from)
}

/// [`rename`] on the FAT filesystem at `offset..offset + len` of the disk or image at
/// `disk_path` (`device` names the partition in messages), saying how it was written.
pub fn rename_at(
    disk_path: &Path,
    device: &str,
    offset: u64,
    len: u64,
    old: &str,
    new: &str,
) -> Result<Renamed, CountError> {
    let (old_dir, old_name) = split(old);
    let (new_dir, new_name) = split(new);
    let bad = |why| CountError::BadName {
        path: old.to_string(),
        new: new.to_string(),
        why,
    };
    if !same_dir(old_dir, new_dir) {
        return Err(bad("not in the same directory"));
    }
    if old_name.is_empty() {
        return Err(CountError::NotFound {
            path: old.to_string(),
        });
    }
    let new_units: Vec<u16> = new_name.encode_utf16().collect();
    check_long_name(new_name, &new_units).map_err(bad)?;

    let disk_name = disk_path.display().to_string();
    let disk = Disk::open_rw(disk_path, &disk_name).map_err(|e| CountError::Io {
        path: old.to_string(),
        source: std::io::Error::other(e),
    })?;
    let fat = Fat::open(Slice::new(disk, offset, len), old, device)?;
    let dir = fat.walk(old_dir)?;
    let items = dir.items();
    let target = items
        .iter()
        .find(|i| !i.is_dir() && i.matches(old_name))
        .ok_or_else(|| CountError::NotFound {
            path: old.to_string(),
        })?;
    if items
        .iter()
        .any(|i| !std::ptr::eq(i, target) && i.matches(new_name))
    {
        return Err(CountError::Exists {
            path: old.to_string(),
            new: new.to_string(),
        });
    }
    let new_slots = new_units.len().div_ceil(LFN_UNITS);
    if let Some(start) = dir.in_place_start(target, new_slots) {
        return fat.rename_in_place(&dir, target, start, &new_units);
    }
    fat.copy_then_delete(&dir, &items, target, &new_units, new)
}

/// Splits `/a/b/c` into (`/a/b`, `c`).
fn split(path: &str) -> (&str, &str) {
    let p = path.trim_end_matches('/');
    p.rsplit_once('/').unwrap_or(("", p))
}

/// The non-empty, non-`.` components of a path.
fn components(path: &str) -> Vec<&str> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect()
}

/// True when two directory paths name the same directory, compared as FAT compares names.
fn same_dir(a: &str, b: &str) -> bool {
    let (a, b) = (components(a), components(b));
    a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| same_name(x, y))
}

/// FAT name comparison: without regard to case.
fn same_name(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase()
}

/// A long name FAT can hold: 1–255 UTF-16 units, none of `"*/:<>?\|` or control
/// characters, no trailing dot or space (which readers strip), not `.` or `..`.
fn check_long_name(name: &str, units: &[u16]) -> Result<(), &'static str> {
    if name.is_empty() || name == "." || name == ".." {
        return Err("the name is empty, `.` or `..`");
    }
    if units.len() > MAX_NAME_UNITS {
        return Err("the name is longer than 255 UTF-16 units");
    }
    if name
        .chars()
        .any(|c| c < ' ' || c == '\u{7f}' || "\"*/:<>?\\|".contains(c))
    {
        return Err("the name contains a character FAT does not allow");
    }
    if name.ends_with('.') || name.ends_with(' ') {
        return Err("the name ends with a dot or a space");
    }
    Ok(())
}

/// The checksum of an 11-byte short name that every long-name slot carries.
fn sfn_checksum(name: &[u8; 11]) -> u8 {
    name.iter()
        .fold(0u8, |sum, &b| sum.rotate_right(1).wrapping_add(b))
}

/// FAT12, FAT16 or FAT32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Fat12,
    Fat16,
    Fat32,
}

/// An opened FAT filesystem: the BPB's geometry, on a writable slice.
struct Fat<'a> {
    slice: Slice,
    kind: Kind,
    /// Bytes per cluster.
    cluster: u64,
    /// Byte offset of the first FAT.
    fat_start: u64,
    /// Bytes of one FAT.
    fat_len: u64,
    /// FAT12/16: byte offset and length of the fixed root directory region.
    root_region: (u64, u64),
    /// FAT32: the root directory's first cluster.
    root_cluster: u32,
    /// Byte offset of cluster 2.
    data_start: u64,
    /// Highest valid cluster number (count of clusters + 1).
    max_cluster: u32,
    /// The file being renamed, for messages.
    path: &'a str,
    /// The partition, for messages.
    device: &'a str,
}

impl<'a> Fat<'a> {
    fn corrupt(&self, reason: String) -> CountError {
        CountError::Corrupt {
            path: self.path.to_string(),
            device: self.device.to_string(),
            reason,
        }
    }

    /// The new name needs more than [`MAX_LFN_SLOTS`] slots (`check_long_name` refuses
    /// such names before anything is opened).
    fn too_long(&self, units: &[u16]) -> CountError {
        CountError::BadName {
            path: self.path.to_string(),
            new: String::from_utf16_lossy(units),
            why: "the name is longer than 255 UTF-16 units",
        }
    }

    fn read(&self, at: u64, buf: &mut [u8]) -> Result<(), CountError> {
        read_at(&self.slice, at, buf, self.path, self.device)
    }

    /// The `N` bytes at `at`.
    fn read_array<const N: usize>(&self, at: u64) -> Result<[u8; N], CountError> {
        let mut buf = [0u8; N];
        self.read(at, &mut buf)?;
        Ok(buf)
    }

    fn write(&self, at: u64, buf: &[u8]) -> Result<(), CountError> {
        self.slice
            .write_all_at(at, buf)
            .map_err(|source| CountError::Io {
                path: self.path.to_string(),
                source,
            })
    }

    fn sync(&self) -> Result<(), CountError> {
        self.slice.sync().map_err(|source| CountError::Io {
            path: self.path.to_string(),
            source,
        })
    }

    /// Reads and checks the BPB.
    fn open(slice: Slice, path: &'a str, device: &'a str) -> Result<Fat<'a>, CountError> {
        let corrupt = |reason: String| CountError::Corrupt {
            path: path.to_string(),
            device: device.to_string(),
            reason,
        };
        let mut bs = [0u8; 512];
        read_at(&slice, 0, &mut bs, path, device)?;
        if bs[510] != 0x55 || bs[511] != 0xAA {
            return Err(corrupt("no boot sector signature 0x55AA".into()));
        }
        // Every field below lies inside the 512 bytes just read: `None` cannot happen.
        let missing = |at: usize| corrupt(format!("no BPB field at {at:#x}"));
        let field16 = |at: usize| u16_le(&bs, at).ok_or_else(|| missing(at));
        let field32 = |at: usize| u32_le(&bs, at).ok_or_else(|| missing(at));
        let bps = field16(0x0B)?;
        if !matches!(bps, 512 | 1024 | 2048 | 4096) {
            return Err(corrupt(format!("bytes per sector is {bps}")));
        }
        let spc = bs[0x0D];
        if !spc.is_power_of_two() {
            return Err(corrupt(format!("sectors per cluster is {spc}")));
        }
        let rsvd = field16(0x0E)?;
        let nfats = bs[0x10];
        let root_entries = field16(0x11)?;
        let tot16 = field16(0x13)?;
        let fat16 = field16(0x16)?;
        let tot32 = field32(0x20)?;
        let fat32 = field32(0x24)?;
        if rsvd == 0 || nfats == 0 {
            return Err(corrupt(format!(
                "{rsvd} reserved sectors and {nfats} FATs in the boot sector"
            )));
        }
        let fat_sectors = if fat16 != 0 { u32::from(fat16) } else { fat32 };
        let total = if tot16 != 0 { u32::from(tot16) } else { tot32 };
        let sector = u64::from(bps);
        // u16/u32 values times at most 4096: no overflow in u64.
        let root_sectors = (u64::from(root_entries) * SLOT_U64).div_ceil(sector);
        let meta = u64::from(rsvd) + u64::from(nfats) * u64::from(fat_sectors) + root_sectors;
        let data_sectors = u64::from(total)
            .checked_sub(meta)
            .filter(|_| fat_sectors > 0);
        let Some(data_sectors) = data_sectors else {
            return Err(corrupt(format!(
                "{total} sectors in all but {meta} before the data region (FAT size {fat_sectors})"
            )));
        };
        if u64::from(total) * sector > slice.len() {
            return Err(corrupt(format!(
                "the boot sector claims {} bytes but the partition has {}",
                u64::from(total) * sector,
                slice.len()
            )));
        }
        let clusters = data_sectors / u64::from(spc);
        let kind = if clusters < 4085 {
            Kind::Fat12
        } else if clusters < 65525 {
            Kind::Fat16
        } else {
            Kind::Fat32
        };
        // At most 2^32 / 1 sectors: fits u32 after the +1 below only if checked.
        let max_cluster = u32::try_from(clusters + 1)
            .ok()
            .filter(|&m| m <= 0x0FFF_FFF6)
            .ok_or_else(|| corrupt(format!("{clusters} clusters")))?;
        let root_cluster = field32(0x2C)?;
        if kind == Kind::Fat32 {
            if root_entries != 0 {
                return Err(corrupt(format!(
                    "FAT32 with {root_entries} fixed root directory entries"
                )));
            }
            if !(2..=max_cluster).contains(&root_cluster) {
                return Err(corrupt(format!(
                    "root directory cluster {root_cluster} is outside 2..={max_cluster}"
                )));
            }
        } else if root_entries == 0 {
            return Err(corrupt("FAT12/16 without root directory entries".into()));
        }
        let fat_start = u64::from(rsvd) * sector;
        let fat_len = u64::from(fat_sectors) * sector;
        let root_start = fat_start + u64::from(nfats) * fat_len;
        Ok(Fat {
            slice,
            kind,
            cluster: sector * u64::from(spc),
            fat_start,
            fat_len,
            root_region: (root_start, u64::from(root_entries) * SLOT_U64),
            root_cluster,
            data_start: root_start + root_sectors * sector,
            max_cluster,
            path,
            device,
        })
    }

    /// The FAT entry of `cluster`: the next cluster, or `None` at the end of the chain.
    fn next(&self, cluster: u32) -> Result<Option<u32>, CountError> {
        let (at, width) = match self.kind {
            Kind::Fat12 => (u64::from(cluster) + u64::from(cluster / 2), 2),
            Kind::Fat16 => (u64::from(cluster) * 2, 2),
            Kind::Fat32 => (u64::from(cluster) * 4, 4),
        };
        if at + width > self.fat_len {
            return Err(self.corrupt(format!(
                "cluster {cluster}'s FAT entry lies past the end of the {}-byte FAT",
                self.fat_len
            )));
        }
        let entry = self.fat_start + at;
        let (value, end_min) = match self.kind {
            Kind::Fat12 => {
                let v = u32::from(u16::from_le_bytes(self.read_array(entry)?));
                let v = if cluster % 2 == 1 { v >> 4 } else { v & 0x0FFF };
                (v, 0x0FF8)
            }
            Kind::Fat16 => (
                u32::from(u16::from_le_bytes(self.read_array(entry)?)),
                0xFFF8,
            ),
            Kind::Fat32 => (
                u32::from_le_bytes(self.read_array(entry)?) & 0x0FFF_FFFF,
                0x0FFF_FFF8,
            ),
        };
        if value >= end_min {
            Ok(None)
        } else if (2..=self.max_cluster).contains(&value) {
            Ok(Some(value))
        } else {
            Err(self.corrupt(format!(
                "cluster {cluster} is followed by {value:#x} in the FAT (free, bad or out of range)"
            )))
        }
    }

    /// Byte offset of a cluster's first byte.
    fn cluster_offset(&self, cluster: u32) -> u64 {
        // cluster <= max_cluster, checked by every caller: no underflow, no overflow in u64.
        self.data_start + u64::from(cluster - 2) * self.cluster
    }

    /// Reads the directory whose first cluster is `start` (0: the root).
    fn read_dir(&self, start: u32, name: &str) -> Result<Dir, CountError> {
        if start == 0 && self.kind != Kind::Fat32 {
            let (at, len) = self.root_region;
            let mut data = vec![0u8; usize::try_from(len).unwrap_or(0)];
            self.read(at, &mut data)?;
            return Ok(Dir {
                data,
                extents: vec![at],
                extent_len: len,
            });
        }
        let first = if start == 0 { self.root_cluster } else { start };
        if !(2..=self.max_cluster).contains(&first) {
            return Err(self.corrupt(format!(
                "directory {name} starts at cluster {first}, outside 2..={}",
                self.max_cluster
            )));
        }
        let max_clusters = u64::try_from(MAX_DIR_SLOTS * SLOT).unwrap_or(u64::MAX) / self.cluster;
        // At most 4096 * 128 bytes (checked in `open`).
        let cluster_len = usize::try_from(self.cluster)
            .map_err(|_| self.corrupt(format!("{} bytes per cluster", self.cluster)))?;
        let mut seen = HashSet::new();
        let mut extents = Vec::new();
        let mut data = Vec::new();
        let mut c = Some(first);
        while let Some(cl) = c {
            if !seen.insert(cl) {
                return Err(self.corrupt(format!(
                    "the cluster chain of directory {name} loops back to cluster {cl}"
                )));
            }
            if u64::try_from(extents.len()).unwrap_or(u64::MAX) >= max_clusters.max(1) {
                return Err(self.corrupt(format!(
                    "directory {name} is longer than {MAX_DIR_SLOTS} entries"
                )));
            }
            let at = self.cluster_offset(cl);
            let mut bytes = vec![0u8; cluster_len];
            self.read(at, &mut bytes)?;
            data.extend_from_slice(&bytes);
            extents.push(at);
            c = self.next(cl)?;
        }
        Ok(Dir {
            data,
            extents,
            extent_len: self.cluster,
        })
    }

    /// Follows `dir_path` from the root; returns the last directory.
    fn walk(&self, dir_path: &str) -> Result<Dir, CountError> {
        let mut dir = self.read_dir(0, "/")?;
        let mut walked = String::new();
        for comp in components(dir_path) {
            walked.push('/');
            walked.push_str(comp);
            let items = dir.items();
            let Some(sub) = items.iter().find(|i| i.is_dir() && i.matches(comp)) else {
                return Err(CountError::NotFound { path: walked });
            };
            let cluster = sub.cluster(self.kind);
            // A subdirectory never starts at cluster 0 (only `..` pointing at the root does).
            if cluster == 0 {
                return Err(self.corrupt(format!("directory {walked} has first cluster 0")));
            }
            dir = self.read_dir(cluster, &walked)?;
        }
        Ok(dir)
    }

    /// Patches `slots` (slot index, new 32 bytes) into the disk, one 512-byte
    /// read-modify-write per block, blocks in the order their first slot is listed.
    /// Returns the disk offsets of the blocks written.
    fn patch(&self, dir: &Dir, slots: &[(usize, [u8; SLOT])]) -> Result<Vec<u64>, CountError> {
        let mut blocks: Vec<u64> = Vec::new();
        for &(i, _) in slots {
            let b = dir.slot_offset(i) / BLOCK * BLOCK;
            if !blocks.contains(&b) {
                blocks.push(b);
            }
        }
        for &b in &blocks {
            let mut buf = [0u8; BLOCK_LEN];
            self.read(b, &mut buf)?;
            for &(i, bytes) in slots {
                let at = dir.slot_offset(i);
                if at / BLOCK * BLOCK == b {
                    // Extents start on sector boundaries, so a 32-byte slot never
                    // straddles two blocks.
                    let dst = usize::try_from(at - b)
                        .ok()
                        .and_then(|o| buf.get_mut(o..o.checked_add(SLOT)?))
                        .ok_or_else(|| {
                            self.corrupt(format!("slot {i} at byte {at} straddles two blocks"))
                        })?;
                    dst.copy_from_slice(&bytes);
                }
            }
            self.write(b, &buf)?;
        }
        Ok(blocks.iter().map(|b| b + self.slice.offset()).collect())
    }

    /// Writes the long name `units` into the slots `start..target.sfn` (see
    /// [`Dir::in_place_start`]) and marks the old long-name slots before `start` deleted;
    /// the short slot is not touched. One block, one write.
    fn rename_in_place(
        &self,
        dir: &Dir,
        target: &Item,
        start: usize,
        units: &[u16],
    ) -> Result<Renamed, CountError> {
        let n = target.sfn - start;
        let sum = sfn_checksum(&target.short);
        let slots: Vec<(usize, [u8; SLOT])> = (start.min(target.first)..target.sfn)
            .map(|i| {
                let mut s = dir.slot(i);
                if i < start {
                    s[0] = DELETED;
                } else {
                    // The first stored slot has the highest ordinal.
                    let ord = target.sfn - i;
                    s = lfn_slot(units, ord, ord == n, sum).ok_or_else(|| self.too_long(units))?;
                }
                Ok((i, s))
            })
            .collect::<Result<_, CountError>>()?;
        let blocks = self.patch(dir, &slots)?;
        self.sync()?;
        Ok(Renamed {
            method: Method::InPlace,
            blocks,
        })
    }

    /// Writes a new set of slots for `units` into free slots, flushes, then marks the
    /// old set deleted and flushes.
    fn copy_then_delete(
        &self,
        dir: &Dir,
        items: &[Item],
        target: &Item,
        units: &[u16],
        new: &str,
    ) -> Result<Renamed, CountError> {
        let lfn = units.len().div_ceil(LFN_UNITS);
        let needed = lfn + 1;
        let start = dir
            .free_run(needed)
            .ok_or_else(|| CountError::DirectoryFull {
                path: self.path.to_string(),
                new: new.to_string(),
                needed,
            })?;
        let short = unique_short_name(units, items).ok_or_else(|| CountError::Exists {
            path: self.path.to_string(),
            new: format!("{new} (no free ~N short name)"),
        })?;
        let sum = sfn_checksum(&short);
        let mut new_slots = Vec::with_capacity(needed);
        for k in 0..lfn {
            let ord = lfn - k;
            let s = lfn_slot(units, ord, k == 0, sum).ok_or_else(|| self.too_long(units))?;
            new_slots.push((start + k, s));
        }
        let mut sfn = dir.slot(target.sfn);
        sfn[..11].copy_from_slice(&short);
        sfn[12] = 0; // case flags: the long name carries the case
        new_slots.push((start + lfn, sfn));
        let mut blocks = self.patch(dir, &new_slots)?;
        self.sync()?;
        // Short slot first: a cut after it leaves orphan long-name slots, which readers skip.
        let old: Vec<(usize, [u8; SLOT])> = std::iter::once(target.sfn)
            .chain(target.first..target.sfn)
            .map(|i| {
                let mut s = dir.slot(i);
                s[0] = DELETED;
                (i, s)
            })
            .collect();
        blocks.extend(self.patch(dir, &old)?);
        self.sync()?;
        Ok(Renamed {
            method: Method::CopyThenDelete,
            blocks,
        })
    }
}

fn read_at(
    slice: &Slice,
    at: u64,
    buf: &mut [u8],
    path: &str,
    device: &str,
) -> Result<(), CountError> {
    slice.read_exact_at(at, buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            CountError::Corrupt {
                path: path.to_string(),
                device: device.to_string(),
                reason: e.to_string(),
            }
        } else {
            CountError::Io {
                path: path.to_string(),
                source: e,
            }
        }
    })
}

/// Puts the 13 units of long-name slot `ord` (1-based) of `units` into `slot`: the
/// name, then one 0x0000 if there is room, then 0xFFFF.
fn fill_lfn_units(slot: &mut [u8; SLOT], units: &[u16], ord: usize) {
    let base = (ord - 1) * LFN_UNITS;
    for (j, &at) in LFN_UNIT_AT.iter().enumerate() {
        let idx = base + j;
        let u = match units.get(idx) {
            Some(&u) => u,
            None if idx == units.len() => 0x0000,
            None => 0xFFFF,
        };
        // Every offset in `LFN_UNIT_AT` is at most 30: the unit is inside the slot.
        if let Some(dst) = slot.get_mut(at..at + 2) {
            dst.copy_from_slice(&u.to_le_bytes());
        }
    }
}

/// The 13 UTF-16 units of a long-name slot, in order.
fn lfn_units(slot: &[u8; SLOT]) -> [u16; LFN_UNITS] {
    // Every offset in `LFN_UNIT_AT` is at most 30: the unit is inside the slot.
    LFN_UNIT_AT.map(|at| u16_le(slot, at).unwrap_or(0xFFFF))
}

/// Long-name slot `ord` (1-based, at most [`MAX_LFN_SLOTS`]) of `units`, checksum
/// `sum`; `last` marks the first-stored slot, the one with the highest ordinal. `None`
/// when `ord` does not fit the ordinal byte.
fn lfn_slot(units: &[u16], ord: usize, last: bool, sum: u8) -> Option<[u8; SLOT]> {
    let ord_byte = u8::try_from(ord)
        .ok()
        .filter(|_| (1..=MAX_LFN_SLOTS).contains(&ord))?;
    let mut s = [0u8; SLOT];
    s[0] = ord_byte | if last { LAST_LFN } else { 0 };
    s[11] = ATTR_LFN;
    s[13] = sum;
    fill_lfn_units(&mut s, units, ord);
    Some(s)
}

/// A short name for a new slot: the long name's letters upper-cased (others become
/// `_`), at most 6 of them, `~N`, and up to 3 of the extension, unique in the directory.
fn unique_short_name(units: &[u16], items: &[Item]) -> Option<[u8; 11]> {
    let name = String::from_utf16_lossy(units);
    let (base, ext) = match name.rfind('.') {
        Some(d) if d > 0 => (&name[..d], &name[d + 1..]),
        _ => (name.as_str(), ""),
    };
    let clean = |s: &str, n: usize| -> Vec<u8> {
        s.chars()
            .filter(|c| *c != ' ' && *c != '.')
            .map(|c| {
                let c = c.to_ascii_uppercase();
                match u8::try_from(c) {
                    Ok(b) if c.is_ascii_alphanumeric() || "$%'-_@~`!(){}^#&".contains(c) => b,
                    _ => b'_',
                }
            })
            .take(n)
            .collect()
    };
    let base = clean(base, 8);
    let ext = clean(ext, 3);
    let taken: HashSet<[u8; 11]> = items.iter().map(|i| i.short).collect();
    for n in 1u32..=999_999 {
        let tail = format!("~{n}");
        let keep = base.len().min(8 - tail.len());
        // keep + tail.len() <= 8 and ext.len() <= 3: everything lands in the 11 bytes.
        let mut s = [b' '; 11];
        let stem = base.iter().take(keep).chain(tail.as_bytes());
        for (d, &b) in s.iter_mut().zip(stem) {
            *d = b;
        }
        for (d, &b) in s.iter_mut().skip(8).zip(&ext) {
            *d = b;
        }
        if s[0] == DELETED {
            s[0] = 0x05;
        }
        if !taken.contains(&s) {
            return Some(s);
        }
    }
    None
}

/// A directory's bytes and where they live.
struct Dir {
    data: Vec<u8>,
    /// Partition byte offset of each extent (a cluster, or the fixed root region).
    extents: Vec<u64>,
    /// Bytes per extent.
    extent_len: u64,
}

/// One live file or directory in a directory.
#[derive(Debug)]
struct Item {
    /// Slot index of its first long-name slot (== `sfn` without a long name).
    first: usize,
    /// Slot index of its short slot.
    sfn: usize,
    /// Long name, when a valid one precedes the short slot.
    long: Option<String>,
    /// The 11 bytes of the short name.
    short: [u8; 11],
    /// The short name as shown (`NAME.EXT`, case flags applied).
    short_display: String,
    /// The short slot's 32 bytes.
    raw: [u8; SLOT],
}

impl Item {
    fn is_dir(&self) -> bool {
        self.raw[11] & ATTR_DIR != 0
    }

    fn matches(&self, name: &str) -> bool {
        self.long.as_deref().is_some_and(|l| same_name(l, name))
            || same_name(&self.short_display, name)
    }

    fn cluster(&self, kind: Kind) -> u32 {
        // Offsets 20 and 26 are inside the 32-byte slot: the reads never miss.
        let lo = u16_le(&self.raw, 26).map_or(0, u32::from);
        let hi = if kind == Kind::Fat32 {
            u16_le(&self.raw, 20).map_or(0, u32::from)
        } else {
            0
        };
        hi << 16 | lo
    }
}

/// The short name as readers show it: `NAME.EXT`, with the lower-case flags of byte 12.
fn short_display(raw: &[u8; SLOT]) -> String {
    let conv = |b: &[u8], lower: bool| -> String {
        b.iter()
            .map(|&c| {
                let c = char::from(c);
                if lower { c.to_ascii_lowercase() } else { c }
            })
            .collect::<String>()
            .trim_end()
            .to_string()
    };
    let mut name = raw[..8].to_vec();
    if let Some(first) = name.first_mut()
        && *first == 0x05
    {
        *first = DELETED;
    }
    let base = conv(&name, raw[12] & 0x08 != 0);
    let ext = conv(&raw[8..11], raw[12] & 0x10 != 0);
    if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    }
}

impl Dir {
    fn slot_count(&self) -> usize {
        (self.data.len() / SLOT).min(MAX_DIR_SLOTS)
    }

    fn slot(&self, i: usize) -> [u8; SLOT] {
        let mut s = [0u8; SLOT];
        if let Some(b) = self.data.get(i * SLOT..(i + 1) * SLOT) {
            s.copy_from_slice(b);
        }
        s
    }

    /// The first byte of slot `i` (`None` past the end).
    fn first_byte(&self, i: usize) -> Option<u8> {
        u8_at(&self.data, i.checked_mul(SLOT)?)
    }

    /// Partition byte offset of slot `i` (slots never straddle extents: extents are
    /// whole sectors).
    fn slot_offset(&self, i: usize) -> u64 {
        let at = u64::try_from(i * SLOT).unwrap_or(u64::MAX);
        let e = usize::try_from(at / self.extent_len).unwrap_or(usize::MAX);
        self.extents.get(e).copied().unwrap_or(0) + at % self.extent_len
    }

    /// Index of the end marker (the first slot starting with 0x00), or the slot count.
    fn end(&self) -> usize {
        (0..self.slot_count())
            .find(|&i| self.first_byte(i) == Some(0))
            .unwrap_or(self.slot_count())
    }

    /// Every live file and directory, with its long name when valid.
    fn items(&self) -> Vec<Item> {
        let mut out = Vec::new();
        // The long-name run being collected: (first slot, count, checksum, next ordinal
        // expected, units by ordinal).
        let mut run: Option<(usize, usize, u8, usize, Vec<u16>)> = None;
        for i in 0..self.end() {
            let s = self.slot(i);
            if s[0] == DELETED {
                run = None;
                continue;
            }
            if s[11] == ATTR_LFN {
                let ord = usize::from(s[0] & 0x3F);
                if s[0] & LAST_LFN != 0 {
                    run = (1..=MAX_LFN_SLOTS)
                        .contains(&ord)
                        .then(|| (i, ord, s[13], ord, vec![0xFFFF; ord * LFN_UNITS]));
                }
                match &mut run {
                    // Ordinal 0 is never valid (after ordinal 1 the run expects 0).
                    Some((_, _, sum, expect, units))
                        if *expect == ord && ord > 0 && *sum == s[13] =>
                    {
                        // 1 <= ord <= the run's count: its 13 units are inside `units`.
                        let part = units.iter_mut().skip((ord - 1) * LFN_UNITS);
                        for (u, v) in part.zip(lfn_units(&s)) {
                            *u = v;
                        }
                        *expect -= 1;
                    }
                    _ => run = None,
                }
                continue;
            }
            let mut short = [0u8; 11];
            short.copy_from_slice(&s[..11]);
            let lfn = run.take();
            if s[11] & ATTR_VOLUME != 0 {
                continue;
            }
            let (first, long) = match lfn {
                Some((first, _, sum, 0, units)) if sum == sfn_checksum(&short) => {
                    // The name ends at the first 0x0000 unit, if any.
                    let name = units.split(|&u| u == 0).next().unwrap_or_default();
                    (first, Some(String::from_utf16_lossy(name)))
                }
                _ => (i, None),
            };
            out.push(Item {
                first,
                sfn: i,
                long,
                short,
                short_display: short_display(&s),
                raw: s,
            });
        }
        out
    }

    /// Where the long name of `target` can be rewritten in place to take `slots` slots
    /// (ending, as always, just before the unchanged short slot): the first slot of the
    /// new set. Possible when every slot touched (the new set, and old long-name slots
    /// that it no longer needs, which are marked deleted) lies in one 512-byte block, and
    /// any extra slots the new set needs before the old set are deleted (free) slots.
    fn in_place_start(&self, target: &Item, slots: usize) -> Option<usize> {
        let start = target.sfn.checked_sub(slots)?;
        if slots == 0 || (start..target.first).any(|i| self.first_byte(i) != Some(DELETED)) {
            return None;
        }
        let first = start.min(target.first);
        (self.slot_offset(first) / BLOCK == self.slot_offset(target.sfn - 1) / BLOCK)
            .then_some(start)
    }

    /// First index of `n` consecutive free slots (deleted, or from the end marker on).
    fn free_run(&self, n: usize) -> Option<usize> {
        let end = self.end();
        let mut start = 0;
        let mut len = 0;
        for i in 0..self.slot_count() {
            if i >= end || self.first_byte(i) == Some(DELETED) {
                if len == 0 {
                    start = i;
                }
                len += 1;
                if len == n {
                    return Some(start);
                }
            } else {
                len = 0;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checksum of the short name `X_1~1   CON`, as mtools writes it.
    #[test]
    fn checksum_rotates_right() {
        let mut sum = 0u8;
        for &b in b"X_1~1   CON" {
            sum = ((sum & 1) << 7).wrapping_add(sum >> 1).wrapping_add(b);
        }
        assert_eq!(sfn_checksum(b"X_1~1   CON"), sum);
    }

    #[test]
    fn lfn_units_are_terminated_then_padded() {
        let units: Vec<u16> = "x+0-1.conf".encode_utf16().collect();
        let mut s = [0u8; SLOT];
        fill_lfn_units(&mut s, &units, 1);
        let got = lfn_units(&s).to_vec();
        let mut want = units.clone();
        want.push(0);
        want.extend([0xFFFF, 0xFFFF]);
        assert_eq!(got, want);
        // Exactly 13 units: no terminator.
        let units: Vec<u16> = "abcdef+1.conf".encode_utf16().collect();
        fill_lfn_units(&mut s, &units, 1);
        let got = lfn_units(&s).to_vec();
        assert_eq!(got, units);
    }

    #[test]
    fn names_fat_refuses() {
        for bad in ["", "a/b", "a:b", "a*", "a?", "tab\t", "dot.", "space "] {
            let u: Vec<u16> = bad.encode_utf16().collect();
            assert!(check_long_name(bad, &u).is_err(), "{bad:?}");
        }
        let long = "a".repeat(256);
        let u: Vec<u16> = long.encode_utf16().collect();
        assert!(check_long_name(&long, &u).is_err());
        let u: Vec<u16> = "x+0-1.conf".encode_utf16().collect();
        assert!(check_long_name("x+0-1.conf", &u).is_ok());
    }

    fn dir_of(slots: &[[u8; SLOT]], total: usize) -> Dir {
        let mut data = vec![0u8; total * SLOT];
        for (i, s) in slots.iter().enumerate() {
            data[i * SLOT..(i + 1) * SLOT].copy_from_slice(s);
        }
        Dir {
            data,
            extents: vec![0],
            extent_len: u64::try_from(total * SLOT).unwrap(),
        }
    }

    fn sfn(name: &[u8; 11]) -> [u8; SLOT] {
        let mut s = [0u8; SLOT];
        s[..11].copy_from_slice(name);
        s[11] = 0x20;
        s
    }

    fn lfn(name: &str, short: &[u8; 11]) -> Vec<[u8; SLOT]> {
        let units: Vec<u16> = name.encode_utf16().collect();
        let n = units.len().div_ceil(LFN_UNITS);
        (0..n)
            .map(|k| lfn_slot(&units, n - k, k == 0, sfn_checksum(short)).unwrap())
            .collect()
    }

    #[test]
    fn items_read_long_names_and_skip_orphans() {
        let long = "fedora-40-6.8.9-300.fc40.x86_64+3.conf";
        let mut slots = lfn(long, b"FEDORA~1CON");
        slots.push(sfn(b"FEDORA~1CON"));
        // An orphan long name (wrong checksum) before a plain short name.
        slots.extend(lfn("orphan.conf", b"SOMETHINGEL"));
        slots.push(sfn(b"A01     TXT"));
        let mut del = sfn(b"GONE    TXT");
        del[0] = DELETED;
        slots.push(del);
        let d = dir_of(&slots, 16);
        let items = d.items();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].long.as_deref(), Some(long));
        assert_eq!((items[0].first, items[0].sfn), (0, 3));
        assert_eq!(items[1].long, None);
        assert_eq!(items[1].short_display, "A01.TXT");
        assert!(items[1].matches("a01.txt"));
        assert_eq!(d.slot_offset(3), 96);
    }

    /// A long-name slot with ordinal 0 after a complete run (ordinal 1) breaks the run
    /// instead of indexing before the run's units.
    #[test]
    fn ordinal_zero_after_a_run_is_an_orphan() {
        let mut slots = lfn("a+1.conf", b"A+1     CON");
        let mut zero = slots[0];
        zero[0] = 0x80;
        slots.push(zero);
        slots.push(sfn(b"A+1     CON"));
        let items = dir_of(&slots, 4).items();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].long, None);
        assert_eq!(lfn_slot(&[0x61], 0, true, 0), None);
        assert_eq!(lfn_slot(&[0x61], MAX_LFN_SLOTS + 1, true, 0), None);
    }

    #[test]
    fn free_run_uses_deleted_slots_and_the_tail() {
        let mut del = sfn(b"GONE    TXT");
        del[0] = DELETED;
        let used = sfn(b"A01     TXT");
        let d = dir_of(&[used, del, used, del, del, used], 10);
        assert_eq!(d.free_run(1), Some(1));
        assert_eq!(d.free_run(2), Some(3));
        assert_eq!(d.free_run(3), Some(6));
        assert_eq!(d.free_run(5), None);
    }

    #[test]
    fn short_names_are_unique() {
        let units: Vec<u16> = "abcdef+0-1.conf".encode_utf16().collect();
        let first = unique_short_name(&units, &[]).unwrap();
        assert_eq!(&first, b"ABCDEF~1CON");
        let d = dir_of(&[sfn(&first)], 4);
        let second = unique_short_name(&units, &d.items()).unwrap();
        assert_eq!(&second, b"ABCDEF~2CON");
    }
}
