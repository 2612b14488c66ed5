//! Volumes: a filesystem found on a partition (or a bare disk, or a host directory),
//! with its UUID and label, readable through the `menus` [`FileSystem`] trait.
//!
//! Filesystems are recognised by their superblocks, never by partition type:
//! ext2/3/4 by the magic 0xEF53 at byte 1080, XFS by `XFSB` at byte 0, Btrfs by
//! `_BHRfS_M` at byte 65,600 (the primary superblock, as blkid), FAT by a valid BIOS
//! parameter block.

pub mod bounded;
pub mod btrfs;
pub mod dir;
pub mod ext4;
pub mod fat;
pub mod progress;
pub mod slice;
pub mod xfs;

use crate::devices::disk::{Disk, Partition, Scheme};
use leapboot_menus::{FileSystem, VolumeInfo};
use slice::Slice;

/// A filesystem type leapboot can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsType {
    /// ext2, ext3 or ext4.
    Ext4,
    /// FAT12, FAT16 or FAT32.
    Fat,
    /// XFS, v4 or v5.
    Xfs,
    /// Btrfs.
    Btrfs,
}

impl FsType {
    /// Name as blkid prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            FsType::Ext4 => "ext4",
            FsType::Fat => "vfat",
            FsType::Xfs => "xfs",
            FsType::Btrfs => "btrfs",
        }
    }
}

/// Why a partition did not become a volume.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// The superblock could not be read.
    #[error("{device}: cannot read superblock: {source}")]
    Read {
        /// Partition name.
        device: String,
        /// The error.
        source: std::io::Error,
    },
    /// The filesystem was recognised but is damaged.
    #[error("{device}: corrupt {fs} filesystem: {reason}")]
    Corrupt {
        /// Partition name.
        device: String,
        /// Filesystem type.
        fs: &'static str,
        /// What the reader said.
        reason: String,
    },
    /// The filesystem was recognised but uses a layout leapboot does not read.
    #[error("{device}: {fs} filesystem not read: {reason}")]
    Unsupported {
        /// Partition name.
        device: String,
        /// Filesystem type.
        fs: &'static str,
        /// What the reader said.
        reason: String,
    },
}

/// Recognises the filesystem on a partition by its superblock; `None` for anything
/// leapboot does not read (swap, LVM, LUKS, empty).
pub fn detect(slice: &Slice) -> std::io::Result<Option<FsType>> {
    if slice.len() < 2048 {
        return Ok(None);
    }
    let mut sb = [0u8; 2048];
    slice.read_exact_at(0, &mut sb)?;
    if sb[1080] == 0x53 && sb[1081] == 0xef {
        return Ok(Some(FsType::Ext4));
    }
    if sb.starts_with(b"XFSB") {
        return Ok(Some(FsType::Xfs));
    }
    let btrfs_magic = btrfs::SUPERBLOCK_OFFSETS[0] + btrfs::MAGIC_OFFSET;
    if slice.len() >= btrfs::SUPERBLOCK_OFFSETS[0] + 4096 {
        let mut magic = [0u8; 8];
        slice.read_exact_at(btrfs_magic, &mut magic)?;
        if magic == btrfs::MAGIC {
            return Ok(Some(FsType::Btrfs));
        }
    }
    let bytes_per_sector = leapboot_menus::bytes::u16_le(&sb, 11).unwrap_or(0);
    let sectors_per_cluster = sb[13];
    let fats = sb[16];
    let jump = sb[0] == 0xeb || sb[0] == 0xe9;
    if jump
        && sb[510] == 0x55
        && sb[511] == 0xaa
        && matches!(bytes_per_sector, 512 | 1024 | 2048 | 4096)
        && sectors_per_cluster.is_power_of_two()
        && fats >= 1
    {
        return Ok(Some(FsType::Fat));
    }
    Ok(None)
}

/// An opened volume.
pub struct Volume {
    /// Identity and role, as the config sources see it.
    pub info: VolumeInfo,
    /// Its files.
    pub fs: Box<dyn FileSystem>,
    /// Where it lives on a disk (`None` for a host directory): the one place a write
    /// (boot counting) reopens read-write.
    pub location: Option<Location>,
}

/// A volume's place on a disk.
#[derive(Debug, Clone)]
pub struct Location {
    /// Disk device node or image path.
    pub disk_path: std::path::PathBuf,
    /// Disk name for messages.
    pub disk_name: String,
    /// The partition.
    pub partition: Partition,
    /// GRUB's own names for the volume when GRUB assembles its disk too (an md
    /// array or LVM LV holding the filesystem directly): `md/0`, `mduuid/…`,
    /// `lvm/vg-root`, `lvmid/…`. Empty otherwise.
    pub grub_names: Vec<String>,
}

impl std::fmt::Debug for Volume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Volume").field("info", &self.info).finish()
    }
}

/// Opens the filesystem on `part` of `disk`: `Ok(None)` when there is none that
/// leapboot reads.
pub fn open(disk: &Disk, part: &Partition) -> Result<Option<Volume>, VolumeError> {
    open_slice(disk, part, Slice::new(disk.clone(), part.offset, part.len))
}

/// [`open`] over a given slice of the partition (for instance one that logs its reads).
pub fn open_slice(
    disk: &Disk,
    part: &Partition,
    slice: Slice,
) -> Result<Option<Volume>, VolumeError> {
    let device = part.display_name(&disk.name);
    let kind = detect(&slice).map_err(|source| VolumeError::Read {
        device: device.clone(),
        source,
    })?;
    let Some(kind) = kind else { return Ok(None) };
    let corrupt = |reason: String| VolumeError::Corrupt {
        device: device.clone(),
        fs: kind.as_str(),
        reason,
    };
    let unsupported = |reason: String| VolumeError::Unsupported {
        device: device.clone(),
        fs: kind.as_str(),
        reason,
    };
    let (fs, uuid, label): (Box<dyn FileSystem>, String, Option<String>) = match kind {
        FsType::Ext4 => {
            let vol = ext4::Ext4Volume::open(slice).map_err(|e| corrupt(e.to_string()))?;
            let (uuid, label) = (vol.uuid(), vol.label());
            (Box::new(vol), uuid, label)
        }
        FsType::Fat => {
            let vol = fat::FatVolume::open(slice).map_err(|e| corrupt(e.to_string()))?;
            let id = vol.identity();
            (Box::new(vol), id.uuid, id.label)
        }
        FsType::Xfs => {
            let vol = xfs::XfsVolume::open(slice).map_err(|e| match e {
                xfs::XfsOpenError::Unsupported(r) => unsupported(r),
                xfs::XfsOpenError::Corrupt(r) => corrupt(r),
            })?;
            let (uuid, label) = (vol.uuid(), vol.label());
            (Box::new(vol), uuid, label)
        }
        FsType::Btrfs => {
            let vol = btrfs::BtrfsVolume::open(slice).map_err(|e| match e {
                btrfs::BtrfsOpenError::Unsupported(r) => unsupported(r),
                btrfs::BtrfsOpenError::Corrupt(r) => corrupt(r),
                btrfs::BtrfsOpenError::Io(source) => VolumeError::Read {
                    device: device.clone(),
                    source,
                },
            })?;
            let (uuid, label) = (vol.uuid(), vol.label());
            (Box::new(vol), uuid, label)
        }
    };
    Ok(Some(Volume {
        info: VolumeInfo {
            uuid: Some(uuid),
            label,
            device: device.clone(),
            fs_type: kind.as_str().to_string(),
            role: part.role,
        },
        fs,
        location: Some(Location {
            disk_path: disk.path.clone(),
            disk_name: disk.name.clone(),
            partition: part.clone(),
            grub_names: if part.scheme == Scheme::Whole {
                disk.grub_names()
            } else {
                Vec::new()
            },
        }),
    }))
}
