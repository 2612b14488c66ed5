//! Devices: from block devices to volumes with a readable filesystem, and the menu
//! built over them.
//!
//! ```text
//! sysfs ──> disk (size, sector size, GPT/MBR) ──> volume (ext4, FAT, a directory)
//!              ^                  │                  │
//!              └── stack (md RAID1, LVM LVs) <───────┤ members
//!                                                   │
//!             scan (each disk contained) ──> menus::scan_volume ──> Menu
//!             discovery (a thread per disk, snapshots as disks answer)
//! ```
//!
//! - [`disk`]: a block device or image opened read-only, its partition table.
//! - [`volume`]: a partition's filesystem behind `leapboot_menus::FileSystem`.
//! - [`stack`]: md RAID1 arrays and LVM logical volumes assembled from their members
//!   on any disks, read like disks; LUKS volumes recognised and listed.
//! - [`scan`]: one disk or all of them, logged, each parser's panic contained.
//! - [`discovery`]: the background scan PID 1's menu watches.
//!
//! Everything here reads; the two writers (boot counting, grubenv) are in
//! [`crate::writes`].

pub mod discovery;
pub mod disk;
pub mod scan;
pub mod stack;
pub mod volume;

pub use volume::Volume;

use leapboot_menus::{VolumeInfo, VolumeRef};

/// How well `info` is the volume `r` names: by filesystem UUID and device (best), by
/// UUID alone (the disk was renumbered), or by device name alone (no UUID); `None`
/// when it is not that volume.
pub fn match_rank(r: &VolumeRef, info: &VolumeInfo) -> Option<u8> {
    let uuid = r.uuid.is_some() && info.uuid == r.uuid;
    let device = info.device == r.device;
    match (uuid, device) {
        (true, true) => Some(0),
        (true, false) => Some(1),
        (false, true) => Some(2),
        (false, false) => None,
    }
}

/// The volume `r` names among `volumes`: the best [`match_rank`], the first of equals.
pub fn find<'a>(r: &VolumeRef, volumes: &'a [Volume]) -> Option<&'a Volume> {
    volumes
        .iter()
        .filter_map(|v| match_rank(r, &v.info).map(|rank| (rank, v)))
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, v)| v)
}
