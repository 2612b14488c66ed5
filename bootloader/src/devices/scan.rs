//! Disks to entries, top to bottom: each disk's partition table, each partition's
//! filesystem, then every config source over the volumes found, and the menu.
//! One bad disk or partition is logged and skipped; a panic in any parser (ours or a
//! crate's) is caught per disk and per volume, and the scan goes on.

use crate::devices::disk::{self, Disk, Partition, Scheme};
use crate::devices::volume::{self, Volume};
use crate::log::Area;
use leapboot_menus::{Menu, VolumeScan, VolumeView, scan_volume};
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

/// Opens `path` as a disk, reads its partition table and probes each partition,
/// logging each step; returns the partitions that hold a filesystem leapboot reads,
/// or `None` when the disk cannot be read at all.
pub fn disk_partitions(path: &Path, name: &str) -> Option<Vec<Partition>> {
    let disk = match Disk::open(path, name) {
        Ok(d) => d,
        Err(e) => {
            crate::log!(Area::Disk, "{e}");
            return None;
        }
    };
    if disk.size == 0 {
        crate::log!(Area::Disk, "{name}: empty (0 bytes)");
        return Some(Vec::new());
    }
    let parts = match contain(name, || disk::partitions(&disk)) {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            crate::log!(Area::Disk, "{e}; disk skipped");
            return None;
        }
        Err(e) => {
            crate::log!(Area::Disk, "{e}; disk skipped");
            return None;
        }
    };
    let layout = match parts.first().map(|p| p.scheme) {
        Some(Scheme::Gpt) => format!("GPT, {} partition(s)", parts.len()),
        Some(Scheme::Mbr) => format!("MBR, {} partition(s)", parts.len()),
        _ => "no partition table".to_string(),
    };
    crate::log!(
        Area::Disk,
        "{name}: {} bytes, {}-byte sectors, {layout}",
        disk.size,
        disk.sector_size()
    );
    let mut out = Vec::new();
    for part in parts {
        let dev = part.display_name(name);
        match contain(&dev, || volume::open(&disk, &part)) {
            Ok(Ok(Some(v))) => {
                crate::log!(
                    Area::Volume,
                    "{dev}: {} UUID={} LABEL={} ({:?} partition, type {})",
                    v.info.fs_type,
                    v.info.uuid.as_deref().unwrap_or("-"),
                    v.info.label.as_deref().unwrap_or("-"),
                    v.info.role,
                    part.type_name
                );
                out.push(part);
            }
            Ok(Ok(None)) => {
                if part.scheme != Scheme::Whole {
                    crate::log!(
                        Area::Volume,
                        "{dev}: no ext4 or FAT filesystem, skipped (type {})",
                        part.type_name
                    );
                } else {
                    crate::log!(
                        Area::Disk,
                        "{name}: no partition table and no filesystem leapboot reads (ext4, FAT)"
                    );
                }
            }
            Ok(Err(e)) => crate::log!(Area::Volume, "{e}; partition skipped"),
            Err(e) => crate::log!(Area::Volume, "{e}; partition skipped"),
        }
    }
    Some(out)
}

/// Opens `path` as a disk and returns the volumes on it, logging each step.
pub fn disk_volumes(path: &Path, name: &str) -> Vec<Volume> {
    let Some(parts) = disk_partitions(path, name) else {
        return Vec::new();
    };
    let Ok(disk) = Disk::open(path, name) else {
        return Vec::new();
    };
    parts
        .iter()
        .filter_map(|p| {
            contain(&p.display_name(name), || volume::open(&disk, p))
                .ok()?
                .ok()?
        })
        .collect()
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
    let mut scans = Vec::new();
    for (i, v) in volumes.iter().enumerate() {
        let dev = &v.info.device;
        match contain(dev, || scan_volume(&views, i)) {
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
