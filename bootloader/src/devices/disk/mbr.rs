//! MBR ("msdos") partition tables: the four primary entries and the chain of
//! extended boot records for logical partitions (numbered from 5, as Linux and
//! GRUB do). A protective MBR (type 0xEE) is left to the GPT reader.

use super::{Disk, DiskError, Partition, SECTOR, Scheme};
use leapboot_menus::VolumeRole;

/// Most logical partitions followed in an extended partition chain (a loop guard).
pub const MAX_LOGICAL: u32 = 128;

fn le32(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 4).map_or(0, |s| {
        u64::from(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    })
}

struct Raw {
    kind: u8,
    start: u64,
    sectors: u64,
}

fn entries(sector: &[u8]) -> [Raw; 4] {
    std::array::from_fn(|i| {
        let at = 446 + i * 16;
        Raw {
            kind: sector.get(at + 4).copied().unwrap_or(0),
            start: le32(sector, at + 8),
            sectors: le32(sector, at + 12),
        }
    })
}

fn role(kind: u8) -> VolumeRole {
    match kind {
        0xef => VolumeRole::Esp,
        0xea => VolumeRole::Xbootldr,
        _ => VolumeRole::Other,
    }
}

fn is_extended(kind: u8) -> bool {
    matches!(kind, 0x05 | 0x0f | 0x85)
}

/// Reads the MBR, or `Ok(None)` when sector 0 has no MBR signature, holds a FAT or
/// NTFS boot sector rather than a partition table, or is a GPT protective MBR.
pub fn read(disk: &Disk) -> Result<Option<Vec<Partition>>, DiskError> {
    if disk.size < SECTOR {
        return Ok(None);
    }
    let s0 = disk.read_vec(0, SECTOR as usize)?;
    if s0[510] != 0x55 || s0[511] != 0xaa {
        return Ok(None);
    }
    // A filesystem boot sector also ends in 55 AA: FAT has its type string, and a
    // jump instruction at byte 0.
    if &s0[82..87] == b"FAT32"
        || &s0[54..59] == b"FAT16"
        || &s0[54..59] == b"FAT12"
        || &s0[3..7] == b"NTFS"
    {
        return Ok(None);
    }
    let prim = entries(&s0);
    if prim.iter().any(|e| e.kind == 0xee) {
        return Ok(None);
    }
    let disk_sectors = disk.size / SECTOR;
    let mut out = Vec::new();
    let push = |number: u32, kind: u8, start: u64, sectors: u64, out: &mut Vec<Partition>| {
        if sectors == 0 || start == 0 || start.saturating_add(sectors) > disk_sectors {
            return;
        }
        out.push(Partition {
            number,
            offset: start * SECTOR,
            len: sectors * SECTOR,
            role: role(kind),
            type_name: format!("0x{kind:02x}"),
            name: None,
            scheme: Scheme::Mbr,
        });
    };
    let mut extended = None;
    for (i, e) in prim.iter().enumerate() {
        if e.kind == 0 {
            continue;
        }
        if is_extended(e.kind) {
            extended = Some(e.start);
            continue;
        }
        push(i as u32 + 1, e.kind, e.start, e.sectors, &mut out);
    }
    if let Some(ext_start) = extended {
        let mut ebr = ext_start;
        let mut number = 5;
        while number < 5 + MAX_LOGICAL {
            if ebr == 0 || ebr >= disk_sectors {
                break;
            }
            let s = disk.read_vec(ebr * SECTOR, SECTOR as usize)?;
            if s[510] != 0x55 || s[511] != 0xaa {
                return Err(DiskError::Corrupt {
                    device: disk.name.clone(),
                    table: "MBR",
                    reason: format!("extended boot record at sector {ebr} has no 55aa signature"),
                });
            }
            let [logical, next, ..] = entries(&s);
            if logical.kind != 0 {
                push(
                    number,
                    logical.kind,
                    ebr + logical.start,
                    logical.sectors,
                    &mut out,
                );
            }
            number += 1;
            if next.kind == 0 || next.start == 0 {
                break;
            }
            let following = ext_start + next.start;
            if following <= ebr {
                return Err(DiskError::Corrupt {
                    device: disk.name.clone(),
                    table: "MBR",
                    reason: format!("extended boot record chain loops back to sector {following}"),
                });
            }
            ebr = following;
        }
    }
    Ok(Some(out))
}
