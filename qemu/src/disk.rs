//! Disk images: GPT, MBR or partitionless ("superfloppy") raw images with FAT and
//! ext4 filesystems, built without root and byte-for-byte reproducible; and, through
//! [`crate::hostfs`], XFS, Btrfs (subvolumes, a default subvolume, compression), LVM2
//! physical volumes whose logical volumes hold any of these, and LUKS headers, made by
//! the real tools (some of them as root, see [`DiskImage::missing_requirements`]).
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
//! renamed). XFS, Btrfs and LVM are not byte-for-byte reproducible (their tools
//! stamp times and internal random UUIDs), but every UUID and label given here is
//! what the image holds.
//!
//! ```no_run
//! use leapboot_qemu::{DiskImage, Filesystem, LogicalVolume, PartType, Partition, VolumeGroup};
//! # fn main() -> leapboot_qemu::Result<()> {
//! let root = LogicalVolume::new("root", 300, Filesystem::xfs("", "7c1c2f6e-0000-4000-8000-000000000001"))
//!     .file("etc/fstab", "/dev/mapper/rhel-root / xfs defaults 0 0\n");
//! DiskImage::gpt(0)
//!     .partition(Partition::new(PartType::Linux, 300,
//!         Filesystem::xfs("boot", "7c1c2f6e-0000-4000-8000-000000000002"))
//!         .file("grub2/grub.cfg", "set default=0\n"))
//!     .partition(Partition::lvm(340, VolumeGroup::new("rhel").lv(root)
//!         .lv(LogicalVolume::new("swap", 32, Filesystem::Empty))))
//!     .partition(Partition::new(PartType::Linux, 128, Filesystem::btrfs_with(
//!         "", "7c1c2f6e-0000-4000-8000-000000000003", &["@", "@/home"], Some("@"), Some("zstd")))
//!         .file("@/boot/grub2/grub.cfg", "set default=0\n"))
//!     .write(std::path::Path::new("/tmp/server.img"))?;
//! # Ok(())
//! # }
//! ```
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

use crate::hostfs::{self, BtrfsLayout, LoopDevice};
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
    /// Linux LVM (GPT `e6d6d379-f507-44c2-a23c-238f2a3df928`, sgdisk `8e00`), MBR `0x8e`.
    LinuxLvm,
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
            PartType::LinuxLvm => "8e00",
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
            PartType::LinuxLvm => Some(0x8e),
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
    /// XFS: `mkfs.xfs`, the files copied in through a loop mount as root, else by
    /// `mkfs.xfs -p` for trees up to an eighth of the size (see [`crate::hostfs`]).
    /// xfsprogs refuses filesystems smaller than 300 MiB.
    Xfs {
        /// Volume label, at most 12 bytes; empty for none.
        label: String,
        /// Filesystem UUID.
        uuid: String,
    },
    /// Btrfs. The files' paths are as seen from the top level (subvolume 5), so
    /// with a subvolume `@` a file `@/boot/grub2/grub.cfg` lies in `@`. Plain
    /// (no subvolumes, default or compression) it is `mkfs.btrfs --rootdir` (no
    /// root); otherwise it is loop-mounted to be filled (root).
    Btrfs {
        /// Volume label; empty for none.
        label: String,
        /// Filesystem UUID.
        uuid: String,
        /// Subvolumes to create, paths from the top level (`@`, `@/home`); parents
        /// first is not required.
        subvolumes: Vec<String>,
        /// The subvolume `btrfs subvolume set-default` makes the default; `None`
        /// leaves the top level.
        default_subvolume: Option<String>,
        /// The `compress=` mount option the files are written with (`zstd`,
        /// `zstd:1`, `lzo`, `zlib`); the kernel still stores data it finds
        /// incompressible uncompressed.
        compress: Option<String>,
    },
    /// An LVM2 physical volume holding one volume group (root: loop device). Files
    /// go into the logical volumes, not here.
    Lvm(VolumeGroup),
    /// A LUKS header (`cryptsetup luksFormat`, passphrase
    /// [`hostfs::LUKS_PASSPHRASE`]); the encrypted area stays unwritten.
    Luks {
        /// 1 or 2.
        version: u8,
        /// The LUKS UUID.
        uuid: String,
        /// LUKS2 label; empty for none (LUKS1 has no label).
        label: String,
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

    /// XFS with `label` and `uuid`.
    pub fn xfs(label: &str, uuid: &str) -> Filesystem {
        Filesystem::Xfs {
            label: label.to_string(),
            uuid: uuid.to_string(),
        }
    }

    /// Plain Btrfs with `label` and `uuid`: files at the top level, which stays the
    /// default subvolume.
    pub fn btrfs(label: &str, uuid: &str) -> Filesystem {
        Filesystem::btrfs_with(label, uuid, &[], None, None)
    }

    /// Btrfs with `subvolumes`, the `default_subvolume` and `compress` (see
    /// [`Filesystem::Btrfs`]).
    pub fn btrfs_with(
        label: &str,
        uuid: &str,
        subvolumes: &[&str],
        default_subvolume: Option<&str>,
        compress: Option<&str>,
    ) -> Filesystem {
        Filesystem::Btrfs {
            label: label.to_string(),
            uuid: uuid.to_string(),
            subvolumes: subvolumes.iter().map(|s| s.to_string()).collect(),
            default_subvolume: default_subvolume.map(str::to_string),
            compress: compress.map(str::to_string),
        }
    }

    /// A LUKS2 header with `uuid` and `label`.
    pub fn luks2(uuid: &str, label: &str) -> Filesystem {
        Filesystem::Luks {
            version: 2,
            uuid: uuid.to_string(),
            label: label.to_string(),
        }
    }

    /// The UUID Linux reports for this filesystem (`blkid`, `/dev/disk/by-uuid`):
    /// `XXXX-XXXX` for FAT, the lowercase UUID for ext4, XFS, Btrfs and LUKS, the
    /// PV UUID for LVM, `None` otherwise.
    pub fn uuid(&self) -> Option<String> {
        match self {
            Filesystem::Fat { volume_id, .. } => Some(format!(
                "{:04X}-{:04X}",
                volume_id >> 16,
                volume_id & 0xffff
            )),
            Filesystem::Ext4 { uuid, .. }
            | Filesystem::Xfs { uuid, .. }
            | Filesystem::Btrfs { uuid, .. }
            | Filesystem::Luks { uuid, .. } => Some(uuid.to_ascii_lowercase()),
            Filesystem::Lvm(vg) => Some(vg.pv_uuid.clone()),
            Filesystem::Empty | Filesystem::Bytes(_) => None,
        }
    }

    fn accepts_files(&self) -> bool {
        matches!(
            self,
            Filesystem::Fat { .. }
                | Filesystem::Ext4 { .. }
                | Filesystem::Xfs { .. }
                | Filesystem::Btrfs { .. }
        )
    }

    /// Adds the programs (with their Debian packages) building this needs, and
    /// whether it needs root, to `needs`.
    fn needs(&self, needs: &mut Needs) {
        match self {
            Filesystem::Fat { .. } => {
                needs.tool("mkfs.vfat", "dosfstools");
                needs.tool("mcopy", "mtools");
            }
            Filesystem::Ext4 { .. } => needs.tool("mke2fs", "e2fsprogs"),
            Filesystem::Xfs { .. } => needs.tool("mkfs.xfs", "xfsprogs"),
            Filesystem::Btrfs {
                subvolumes,
                default_subvolume,
                compress,
                ..
            } => {
                needs.tool("mkfs.btrfs", "btrfs-progs");
                if !subvolumes.is_empty() || default_subvolume.is_some() || compress.is_some() {
                    needs.tool("btrfs", "btrfs-progs");
                    needs.root("mounting Btrfs for subvolumes, a default subvolume or compression");
                }
            }
            Filesystem::Lvm(vg) => {
                needs.tool("lvm", "lvm2");
                needs.tool("losetup", "mount");
                needs.root("losetup for an LVM2 physical volume");
                for lv in &vg.volumes {
                    lv.fs.needs(needs);
                }
            }
            Filesystem::Luks { .. } => needs.tool("cryptsetup", "cryptsetup-bin"),
            Filesystem::Empty | Filesystem::Bytes(_) => {}
        }
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
            Filesystem::Xfs { label, uuid } => {
                h.field(b"xfs");
                h.field(label.as_bytes());
                h.field(uuid.as_bytes());
            }
            Filesystem::Btrfs {
                label,
                uuid,
                subvolumes,
                default_subvolume,
                compress,
            } => {
                h.field(b"btrfs");
                h.field(label.as_bytes());
                h.field(uuid.as_bytes());
                for sv in subvolumes {
                    h.field(sv.as_bytes());
                }
                h.field(format!("{default_subvolume:?}/{compress:?}").as_bytes());
            }
            Filesystem::Lvm(vg) => vg.hash_into(h),
            Filesystem::Luks {
                version,
                uuid,
                label,
            } => {
                h.field(b"luks");
                h.field(&[*version]);
                h.field(uuid.as_bytes());
                h.field(label.as_bytes());
            }
            Filesystem::Empty => h.field(b"empty"),
            Filesystem::Bytes(b) => {
                h.field(b"bytes");
                h.field(&(b.len() as u64).to_le_bytes());
            }
        }
    }
}

/// What building an image needs from the host: programs (with their Debian
/// packages) and root.
#[derive(Debug, Default)]
struct Needs {
    tools: BTreeSet<(&'static str, &'static str)>,
    root: BTreeSet<&'static str>,
}

impl Needs {
    fn tool(&mut self, program: &'static str, package: &'static str) {
        self.tools.insert((program, package));
    }

    fn root(&mut self, why: &'static str) {
        self.root.insert(why);
    }

    /// What is missing, one line each: `program (package P)`, `root (for ...)`.
    fn missing(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .tools
            .iter()
            .filter(|(program, _)| hostfs::find_program(program).is_none())
            .map(|(program, package)| format!("{program} (package {package})"))
            .collect();
        if !self.root.is_empty() && !hostfs::is_root() {
            let why: Vec<&str> = self.root.iter().copied().collect();
            out.push(format!("root (for {})", why.join(", ")));
        }
        out
    }
}

/// An LVM2 volume group on one physical volume (a [`Filesystem::Lvm`] partition).
/// UUIDs are LVM's 32 characters in 6-4-4-4-4-4-6 groups; by default derived from
/// the names, so a description always gives the same ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeGroup {
    /// VG name (`rhel`, `debian-vg`).
    pub name: String,
    /// VG UUID (GRUB's `lvmid/<vg uuid>/<lv uuid>`).
    pub uuid: String,
    /// PV UUID (what `blkid` reports for the partition).
    pub pv_uuid: String,
    /// Extent size in MiB (LVM's default: 4).
    pub extent_mib: u64,
    /// The logical volumes, allocated in this order, each one linear segment.
    pub volumes: Vec<LogicalVolume>,
}

impl VolumeGroup {
    /// A VG `name` without LVs, 4 MiB extents, UUIDs derived from `name`.
    pub fn new(name: &str) -> VolumeGroup {
        VolumeGroup {
            name: name.to_string(),
            uuid: lvm_uuid(&format!("vg:{name}")),
            pv_uuid: lvm_uuid(&format!("pv:{name}")),
            extent_mib: 4,
            volumes: Vec::new(),
        }
    }

    /// Sets the VG UUID.
    pub fn uuid(mut self, uuid: &str) -> VolumeGroup {
        self.uuid = uuid.to_string();
        self
    }

    /// Sets the PV UUID.
    pub fn pv_uuid(mut self, uuid: &str) -> VolumeGroup {
        self.pv_uuid = uuid.to_string();
        self
    }

    /// Appends a logical volume.
    pub fn lv(mut self, lv: LogicalVolume) -> VolumeGroup {
        self.volumes.push(lv);
        self
    }

    /// The UUID of LV `name`, if there is one.
    pub fn lv_uuid(&self, name: &str) -> Option<&str> {
        self.volumes
            .iter()
            .find(|lv| lv.name == name)
            .map(|lv| lv.uuid.as_str())
    }

    fn hash_into(&self, h: &mut Fnv64) {
        h.field(b"lvm");
        for field in [&self.name, &self.uuid, &self.pv_uuid] {
            h.field(field.as_bytes());
        }
        h.field(&self.extent_mib.to_le_bytes());
        for lv in &self.volumes {
            h.field(lv.name.as_bytes());
            h.field(lv.uuid.as_bytes());
            h.field(&lv.size_mib.to_le_bytes());
            lv.fs.hash_into(h);
        }
    }

    /// Refuses what LVM would refuse or this builder cannot lay out.
    fn check(&self) -> Result<()> {
        check_lvm_uuid(&self.uuid)?;
        check_lvm_uuid(&self.pv_uuid)?;
        if self.extent_mib == 0 || !self.extent_mib.is_power_of_two() {
            return Err(Error::Invalid(format!(
                "VG {}: extent size {} MiB is not a power of two",
                self.name, self.extent_mib
            )));
        }
        for lv in &self.volumes {
            check_lvm_uuid(&lv.uuid)?;
            if lv.size_mib == 0 {
                return Err(Error::Invalid(format!("LV {}: size 0", lv.name)));
            }
            if !lv.files.is_empty() && !lv.fs.accepts_files() {
                return Err(Error::Invalid(format!(
                    "LV {}: files were added but its filesystem is {:?}",
                    lv.name, lv.fs
                )));
            }
        }
        Ok(())
    }
}

/// One logical volume of a [`VolumeGroup`]: a name, a size (rounded up to whole
/// extents by `lvcreate`), a UUID and a [`Filesystem`] with files, like a
/// [`Partition`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalVolume {
    /// LV name (`root`, `swap`).
    pub name: String,
    /// LV UUID; by default derived from the name.
    pub uuid: String,
    /// Size in MiB.
    pub size_mib: u64,
    /// Contents.
    pub fs: Filesystem,
    /// Files and directories in `fs`, as [`Partition::files`].
    pub files: Vec<(String, FileSource)>,
}

impl LogicalVolume {
    /// An LV `name` of `size_mib` MiB holding `fs`; UUID derived from `name`.
    pub fn new(name: &str, size_mib: u64, fs: Filesystem) -> LogicalVolume {
        LogicalVolume {
            name: name.to_string(),
            uuid: lvm_uuid(&format!("lv:{name}")),
            size_mib,
            fs,
            files: Vec::new(),
        }
    }

    /// Sets the LV UUID.
    pub fn uuid(mut self, uuid: &str) -> LogicalVolume {
        self.uuid = uuid.to_string();
        self
    }

    /// Adds a file with `contents` at `path` inside the filesystem.
    pub fn file(mut self, path: &str, contents: impl Into<Vec<u8>>) -> LogicalVolume {
        self.files
            .push((path.to_string(), FileSource::Bytes(contents.into())));
        self
    }

    /// Adds a copy of host file `host_path` at `path` inside the filesystem.
    pub fn file_from(mut self, path: &str, host_path: impl AsRef<Path>) -> LogicalVolume {
        self.files.push((
            path.to_string(),
            FileSource::Host(host_path.as_ref().to_path_buf()),
        ));
        self
    }

    /// Adds an empty directory at `path` inside the filesystem.
    pub fn dir(mut self, path: &str) -> LogicalVolume {
        self.files.push((path.to_string(), FileSource::Dir));
        self
    }

    /// The LV as a partition of its size, for building its filesystem.
    fn as_partition(&self, size_mib: u64) -> Partition {
        Partition {
            size_mib,
            fs: self.fs.clone(),
            files: self.files.clone(),
            ..Partition::default()
        }
    }
}

/// An LVM UUID derived from `seed`: 32 letters and digits in LVM's 6-4-4-4-4-4-6
/// grouping.
pub fn lvm_uuid(seed: &str) -> String {
    const CHARS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut h = Fnv64::new();
    h.field(b"lvm-uuid");
    h.field(seed.as_bytes());
    let mut state = h.finish();
    let mut out = String::new();
    for (i, group) in [6, 4, 4, 4, 4, 4, 6].into_iter().enumerate() {
        if i > 0 {
            out.push('-');
        }
        for _ in 0..group {
            let n = splitmix64(&mut state) % CHARS.len() as u64;
            out.push(char::from(CHARS[n as usize]));
        }
    }
    out
}

/// LVM's UUID form: 32 letters or digits, in the 6-4-4-4-4-4-6 grouping.
fn check_lvm_uuid(uuid: &str) -> Result<()> {
    let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
    if groups == [6, 4, 4, 4, 4, 4, 6]
        && uuid.chars().all(|c| c == '-' || c.is_ascii_alphanumeric())
    {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "LVM UUID {uuid:?} is not 32 letters and digits grouped 6-4-4-4-4-4-6"
        )))
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

    /// A Linux LVM partition: a PV holding `vg`.
    pub fn lvm(size_mib: u64, vg: VolumeGroup) -> Partition {
        Partition::new(PartType::LinuxLvm, size_mib, Filesystem::Lvm(vg))
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

    /// What building this image needs and the host lacks, one line each
    /// (`mkfs.xfs (package xfsprogs)`, `root (for ...)`); empty when it can be
    /// built. Tests skip (or fail under `LEAPBOOT_REQUIRE_QEMU=1`) on these.
    pub fn missing_requirements(&self) -> Vec<String> {
        let mut needs = Needs::default();
        match self.layout {
            Layout::Gpt => needs.tool("sgdisk", "gdisk"),
            Layout::Mbr => needs.tool("sfdisk", "fdisk"),
            Layout::Superfloppy => {}
        }
        if self.sector_size != SECTOR {
            needs.tool("losetup", "mount");
            needs.root("losetup --sector-size for a 4Kn partition table");
        }
        for p in &self.partitions {
            p.fs.needs(&mut needs);
        }
        needs.missing()
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
            if let Filesystem::Lvm(vg) = &p.fs {
                vg.check()?;
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
        let dev = LoopDevice::attach(image, Some(self.sector_size))?;
        Ok((dev.path().to_path_buf(), Some(dev)))
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
        Filesystem::Xfs { label, uuid } => {
            check_uuid(uuid)?;
            let staged = stage(part, &tmp.join(format!("stage{number}")))?;
            hostfs::build_xfs(label, uuid, size_mib, out, &staged.root, tmp)?;
            Ok(true)
        }
        Filesystem::Btrfs {
            label,
            uuid,
            subvolumes,
            default_subvolume,
            compress,
        } => {
            check_uuid(uuid)?;
            let staged = stage(part, &tmp.join(format!("stage{number}")))?;
            let layout = BtrfsLayout {
                label,
                uuid,
                subvolumes,
                default_subvolume: default_subvolume.as_deref(),
                compress: compress.as_deref(),
            };
            hostfs::build_btrfs(&layout, size_mib, out, &staged.root, tmp)?;
            Ok(true)
        }
        Filesystem::Luks {
            version,
            uuid,
            label,
        } => {
            check_uuid(uuid)?;
            hostfs::build_luks(*version, uuid, label, size_mib, out, tmp)?;
            Ok(true)
        }
        Filesystem::Lvm(vg) => {
            build_lvm(vg, size_mib, out, tmp, number)?;
            Ok(true)
        }
    }
}

/// An LVM2 PV holding `vg` in `out`: the layout by the LVM tools, then each LV's
/// filesystem built like a partition's and copied to the LV's extents.
fn build_lvm(vg: &VolumeGroup, size_mib: u64, out: &Path, tmp: &Path, number: usize) -> Result<()> {
    let extents = hostfs::build_lvm(vg, size_mib, out, tmp)?;
    for (lv, extent) in vg.volumes.iter().zip(extents) {
        let lv_tmp = tmp.join(format!("part{number}-lv-{}", lv.name));
        std::fs::create_dir_all(&lv_tmp).map_err(io_err("cannot create directory", &lv_tmp))?;
        let lv_image = lv_tmp.join("lv.img");
        let part = lv.as_partition(extent.len / MIB);
        if build_fs(&part, extent.len / MIB, &lv_image, &lv_tmp, number, SECTOR)? {
            copy_into(&lv_image, out, extent.offset)?;
        }
        std::fs::remove_dir_all(&lv_tmp).map_err(io_err("cannot remove", &lv_tmp))?;
    }
    Ok(())
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

    /// LVM UUIDs: derived ones are stable, distinct per name and in LVM's form; a VG
    /// with a malformed UUID or a files-on-nothing LV is refused before any tool runs.
    #[test]
    fn lvm_descriptions_are_checked() {
        let vg = VolumeGroup::new("rhel");
        assert_eq!(vg.uuid, VolumeGroup::new("rhel").uuid);
        assert_ne!(vg.uuid, VolumeGroup::new("debian-vg").uuid);
        assert_ne!(vg.uuid, vg.pv_uuid);
        assert!(check_lvm_uuid(&vg.uuid).is_ok() && check_lvm_uuid(&vg.pv_uuid).is_ok());
        assert!(check_lvm_uuid("VGVGVG-1111-2222-3333-4444-5555-666666").is_ok());
        assert!(check_lvm_uuid("VGVGVG-1111-2222-3333-4444-5555-66666").is_err());
        assert!(check_lvm_uuid("VGVGVG-1111-2222-3333-4444-5555-66666_").is_err());
        let root = LogicalVolume::new("root", 8, Filesystem::Empty);
        assert_eq!(
            vg.clone().lv(root.clone()).lv_uuid("root"),
            Some(root.uuid.as_str())
        );
        let bad = DiskImage::gpt(0).partition(Partition::lvm(16, vg.clone().uuid("x")));
        let err = bad
            .write(Path::new("/nonexistent/x.img"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("LVM UUID \"x\""), "{err}");
        let files_on_nothing = vg.lv(root.file("a", "b"));
        let err = files_on_nothing.check().unwrap_err().to_string();
        assert!(err.contains("files were added"), "{err}");
        assert_eq!(PartType::LinuxLvm.mbr_code(), Some(0x8e));
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
