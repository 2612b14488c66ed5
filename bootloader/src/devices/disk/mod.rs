//! Block devices and their partition tables.
//!
//! A [`Disk`] is a block device or an image file opened read-only (boot counting's one
//! rename reopens it read-write with [`Disk::open_rw`]); [`partitions`]
//! reads its GPT (validated here before the `gpt` crate sees it) or MBR and returns
//! byte ranges. Partition tables are read by us, never by the kernel: leapboot does
//! not depend on the kernel's partition scanning or on partition device nodes.
//!
//! # Sector size
//! Every LBA in a partition table counts logical sectors of the disk: 512 bytes on
//! most disks, 4096 on "4Kn" disks (many NVMe drives), where the GPT header sits at
//! byte 4096 and a partition starting at LBA 256 starts at byte 1 MiB. A [`Disk`]
//! knows its [`sector size`](Disk::sector_size), and every table reader multiplies by
//! it; partitions leave this module as byte ranges, so nothing downstream needs it.
//! It comes from, in order:
//! 1. the caller ([`Disk::open_with_sector_size`]), for an image whose contents do not
//!    tell;
//! 2. the kernel, for a block device (`BLKSSZGET`, [`crate::sys::block`]);
//! 3. the contents, for an image file ([`probe_sector_size`]): a GPT header at byte
//!    512 or 4096, a protective MBR sized in 4096-byte units, or MBR partitions whose
//!    filesystems start at LBA × 4096 but not at LBA × 512; otherwise 512.

pub mod gpt;
pub mod mbr;
pub mod sysfs;

use leapboot_menus::VolumeRole;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Sector size of an image file whose contents show no other (and of a block device
/// whose driver reports none): the classic 512 bytes.
pub const DEFAULT_SECTOR_SIZE: u64 = 512;
/// Sector size of a "4Kn" disk (4096-byte logical sectors).
pub const SECTOR_SIZE_4KN: u64 = 4096;
/// Smallest logical sector size accepted.
pub const MIN_SECTOR_SIZE: u64 = 512;
/// Largest logical sector size accepted (Linux allows up to the page size; 64 KiB
/// covers every page size).
pub const MAX_SECTOR_SIZE: u64 = 65536;

/// Why a disk could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// Opening the device failed.
    #[error("{device}: cannot open: {source}")]
    Open {
        /// Device or image path.
        device: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A read failed.
    #[error("{device}: read of {len} bytes at offset {offset} failed: {source}")]
    Read {
        /// Device or image path.
        device: String,
        /// Byte offset.
        offset: u64,
        /// Bytes asked for.
        len: usize,
        /// The OS error.
        source: std::io::Error,
    },
    /// A write (boot counting's rename) or the `fsync` after it failed.
    #[error("{device}: write of {len} bytes at offset {offset} failed: {source}")]
    Write {
        /// Device or image path.
        device: String,
        /// Byte offset.
        offset: u64,
        /// Bytes written (0 for the `fsync`).
        len: usize,
        /// The OS error.
        source: std::io::Error,
    },
    /// The disk uses something leapboot does not read (a sector size outside
    /// [`MIN_SECTOR_SIZE`]..=[`MAX_SECTOR_SIZE`], a GPT on sectors the `gpt` crate
    /// cannot read).
    #[error("{device}: {what} is not supported")]
    Unsupported {
        /// Device or image path.
        device: String,
        /// What, with the value.
        what: String,
    },
    /// The partition table is damaged.
    #[error("{device}: corrupt {table} partition table: {reason}")]
    Corrupt {
        /// Device or image path.
        device: String,
        /// `GPT` or `MBR`.
        table: &'static str,
        /// What is wrong, with the bad value.
        reason: String,
    },
}

/// A block device or disk image, opened read-only (or, for boot counting's one
/// rename, read-write), shareable between volumes; or a device assembled in user
/// space from byte ranges of other disks ([`Disk::mapped`]).
#[derive(Debug, Clone)]
pub struct Disk {
    /// Short name for display (`vda`, or the image path).
    pub name: String,
    /// Path that was opened.
    pub path: PathBuf,
    backend: Backend,
    /// Size in bytes.
    pub size: u64,
    sector_size: u64,
    writable: bool,
}

/// What a [`Disk`] reads from.
#[derive(Debug, Clone)]
enum Backend {
    /// A block device or image file.
    File(Arc<File>),
    /// Byte ranges of other disks (`devices::stack`: a RAID1 array, an LVM LV).
    Mapped(Arc<dyn Mapping>),
}

/// A device made of byte ranges of other disks, read through [`Disk::mapped`]: a
/// RAID1 array read through one member, a logical volume over its PVs.
pub trait Mapping: Send + Sync + std::fmt::Debug {
    /// Reads exactly `buf.len()` bytes at `offset` of the device.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;

    /// The names GRUB gives the device (`md/0`, `lvmid/...`), its own name first.
    fn grub_names(&self) -> Vec<String> {
        Vec::new()
    }
}

impl Disk {
    /// A read-only disk whose bytes come from `map` (a device `devices::stack`
    /// assembled): `size` bytes of `sector_size`-byte sectors, `path` for display only
    /// (it is never opened).
    pub fn mapped(
        name: &str,
        path: PathBuf,
        size: u64,
        sector_size: u64,
        map: Arc<dyn Mapping>,
    ) -> Disk {
        Disk {
            name: name.to_string(),
            path,
            backend: Backend::Mapped(map),
            size,
            sector_size: if valid_sector_size(sector_size) {
                sector_size
            } else {
                DEFAULT_SECTOR_SIZE
            },
            writable: false,
        }
    }

    /// The names GRUB gives this disk when GRUB assembles it too (an md array, an
    /// LVM LV); none for a plain disk, which GRUB names `hdN`.
    pub fn grub_names(&self) -> Vec<String> {
        match &self.backend {
            Backend::Mapped(m) => m.grub_names(),
            Backend::File(_) => Vec::new(),
        }
    }

    /// True for a disk made by [`Disk::mapped`]: no device node of its own, never
    /// written.
    pub fn is_mapped(&self) -> bool {
        matches!(self.backend, Backend::Mapped(_))
    }

    /// Opens `path` read-only (`O_RDONLY`; leapboot never writes a disk through this
    /// handle), with the sector size from the kernel or the contents (module docs).
    pub fn open(path: &Path, name: &str) -> Result<Disk, DiskError> {
        Disk::open_mode(path, name, false, None)
    }

    /// [`Disk::open`], with the logical sector size given by the caller when
    /// `sector_size` is set (an image copied from a 4Kn disk whose contents do not
    /// show it, such as an MBR over filesystems leapboot does not read). Refused when
    /// the size is not a power of two from [`MIN_SECTOR_SIZE`] to [`MAX_SECTOR_SIZE`].
    pub fn open_with_sector_size(
        path: &Path,
        name: &str,
        sector_size: Option<u64>,
    ) -> Result<Disk, DiskError> {
        Disk::open_mode(path, name, false, sector_size)
    }

    /// Opens `path` read-write (`O_RDWR`). Only boot counting's rename
    /// (`volume::counting`) does this, for the one directory write it makes; every
    /// other reader uses [`Disk::open`].
    pub fn open_rw(path: &Path, name: &str) -> Result<Disk, DiskError> {
        Disk::open_mode(path, name, true, None)
    }

    fn open_mode(
        path: &Path,
        name: &str,
        writable: bool,
        sector_size: Option<u64>,
    ) -> Result<Disk, DiskError> {
        let err = |source| DiskError::Open {
            device: name.to_string(),
            source,
        };
        if let Some(size) = sector_size.filter(|&s| !valid_sector_size(s)) {
            return Err(DiskError::Unsupported {
                device: name.to_string(),
                what: format!(
                    "sector size {size} (a power of two from {MIN_SECTOR_SIZE} to {MAX_SECTOR_SIZE} is needed)"
                ),
            });
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(writable)
            .open(path)
            .map_err(err)?;
        let meta = file.metadata().map_err(err)?;
        use std::os::unix::fs::FileTypeExt;
        let block = meta.file_type().is_block_device();
        let size = if block {
            crate::sys::block::size_bytes(&file).map_err(err)?
        } else {
            meta.len()
        };
        // The kernel's answer for a block device; one it cannot give, or gives out of
        // range, falls back to the contents as for an image.
        let reported = if block {
            crate::sys::block::logical_sector_size(&file)
                .ok()
                .map(u64::from)
                .filter(|&s| valid_sector_size(s))
        } else {
            None
        };
        let mut disk = Disk {
            name: name.to_string(),
            path: path.to_path_buf(),
            backend: Backend::File(Arc::new(file)),
            size,
            sector_size: DEFAULT_SECTOR_SIZE,
            writable,
        };
        disk.sector_size = match sector_size.or(reported) {
            Some(s) => s,
            None => probe_sector_size(&disk),
        };
        Ok(disk)
    }

    /// The logical sector size in bytes: the unit of every LBA in the partition table.
    pub fn sector_size(&self) -> u64 {
        self.sector_size
    }

    /// True when the disk was opened with [`Disk::open_rw`].
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// Writes all of `buf` at `offset`; refused on a disk opened read-only.
    pub fn write_at(&self, offset: u64, buf: &[u8]) -> Result<(), DiskError> {
        let err = |source| DiskError::Write {
            device: self.name.clone(),
            offset,
            len: buf.len(),
            source,
        };
        if !self.writable {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "disk is opened read-only",
            )));
        }
        match &self.backend {
            Backend::File(f) => f.write_all_at(buf, offset).map_err(err),
            Backend::Mapped(_) => Err(err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "an assembled device is never written",
            ))),
        }
    }

    /// Flushes written data to the device (`fsync`: the kernel's page cache and the
    /// disk's write cache).
    pub fn sync(&self) -> Result<(), DiskError> {
        let Backend::File(file) = &self.backend else {
            return Ok(());
        };
        file.sync_all().map_err(|source| DiskError::Write {
            device: self.name.clone(),
            offset: 0,
            len: 0,
            source,
        })
    }

    /// Reads exactly `buf.len()` bytes at `offset`.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        match &self.backend {
            Backend::File(f) => f.read_exact_at(buf, offset),
            Backend::Mapped(m) => m.read_at(offset, buf),
        }
        .map_err(|source| DiskError::Read {
            device: self.name.clone(),
            offset,
            len: buf.len(),
            source,
        })
    }

    /// Reads `len` bytes at `offset` into a new buffer (callers bound `len`).
    pub fn read_vec(&self, offset: u64, len: usize) -> Result<Vec<u8>, DiskError> {
        let mut buf = vec![0u8; len];
        self.read_at(offset, &mut buf)?;
        Ok(buf)
    }

    /// The shared file handle, for readers of a byte range (`None` for a
    /// [`Disk::mapped`] device).
    pub fn file(&self) -> Option<Arc<File>> {
        match &self.backend {
            Backend::File(f) => Some(Arc::clone(f)),
            Backend::Mapped(_) => None,
        }
    }
}

/// True for a power of two from [`MIN_SECTOR_SIZE`] to [`MAX_SECTOR_SIZE`].
fn valid_sector_size(size: u64) -> bool {
    size.is_power_of_two() && (MIN_SECTOR_SIZE..=MAX_SECTOR_SIZE).contains(&size)
}

/// The sector size of an image file, from its contents (a block device's comes from
/// the kernel). The first rule that matches decides:
/// 1. a GPT header signature (`EFI PART`) at byte 512: 512 (checked first, so an image
///    that has one at both 512 and 4096 is read as 512);
/// 2. one at byte 4096: 4096;
/// 3. an MBR that gives it away ([`mbr::probe_sector_size`]): a protective entry
///    covering the disk in 4096-byte sectors, or partitions holding a filesystem at
///    LBA × 4096 and none at LBA × 512;
/// 4. otherwise [`DEFAULT_SECTOR_SIZE`].
///
/// Signatures only, no CRCs: whether the table is valid is the table reader's
/// question, and a damaged table is reported as damaged rather than read at the
/// wrong sector size and reported as absent.
pub fn probe_sector_size(disk: &Disk) -> u64 {
    let signature_at = |offset: u64| {
        let mut sig = [0u8; 8];
        offset.checked_add(8).is_some_and(|end| end <= disk.size)
            && disk.read_at(offset, &mut sig).is_ok()
            && &sig == gpt::SIGNATURE
    };
    let (small, large) = (DEFAULT_SECTOR_SIZE, SECTOR_SIZE_4KN);
    if signature_at(small) {
        return small;
    }
    if signature_at(large) {
        return large;
    }
    mbr::probe_sector_size(disk).unwrap_or(DEFAULT_SECTOR_SIZE)
}

/// Which table a partition came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// GUID Partition Table.
    Gpt,
    /// MBR / msdos label.
    Mbr,
    /// No partition table: the whole disk is one volume.
    Whole,
}

impl Scheme {
    /// GRUB's name for the scheme in device names such as `(hd0,gpt2)`.
    pub fn grub_name(self) -> &'static str {
        match self {
            Scheme::Gpt => "gpt",
            Scheme::Mbr => "msdos",
            Scheme::Whole => "",
        }
    }
}

/// One partition: a byte range of a disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// 1-based partition number as Linux and GRUB count it (0 for a whole disk).
    pub number: u32,
    /// Byte offset on the disk.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// Role from the partition type.
    pub role: VolumeRole,
    /// GPT type GUID or MBR type byte, for display.
    pub type_name: String,
    /// GPT partition name, if any.
    pub name: Option<String>,
    /// Which table.
    pub scheme: Scheme,
}

impl Partition {
    /// Name for display: `vda2`, `nvme0n1p2`, or the disk itself for a whole disk.
    pub fn display_name(&self, disk: &str) -> String {
        if self.scheme == Scheme::Whole {
            return disk.to_string();
        }
        let sep = if disk.ends_with(|c: char| c.is_ascii_digit()) {
            "p"
        } else {
            ""
        };
        format!("{disk}{sep}{}", self.number)
    }
}

/// A partition table as read: its partitions, and the damage worked around on the
/// way (a primary GPT replaced by its backup, an extended-partition chain cut short),
/// each a line naming where and what.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// The partitions (or the whole disk).
    pub parts: Vec<Partition>,
    /// Damage that did not stop the table from being read.
    pub damage: Vec<String>,
}

/// Reads the partition table: GPT first (a protective MBR points there), then MBR.
/// A disk with neither gives one whole-disk "partition" so a filesystem made on the
/// bare disk is still found. A table that cannot be read at all is an error; damage
/// around which some of it could be read is reported in [`Table::damage`] with what
/// was read (the UEFI spec's backup GPT; the logical partitions before a broken link).
pub fn read_table(disk: &Disk) -> Result<Table, DiskError> {
    if let Some(t) = gpt::read(disk)? {
        return Ok(t);
    }
    if let Some(t) = mbr::read(disk)? {
        return Ok(t);
    }
    Ok(Table {
        parts: whole(disk),
        damage: Vec::new(),
    })
}

/// [`read_table`]'s partitions.
pub fn partitions(disk: &Disk) -> Result<Vec<Partition>, DiskError> {
    read_table(disk).map(|t| t.parts)
}

/// The whole disk as its one "partition".
fn whole(disk: &Disk) -> Vec<Partition> {
    vec![Partition {
        number: 0,
        offset: 0,
        len: disk.size,
        role: VolumeRole::Other,
        type_name: "none".into(),
        name: None,
        scheme: Scheme::Whole,
    }]
}
