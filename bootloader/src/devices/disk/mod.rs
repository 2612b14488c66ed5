//! Block devices and their partition tables.
//!
//! A [`Disk`] is a block device or an image file opened read-only (boot counting's one
//! rename reopens it read-write with [`Disk::open_rw`]); [`partitions`]
//! reads its GPT (validated here before the `gpt` crate sees it) or MBR and returns
//! byte ranges. Partition tables are read by us, never by the kernel: leapboot does
//! not depend on the kernel's partition scanning or on partition device nodes.

pub mod gpt;
pub mod mbr;
pub mod sysfs;

use leapboot_menus::VolumeRole;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Sector size assumed for partition tables (virtio, SATA and NVMe disks with 512-byte
/// logical blocks; 4Kn disks are tried second).
pub const SECTOR: u64 = 512;

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
/// rename, read-write), shareable between volumes.
#[derive(Debug, Clone)]
pub struct Disk {
    /// Short name for display (`vda`, or the image path).
    pub name: String,
    /// Path that was opened.
    pub path: PathBuf,
    file: Arc<File>,
    /// Size in bytes.
    pub size: u64,
    writable: bool,
}

impl Disk {
    /// Opens `path` read-only (`O_RDONLY`; leapboot never writes a disk through this handle).
    pub fn open(path: &Path, name: &str) -> Result<Disk, DiskError> {
        let err = |source| DiskError::Open {
            device: name.to_string(),
            source,
        };
        let file = File::open(path).map_err(err)?;
        let size = device_size(&file).map_err(err)?;
        Ok(Disk {
            name: name.to_string(),
            path: path.to_path_buf(),
            file: Arc::new(file),
            size,
            writable: false,
        })
    }

    /// Opens `path` read-write (`O_RDWR`). Only boot counting's rename
    /// (`volume::counting`) does this, for the one directory write it makes; every
    /// other reader uses [`Disk::open`].
    pub fn open_rw(path: &Path, name: &str) -> Result<Disk, DiskError> {
        let err = |source| DiskError::Open {
            device: name.to_string(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(err)?;
        let size = device_size(&file).map_err(err)?;
        Ok(Disk {
            name: name.to_string(),
            path: path.to_path_buf(),
            file: Arc::new(file),
            size,
            writable: true,
        })
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
        self.file.write_all_at(buf, offset).map_err(err)
    }

    /// Flushes written data to the device (`fsync`: the kernel's page cache and the
    /// disk's write cache).
    pub fn sync(&self) -> Result<(), DiskError> {
        self.file.sync_all().map_err(|source| DiskError::Write {
            device: self.name.clone(),
            offset: 0,
            len: 0,
            source,
        })
    }

    /// Reads exactly `buf.len()` bytes at `offset`.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        self.file
            .read_exact_at(buf, offset)
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

    /// The shared file handle, for readers of a byte range.
    pub fn file(&self) -> Arc<File> {
        Arc::clone(&self.file)
    }
}

/// Size of a regular file or a block device (`BLKGETSIZE64`).
fn device_size(file: &File) -> std::io::Result<u64> {
    let meta = file.metadata()?;
    use std::os::unix::fs::FileTypeExt;
    if !meta.file_type().is_block_device() {
        return Ok(meta.len());
    }
    crate::sys::block::size_bytes(file)
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

/// Reads the partition table: GPT first (a protective MBR points there), then MBR.
/// A disk with neither gives one whole-disk "partition" so a filesystem made on the
/// bare disk is still found. A corrupt table is an error, not an empty list.
pub fn partitions(disk: &Disk) -> Result<Vec<Partition>, DiskError> {
    if let Some(parts) = gpt::read(disk)? {
        return Ok(parts);
    }
    if let Some(parts) = mbr::read(disk)? {
        return Ok(parts);
    }
    Ok(vec![Partition {
        number: 0,
        offset: 0,
        len: disk.size,
        role: VolumeRole::Other,
        type_name: "none".into(),
        name: None,
        scheme: Scheme::Whole,
    }])
}
