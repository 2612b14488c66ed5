//! Disk images built without root: GPT, MBR or partitionless ("superfloppy")
//! raw images with FAT and ext4 filesystems, byte-for-byte reproducible.
//!
//! ```no_run
//! use leapboot_qemu::{DiskImage, Partition};
//! # fn main() -> leapboot_qemu::Result<()> {
//! DiskImage::gpt(160)
//!     .partition(
//!         Partition::esp(64)
//!             .file("loader/loader.conf", "timeout 0\n")
//!             .file_from("vmlinuz", "/boot/vmlinuz"),
//!     )
//!     .partition(Partition::linux_ext4(64, "root", "6e0a6a26-3d93-4f6b-9d3c-a3b1a4a4d001")
//!         .file("etc/os-release", "ID=debian\n"))
//!     .write(std::path::Path::new("/tmp/disk.img"))?;
//! # Ok(())
//! # }
//! ```
//!
//! How: every filesystem is made in a temporary file of its partition's size
//! (FAT: `mkfs.vfat --invariant`, then `mmd`/`mcopy -m` from a staging
//! directory with fixed timestamps; ext4: `mke2fs -d` from a staging
//! directory, then `debugfs` pins inode ctimes and owners), the disk file is
//! created sparse, the table is written with `sgdisk` (GPT) or `sfdisk`
//! (MBR), and the filesystems are copied in at 1 MiB-aligned offsets. GUIDs
//! and the MBR disk id are derived from a seed ([`DiskImage::seed`], by
//! default a hash of the layout), timestamps from `SOURCE_DATE_EPOCH`
//! (default 2023-11-14), so the same description always gives the same bytes.
//! The image appears at its path only when complete (written beside it, then
//! renamed).
//!
//! 4Kn disks ([`DiskImage::sector_size`] 4096): partition LBAs count 4096-byte
//! sectors, FAT gets 4096-byte logical sectors (`mkfs.vfat -S 4096`) and ext4
//! 4096-byte blocks, as on a real 4Kn drive. `sgdisk` and `sfdisk` take the sector
//! size from the device they write, and a plain file is always 512, so the table is
//! written through a loop device with 4096-byte sectors
//! (`losetup --sector-size 4096`), detached afterwards: the one layout that needs
//! root. Attach such an image with [`DiskSpec::block_size`](crate::DiskSpec::block_size).

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use crate::util::{
    Fnv64, TempDir, display_command, io_err, run, run_with_stdin, run_with_stdin_unchecked,
    source_date_epoch, splitmix64,
};
use crate::{Error, Result};

const MIB: u64 = 1024 * 1024;
/// The usual logical sector size.
const SECTOR: u64 = 512;
/// A 4Kn disk's logical sector size.
const SECTOR_4KN: u64 = 4096;

/// The type of a partition (GPT type GUID / MBR type byte).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartType {
    /// EFI System Partition: GPT `ef00`, MBR `0xef`.
    Esp,
    /// Linux filesystem data: GPT `8300`, MBR `0x83`.
    Linux,
    /// Extended Boot Loader Partition (`bc13c2ff-59e6-4262-a352-b275fd6f7172`,
    /// sgdisk `ea00`), MBR `0xea`.
    XbootLdr,
    /// BIOS boot partition (GPT `ef02`); not valid on MBR.
    BiosBoot,
    /// A partition whose content matters, not its type (e.g. garbage or no
    /// filesystem): GPT `8300`, MBR `0x83`, like [`PartType::Linux`].
    Raw,
    /// Anything else: an sgdisk type code or GUID, and an MBR type byte.
    Custom {
        /// For `sgdisk -t`: a 4-hex-digit code (`0700`) or a type GUID.
        gpt: String,
        /// For `sfdisk`.
        mbr: u8,
    },
}

impl PartType {
    /// The type as `sgdisk -t` takes it.
    pub fn gpt_code(&self) -> &str {
        match self {
            PartType::Esp => "ef00",
            PartType::Linux | PartType::Raw => "8300",
            PartType::XbootLdr => "bc13c2ff-59e6-4262-a352-b275fd6f7172",
            PartType::BiosBoot => "ef02",
            PartType::Custom { gpt, .. } => gpt,
        }
    }

    /// The MBR type byte, if this type exists on MBR.
    pub fn mbr_code(&self) -> Option<u8> {
        match self {
            PartType::Esp => Some(0xef),
            PartType::Linux | PartType::Raw => Some(0x83),
            PartType::XbootLdr => Some(0xea),
            PartType::BiosBoot => None,
            PartType::Custom { mbr, .. } => Some(*mbr),
        }
    }
}

/// What a partition (or a superfloppy disk) contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filesystem {
    /// FAT (FAT32 from 33 MiB up, otherwise what `mkfs.vfat` picks: FAT12 or
    /// FAT16). `volume_id` is the serial Linux shows as `UUID=XXXX-XXXX`.
    Fat {
        /// Volume label, at most 11 characters; empty for none.
        label: String,
        /// Volume serial number.
        volume_id: u32,
    },
    /// ext4 with the host's `mke2fs.conf` defaults.
    Ext4 {
        /// Volume label, at most 16 bytes; empty for none.
        label: String,
        /// Filesystem UUID, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
        uuid: String,
    },
    /// Nothing: the partition stays zeroed.
    Empty,
    /// These bytes at the start of the partition (the rest zeroed), e.g. a
    /// prebuilt or deliberately damaged filesystem.
    Bytes(Vec<u8>),
}

impl Filesystem {
    /// FAT with `label` and a volume id derived from the label.
    pub fn fat(label: &str) -> Filesystem {
        let mut h = Fnv64::new();
        h.field(b"fat-volume-id");
        h.field(label.as_bytes());
        Filesystem::Fat {
            label: label.to_string(),
            volume_id: h.finish() as u32,
        }
    }

    /// ext4 with `label` and `uuid`.
    pub fn ext4(label: &str, uuid: &str) -> Filesystem {
        Filesystem::Ext4 {
            label: label.to_string(),
            uuid: uuid.to_string(),
        }
    }

    /// The UUID Linux reports for this filesystem (`blkid`, `/dev/disk/by-uuid`):
    /// `XXXX-XXXX` for FAT, the lowercase UUID for ext4, `None` otherwise.
    pub fn uuid(&self) -> Option<String> {
        match self {
            Filesystem::Fat { volume_id, .. } => Some(format!(
                "{:04X}-{:04X}",
                volume_id >> 16,
                volume_id & 0xffff
            )),
            Filesystem::Ext4 { uuid, .. } => Some(uuid.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn accepts_files(&self) -> bool {
        matches!(self, Filesystem::Fat { .. } | Filesystem::Ext4 { .. })
    }

    fn hash_into(&self, h: &mut Fnv64) {
        match self {
            Filesystem::Fat { label, volume_id } => {
                h.field(b"fat");
                h.field(label.as_bytes());
                h.field(&volume_id.to_le_bytes());
            }
            Filesystem::Ext4 { label, uuid } => {
                h.field(b"ext4");
                h.field(label.as_bytes());
                h.field(uuid.as_bytes());
            }
            Filesystem::Empty => h.field(b"empty"),
            Filesystem::Bytes(b) => {
                h.field(b"bytes");
                h.field(&(b.len() as u64).to_le_bytes());
            }
        }
    }
}

/// Where the contents of a file in a built filesystem come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSource {
    /// These bytes.
    Bytes(Vec<u8>),
    /// A copy of this host file.
    Host(PathBuf),
    /// An (empty) directory.
    Dir,
}

/// One partition of a [`DiskImage`] (or the single filesystem of a
/// superfloppy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Size in MiB; 0 for "the rest of the disk" (last partition only).
    pub size_mib: u64,
    /// Partition type.
    pub type_: PartType,
    /// GPT partition name (`PARTLABEL`); ignored on MBR.
    pub name: String,
    /// Contents.
    pub fs: Filesystem,
    /// GPT unique partition GUID; `None` derives one from the disk's seed.
    pub guid: Option<String>,
    /// MBR active flag (GPT: legacy BIOS bootable attribute).
    pub bootable: bool,
    /// Files and directories to put in `fs`: paths inside the filesystem
    /// (`/` separated, leading `/` optional) and their sources. Parents are
    /// created as needed.
    pub files: Vec<(String, FileSource)>,
}

impl Default for Partition {
    fn default() -> Self {
        Partition {
            size_mib: 64,
            type_: PartType::Linux,
            name: String::new(),
            fs: Filesystem::Empty,
            guid: None,
            bootable: false,
            files: Vec::new(),
        }
    }
}

impl Partition {
    /// A partition of `type_` and `size_mib` MiB holding `fs`.
    pub fn new(type_: PartType, size_mib: u64, fs: Filesystem) -> Partition {
        Partition {
            size_mib,
            type_,
            fs,
            ..Partition::default()
        }
    }

    /// An ESP: FAT labelled `ESP`, GPT name `ESP`.
    pub fn esp(size_mib: u64) -> Partition {
        Partition::new(PartType::Esp, size_mib, Filesystem::fat("ESP")).name("ESP")
    }

    /// An XBOOTLDR partition: FAT labelled `XBOOTLDR`, GPT name `XBOOTLDR`.
    pub fn xbootldr(size_mib: u64) -> Partition {
        Partition::new(PartType::XbootLdr, size_mib, Filesystem::fat("XBOOTLDR")).name("XBOOTLDR")
    }

    /// A Linux partition with ext4 labelled `label` (also the GPT name).
    pub fn linux_ext4(size_mib: u64, label: &str, uuid: &str) -> Partition {
        Partition::new(PartType::Linux, size_mib, Filesystem::ext4(label, uuid)).name(label)
    }

    /// An empty (zeroed) partition of `type_`.
    pub fn raw(type_: PartType, size_mib: u64) -> Partition {
        Partition::new(type_, size_mib, Filesystem::Empty)
    }

    /// Sets the GPT partition name.
    pub fn name(mut self, name: &str) -> Partition {
        self.name = name.to_string();
        self
    }

    /// Replaces the filesystem.
    pub fn fs(mut self, fs: Filesystem) -> Partition {
        self.fs = fs;
        self
    }

    /// Sets the GPT partition GUID.
    pub fn guid(mut self, guid: &str) -> Partition {
        self.guid = Some(guid.to_string());
        self
    }

    /// Sets the MBR active flag / GPT legacy BIOS bootable attribute.
    pub fn bootable(mut self, bootable: bool) -> Partition {
        self.bootable = bootable;
        self
    }

    /// Adds a file with `contents` at `path` inside the filesystem.
    pub fn file(mut self, path: &str, contents: impl Into<Vec<u8>>) -> Partition {
        self.files
            .push((path.to_string(), FileSource::Bytes(contents.into())));
        self
    }

    /// Adds a copy of host file `host_path` at `path` inside the filesystem.
    pub fn file_from(mut self, path: &str, host_path: impl AsRef<Path>) -> Partition {
        self.files.push((
            path.to_string(),
            FileSource::Host(host_path.as_ref().to_path_buf()),
        ));
        self
    }

    /// Adds an empty directory at `path` inside the filesystem.
    pub fn dir(mut self, path: &str) -> Partition {
        self.files.push((path.to_string(), FileSource::Dir));
        self
    }
}

impl From<Filesystem> for Partition {
    /// A 64 MiB [`PartType::Linux`] partition holding `fs`.
    fn from(fs: Filesystem) -> Partition {
        Partition::new(PartType::Linux, 64, fs)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Gpt,
    Mbr,
    Superfloppy,
}

/// A disk image description; [`DiskImage::write`] builds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskImage {
    layout: Layout,
    size_mib: u64,
    partitions: Vec<Partition>,
    seed: Option<u64>,
    sector_size: u64,
}

impl DiskImage {
    /// A GPT disk of `size_mib` MiB (0: just big enough for the partitions,
    /// plus 1 MiB before and 1 MiB after them).
    pub fn gpt(size_mib: u64) -> DiskImage {
        DiskImage {
            layout: Layout::Gpt,
            size_mib,
            partitions: Vec::new(),
            seed: None,
            sector_size: SECTOR,
        }
    }

    /// An MBR (DOS) disk of `size_mib` MiB (0: just big enough); at most four
    /// primary partitions.
    pub fn mbr(size_mib: u64) -> DiskImage {
        DiskImage {
            layout: Layout::Mbr,
            ..DiskImage::gpt(size_mib)
        }
    }

    /// A disk without partition table that is one filesystem. Takes a
    /// [`Filesystem`] (64 MiB; change with [`DiskImage::size_mib`]) or a
    /// [`Partition`] (its size, filesystem and files; its type is ignored).
    /// Add files with [`DiskImage::file`].
    pub fn superfloppy(fs: impl Into<Partition>) -> DiskImage {
        let part = fs.into();
        DiskImage {
            layout: Layout::Superfloppy,
            size_mib: part.size_mib,
            partitions: vec![part],
            seed: None,
            sector_size: SECTOR,
        }
    }

    /// Sets the disk size in MiB.
    pub fn size_mib(mut self, size_mib: u64) -> DiskImage {
        self.size_mib = size_mib;
        if self.layout == Layout::Superfloppy {
            self.partitions[0].size_mib = size_mib;
        }
        self
    }

    /// Sets the logical sector size: 512 (the default) or 4096 (a 4Kn disk; see the
    /// module docs, building one needs root for `losetup`). Other sizes are refused
    /// by [`DiskImage::write`].
    pub fn sector_size(mut self, bytes: u64) -> DiskImage {
        self.sector_size = bytes;
        self
    }

    /// The logical sector size (512 unless [`DiskImage::sector_size`] changed it).
    pub fn logical_sector_size(&self) -> u64 {
        self.sector_size
    }

    /// Appends a partition (partition numbers count from 1 in this order).
    pub fn partition(mut self, partition: Partition) -> DiskImage {
        self.partitions.push(partition);
        self
    }

    /// Seed of the disk GUID, partition GUIDs and MBR disk id. Default: a
    /// hash of the layout (sizes, types, names, labels, UUIDs), so identical
    /// descriptions give identical images and different ones differ.
    pub fn seed(mut self, seed: u64) -> DiskImage {
        self.seed = Some(seed);
        self
    }

    /// Adds a file to a superfloppy's filesystem (see [`Partition::file`]);
    /// on partitioned disks [`DiskImage::write`] rejects it.
    pub fn file(self, path: &str, contents: impl Into<Vec<u8>>) -> DiskImage {
        self.map_superfloppy(path, FileSource::Bytes(contents.into()))
    }

    /// Adds a copy of a host file to a superfloppy's filesystem.
    pub fn file_from(self, path: &str, host_path: impl AsRef<Path>) -> DiskImage {
        self.map_superfloppy(path, FileSource::Host(host_path.as_ref().to_path_buf()))
    }

    /// Adds an empty directory to a superfloppy's filesystem.
    pub fn dir(self, path: &str) -> DiskImage {
        self.map_superfloppy(path, FileSource::Dir)
    }

    fn map_superfloppy(mut self, path: &str, source: FileSource) -> DiskImage {
        if self.layout == Layout::Superfloppy {
            self.partitions[0].files.push((path.to_string(), source));
        } else {
            // Remembered as an error for write(): builders do not fail.
            self.partitions.push(Partition {
                size_mib: u64::MAX,
                name: format!("\0misplaced file {path}"),
                ..Partition::default()
            });
        }
        self
    }

    /// The partitions, in order.
    pub fn partitions(&self) -> &[Partition] {
        &self.partitions
    }

    fn effective_seed(&self) -> u64 {
        if let Some(seed) = self.seed {
            return seed;
        }
        let mut h = Fnv64::new();
        h.field(format!("{:?}", self.layout).as_bytes());
        h.field(&self.size_mib.to_le_bytes());
        // Only when not 512, so images described before sector sizes existed keep
        // their GUIDs.
        if self.sector_size != SECTOR {
            h.field(b"sector-size");
            h.field(&self.sector_size.to_le_bytes());
        }
        for p in &self.partitions {
            h.field(&p.size_mib.to_le_bytes());
            h.field(p.type_.gpt_code().as_bytes());
            h.field(p.name.as_bytes());
            p.fs.hash_into(&mut h);
        }
        h.finish()
    }

    fn guid_from_seed(&self, stream: u64) -> String {
        let mut state = self.effective_seed() ^ stream.wrapping_mul(0xd6e8_feb8_6659_fd93);
        let a = splitmix64(&mut state).to_le_bytes();
        let b = splitmix64(&mut state).to_le_bytes();
        let mut g = [0u8; 16];
        g[..8].copy_from_slice(&a);
        g[8..].copy_from_slice(&b);
        g[6] = (g[6] & 0x0f) | 0x40; // version 4
        g[8] = (g[8] & 0x3f) | 0x80; // RFC 4122 variant
        format_guid(&g)
    }

    /// The GPT disk GUID (lowercase).
    pub fn disk_guid(&self) -> String {
        self.guid_from_seed(0)
    }

    /// The MBR disk identifier (`label-id`).
    pub fn mbr_disk_id(&self) -> u32 {
        let mut state = self.effective_seed() ^ 0x4d42_5200;
        (splitmix64(&mut state) >> 32) as u32 | 1
    }

    /// The `PARTUUID` Linux shows for partition `number` (1-based): the GPT
    /// partition GUID, or `<mbr disk id>-<nn>` on MBR; `None` for a
    /// superfloppy or a number without partition.
    pub fn partuuid(&self, number: usize) -> Option<String> {
        let part = self.partitions.get(number.checked_sub(1)?)?;
        match self.layout {
            Layout::Gpt => Some(
                part.guid
                    .clone()
                    .map(|g| g.to_ascii_lowercase())
                    .unwrap_or_else(|| self.guid_from_seed(number as u64)),
            ),
            Layout::Mbr => Some(format!("{:08x}-{number:02x}", self.mbr_disk_id())),
            Layout::Superfloppy => None,
        }
    }

    /// Byte offset of partition `number` (1-based) in the image (0 for a
    /// superfloppy's filesystem).
    pub fn partition_offset(&self, number: usize) -> Option<u64> {
        let plan = self.plan().ok()?;
        plan.get(number.checked_sub(1)?).map(|p| p.0 * MIB)
    }

    /// Total size in MiB as written.
    pub fn total_size_mib(&self) -> Result<u64> {
        Ok(self.plan_total()?.1)
    }

    /// (start_mib, size_mib) of each partition.
    fn plan(&self) -> Result<Vec<(u64, u64)>> {
        Ok(self.plan_total()?.0)
    }

    fn plan_total(&self) -> Result<(Vec<(u64, u64)>, u64)> {
        if self.sector_size != SECTOR && self.sector_size != SECTOR_4KN {
            return Err(Error::Invalid(format!(
                "sector size {} is not supported (512 or 4096)",
                self.sector_size
            )));
        }
        for p in &self.partitions {
            if let Some(msg) = p.name.strip_prefix('\0') {
                return Err(Error::Invalid(format!(
                    "{msg}: DiskImage::file/file_from/dir are for superfloppy images; \
                     add files to a Partition instead"
                )));
            }
        }
        if self.layout == Layout::Superfloppy {
            let size = self.partitions[0].size_mib;
            if size == 0 {
                return Err(Error::Invalid("superfloppy size must be > 0 MiB".into()));
            }
            return Ok((vec![(0, size)], size));
        }
        if self.partitions.is_empty() && self.size_mib == 0 {
            return Err(Error::Invalid(
                "a disk without partitions needs an explicit size".into(),
            ));
        }
        if self.layout == Layout::Mbr && self.partitions.len() > 4 {
            return Err(Error::Invalid(format!(
                "MBR images support at most 4 primary partitions, got {}",
                self.partitions.len()
            )));
        }
        let tail = if self.layout == Layout::Gpt { 1 } else { 0 };
        let mut start = 1u64;
        let mut plan = Vec::new();
        for (i, p) in self.partitions.iter().enumerate() {
            let size = if p.size_mib == 0 {
                if i + 1 != self.partitions.len() {
                    return Err(Error::Invalid(format!(
                        "partition {}: size 0 (rest of disk) is only allowed for the last partition",
                        i + 1
                    )));
                }
                if self.size_mib == 0 {
                    return Err(Error::Invalid(format!(
                        "partition {}: size 0 (rest of disk) needs an explicit disk size",
                        i + 1
                    )));
                }
                self.size_mib
                    .checked_sub(start + tail)
                    .filter(|&s| s > 0)
                    .ok_or_else(|| {
                        Error::Invalid(format!("partition {}: no space left on the disk", i + 1))
                    })?
            } else {
                p.size_mib
            };
            plan.push((start, size));
            start = start
                .checked_add(size)
                .ok_or_else(|| Error::Invalid(format!("partition {}: size overflows", i + 1)))?;
        }
        let needed = start + tail;
        let total = if self.size_mib == 0 {
            needed
        } else {
            self.size_mib
        };
        if needed > total {
            return Err(Error::Invalid(format!(
                "partitions need {needed} MiB (1 MiB alignment{}) but the disk has {total} MiB",
                if tail > 0 {
                    " + 1 MiB for the backup GPT"
                } else {
                    ""
                }
            )));
        }
        Ok((plan, total))
    }

    /// Builds the image at `path` (replacing any file there). Temporary files
    /// go next to it.
    pub fn write(&self, path: &Path) -> Result<()> {
        let (plan, total_mib) = self.plan_total()?;
        for (i, p) in self.partitions.iter().enumerate() {
            if !p.files.is_empty() && !p.fs.accepts_files() {
                return Err(Error::Invalid(format!(
                    "partition {}: files were added but its filesystem is {:?}",
                    i + 1,
                    p.fs
                )));
            }
            if self.layout == Layout::Mbr && p.type_.mbr_code().is_none() {
                return Err(Error::Invalid(format!(
                    "partition {}: type {:?} does not exist on MBR",
                    i + 1,
                    p.type_
                )));
            }
        }
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "disk".into());
        let tmp = TempDir::new_in(&parent, &format!("{file_name}.build"))?;
        let image = tmp.path().join("disk.img");

        if self.layout == Layout::Superfloppy {
            build_fs(
                &self.partitions[0],
                total_mib,
                &image,
                tmp.path(),
                0,
                self.sector_size,
            )?;
        } else {
            create_sparse(&image, total_mib * MIB)?;
            match self.layout {
                Layout::Gpt => self.write_gpt(&image, &plan)?,
                Layout::Mbr => self.write_mbr(&image, &plan)?,
                Layout::Superfloppy => unreachable!("handled above"),
            }
            for (i, (part, &(start, size))) in self.partitions.iter().zip(&plan).enumerate() {
                let fs_image = tmp.path().join(format!("part{}.img", i + 1));
                if build_fs(part, size, &fs_image, tmp.path(), i + 1, self.sector_size)? {
                    copy_into(&fs_image, &image, start * MIB)?;
                    std::fs::remove_file(&fs_image).map_err(io_err("cannot remove", &fs_image))?;
                }
            }
        }
        std::fs::rename(&image, path).map_err(io_err("cannot move disk image to", path))?;
        Ok(())
    }

    /// The device the partitioning tool writes: the image itself, or a loop device
    /// over it with the image's sector size (module docs).
    fn table_target(&self, image: &Path) -> Result<(PathBuf, Option<LoopDevice>)> {
        if self.sector_size == SECTOR {
            return Ok((image.to_path_buf(), None));
        }
        let dev = LoopDevice::attach(image, self.sector_size)?;
        Ok((dev.path.clone(), Some(dev)))
    }

    fn write_gpt(&self, image: &Path, plan: &[(u64, u64)]) -> Result<()> {
        let (target, loop_dev) = self.table_target(image)?;
        let sector = self.sector_size;
        let mut cmd = Command::new("sgdisk");
        cmd.arg("-o").arg("-U").arg(self.disk_guid());
        if sector != SECTOR {
            // 1 MiB alignment in this disk's sectors (sgdisk's default is 2048 sectors).
            cmd.arg("-a").arg((MIB / sector).to_string());
        }
        for (i, (part, &(start, size))) in self.partitions.iter().zip(plan).enumerate() {
            let n = i + 1;
            let first = start * MIB / sector;
            let last = (start + size) * MIB / sector - 1;
            cmd.arg("-n").arg(format!("{n}:{first}:{last}"));
            cmd.arg("-t").arg(format!("{n}:{}", part.type_.gpt_code()));
            if !part.name.is_empty() {
                cmd.arg("-c").arg(format!("{n}:{}", part.name));
            }
            cmd.arg("-u")
                .arg(format!("{n}:{}", self.partuuid(n).unwrap_or_default()));
            if part.bootable {
                cmd.arg("-A").arg(format!("{n}:set:2"));
            }
        }
        cmd.arg(&target);
        run(&mut cmd)?;
        loop_dev.map_or(Ok(()), LoopDevice::detach)
    }

    fn write_mbr(&self, image: &Path, plan: &[(u64, u64)]) -> Result<()> {
        let (target, loop_dev) = self.table_target(image)?;
        let sector = self.sector_size;
        let mut script = format!(
            "label: dos\nlabel-id: 0x{:08x}\nunit: sectors\n\n",
            self.mbr_disk_id()
        );
        for (part, &(start, size)) in self.partitions.iter().zip(plan) {
            let code = part.type_.mbr_code().unwrap_or(0x83);
            script.push_str(&format!(
                "start={}, size={}, type={code:x}{}\n",
                start * MIB / sector,
                size * MIB / sector,
                if part.bootable { ", bootable" } else { "" }
            ));
        }
        let mut cmd = Command::new("sfdisk");
        cmd.args([
            "--quiet",
            "--no-reread",
            "--no-tell-kernel",
            "--wipe",
            "never",
        ])
        .arg(&target);
        run_with_stdin(&mut cmd, script.as_bytes())?;
        loop_dev.map_or(Ok(()), LoopDevice::detach)
    }
}

/// A loop device over an image file with a given logical sector size
/// (`losetup --sector-size N -f --show`), detached when dropped.
#[derive(Debug)]
struct LoopDevice {
    path: PathBuf,
    attached: bool,
}

impl LoopDevice {
    fn attach(image: &Path, sector_size: u64) -> Result<LoopDevice> {
        let mut cmd = Command::new("losetup");
        cmd.arg("--sector-size")
            .arg(sector_size.to_string())
            .args(["-f", "--show"])
            .arg(image);
        let out = run(&mut cmd).map_err(|e| {
            Error::Invalid(format!(
                "a {sector_size}-byte-sector image needs a loop device (root): {e}"
            ))
        })?;
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if path.is_empty() {
            return Err(Error::Invalid(format!(
                "`{}` printed no device",
                display_command(&cmd)
            )));
        }
        Ok(LoopDevice {
            path: PathBuf::from(path),
            attached: true,
        })
    }

    /// Detaches, reporting a failure (dropping detaches too, silently).
    fn detach(mut self) -> Result<()> {
        self.attached = false;
        run(Command::new("losetup").arg("-d").arg(&self.path))?;
        Ok(())
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        if self.attached {
            let _ = Command::new("losetup").arg("-d").arg(&self.path).output();
        }
    }
}

fn format_guid(g: &[u8; 16]) -> String {
    let hex: String = g.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn create_sparse(path: &Path, len: u64) -> Result<()> {
    let file = File::create(path).map_err(io_err("cannot create", path))?;
    file.set_len(len).map_err(io_err("cannot resize", path))?;
    Ok(())
}

/// Normalizes a path inside a filesystem: `/`-separated components without
/// `.`/`..`/empty ones.
fn fs_components(path: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(s) => {
                let s = s.to_str().ok_or_else(|| {
                    Error::Invalid(format!("path {path:?} inside a filesystem is not UTF-8"))
                })?;
                out.push(s.to_string());
            }
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::Invalid(format!(
                    "path {path:?} inside a filesystem must not contain `..`"
                )));
            }
        }
    }
    if out.is_empty() {
        return Err(Error::Invalid(format!(
            "path {path:?} inside a filesystem names no file"
        )));
    }
    Ok(out)
}

/// Files of a partition, staged in a host directory with fixed modes and
/// timestamps. Returns the sorted directories and files (relative paths).
struct Staged {
    root: PathBuf,
    dirs: BTreeSet<String>,
    files: BTreeSet<String>,
}

fn stage(part: &Partition, root: &Path) -> Result<Staged> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(root).map_err(io_err("cannot create directory", root))?;
    let mut dirs = BTreeSet::new();
    let mut files = BTreeSet::new();
    for (path, source) in &part.files {
        let comps = fs_components(path)?;
        for i in 1..comps.len() {
            dirs.insert(comps[..i].join("/"));
        }
        let rel = comps.join("/");
        let host = root.join(&rel);
        if let Some(parent) = host.parent() {
            std::fs::create_dir_all(parent).map_err(io_err("cannot create directory", parent))?;
        }
        match source {
            FileSource::Dir => {
                if files.contains(&rel) {
                    return Err(Error::Invalid(format!(
                        "{rel} is added both as file and directory"
                    )));
                }
                std::fs::create_dir_all(&host).map_err(io_err("cannot create directory", &host))?;
                dirs.insert(rel);
            }
            FileSource::Bytes(bytes) => {
                if dirs.contains(&rel) {
                    return Err(Error::Invalid(format!(
                        "{rel} is added both as file and directory"
                    )));
                }
                std::fs::write(&host, bytes).map_err(io_err("cannot write", &host))?;
                files.insert(rel);
            }
            FileSource::Host(src) => {
                if dirs.contains(&rel) {
                    return Err(Error::Invalid(format!(
                        "{rel} is added both as file and directory"
                    )));
                }
                std::fs::copy(src, &host).map_err(io_err("cannot copy", src))?;
                files.insert(rel);
            }
        }
    }
    for d in &dirs {
        if files.contains(d) {
            return Err(Error::Invalid(format!(
                "{d} is used both as file and directory"
            )));
        }
    }
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(source_date_epoch());
    for (rel, mode) in files
        .iter()
        .map(|f| (f, 0o644))
        .chain(dirs.iter().rev().map(|d| (d, 0o755)))
        .chain(std::iter::once((&String::new(), 0o755)))
    {
        let host = if rel.is_empty() {
            root.to_path_buf()
        } else {
            root.join(rel)
        };
        std::fs::set_permissions(&host, std::fs::Permissions::from_mode(mode))
            .map_err(io_err("cannot chmod", &host))?;
        let f = File::open(&host).map_err(io_err("cannot open", &host))?;
        f.set_times(
            std::fs::FileTimes::new()
                .set_accessed(mtime)
                .set_modified(mtime),
        )
        .map_err(io_err("cannot set times of", &host))?;
    }
    Ok(Staged {
        root: root.to_path_buf(),
        dirs,
        files,
    })
}

/// Builds `part`'s filesystem into `out` (`size_mib` MiB). Returns false if
/// there is nothing to write (empty partition).
fn build_fs(
    part: &Partition,
    size_mib: u64,
    out: &Path,
    tmp: &Path,
    number: usize,
    sector_size: u64,
) -> Result<bool> {
    match &part.fs {
        Filesystem::Empty => {
            if number == 0 {
                create_sparse(out, size_mib * MIB)?;
            }
            Ok(number == 0)
        }
        Filesystem::Bytes(bytes) => {
            if bytes.len() as u64 > size_mib * MIB {
                return Err(Error::Invalid(format!(
                    "partition {number}: {} bytes do not fit in {size_mib} MiB",
                    bytes.len()
                )));
            }
            create_sparse(out, size_mib * MIB)?;
            let mut f = OpenOptions::new()
                .write(true)
                .open(out)
                .map_err(io_err("cannot open", out))?;
            f.write_all(bytes).map_err(io_err("cannot write", out))?;
            Ok(true)
        }
        Filesystem::Fat { label, volume_id } => {
            let staged = stage(part, &tmp.join(format!("stage{number}")))?;
            build_fat(label, *volume_id, size_mib, out, &staged, sector_size)?;
            Ok(true)
        }
        Filesystem::Ext4 { label, uuid } => {
            let staged = stage(part, &tmp.join(format!("stage{number}")))?;
            build_ext4(label, uuid, size_mib, out, &staged, sector_size)?;
            Ok(true)
        }
    }
}

fn mtools(program: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("MTOOLS_SKIP_CHECK", "1")
        .env("MTOOLSRC", "/dev/null")
        .env("SOURCE_DATE_EPOCH", source_date_epoch().to_string());
    cmd
}

fn build_fat(
    label: &str,
    volume_id: u32,
    size_mib: u64,
    out: &Path,
    staged: &Staged,
    sector_size: u64,
) -> Result<()> {
    create_sparse(out, size_mib * MIB)?;
    let mut mkfs = Command::new("mkfs.vfat");
    mkfs.args(["--invariant", "--mbr=n"])
        .arg("-i")
        .arg(format!("{volume_id:08x}"));
    if sector_size != SECTOR {
        mkfs.arg("-S").arg(sector_size.to_string());
    }
    // FAT32 needs 65525 clusters: from 33 MiB with 512-byte sectors, but only from
    // 257 MiB with 4096-byte ones (one sector per cluster); below that mkfs.vfat's own
    // choice (FAT16) is the one every reader agrees on.
    let fat32_from_mib = if sector_size == SECTOR { 33 } else { 260 };
    if size_mib >= fat32_from_mib {
        mkfs.args(["-F", "32"]);
    }
    if !label.is_empty() {
        mkfs.arg("-n").arg(label);
    }
    mkfs.arg(out)
        .env("SOURCE_DATE_EPOCH", source_date_epoch().to_string());
    run(&mut mkfs)?;

    if !staged.dirs.is_empty() {
        // BTreeSet order puts parents before children.
        let mut mmd = mtools("mmd");
        mmd.arg("-i").arg(out);
        for d in &staged.dirs {
            mmd.arg(format!("::/{d}"));
        }
        run(&mut mmd)?;
    }
    // One mcopy per target directory, files in sorted order.
    let mut by_dir: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for f in &staged.files {
        let dir = f.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        by_dir.entry(dir).or_default().push(f);
    }
    for (dir, files) in by_dir {
        let mut mcopy = mtools("mcopy");
        mcopy.args(["-m", "-D", "o", "-i"]).arg(out);
        for f in files {
            mcopy.arg(staged.root.join(f));
        }
        mcopy.arg(format!("::/{dir}{}", if dir.is_empty() { "" } else { "/" }));
        run(&mut mcopy)?;
    }
    Ok(())
}

fn check_uuid(uuid: &str) -> Result<()> {
    let groups: Vec<&str> = uuid.split('-').collect();
    let ok = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "ext4 UUID {uuid:?} is not of the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
        )))
    }
}

fn build_ext4(
    label: &str,
    uuid: &str,
    size_mib: u64,
    out: &Path,
    staged: &Staged,
    sector_size: u64,
) -> Result<()> {
    check_uuid(uuid)?;
    let epoch = source_date_epoch().to_string();
    let mut mkfs = Command::new("mke2fs");
    mkfs.args(["-q", "-F", "-t", "ext4"]);
    if sector_size != SECTOR {
        // Blocks no smaller than the disk's sectors, as Linux requires to mount it.
        mkfs.arg("-b").arg(sector_size.to_string());
    }
    if !label.is_empty() {
        mkfs.arg("-L").arg(label);
    }
    mkfs.arg("-U")
        .arg(uuid)
        .arg("-E")
        .arg(format!("root_owner=0:0,hash_seed={uuid}"))
        .arg("-d")
        .arg(&staged.root)
        .arg(out)
        .arg(format!("{size_mib}M"))
        .env("E2FSPROGS_FAKE_TIME", &epoch)
        .env("SOURCE_DATE_EPOCH", &epoch)
        .env("MKE2FS_CONFIG", "/etc/mke2fs.conf");
    run(&mut mkfs)?;

    // mke2fs -d copies each staged inode's ctime (which cannot be set on the
    // host) and owner; pin both so the image is reproducible.
    let mut script = String::new();
    for rel in std::iter::once(&String::new())
        .chain(&staged.dirs)
        .chain(&staged.files)
    {
        let p = format!("\"/{}\"", rel.replace('"', "\\\""));
        for (field, value) in [
            ("ctime", format!("@{epoch}")),
            ("uid", "0".into()),
            ("gid", "0".into()),
        ] {
            script.push_str(&format!("set_inode_field {p} {field} {value}\n"));
        }
    }
    let mut debugfs = Command::new("debugfs");
    debugfs
        .arg("-w")
        .arg("-f")
        .arg("-")
        .arg(out)
        .env("E2FSPROGS_FAKE_TIME", &epoch);
    let output = run_with_stdin_unchecked(&mut debugfs, script.as_bytes())?;
    // debugfs exits 0 even when a request fails; any stderr line other than
    // its version banner is an error.
    let stderr = String::from_utf8_lossy(&output.stderr);
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("debugfs "))
        .collect();
    if !output.status.success() || !complaints.is_empty() {
        return Err(Error::Command {
            command: format!(
                "{} (set_inode_field ctime/uid/gid)",
                display_command(&debugfs)
            ),
            status: output.status.to_string(),
            stderr: complaints.join("\n"),
        });
    }
    Ok(())
}

/// Copies `src` into `dst` at byte `offset`, skipping holes of a sparse
/// `src` (so `dst` stays sparse).
fn copy_into(src: &Path, dst: &Path, offset: u64) -> Result<()> {
    let mut input = File::open(src).map_err(io_err("cannot open", src))?;
    let len = input.metadata().map_err(io_err("cannot stat", src))?.len();
    let mut output = OpenOptions::new()
        .write(true)
        .open(dst)
        .map_err(io_err("cannot open", dst))?;
    let mut buf = vec![0u8; MIB as usize];
    let mut pos = 0u64;
    while pos < len {
        let (data, hole) = match data_range(&input, pos, len) {
            Some(range) => range,
            None => (pos, len), // no SEEK_DATA support: copy everything
        };
        if data >= len {
            break;
        }
        input
            .seek(SeekFrom::Start(data))
            .map_err(io_err("cannot seek in", src))?;
        output
            .seek(SeekFrom::Start(offset + data))
            .map_err(io_err("cannot seek in", dst))?;
        let mut left = hole - data;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            input
                .read_exact(&mut buf[..n])
                .map_err(io_err("cannot read", src))?;
            output
                .write_all(&buf[..n])
                .map_err(io_err("cannot write", dst))?;
            left -= n as u64;
        }
        pos = hole;
    }
    Ok(())
}

/// The next data range `[data, hole)` at or after `pos`, via
/// `lseek(SEEK_DATA/SEEK_HOLE)`; `Some((len, len))` if only a hole remains,
/// `None` if the filesystem cannot tell.
fn data_range(file: &File, pos: u64, len: u64) -> Option<(u64, u64)> {
    let fd = file.as_raw_fd();
    // SAFETY: lseek on a descriptor we own; the file offset is reset by the
    // caller's explicit seek before every read.
    let data = unsafe { libc::lseek(fd, pos as libc::off_t, libc::SEEK_DATA) };
    if data < 0 {
        let err = std::io::Error::last_os_error();
        return if err.raw_os_error() == Some(libc::ENXIO) {
            Some((len, len))
        } else {
            None
        };
    }
    // SAFETY: as above.
    let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
    if hole < 0 {
        return None;
    }
    Some((data as u64, (hole as u64).min(len)))
}

/// A stable 64-bit digest of a file's bytes, for "image unchanged" checks
/// (not cryptographic). Equal files give equal digests on every run and
/// machine.
pub fn file_digest(path: &Path) -> Result<u64> {
    let mut file = File::open(path).map_err(io_err("cannot open", path))?;
    let mut buf = vec![0u8; MIB as usize];
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut total: u64 = 0;
    loop {
        let mut n = 0;
        while n < buf.len() {
            match file.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err("cannot read", path)(e)),
            }
        }
        if n == 0 {
            break;
        }
        total += n as u64;
        let mut words = buf[..n].chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            h = (h ^ u64::from_le_bytes(b))
                .wrapping_mul(0x0000_0100_0000_01b3)
                .rotate_left(29);
        }
        for &b in words.remainder() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        if n < buf.len() {
            break;
        }
    }
    let mut state = h ^ total;
    Ok(splitmix64(&mut state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_aligns_and_checks_sizes() {
        let d = DiskImage::gpt(0)
            .partition(Partition::esp(64))
            .partition(Partition::raw(PartType::Raw, 8));
        assert_eq!(d.plan_total().unwrap(), (vec![(1, 64), (65, 8)], 74));
        assert_eq!(d.partition_offset(2), Some(65 * MIB));

        let too_small = DiskImage::gpt(65).partition(Partition::esp(64));
        assert!(too_small.plan_total().is_err());
        let mbr_fits = DiskImage::mbr(65).partition(Partition::esp(64));
        assert!(mbr_fits.plan_total().is_ok());

        let rest = DiskImage::gpt(100)
            .partition(Partition::esp(40))
            .partition(Partition::raw(PartType::Linux, 0));
        assert_eq!(rest.plan_total().unwrap().0, vec![(1, 40), (41, 58)]);
    }

    #[test]
    fn guids_are_deterministic_and_distinct() {
        let a = DiskImage::gpt(0).partition(Partition::esp(64));
        let b = DiskImage::gpt(0).partition(Partition::esp(64));
        assert_eq!(a.disk_guid(), b.disk_guid());
        assert_eq!(a.partuuid(1), b.partuuid(1));
        assert_ne!(a.disk_guid(), a.partuuid(1).unwrap());
        let c = a.clone().seed(7);
        assert_ne!(a.disk_guid(), c.disk_guid());
        let g = a.disk_guid();
        assert_eq!(g.len(), 36);
        assert_eq!(&g[14..15], "4");
        let m = DiskImage::mbr(0).partition(Partition::esp(64));
        assert!(m.partuuid(1).unwrap().ends_with("-01"));
        assert_eq!(m.partuuid(2), None);
    }

    /// A 4Kn GPT image: the header at byte 4096, the protective MBR and the partition
    /// entries in 4096-byte sectors, FAT with 4096-byte sectors and ext4 with 4096-byte
    /// blocks at the 1 MiB-aligned offsets; the same description gives the same bytes.
    /// Needs root (losetup), as the e2e tests do.
    #[test]
    fn gpt_4kn_image_counts_4096_byte_sectors() {
        let dir = TempDir::new_in(&std::env::temp_dir(), "leapboot-4kn-image").unwrap();
        let image = DiskImage::gpt(0)
            .sector_size(4096)
            .partition(Partition::esp(34).file("/loader/entries/a.conf", "title A\n"))
            .partition(Partition::linux_ext4(
                16,
                "root",
                "6e0a6a26-3d93-4f6b-9d3c-a3b1a4a4d001",
            ));
        let path = dir.path().join("4kn.img");
        image.write(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, 52 * MIB);
        assert_eq!(&bytes[4096..4104], b"EFI PART");
        assert_ne!(&bytes[512..520], b"EFI PART");
        // Protective MBR: LBA 1, the disk's 4096-byte sectors less one.
        let le32 = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        assert_eq!((bytes[446 + 4], le32(446 + 8)), (0xee, 1));
        assert_eq!(u64::from(le32(446 + 12)), 52 * MIB / 4096 - 1);
        // Entry array at LBA 2 (byte 8192): first and last LBA of each partition.
        let le64 = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        let entries = 2 * 4096;
        assert_eq!(le64(entries + 32), MIB / 4096);
        assert_eq!(le64(entries + 40), 35 * MIB / 4096 - 1);
        assert_eq!(le64(entries + 128 + 32), 35 * MIB / 4096);
        // FAT boot sector: 4096 bytes per sector; ext4: 4096-byte blocks.
        let esp = MIB as usize;
        assert_eq!(u16::from_le_bytes([bytes[esp + 11], bytes[esp + 12]]), 4096);
        let root = 35 * MIB as usize;
        assert_eq!(&bytes[root + 1080..root + 1082], &[0x53, 0xef]);
        assert_eq!(
            le32(root + 1024 + 0x18),
            2,
            "s_log_block_size 2: 4096-byte blocks"
        );
        let again = dir.path().join("again.img");
        image.write(&again).unwrap();
        assert_eq!(file_digest(&path).unwrap(), file_digest(&again).unwrap());
        assert!(DiskImage::gpt(8).sector_size(1024).write(&again).is_err());
    }

    #[test]
    fn misuse_is_reported() {
        let d = DiskImage::gpt(0)
            .partition(Partition::esp(64))
            .file("x", "y");
        let err = d.plan_total().unwrap_err().to_string();
        assert!(err.contains("superfloppy"), "{err}");
        assert!(fs_components("../x").is_err());
        assert_eq!(fs_components("/a//b/./c").unwrap(), ["a", "b", "c"]);
        assert!(check_uuid("not-a-uuid").is_err());
        assert!(check_uuid("6e0a6a26-3d93-4f6b-9d3c-a3b1a4a4d001").is_ok());
        assert_eq!(
            Filesystem::Fat {
                label: "X".into(),
                volume_id: 0x1234abcd
            }
            .uuid()
            .unwrap(),
            "1234-ABCD"
        );
    }
}
