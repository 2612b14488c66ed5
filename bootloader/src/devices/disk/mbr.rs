//! MBR ("msdos") partition tables: the four primary entries and the chain of
//! extended boot records for logical partitions (numbered from 5, as Linux and
//! GRUB do). A protective MBR (type 0xEE) is left to the GPT reader.
//!
//! The MBR and every extended boot record fill the first 512 bytes of their sector
//! whatever the sector size; their start and length fields count the disk's logical
//! sectors ([`Disk::sector_size`]), 4096 bytes each on a 4Kn disk.

use super::{DEFAULT_SECTOR_SIZE, Disk, DiskError, Partition, SECTOR_SIZE_4KN, Scheme, Table};
use leapboot_menus::VolumeRole;

/// Most logical partitions followed in an extended partition chain (a loop guard).
pub const MAX_LOGICAL: u32 = 128;
/// Bytes of an MBR or extended boot record, at the start of its sector.
const RECORD: usize = 512;

/// A partition entry's LBA or length, widened for byte arithmetic; 0 past the end.
fn le32(b: &[u8], at: usize) -> u64 {
    leapboot_menus::bytes::u32_le(b, at).map_or(0, u64::from)
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

/// Sector 0 when it holds a partition table: the 55 AA signature, and not a FAT or
/// NTFS boot sector (which also ends in 55 AA: FAT has its type string, NTFS its name).
fn table_sector(disk: &Disk) -> Result<Option<Vec<u8>>, DiskError> {
    if disk.size < RECORD as u64 {
        return Ok(None);
    }
    let s0 = disk.read_vec(0, RECORD)?;
    if s0[510] != 0x55 || s0[511] != 0xaa {
        return Ok(None);
    }
    if &s0[82..87] == b"FAT32"
        || &s0[54..59] == b"FAT16"
        || &s0[54..59] == b"FAT12"
        || &s0[3..7] == b"NTFS"
    {
        return Ok(None);
    }
    Ok(Some(s0))
}

/// True when a filesystem leapboot knows starts at `offset`: the ext2/3/4 magic at
/// byte 1080, or a boot sector's 55 AA at byte 510 (FAT, NTFS).
fn filesystem_at(disk: &Disk, offset: u64) -> bool {
    let mut b = [0u8; 1082];
    let fits = offset
        .checked_add(b.len() as u64)
        .is_some_and(|end| end <= disk.size);
    fits && disk.read_at(offset, &mut b).is_ok()
        && ((b[1080] == 0x53 && b[1081] == 0xef) || (b[510] == 0x55 && b[511] == 0xaa))
}

/// The sector size sector 0's table shows for an image file, if it shows one (see
/// [`super::probe_sector_size`]): 4096 for a protective entry (0xEE) from LBA 1 whose
/// length is the disk's 4096-byte sectors less one, as GPT tools write it on a 4Kn
/// disk; for other tables, 512 when a primary partition holds a filesystem at
/// LBA × 512, else 4096 when one holds it at LBA × 4096; `None` when nothing tells.
pub fn probe_sector_size(disk: &Disk) -> Option<u64> {
    let s0 = table_sector(disk).ok()??;
    let prim = entries(&s0);
    let (small, large) = (DEFAULT_SECTOR_SIZE, SECTOR_SIZE_4KN);
    if prim.iter().any(|e| {
        e.kind == 0xee
            && e.start == 1
            && disk.size >= 2 * large
            && e.sectors + 1 == disk.size / large
    }) {
        return Some(large);
    }
    let used = || {
        prim.iter()
            .filter(|e| e.kind != 0 && e.kind != 0xee && !is_extended(e.kind) && e.start != 0)
    };
    if used().any(|e| filesystem_at(disk, e.start * small)) {
        return Some(small);
    }
    if used().any(|e| filesystem_at(disk, e.start * large)) {
        return Some(large);
    }
    None
}

/// True when sector 0 is an MBR with a protective (0xEE) entry: the disk is GPT.
pub fn is_protective(disk: &Disk) -> bool {
    matches!(table_sector(disk), Ok(Some(s0)) if entries(&s0).iter().any(|e| e.kind == 0xee))
}

/// Reads the MBR, or `Ok(None)` when sector 0 has no MBR signature, holds a FAT or
/// NTFS boot sector rather than a partition table, or is a GPT protective MBR. A
/// broken extended-partition chain (an EBR without its signature, a link that points
/// back) ends the logical partitions there: those read before it are kept, with the
/// primaries, and the break is reported as damage.
pub fn read(disk: &Disk) -> Result<Option<Table>, DiskError> {
    let Some(s0) = table_sector(disk)? else {
        return Ok(None);
    };
    let prim = entries(&s0);
    if prim.iter().any(|e| e.kind == 0xee) {
        return Ok(None);
    }
    let sector = disk.sector_size();
    let disk_sectors = disk.size / sector;
    let mut out = Vec::new();
    let mut damage = Vec::new();
    let push = |number: u32, kind: u8, start: u64, sectors: u64, out: &mut Vec<Partition>| {
        if sectors == 0 || start == 0 || start.saturating_add(sectors) > disk_sectors {
            return;
        }
        out.push(Partition {
            number,
            offset: start * sector,
            len: sectors * sector,
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
            let s = disk.read_vec(ebr * sector, RECORD)?;
            if s[510] != 0x55 || s[511] != 0xaa {
                damage.push(format!(
                    "{}: MBR: extended boot record at sector {ebr} has no 55aa signature; \
                     logical partitions from {number} on are not read",
                    disk.name
                ));
                break;
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
                damage.push(format!(
                    "{}: MBR: extended boot record chain loops back to sector {following}; \
                     logical partitions from {number} on are not read",
                    disk.name
                ));
                break;
            }
            ebr = following;
        }
    }
    Ok(Some(Table { parts: out, damage }))
}
