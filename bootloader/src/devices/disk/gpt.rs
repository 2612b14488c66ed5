//! GUID Partition Table (UEFI spec 2.10, section 5.3).
//!
//! The `gpt` crate reads the entries, but only after this module has checked the
//! header the crate will use: signature, header CRC, its own LBA, an entry size of
//! 128 bytes (the crate asserts on anything else), a sane entry count, an entry array
//! inside the disk, and the entry-array CRC (which the crate does not check). When the
//! primary header or its entries are bad and the backup is good, the crate is shown a
//! view of the disk with the primary header hidden, so it falls back to the backup.
//!
//! Every LBA counts the disk's logical sectors ([`Disk::sector_size`]): the primary
//! header is at byte 512 on a 512-byte-sector disk and at byte 4096 on a 4Kn disk, the
//! backup in the last sector, the entry array at its LBA × the sector size, and
//! partition LBAs likewise. The `gpt` crate is told the same size
//! (`LogicalBlockSize::Lb512` or `Lb4096`, the two it reads).

use super::{Disk, DiskError, Partition, Scheme, Table};
use leapboot_menus::VolumeRole;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// Most entries leapboot accepts in one table (the spec's usual 128, with room).
pub const MAX_ENTRIES: u32 = 1024;
/// The only entry size the `gpt` crate reads.
pub const ENTRY_SIZE: u32 = 128;

/// The header's first eight bytes.
pub const SIGNATURE: &[u8; 8] = b"EFI PART";
/// Smallest header size the specification allows.
const MIN_HEADER_SIZE: u32 = 92;

/// Partition type GUID of the EFI System Partition.
pub const TYPE_ESP: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
/// Partition type GUID of the Extended Boot Loader Partition.
pub const TYPE_XBOOTLDR: &str = "bc13c2ff-59e6-4262-a352-b275fd6f7172";

/// A header field; 0 past the end (a short header is refused by its size check).
fn le32(b: &[u8], at: usize) -> u32 {
    leapboot_menus::bytes::u32_le(b, at).unwrap_or(0)
}
/// As [`le32`].
fn le64(b: &[u8], at: usize) -> u64 {
    leapboot_menus::bytes::u64_le(b, at).unwrap_or(0)
}

/// Checks the header at `lba` and its entry array: `Ok(true)` when both are good,
/// `Ok(false)` when there is no GPT signature there, `Err` with the reason otherwise.
fn check_header(disk: &Disk, lba: u64) -> Result<bool, String> {
    let sector = disk.sector_size();
    // OK to allocate: the sector size is at most `MAX_SECTOR_SIZE` (64 KiB).
    let mut h = vec![0u8; sector as usize];
    if disk.read_at(lba * sector, &mut h).is_err() {
        return Err(format!("header at LBA {lba} cannot be read"));
    }
    if h.get(0..8) != Some(SIGNATURE.as_slice()) {
        return Ok(false);
    }
    let size = le32(&h, 12);
    if !(u64::from(MIN_HEADER_SIZE)..=sector).contains(&u64::from(size)) {
        return Err(format!(
            "header at LBA {lba}: header size {size} is not between {MIN_HEADER_SIZE} and the {sector}-byte sector"
        ));
    }
    let stored = le32(&h, 16);
    let mut copy = h.clone();
    copy[16..20].fill(0);
    let crc = crc32fast::hash(&copy[..size as usize]);
    if crc != stored {
        return Err(format!(
            "header at LBA {lba}: CRC is {stored:#010x}, computed {crc:#010x}"
        ));
    }
    let my_lba = le64(&h, 24);
    if my_lba != lba {
        return Err(format!("header at LBA {lba} says it is at LBA {my_lba}"));
    }
    let entries_lba = le64(&h, 72);
    let count = le32(&h, 80);
    let entry_size = le32(&h, 84);
    if entry_size != ENTRY_SIZE {
        return Err(format!(
            "header at LBA {lba}: entry size {entry_size} is not supported (leapboot reads {ENTRY_SIZE}-byte entries)"
        ));
    }
    if count == 0 || count > MAX_ENTRIES {
        return Err(format!(
            "header at LBA {lba}: entry count {count} is not between 1 and {MAX_ENTRIES}"
        ));
    }
    let bytes = u64::from(count) * u64::from(entry_size);
    let end = entries_lba
        .checked_mul(sector)
        .and_then(|o| o.checked_add(bytes));
    match end {
        Some(end) if entries_lba >= 1 && end <= disk.size => {}
        _ => {
            return Err(format!(
                "header at LBA {lba}: entry array at LBA {entries_lba} ({bytes} bytes) lies outside the disk of {} bytes",
                disk.size
            ));
        }
    }
    let entries = disk
        .read_vec(entries_lba * sector, bytes as usize)
        .map_err(|e| format!("entry array at LBA {entries_lba}: {e}"))?;
    let stored = le32(&h, 88);
    let crc = crc32fast::hash(&entries);
    if crc != stored {
        return Err(format!(
            "entry array at LBA {entries_lba}: CRC is {stored:#010x}, computed {crc:#010x}"
        ));
    }
    Ok(true)
}

/// Reads the GPT, or `Ok(None)` when the disk has none.
pub fn read(disk: &Disk) -> Result<Option<Table>, DiskError> {
    let corrupt = |reason: String| DiskError::Corrupt {
        device: disk.name.clone(),
        table: "GPT",
        reason,
    };
    let sector = disk.sector_size();
    if disk.size < 3 * sector {
        return Ok(None);
    }
    // An I/O error is not a corrupt table: let it through as what it is.
    disk.read_vec(sector, sector as usize)?;
    let primary = check_header(disk, 1);
    let last = disk.size / sector - 1;
    let mut damage = Vec::new();
    let hide_primary = match primary {
        Ok(true) => false,
        // No primary header at all: a GPT disk (protective MBR) whose first sectors
        // were overwritten still has its backup (UEFI 2.10, 5.3.2: use it when the
        // primary is invalid). Without a protective MBR a stray backup header left by
        // an earlier GPT must not win over the MBR now on the disk.
        Ok(false) if super::mbr::is_protective(disk) && check_header(disk, last) == Ok(true) => {
            damage.push(format!(
                "{}: GPT: no primary header at LBA 1; partitions read from the backup header at LBA {last}",
                disk.name
            ));
            true
        }
        Ok(false) => return Ok(None),
        Err(primary_reason) => match check_header(disk, last) {
            Ok(true) => {
                damage.push(format!(
                    "{}: GPT: primary {primary_reason}; partitions read from the backup header at LBA {last}",
                    disk.name
                ));
                true
            }
            Ok(false) => return Err(corrupt(format!("{primary_reason}; no backup header"))),
            Err(backup_reason) => {
                return Err(corrupt(format!(
                    "{primary_reason}; backup: {backup_reason}"
                )));
            }
        },
    };
    let block_size = match sector {
        512 => ::gpt::disk::LogicalBlockSize::Lb512,
        4096 => ::gpt::disk::LogicalBlockSize::Lb4096,
        _ => {
            return Err(DiskError::Unsupported {
                device: disk.name.clone(),
                what: format!("a GPT on {sector}-byte sectors (leapboot reads 512 and 4096)"),
            });
        }
    };
    let view = View {
        disk: disk.clone(),
        pos: 0,
        hide_primary,
    };
    let table = ::gpt::GptConfig::new()
        .writable(false)
        .logical_block_size(block_size)
        .open_from_device(view)
        .map_err(|e| corrupt(e.to_string()))?;
    let mut out = Vec::new();
    for (&number, p) in table.partitions() {
        let type_guid = p.part_type_guid.guid.to_string().to_ascii_lowercase();
        let (Some(offset), Some(end)) = (
            p.first_lba.checked_mul(sector),
            p.last_lba
                .checked_add(1)
                .and_then(|l| l.checked_mul(sector)),
        ) else {
            continue;
        };
        if end <= offset || end > disk.size {
            continue;
        }
        let role = match type_guid.as_str() {
            TYPE_ESP => VolumeRole::Esp,
            TYPE_XBOOTLDR => VolumeRole::Xbootldr,
            _ => VolumeRole::Other,
        };
        out.push(Partition {
            number,
            offset,
            len: end - offset,
            role,
            type_name: type_guid,
            name: Some(p.name.clone()).filter(|n| !n.is_empty()),
            scheme: Scheme::Gpt,
        });
    }
    Ok(Some(Table { parts: out, damage }))
}

/// The disk as the `gpt` crate sees it: read-only, optionally with LBA 1 (bytes
/// `sector..2 * sector`) zeroed.
#[derive(Debug)]
struct View {
    disk: Disk,
    pos: u64,
    hide_primary: bool,
}

impl Read for View {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.disk.size.saturating_sub(self.pos);
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if n == 0 {
            return Ok(0);
        }
        let buf = &mut buf[..n];
        self.disk.read_at(self.pos, buf).map_err(io::Error::other)?;
        if self.hide_primary {
            let (start, end) = (self.pos, self.pos + n as u64);
            let sector = self.disk.sector_size();
            let (hs, he) = (sector, 2 * sector);
            if start < he && end > hs {
                let from = hs.max(start) - start;
                let to = he.min(end) - start;
                buf[from as usize..to as usize].fill(0);
            }
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for View {
    fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "disk is opened read-only",
        ))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for View {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(o) => Some(o),
            SeekFrom::End(d) => self.disk.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos =
            new.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek out of range"))?;
        Ok(self.pos)
    }
}
