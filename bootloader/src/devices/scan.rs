//! Disks to entries, top to bottom: each disk's partition table, each partition's
//! filesystem (or RAID member, LVM PV, LUKS header: `devices::stack`), then the RAID
//! arrays and LVs assembled from the members of every disk read, each read like a
//! disk ([`stacked`], [`Together`]), then every config source over the volumes
//! found, and the menu.
//! One bad disk or partition is logged and skipped; a panic in any parser (ours or a
//! crate's) is caught per disk and per volume, and the scan goes on.

use crate::devices::disk::{self, Disk, Partition, Scheme};
use crate::devices::stack::{self, Found, Member, MemberKind};
use crate::devices::volume::{self, Volume};
use crate::log::Area;
use leapboot_menus::grub::GrubOptions;
use leapboot_menus::scan::scan_volume_with;
use leapboot_menus::{Menu, VolumeInfo, VolumeScan, VolumeView};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

/// Runs `f`, turning a panic into an error message.
pub fn contain<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        format!("{what}: internal error (contained): {msg}")
    })
}

/// A disk as read: the partitions holding a filesystem leapboot reads, and the
/// members of RAID arrays and LVM volume groups found on it (assembled by
/// [`stacked`], across disks).
#[derive(Debug, Clone)]
pub struct DiskScan {
    /// The disk (an assembled one for the devices [`stacked`] returns).
    pub disk: Disk,
    /// Partitions (or the whole disk) holding a filesystem.
    pub parts: Vec<Partition>,
    /// md members and LVM PVs.
    pub members: Vec<Member>,
    /// For an assembled device, the members it is read from (empty for a disk).
    pub from: Vec<Member>,
    /// Damage to its partition table that was read around ([`disk::Table::damage`]).
    pub damage: Vec<String>,
    /// Encrypted volumes found (LUKS), which leapboot lists but does not unlock.
    pub locked: Vec<String>,
}

/// Opens `path` as a disk, reads its partition table and probes each partition,
/// logging each step; returns the partitions that hold a filesystem leapboot reads,
/// or `None` when the disk cannot be read at all.
pub fn disk_partitions(path: &Path, name: &str) -> Option<Vec<Partition>> {
    disk_scan(path, name).map(|s| s.parts)
}

/// [`disk_partitions`], with the RAID members and LVM PVs found on the disk.
pub fn disk_scan(path: &Path, name: &str) -> Option<DiskScan> {
    match Disk::open(path, name) {
        Ok(d) => scan_disk(d, true),
        Err(e) => {
            crate::log!(Area::Disk, "{e}");
            None
        }
    }
}

/// Reads `disk`'s partition table and probes each partition: for RAID and LVM
/// members and LUKS first (an md 1.0 or 0.90 member has the array's filesystem at
/// byte 0), then for a filesystem. Logs each step when `log` is set.
fn scan_disk(disk: Disk, log: bool) -> Option<DiskScan> {
    let say = |area: Area, msg: String| {
        if log {
            crate::log!(area, "{msg}");
        }
    };
    let name = disk.name.clone();
    if disk.size == 0 {
        say(Area::Disk, format!("{name}: empty (0 bytes)"));
        return Some(DiskScan {
            disk,
            parts: Vec::new(),
            members: Vec::new(),
            from: Vec::new(),
            damage: Vec::new(),
            locked: Vec::new(),
        });
    }
    // A whole disk that is an md member: with metadata 1.0 or 0.90 the array's own
    // partition table is at byte 0, and must not be read as the member's.
    if let Ok(Ok(Some(Found::Member(m)))) =
        contain(&name, || stack::probe(&disk, &name, 0, disk.size))
        && matches!(m.kind, MemberKind::Md(_))
    {
        say(
            Area::Disk,
            format!("{name}: whole disk is a {}", m.describe()),
        );
        return Some(DiskScan {
            disk,
            parts: Vec::new(),
            members: vec![*m],
            from: Vec::new(),
            damage: Vec::new(),
            locked: Vec::new(),
        });
    }
    let table = match contain(&name, || disk::read_table(&disk)) {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            say(Area::Disk, format!("{e}; disk skipped"));
            return None;
        }
        Err(e) => {
            say(Area::Disk, format!("{e}; disk skipped"));
            return None;
        }
    };
    for d in &table.damage {
        say(Area::Disk, d.clone());
    }
    let parts = table.parts;
    let layout = match parts.first().map(|p| p.scheme) {
        Some(Scheme::Gpt) => format!("GPT, {} partition(s)", parts.len()),
        Some(Scheme::Mbr) => format!("MBR, {} partition(s)", parts.len()),
        _ => "no partition table".to_string(),
    };
    say(
        Area::Disk,
        format!(
            "{name}: {} bytes, {}-byte sectors, {layout}",
            disk.size,
            disk.sector_size()
        ),
    );
    let mut out = Vec::new();
    let mut members = Vec::new();
    let mut locked = Vec::new();
    // Partitions that start where an earlier one starts hold the same filesystem (a
    // hostile table can list one range hundreds of times): read once, listed once.
    let mut starts: std::collections::BTreeMap<u64, String> = std::collections::BTreeMap::new();
    for part in parts {
        let dev = part.display_name(&name);
        if let Some(first) = starts.get(&part.offset) {
            say(
                Area::Volume,
                format!(
                    "{dev}: starts where {first} starts (byte {}): read once, as {first}",
                    part.offset
                ),
            );
            continue;
        }
        starts.insert(part.offset, dev.clone());
        match contain(&dev, || stack::probe(&disk, &dev, part.offset, part.len)) {
            Ok(Ok(Some(found))) => {
                let line = format!("{dev}: {}", found.describe());
                say(Area::Volume, line.clone());
                match found {
                    Found::Member(m) => members.push(*m),
                    Found::Luks(_) => locked.push(line),
                }
                continue;
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                say(Area::Volume, format!("{e}; partition skipped"));
                continue;
            }
            Err(e) => {
                say(Area::Volume, format!("{e}; partition skipped"));
                continue;
            }
        }
        match contain(&dev, || volume::open(&disk, &part)) {
            Ok(Ok(Some(v))) => {
                say(
                    Area::Volume,
                    format!(
                        "{dev}: {} UUID={} LABEL={} ({:?} partition, type {})",
                        v.info.fs_type,
                        v.info.uuid.as_deref().unwrap_or("-"),
                        v.info.label.as_deref().unwrap_or("-"),
                        v.info.role,
                        part.type_name
                    ),
                );
                out.push(part);
            }
            Ok(Ok(None)) => {
                if part.scheme != Scheme::Whole {
                    say(
                        Area::Volume,
                        format!(
                            "{dev}: no filesystem leapboot reads (ext4, FAT, XFS, Btrfs), skipped (type {})",
                            part.type_name
                        ),
                    );
                } else {
                    say(
                        Area::Disk,
                        format!(
                            "{name}: no partition table and no filesystem leapboot reads (ext4, FAT, XFS, Btrfs)"
                        ),
                    );
                }
            }
            Ok(Err(e)) => say(Area::Volume, format!("{e}; partition skipped")),
            Err(e) => say(Area::Volume, format!("{e}; partition skipped")),
        }
    }
    Some(DiskScan {
        disk,
        parts: out,
        members,
        from: Vec::new(),
        damage: table.damage,
        locked,
    })
}

/// Most levels of stacking followed (LVM on RAID on RAID ...).
pub const MAX_STACK_DEPTH: usize = 4;

/// The devices assembled from the members found on `scans`, each read like a disk
/// (a partition table or a filesystem): RAID1 arrays first, again for members found
/// on those (up to [`MAX_STACK_DEPTH`] levels), then the LVs of every volume group
/// whose PVs were found on the disks or the arrays. Returns them with the problems
/// met (missing PVs, LVs mapped past the end of a PV, arrays refused), which are
/// also logged, as every step is, when `log` is set.
pub fn stacked(scans: &[DiskScan], log: bool) -> (Vec<DiskScan>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut pvs = Vec::new();
    let mut pending: Vec<Member> = scans.iter().flat_map(|s| s.members.clone()).collect();
    for depth in 0..=MAX_STACK_DEPTH {
        let (md, rest): (Vec<Member>, Vec<Member>) = pending
            .into_iter()
            .partition(|m| matches!(m.kind, MemberKind::Md(_)));
        pvs.extend(rest);
        if md.is_empty() {
            break;
        }
        if depth == MAX_STACK_DEPTH {
            let line = format!(
                "RAID members nested more than {MAX_STACK_DEPTH} deep are not assembled: {}",
                md.iter()
                    .map(|m| m.device.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            note(log, &mut problems, true, line);
            break;
        }
        let arrays = read_assembled(stack::assemble_md(&md), log, &mut problems);
        pending = arrays.iter().flat_map(|s| s.members.clone()).collect();
        out.extend(arrays);
    }
    if !pvs.is_empty() {
        for mut lv in read_assembled(stack::assemble_lvm(&pvs), log, &mut problems) {
            if !lv.members.is_empty() {
                let line = format!(
                    "{}: RAID members and PVs inside a logical volume are not assembled",
                    lv.disk.name
                );
                note(log, &mut problems, false, line);
                lv.members.clear();
            }
            out.push(lv);
        }
    }
    (out, problems)
}

fn note(log: bool, problems: &mut Vec<String>, problem: bool, line: String) {
    if log {
        crate::log!(Area::Disk, "{line}");
    }
    if problem {
        problems.push(line);
    }
}

/// Logs an assembly pass and reads each device it made like a disk.
fn read_assembled(a: stack::Assembly, log: bool, problems: &mut Vec<String>) -> Vec<DiskScan> {
    for (problem, line) in a.notes {
        note(log, problems, problem, line);
    }
    let mut out = Vec::new();
    for d in a.devices {
        if log {
            crate::log!(Area::Disk, "{}: {}", d.disk.name, d.what);
        }
        let name = d.disk.name.clone();
        match contain(&name, || scan_disk(d.disk, log)) {
            Ok(Some(mut s)) => {
                s.from = d.members;
                out.push(s);
            }
            Ok(None) => {}
            Err(e) => note(log, problems, true, format!("{e}; device skipped")),
        }
    }
    out
}

/// Opens the volumes of a disk read by [`disk_scan`] or [`stacked`]. A volume on an
/// assembled device has no [`location`](volume::Volume::location): the writers
/// (boot counting, grubenv) reopen a volume's disk by path to write, and an
/// assembled device has none (a RAID1 write would have to reach every member).
pub fn open_volumes(scan: &DiskScan) -> Vec<Volume> {
    scan.parts
        .iter()
        .filter_map(|p| {
            let mut v = contain(&p.display_name(&scan.disk.name), || {
                volume::open(&scan.disk, p)
            })
            .ok()?
            .ok()??;
            if scan.disk.is_mapped() {
                v.location = None;
            }
            Some(v)
        })
        .collect()
}

/// Leaves out of `stacked` the volumes that are already among `seen` (same
/// filesystem type and UUID): on an installed system the kernel's own md and dm
/// devices are read as disks too, and show the same filesystems.
pub fn drop_seen(stacked: Vec<Volume>, seen: &[VolumeInfo]) -> Vec<Volume> {
    stacked
        .into_iter()
        .filter(|v| {
            v.info.uuid.is_none()
                || !seen
                    .iter()
                    .any(|s| s.uuid == v.info.uuid && s.fs_type == v.info.fs_type)
        })
        .collect()
}

/// Opens `path` as a disk and returns the volumes on it, logging each step: its own,
/// then those of the RAID arrays and LVs its members alone make (a RAID1 member gives
/// its array, degraded; see [`Together`] to assemble across disks).
pub fn disk_volumes(path: &Path, name: &str) -> Vec<Volume> {
    let mut t = Together::default();
    let mut v = t.disk_volumes(path, name);
    v.extend(t.stacked_volumes().volumes);
    v
}

/// Disks read together, so that the RAID arrays and volume groups spanning them are
/// assembled once: [`Together::disk_volumes`] for each, then
/// [`Together::stacked_volumes`].
#[derive(Debug, Default)]
pub struct Together {
    scans: Vec<(std::path::PathBuf, DiskScan)>,
    seen: Vec<VolumeInfo>,
}

/// The volumes on devices assembled across the disks of a [`Together`].
#[derive(Debug, Default)]
pub struct StackedVolumes {
    /// The volumes.
    pub volumes: Vec<Volume>,
    /// Problems the user should hear about even without `-v`.
    pub problems: Vec<String>,
    /// The disks (paths given) whose members gave a volume.
    pub used: Vec<std::path::PathBuf>,
    /// Partition tables read around damage, on the disks and the assembled devices.
    pub damage: Vec<String>,
}

impl Together {
    /// Reads the disk at `path` (logging each step) and returns its own volumes;
    /// its RAID and LVM members are kept for [`Together::stacked_volumes`].
    pub fn disk_volumes(&mut self, path: &Path, name: &str) -> Vec<Volume> {
        let Some(s) = disk_scan(path, name) else {
            return Vec::new();
        };
        let volumes = open_volumes(&s);
        self.seen.extend(volumes.iter().map(|v| v.info.clone()));
        self.scans.push((path.to_path_buf(), s));
        volumes
    }

    /// The encrypted volumes on the disk at `path` (one line each).
    pub fn locked(&self, path: &Path) -> Vec<String> {
        self.scans
            .iter()
            .filter(|(p, _)| p == path)
            .flat_map(|(_, s)| s.locked.iter().cloned())
            .collect()
    }

    /// True when the disk at `path` holds RAID members or LVM PVs.
    pub fn has_members(&self, path: &Path) -> bool {
        self.scans
            .iter()
            .any(|(p, s)| p == path && !s.members.is_empty())
    }

    /// Assembles the arrays and LVs of every disk read, and opens their volumes.
    pub fn stacked_volumes(&self) -> StackedVolumes {
        let scans: Vec<DiskScan> = self.scans.iter().map(|(_, s)| s.clone()).collect();
        let (devices, problems) = stacked(&scans, true);
        let mut out = StackedVolumes {
            problems,
            damage: scans
                .iter()
                .chain(&devices)
                .flat_map(|s| s.damage.iter().cloned())
                .collect(),
            ..StackedVolumes::default()
        };
        for d in &devices {
            let volumes = drop_seen(open_volumes(d), &self.seen);
            if volumes.is_empty() {
                continue;
            }
            let mut from = Vec::new();
            origins(d, &devices, 0, &mut from);
            for path in from {
                if !out.used.contains(&path) {
                    out.used.push(path);
                }
            }
            out.volumes.extend(volumes);
        }
        out
    }
}

/// The real disks (their paths) a device is read from, through the devices it is
/// stacked on.
fn origins(device: &DiskScan, all: &[DiskScan], depth: usize, out: &mut Vec<std::path::PathBuf>) {
    for m in &device.from {
        if !m.disk.is_mapped() {
            if !out.contains(&m.disk.path) {
                out.push(m.disk.path.clone());
            }
        } else if depth < MAX_STACK_DEPTH
            && let Some(below) = all.iter().find(|d| d.disk.name == m.disk.name)
        {
            origins(below, all, depth + 1, out);
        }
    }
}

/// Runs every config source over `volumes`, logs what was found, and assembles the menu.
pub fn entries(volumes: &[Volume], default_setting: Option<&str>) -> (Vec<VolumeScan>, Menu) {
    entries_logged(volumes, default_setting, true)
}

/// [`entries`], logging what was found only when `log` is set (intermediate menus
/// while disks are still answering stay quiet).
pub fn entries_logged(
    volumes: &[Volume],
    default_setting: Option<&str>,
    log: bool,
) -> (Vec<VolumeScan>, Menu) {
    let views: Vec<VolumeView<'_>> = volumes
        .iter()
        .map(|v| VolumeView {
            info: &v.info,
            fs: v.fs.as_ref(),
        })
        .collect();
    let options = GrubOptions {
        device_aliases: volumes
            .iter()
            .map(|v| {
                v.location
                    .as_ref()
                    .map(|l| l.grub_names.clone())
                    .unwrap_or_default()
            })
            .collect(),
        ..GrubOptions::default()
    };
    let mut scans = Vec::new();
    for (i, v) in volumes.iter().enumerate() {
        let dev = &v.info.device;
        match contain(dev, || scan_volume_with(&views, i, &options)) {
            Ok(Some(scan)) if !log => scans.push(scan),
            Ok(Some(scan)) => {
                for d in &scan.diagnostics {
                    crate::log!(Area::Config, "{dev}: {}: {d}", d.severity.as_str());
                }
                for e in &scan.entries {
                    crate::log!(
                        Area::Config,
                        "{dev}: {}:{}: entry '{}' ({}){}",
                        e.source.file,
                        e.source.line,
                        e.id,
                        e.kind.as_str(),
                        e.problem
                            .as_ref()
                            .map(|p| format!(", not bootable: {p}"))
                            .unwrap_or_default()
                    );
                }
                if scan.entries.is_empty() {
                    crate::log!(Area::Config, "{dev}: no boot entries");
                }
                scans.push(scan);
            }
            Ok(None) => {}
            Err(e) => crate::log!(Area::Config, "{e}; volume skipped"),
        }
    }
    let menu = Menu::assemble(&scans, default_setting);
    (scans, menu)
}
