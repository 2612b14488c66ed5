//! Block devices as the kernel lists them in `/sys/class/block`.
//!
//! Only whole disks are returned: leapboot reads partition tables itself, so the
//! kernel's partition devices are not needed (and may not exist for image files).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A whole block device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockDevice {
    /// Kernel name (`vda`, `sda`, `nvme0n1`).
    pub name: String,
    /// Device node (`/dev/vda`).
    pub node: PathBuf,
    /// Size in bytes from sysfs (its `size` counts 512-byte units whatever the logical
    /// sector size, so × 512 on 4Kn disks too).
    pub size: u64,
}

fn read_trim(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Whole disks with a non-zero size, sorted by name. Partitions, RAM disks and empty
/// loop or CD devices are left out.
pub fn whole_disks(sys_class_block: &Path) -> Vec<BlockDevice> {
    let Ok(dir) = std::fs::read_dir(sys_class_block) else {
        return Vec::new();
    };
    let mut out: Vec<BlockDevice> = dir
        .filter_map(Result::ok)
        .filter_map(|d| {
            let name = d.file_name().to_string_lossy().into_owned();
            let base = d.path();
            if base.join("partition").exists()
                || name.starts_with("ram")
                || name.starts_with("zram")
            {
                return None;
            }
            let sectors: u64 = read_trim(&base.join("size"))?.parse().ok()?;
            if sectors == 0 {
                return None;
            }
            Some(BlockDevice {
                node: PathBuf::from("/dev").join(&name),
                name,
                size: sectors * 512,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Waits until the set of disks has been stable for `quiet` (and at least one disk
/// exists), or `max` has passed; returns the disks seen last. Drivers probe devices
/// asynchronously after their module loads, so the first look can be early.
pub fn settle(sys_class_block: &Path, max: Duration, quiet: Duration) -> Vec<BlockDevice> {
    let start = Instant::now();
    let mut last = whole_disks(sys_class_block);
    let mut stable_since = Instant::now();
    loop {
        if !last.is_empty() && stable_since.elapsed() >= quiet {
            return last;
        }
        if start.elapsed() >= max {
            return last;
        }
        std::thread::sleep(Duration::from_millis(25));
        let now = whole_disks(sys_class_block);
        if now != last {
            last = now;
            stable_since = Instant::now();
        }
    }
}
