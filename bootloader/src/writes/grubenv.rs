//! GRUB environment block writes (`save_env`, and `next_entry` cleared after one use,
//! as grub-mkconfig's header does): the block is rewritten in place, at the same size,
//! in the sectors the file already occupies (grub-core/commands/loadenv.c writes
//! through the file's block list the same way). No filesystem structure changes.
//!
//! Where the file's bytes lie is learned without a second filesystem parser: the
//! volume is opened over a slice that records every read, the file is read through
//! the ext4 or FAT reader, and the one 512-byte-aligned place among those reads that
//! holds exactly the file's bytes is the target. No unique place, no write.

use crate::devices::disk::Disk;
use crate::devices::volume::slice::{ReadLog, Slice};
use crate::devices::volume::{Location, Volume};
use crate::log::Area;
use leapboot_menus::grub::grubenv::{self, EnvWrite};

/// Step of the search for the file's bytes: file data starts on a filesystem block (ext4,
/// 1024 bytes or more) or cluster (FAT, a multiple of its sector of 512 bytes or more),
/// so at a multiple of 512 from the partition start whatever the disk's sector size.
/// A filesystem unit, not the device's sector: on a 4Kn disk, an ext4 with 1024-byte
/// blocks still has files at 1024-byte steps.
const FILE_DATA_ALIGN: u64 = 512;

/// Largest environment file handled (GRUB's is 1024 bytes).
pub const MAX_ENV_BYTES: u64 = 64 * 1024;

/// Applies every write, logging each; a failed write is logged and the boot goes on
/// (GRUB boots too when its environment cannot be saved).
pub fn apply_all(writes: &[EnvWrite]) {
    for w in writes {
        match apply(w) {
            Ok(true) => crate::log!(
                Area::Kexec,
                "grubenv: {} on {}: {} change(s) written ({}:{})",
                w.path,
                w.volume.device,
                w.changes.len(),
                w.source.file,
                w.source.line
            ),
            Ok(false) => {}
            Err(e) => crate::log!(
                Area::Kexec,
                "grubenv: {} on {}: not written: {e}",
                w.path,
                w.volume.device
            ),
        }
    }
}

/// Applies one write; `Ok(false)` when the block already holds the values.
pub fn apply(w: &EnvWrite) -> Result<bool, String> {
    let vol = crate::devices::discovery::reopen(&w.volume).ok_or("volume is not present")?;
    let current = vol
        .fs
        .read(&w.path, MAX_ENV_BYTES)
        .map_err(|e| e.to_string())?;
    let new = grubenv::apply(&current, &w.changes).map_err(|e| e.to_string())?;
    if new == current {
        return Ok(false);
    }
    if new.len() != current.len() {
        return Err("the new block is not the size of the old one".into());
    }
    let loc = vol
        .location
        .as_ref()
        .ok_or("the volume is a directory, not a disk")?;
    let offset = locate(&vol, loc, &w.path, &current)?;
    let disk = Disk::open_rw(&loc.disk_path, &loc.disk_name).map_err(|e| e.to_string())?;
    disk.write_at(loc.partition.offset + offset, &new)
        .map_err(|e| e.to_string())?;
    disk.sync().map_err(|e| e.to_string())?;
    Ok(true)
}

/// Applies one write's changes to an environment file on a mounted filesystem (host
/// mode): the file is rewritten in place at the same size, as `grub-editenv` and GRUB
/// itself do, and synced. `Ok(false)` when it already holds the values.
pub fn apply_to_file(
    path: &std::path::Path,
    changes: &[grubenv::EnvChange],
) -> Result<bool, String> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| e.to_string())?;
    let mut current = Vec::new();
    (&mut f)
        .take(MAX_ENV_BYTES.saturating_add(1))
        .read_to_end(&mut current)
        .map_err(|e| e.to_string())?;
    if current.len() as u64 > MAX_ENV_BYTES {
        return Err(format!(
            "larger than {MAX_ENV_BYTES} bytes: not a GRUB environment block"
        ));
    }
    let new = grubenv::apply(&current, changes).map_err(|e| e.to_string())?;
    if new == current {
        return Ok(false);
    }
    if new.len() != current.len() {
        return Err("the new block is not the size of the old one".into());
    }
    f.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    f.write_all(&new).map_err(|e| e.to_string())?;
    f.sync_all().map_err(|e| e.to_string())?;
    Ok(true)
}

/// Finds the byte offset within the partition where the file's contents lie.
fn locate(vol: &Volume, loc: &Location, path: &str, contents: &[u8]) -> Result<u64, String> {
    let disk = Disk::open(&loc.disk_path, &loc.disk_name).map_err(|e| e.to_string())?;
    let log: ReadLog = Default::default();
    let slice = Slice::new(disk.clone(), loc.partition.offset, loc.partition.len)
        .with_read_log(log.clone());
    let logged = crate::devices::volume::open_slice(&disk, &loc.partition, slice)
        .map_err(|e| e.to_string())?
        .ok_or("no filesystem")?;
    if logged.info.uuid != vol.info.uuid {
        return Err("the volume changed while it was being read".into());
    }
    let read = logged
        .fs
        .read(path, MAX_ENV_BYTES)
        .map_err(|e| e.to_string())?;
    if read != contents {
        return Err("the file changed while it was being read".into());
    }
    let reads = log.lock().map(|v| v.clone()).unwrap_or_default();
    let mut found: Vec<u64> = Vec::new();
    let check = Slice::new(disk, loc.partition.offset, loc.partition.len);
    for (start, len) in reads {
        let first = start.div_ceil(FILE_DATA_ALIGN) * FILE_DATA_ALIGN;
        let mut at = first;
        while at + contents.len() as u64 <= start + len.max(contents.len() as u64) {
            let mut buf = vec![0u8; contents.len()];
            if check.read_exact_at(at, &mut buf).is_ok() && buf == contents && !found.contains(&at)
            {
                found.push(at);
            }
            at += FILE_DATA_ALIGN;
            if at >= start + len {
                break;
            }
        }
    }
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err("the file's sectors were not found (inline or compressed data?)".into()),
        _ => Err(format!(
            "the file's contents appear at {} places; not guessing",
            found.len()
        )),
    }
}
