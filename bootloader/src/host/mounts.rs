//! The running system's boot volumes, as `bootctl` finds them, read through their
//! mounts: `/proc/self/mountinfo` (proc(5), "/proc/pid/mountinfo") says what is mounted
//! where; each volume's filesystem UUID, label and partition type come from the udev
//! database (`/run/udev/data/b<major>:<minor>`, `E:ID_FS_UUID=` ...), else from the
//! `/dev/disk/by-uuid` and `/dev/disk/by-label` links; no blkid, no opening of devices.
//!
//! The volumes, in the order the GRUB that runs on this machine would meet them:
//! - the EFI System Partition: the first of `/efi`, `/boot`, `/boot/efi` that is a vfat
//!   mount (bootctl's `find_esp`), role ESP (also when its partition type is unknown);
//! - XBOOTLDR: `/boot` when it is a mount of its own and the ESP is elsewhere; role
//!   XBOOTLDR when the partition type says so (`bc13c2ff-...`);
//! - the filesystem holding `/boot` (a mount of its own, or the root filesystem), where
//!   `grub.cfg` lives (`/boot/grub/grub.cfg` on the root filesystem, `/grub/grub.cfg`
//!   on a separate `/boot`);
//! - the root filesystem, which GRUB configs `search` for.
//!
//! On an EFI system the ESP comes first (its `EFI/*/grub.cfg` is what GRUB reads, often
//! a stub that `configfile`s the real one); on a BIOS system the `/boot` filesystem.
//!
//! Each volume is the mounted directory seen as a filesystem ([`MountFs`]): paths are
//! paths within that filesystem, so a Btrfs subvolume mounted at `/` (mountinfo's
//! `root` field, `/@`) takes GRUB's `/@/boot/vmlinuz` as `/boot/vmlinuz`, and other
//! mounts below it (`/proc`, `/boot/efi`, `/home`) are not part of it.
//!
//! Not handled: a boot filesystem that is not mounted (bootctl would not find it
//! either); automounts that have not fired are read through (the read mounts them).

use super::SystemRoot;
use crate::devices::volume::Volume;
use crate::devices::volume::dir::DirVolume;
use leapboot_menus::fs::normalize;
use leapboot_menus::{DirEntry, FileSystem, FsError, Metadata, VolumeInfo, VolumeRole};
use std::path::{Path, PathBuf};

/// The ESP's GPT partition type (UAPI Discoverable Partitions Specification).
pub const ESP_TYPE: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
/// The Extended Boot Loader partition's GPT type.
pub const XBOOTLDR_TYPE: &str = "bc13c2ff-59e6-4262-a352-b275fd6f7172";

/// Where bootctl looks for the ESP, in order.
pub const ESP_PATHS: [&str; 3] = ["/efi", "/boot", "/boot/efi"];

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Mount id.
    pub id: u64,
    /// Device major number (`st_dev`), 0 for anonymous devices (Btrfs, tmpfs).
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// The directory of the filesystem that is mounted (`/` for the whole filesystem).
    pub root: String,
    /// Where it is mounted.
    pub mount_point: String,
    /// Filesystem type (`ext4`, `vfat`, `xfs`, `btrfs`).
    pub fs_type: String,
    /// The mount source (`/dev/vda1`).
    pub source: String,
}

/// Undoes mountinfo's octal escapes (`\040` space, `\011` tab, `\012` newline,
/// `\134` backslash); anything else is kept as written.
pub fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0usize;
    while let Some(&c) = b.get(i) {
        let octal = b
            .get(i.saturating_add(1)..i.saturating_add(4))
            .filter(|d| d.iter().all(|x| (b'0'..=b'7').contains(x)));
        match (c, octal) {
            (b'\\', Some(d)) => {
                let v = d
                    .iter()
                    .fold(0u32, |acc, x| acc * 8 + u32::from(x.saturating_sub(b'0')));
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i = i.saturating_add(4);
            }
            _ => {
                out.push(c);
                i = i.saturating_add(1);
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `/proc/self/mountinfo`: `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS
/// [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS`. Lines that do not have that shape
/// are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Mount> {
    let fields: Vec<&str> = line.split(' ').collect();
    let sep = fields.iter().position(|f| *f == "-")?;
    if sep < 6 {
        return None;
    }
    let id = fields.first()?.parse().ok()?;
    let (major, minor) = fields.get(2)?.split_once(':')?;
    Some(Mount {
        id,
        major: major.parse().ok()?,
        minor: minor.parse().ok()?,
        root: unescape(fields.get(3)?),
        mount_point: unescape(fields.get(4)?),
        fs_type: unescape(fields.get(sep.checked_add(1)?)?),
        source: unescape(fields.get(sep.checked_add(2)?).unwrap_or(&"none")),
    })
}

/// True when `path` is `dir` or lies below it (`/boot/efi` is under `/boot`, `/bootx`
/// is not).
pub fn is_under(path: &str, dir: &str) -> bool {
    if dir == "/" {
        return path.starts_with('/');
    }
    path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The mount that holds `path`: the longest mount point it lies under, the last listed
/// among equals (a later mount on the same point hides the earlier).
pub fn mount_for<'a>(mounts: &'a [Mount], path: &str) -> Option<&'a Mount> {
    let mut best: Option<&Mount> = None;
    for m in mounts.iter().filter(|m| is_under(path, &m.mount_point)) {
        if best.is_none_or(|b| m.mount_point.len() >= b.mount_point.len()) {
            best = Some(m);
        }
    }
    best
}

/// The mount whose mount point is exactly `path` (the last one listed).
pub fn mount_at<'a>(mounts: &'a [Mount], path: &str) -> Option<&'a Mount> {
    mounts.iter().rev().find(|m| m.mount_point == path)
}

/// What udev knows about a block device (`/run/udev/data/b<major>:<minor>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceFacts {
    /// `ID_FS_UUID`.
    pub uuid: Option<String>,
    /// `ID_FS_LABEL_ENC` decoded, else `ID_FS_LABEL`.
    pub label: Option<String>,
    /// `ID_PART_ENTRY_TYPE`: a GPT type GUID (lowercase) or an MBR type (`0xef`).
    pub part_type: Option<String>,
}

/// Decodes udev's `\xHH` escapes (`ID_FS_LABEL_ENC`, `/dev/disk/by-label` names).
pub fn decode_hex_escapes(s: &str) -> String {
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0usize;
    while let Some(&c) = b.get(i) {
        let hex = b
            .get(i.saturating_add(2)..i.saturating_add(4))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (c, b.get(i.saturating_add(1)), hex) {
            (b'\\', Some(b'x'), Some(v)) => {
                out.push(v);
                i = i.saturating_add(4);
            }
            _ => {
                out.push(c);
                i = i.saturating_add(1);
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads the `E:KEY=VALUE` properties of a udev database record.
pub fn parse_udev_record(text: &str) -> DeviceFacts {
    let mut f = DeviceFacts::default();
    let mut label_enc = None;
    for line in text.lines() {
        let Some((k, v)) = line.strip_prefix("E:").and_then(|p| p.split_once('=')) else {
            continue;
        };
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        match k {
            "ID_FS_UUID" => f.uuid = Some(v.to_string()),
            "ID_FS_LABEL" => f.label = Some(v.to_string()),
            "ID_FS_LABEL_ENC" => label_enc = Some(decode_hex_escapes(v)),
            "ID_PART_ENTRY_TYPE" => f.part_type = Some(v.to_ascii_lowercase()),
            _ => {}
        }
    }
    if label_enc.is_some() {
        f.label = label_enc;
    }
    f
}

/// The role a partition type gives a volume.
pub fn role_of(part_type: Option<&str>) -> Option<VolumeRole> {
    match part_type? {
        ESP_TYPE | "0xef" => Some(VolumeRole::Esp),
        XBOOTLDR_TYPE | "0xea" => Some(VolumeRole::Xbootldr),
        _ => None,
    }
}

/// Linux's `makedev`: the `dev_t` of `major:minor` (`include/linux/kdev_t.h`,
/// `new_encode_dev`, as glibc's `gnu_dev_makedev` builds it).
pub fn makedev(major: u32, minor: u32) -> u64 {
    let (ma, mi) = (u64::from(major), u64::from(minor));
    ((ma & 0xffff_f000) << 32) | ((ma & 0xfff) << 8) | ((mi & 0xffff_ff00) << 12) | (mi & 0xff)
}

/// What udev says of `m`'s device, completed from `/dev/disk/by-uuid` and
/// `/dev/disk/by-label` where the database is missing (a system without udev
/// running, or a Btrfs mount with an anonymous device number).
fn device_facts(sys: &SystemRoot, m: &Mount) -> DeviceFacts {
    let record = sys.path(&format!("/run/udev/data/b{}:{}", m.major, m.minor));
    let mut f = std::fs::read_to_string(record)
        .map(|t| parse_udev_record(&t))
        .unwrap_or_default();
    if f.uuid.is_none() {
        f.uuid = link_naming(sys, "/dev/disk/by-uuid", m).map(|n| n.to_string());
    }
    if f.label.is_none() {
        f.label = link_naming(sys, "/dev/disk/by-label", m).map(|n| decode_hex_escapes(&n));
    }
    f
}

/// The name of the link in `dir` that points at `m`'s device: by device number, or
/// (anonymous device numbers) by the mount source's canonical path.
fn link_naming(sys: &SystemRoot, dir: &str, m: &Mount) -> Option<String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let want = makedev(m.major, m.minor);
    let source = if m.source.starts_with("/dev/") {
        std::fs::canonicalize(sys.path(&m.source)).ok()
    } else {
        None
    };
    for e in std::fs::read_dir(sys.path(dir)).ok()?.flatten() {
        let p = e.path();
        let by_number = m.major != 0
            && std::fs::metadata(&p)
                .is_ok_and(|md| md.file_type().is_block_device() && md.rdev() == want);
        let by_path = source
            .as_ref()
            .is_some_and(|s| std::fs::canonicalize(&p).is_ok_and(|c| &c == s));
        if by_number || by_path {
            return Some(e.file_name().to_string_lossy().into_owned());
        }
    }
    None
}

/// A mounted filesystem seen as a volume: paths within the filesystem map to the
/// mounted directory; the subvolume prefix (mountinfo's `root`) is taken off; mounts
/// below this one are not part of it (read as missing, listed empty).
pub struct MountFs {
    dir: DirVolume,
    /// The mounted directory of the filesystem, `/` for the whole filesystem.
    root: String,
    /// Mount points below this one, as paths within the mounted directory.
    hidden: Vec<String>,
}

impl MountFs {
    /// The filesystem mounted at `host_dir`, whose mountinfo `root` is `root`, with
    /// other mounts at `hidden` (paths within the mounted directory).
    pub fn new(host_dir: &Path, root: &str, hidden: Vec<String>) -> MountFs {
        MountFs {
            dir: DirVolume::new(host_dir),
            root: root.to_string(),
            hidden,
        }
    }

    /// The path within the mounted directory for a path within the filesystem, or
    /// `None` when it lies in a mount below this one.
    fn map(&self, path: &str) -> Option<String> {
        let p = normalize(path).unwrap_or_else(|| "/".to_string());
        let p = if self.root != "/" && is_under(&p, &self.root) {
            let rest = p.get(self.root.len()..).unwrap_or("");
            if rest.is_empty() {
                "/".to_string()
            } else {
                rest.to_string()
            }
        } else {
            p
        };
        let strictly_below = |h: &String| is_under(&p, h) && p != *h;
        if self.hidden.iter().any(strictly_below) {
            return None;
        }
        Some(p)
    }

    fn hidden_err(path: &str) -> FsError {
        FsError::NotFound {
            path: path.to_string(),
        }
    }
}

impl FileSystem for MountFs {
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, FsError> {
        let p = self.map(path).ok_or_else(|| Self::hidden_err(path))?;
        self.dir.read(&p, limit)
    }

    fn read_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, FsError> {
        let p = self.map(path).ok_or_else(|| Self::hidden_err(path))?;
        self.dir.read_range(&p, offset, len)
    }

    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>, FsError> {
        let p = self.map(path).ok_or_else(|| Self::hidden_err(path))?;
        if self.hidden.contains(&p) {
            // Another filesystem is mounted here: this one's directory is hidden.
            return Ok(Vec::new());
        }
        self.dir.read_dir(&p)
    }

    fn metadata(&self, path: &str) -> Result<Metadata, FsError> {
        let p = self.map(path).ok_or_else(|| Self::hidden_err(path))?;
        self.dir.metadata(&p)
    }
}

/// Where a boot volume of the running system is mounted (parallel to its [`Volume`]
/// in [`Found`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostVolume {
    /// The device name (`vda1`), as the volume's `info.device`.
    pub device: String,
    /// Filesystem type.
    pub fs_type: String,
    /// Where it is mounted (`/boot/efi`), as the running system sees it.
    pub mount_point: String,
    /// The mounted directory on this machine (under the system root for tests).
    pub host_dir: PathBuf,
    /// The directory of the filesystem that is mounted (mountinfo's `root`).
    pub fs_root: String,
    /// Why it is a boot volume, for messages: `ESP`, `XBOOTLDR`, `/boot`, `root
    /// filesystem with /boot`, `root filesystem`.
    pub why: &'static str,
}

impl HostVolume {
    /// The host path of a path within this volume's filesystem.
    pub fn host_path(&self, path: &str) -> PathBuf {
        let p = normalize(path).unwrap_or_else(|| "/".to_string());
        let p = if self.fs_root != "/" && is_under(&p, &self.fs_root) {
            p.get(self.fs_root.len()..).unwrap_or("").to_string()
        } else {
            p
        };
        self.host_dir.join(p.trim_start_matches('/'))
    }

    /// The path within the filesystem of a directory the running system sees at
    /// `abs` (which lies under [`HostVolume::mount_point`]).
    pub fn fs_path(&self, abs: &str) -> String {
        let rest = abs
            .get(self.mount_point.len()..)
            .unwrap_or("")
            .trim_start_matches('/');
        let base = self.fs_root.trim_end_matches('/');
        format!("{base}/{rest}")
    }

    /// `vda1 at /boot/efi (ESP, vfat)`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{} at {} ({}, {})",
            self.device, self.mount_point, self.why, self.fs_type
        )
    }
}

/// Filesystems that are never boot volumes (an initramfs root, a container's root).
fn is_virtual(fs_type: &str) -> bool {
    matches!(
        fs_type,
        "rootfs" | "tmpfs" | "ramfs" | "proc" | "sysfs" | "devtmpfs" | "overlay" | "squashfs"
    )
}

/// The boot volumes in `mounts`, in the order described in the module docs, each
/// once: (mount, role, why). `efi` says whether the system booted through UEFI.
pub fn boot_mounts<'a>(
    mounts: &'a [Mount],
    efi: bool,
    role_by_type: &dyn Fn(&Mount) -> Option<VolumeRole>,
) -> Vec<(&'a Mount, VolumeRole, &'static str)> {
    let esp = ESP_PATHS.iter().find_map(|p| {
        mount_at(mounts, p)
            .filter(|m| m.fs_type == "vfat" && role_by_type(m).is_none_or(|r| r == VolumeRole::Esp))
    });
    let boot_mount = mount_at(mounts, "/boot").filter(|m| !is_virtual(&m.fs_type));
    let xbootldr = boot_mount.filter(|b| esp.is_none_or(|e| e.id != b.id));
    let boot_fs = mount_for(mounts, "/boot").filter(|m| !is_virtual(&m.fs_type));
    let root = mount_at(mounts, "/").filter(|m| !is_virtual(&m.fs_type));
    let mut out: Vec<(&Mount, VolumeRole, &'static str)> = Vec::new();
    let mut push = |m: Option<&'a Mount>, role: VolumeRole, why: &'static str| {
        if let Some(m) = m
            && !out.iter().any(|(o, _, _)| o.id == m.id)
        {
            out.push((m, role, why));
        }
    };
    let xrole = |m: Option<&Mount>| {
        m.and_then(role_by_type)
            .filter(|r| *r == VolumeRole::Xbootldr)
            .unwrap_or(VolumeRole::Other)
    };
    if efi {
        push(esp, VolumeRole::Esp, "ESP");
    }
    push(
        xbootldr,
        xrole(xbootldr),
        if xrole(xbootldr) == VolumeRole::Xbootldr {
            "XBOOTLDR"
        } else {
            "/boot"
        },
    );
    let boot_why = if boot_fs.is_some_and(|b| b.mount_point == "/") {
        "root filesystem with /boot"
    } else {
        "/boot"
    };
    push(boot_fs, VolumeRole::Other, boot_why);
    if !efi {
        push(esp, VolumeRole::Esp, "ESP");
    }
    push(root, VolumeRole::Other, "root filesystem");
    out
}

/// What [`running_system`] found.
#[derive(Default)]
pub struct Found {
    /// The boot volumes, in order.
    pub volumes: Vec<Volume>,
    /// Where each is mounted, parallel to `volumes`.
    pub mounts: Vec<HostVolume>,
    /// Mounts that could not be read (permissions), with the likely fix.
    pub warnings: Vec<String>,
}

impl Found {
    /// Each volume with its mount.
    pub fn iter(&self) -> impl Iterator<Item = (&Volume, &HostVolume)> {
        self.volumes.iter().zip(&self.mounts)
    }

    /// The mount of the volume a reference names (by UUID and device, as
    /// [`crate::devices::find`] matches).
    pub fn mount_of(&self, r: &leapboot_menus::VolumeRef) -> Option<(&Volume, &HostVolume)> {
        self.iter()
            .filter_map(|(v, m)| crate::devices::match_rank(r, &v.info).map(|rank| (rank, v, m)))
            .min_by_key(|(rank, _, _)| *rank)
            .map(|(_, v, m)| (v, m))
    }

    /// Every volume described, for messages.
    pub fn describe(&self) -> String {
        if self.mounts.is_empty() {
            return "no readable boot volume".into();
        }
        self.mounts
            .iter()
            .map(HostVolume::describe)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The display name of a mount's device: `vda1` for `/dev/vda1`, the source otherwise.
fn device_name(m: &Mount) -> String {
    match m.source.strip_prefix("/dev/") {
        Some(d) => d.to_string(),
        None if m.source.is_empty() || m.source == "none" => format!("{}:{}", m.major, m.minor),
        None => m.source.clone(),
    }
}

/// Reads the running system's mounts and builds its boot volumes. `None` when the
/// mount table cannot be read.
pub fn running_system(sys: &SystemRoot) -> Option<Found> {
    let text = std::fs::read_to_string(sys.path("/proc/self/mountinfo")).ok()?;
    let mounts = parse_mountinfo(&text);
    let efi = sys.path("/sys/firmware/efi").is_dir();
    let facts: Vec<DeviceFacts> = mounts.iter().map(|m| device_facts(sys, m)).collect();
    let role_by_type = |m: &Mount| {
        mounts
            .iter()
            .position(|x| x.id == m.id)
            .and_then(|i| facts.get(i))
            .and_then(|f| role_of(f.part_type.as_deref()))
    };
    let mut found = Found::default();
    for (m, role, why) in boot_mounts(&mounts, efi, &role_by_type) {
        let f = mounts
            .iter()
            .position(|x| x.id == m.id)
            .and_then(|i| facts.get(i))
            .cloned()
            .unwrap_or_default();
        let host_dir = sys.path(&m.mount_point);
        let hidden: Vec<String> = mounts
            .iter()
            .filter(|o| {
                o.id != m.id
                    && is_under(&o.mount_point, &m.mount_point)
                    && o.mount_point != m.mount_point
            })
            .map(|o| {
                let rel = o
                    .mount_point
                    .get(m.mount_point.len()..)
                    .unwrap_or("")
                    .trim_start_matches('/');
                format!("/{rel}")
            })
            .collect();
        if let Err(e) = std::fs::read_dir(&host_dir) {
            found.warnings.push(format!(
                "{} at {}: cannot read: {e}{}",
                device_name(m),
                m.mount_point,
                if e.kind() == std::io::ErrorKind::PermissionDenied {
                    "; run as root"
                } else {
                    ""
                }
            ));
            continue;
        }
        let info = VolumeInfo {
            uuid: f.uuid,
            label: f.label,
            device: device_name(m),
            fs_type: m.fs_type.clone(),
            role,
        };
        found.volumes.push(Volume {
            info,
            fs: Box::new(MountFs::new(&host_dir, &m.root, hidden)),
            location: None,
        });
        found.mounts.push(HostVolume {
            device: device_name(m),
            fs_type: m.fs_type.clone(),
            mount_point: m.mount_point.clone(),
            host_dir,
            fs_root: m.root.clone(),
            why,
        });
    }
    Some(found)
}

/// True when the running system has boot volumes to read: an ESP, XBOOTLDR or a
/// `/boot` of its own mounted, or a `/boot` directory with something in it on a real
/// root filesystem. False in a firmware-like environment (an initramfs, a container
/// without `/boot`), where the host commands read the disks instead.
pub fn has_boot_volumes(found: &Found) -> bool {
    found.mounts.iter().any(|m| {
        m.mount_point != "/"
            || std::fs::read_dir(m.host_dir.join("boot")).is_ok_and(|mut d| d.next().is_some())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN_EFI: &str = "\
22 28 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw
27 1 254:2 / / rw,relatime shared:1 - ext4 /dev/vda2 rw,errors=remount-ro
40 27 254:1 / /boot/efi rw,relatime shared:30 - vfat /dev/vda1 rw,fmask=0077,dmask=0077
41 27 254:3 / /mnt/my\\040disk rw,relatime shared:31 - ext4 /dev/vda3 rw
";

    #[test]
    fn mountinfo_fields_and_escapes() {
        let m = parse_mountinfo(DEBIAN_EFI);
        assert_eq!(m.len(), 4);
        assert_eq!(m[1].mount_point, "/");
        assert_eq!((m[1].major, m[1].minor), (254, 2));
        assert_eq!(m[2].fs_type, "vfat");
        assert_eq!(m[2].source, "/dev/vda1");
        assert_eq!(m[3].mount_point, "/mnt/my disk");
        assert_eq!(unescape("a\\011b\\012c\\134d\\040"), "a\tb\nc\\d ");
        // Not an escape: kept as written.
        assert_eq!(unescape("a\\09b\\"), "a\\09b\\");
        // Optional fields (none, or several) before the separator.
        let m = parse_mountinfo(
            "30 1 8:1 / /boot rw - ext4 /dev/sda1 rw\n31 1 0:33 /@ / rw shared:1 master:2 - btrfs /dev/sda2 rw\nbroken line\n",
        );
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].root, "/@");
        assert_eq!(m[1].fs_type, "btrfs");
    }

    #[test]
    fn the_mount_holding_a_path() {
        let m = parse_mountinfo(DEBIAN_EFI);
        assert_eq!(mount_for(&m, "/boot").unwrap().mount_point, "/");
        assert_eq!(
            mount_for(&m, "/boot/efi/EFI").unwrap().mount_point,
            "/boot/efi"
        );
        assert!(mount_at(&m, "/boot").is_none());
        assert!(is_under("/boot/efi", "/boot"));
        assert!(!is_under("/bootx", "/boot"));
        assert!(is_under("/x", "/"));
    }

    fn roles(
        text: &str,
        efi: bool,
        types: &[(u64, VolumeRole)],
    ) -> Vec<(String, VolumeRole, &'static str)> {
        let m = parse_mountinfo(text);
        let by_type = |x: &Mount| types.iter().find(|(id, _)| *id == x.id).map(|(_, r)| *r);
        boot_mounts(&m, efi, &by_type)
            .into_iter()
            .map(|(m, r, w)| (m.mount_point.clone(), r, w))
            .collect()
    }

    #[test]
    fn boot_volumes_as_bootctl_finds_them() {
        // Debian on UEFI: ESP at /boot/efi first, then the root filesystem with /boot.
        assert_eq!(
            roles(DEBIAN_EFI, true, &[]),
            [
                ("/boot/efi".to_string(), VolumeRole::Esp, "ESP"),
                (
                    "/".to_string(),
                    VolumeRole::Other,
                    "root filesystem with /boot"
                ),
            ]
        );
        // The same on BIOS: the /boot filesystem first.
        assert_eq!(roles(DEBIAN_EFI, false, &[])[0].0, "/");
        // systemd-boot with the ESP at /efi and XBOOTLDR at /boot.
        let sdboot = "\
1 0 8:2 / / rw - xfs /dev/sda2 rw
2 1 8:1 / /efi rw - vfat /dev/sda1 rw
3 1 8:3 / /boot rw - vfat /dev/sda3 rw
";
        assert_eq!(
            roles(
                sdboot,
                true,
                &[(1, VolumeRole::Esp), (3, VolumeRole::Xbootldr)]
            ),
            [
                ("/efi".to_string(), VolumeRole::Esp, "ESP"),
                ("/boot".to_string(), VolumeRole::Xbootldr, "XBOOTLDR"),
                ("/".to_string(), VolumeRole::Other, "root filesystem"),
            ]
        );
        // A vfat /boot typed XBOOTLDR is not taken for the ESP.
        let r = roles(sdboot, true, &[(3, VolumeRole::Xbootldr)]);
        assert_eq!(r[0].0, "/efi");
        // A container: nothing but an overlay root.
        assert!(roles("1 0 0:50 / / rw - overlay overlay rw\n", true, &[]).is_empty());
    }

    #[test]
    fn udev_records() {
        let f = parse_udev_record(
            "S:disk/by-uuid/B60C-A817\nE:ID_FS_UUID=B60C-A817\nE:ID_FS_LABEL=EFI_SYS\nE:ID_FS_LABEL_ENC=EFI\\x20SYS\nE:ID_PART_ENTRY_TYPE=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\nE:ID_FS_TYPE=vfat\n",
        );
        assert_eq!(f.uuid.as_deref(), Some("B60C-A817"));
        assert_eq!(f.label.as_deref(), Some("EFI SYS"));
        assert_eq!(role_of(f.part_type.as_deref()), Some(VolumeRole::Esp));
        assert_eq!(role_of(Some("0xea")), Some(VolumeRole::Xbootldr));
        assert_eq!(role_of(Some("0x83")), None);
        assert_eq!(decode_hex_escapes("a\\x2fb\\xzz"), "a/b\\xzz");
    }

    #[test]
    fn makedev_matches_glibc() {
        assert_eq!(makedev(8, 1), 0x801);
        assert_eq!(makedev(254, 2), 0xfe02);
        assert_eq!(
            makedev(259, 300),
            (259 << 8) | (300 & 0xff) | ((300 & !0xff) << 12)
        );
    }

    #[test]
    fn subvolumes_and_mounts_below() {
        let dir = std::env::temp_dir().join(format!("leapboot-mountfs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("boot/efi/EFI")).unwrap();
        std::fs::write(dir.join("boot/vmlinuz"), b"K").unwrap();
        std::fs::write(dir.join("boot/efi/EFI/x"), b"hidden").unwrap();
        let fs = MountFs::new(&dir, "/@", vec!["/boot/efi".into()]);
        // GRUB's path with the subvolume prefix, and without.
        assert_eq!(fs.read("/@/boot/vmlinuz", 10).unwrap(), b"K");
        assert_eq!(fs.read("/boot/vmlinuz", 10).unwrap(), b"K");
        // The ESP mounted below is another volume.
        assert!(fs.read("/boot/efi/EFI/x", 10).unwrap_err().is_not_found());
        assert!(fs.read_dir("/boot/efi").unwrap().is_empty());
        assert!(
            fs.read_dir("/boot")
                .unwrap()
                .iter()
                .any(|e| e.name == "efi")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
