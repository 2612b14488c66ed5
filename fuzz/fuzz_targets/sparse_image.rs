//! The input of the `xfs` and `btrfs` targets: a sparse disk image, so that a seed of a
//! few hundred KiB can hold every metadata block of a real filesystem of hundreds of
//! MiB (an XFS log in the middle of its AG, Btrfs trees at 30 MiB).
//!
//! `LBSPARSE` then records of `[u32 LE block (4 KiB units)][u16 LE length][bytes]`,
//! each written at its block; what no record covers reads as zeros, up to
//! [`DISK_SIZE`]. Any other input is a flat image from byte 0. The test
//! `write_fuzz_seeds` in `bootloader/tests/xfs_btrfs.rs` writes seeds in this form.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::FromRawFd;
use std::os::unix::fs::FileExt;

/// Size of the disk an input describes (sparse in a memfd).
pub const DISK_SIZE: u64 = 512 << 20;
/// Unit of record offsets.
pub const BLOCK: u64 = 4096;
pub const MAGIC: &[u8] = b"LBSPARSE";

/// The input as 4 KiB blocks (absent blocks are zeros).
pub fn blocks(data: &[u8]) -> BTreeMap<u64, Vec<u8>> {
    let mut out = BTreeMap::new();
    let Some(mut rest) = data.strip_prefix(MAGIC) else {
        for (i, c) in data.chunks(BLOCK as usize).enumerate() {
            out.insert(i as u64, c.to_vec());
        }
        return out;
    };
    while rest.len() >= 6 {
        let block = u64::from(u32::from_le_bytes(rest[0..4].try_into().unwrap()));
        let len = usize::from(u16::from_le_bytes(rest[4..6].try_into().unwrap()));
        let bytes = &rest[6..(6 + len).min(rest.len())];
        rest = &rest[(6 + len).min(rest.len())..];
        for (i, c) in bytes.chunks(BLOCK as usize).enumerate() {
            let b = block + i as u64;
            if (b + 1) * BLOCK > DISK_SIZE {
                break;
            }
            let e = out.entry(b).or_insert_with(Vec::new);
            if e.len() < c.len() {
                e.resize(c.len(), 0);
            }
            e[..c.len()].copy_from_slice(c);
        }
    }
    out
}

/// Writes `blocks` into a sparse memfd of [`DISK_SIZE`] bytes and returns its path
/// (`/proc/self/fd/N`, opened like any block device) with the file that keeps it open.
pub fn memfd(blocks: &BTreeMap<u64, Vec<u8>>) -> Option<(String, std::fs::File)> {
    // SAFETY: memfd_create returns a new fd that the File owns.
    let fd = unsafe { libc::memfd_create(c"fuzz-fs".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
    f.set_len(DISK_SIZE).ok()?;
    for (b, data) in blocks {
        f.write_all_at(data, b * BLOCK).ok()?;
    }
    f.flush().ok()?;
    Some((format!("/proc/self/fd/{fd}"), f))
}

/// Everything a config source would do with a volume: walk directories a few levels
/// deep, stat and read what is found (links followed), read ranges at odd offsets.
pub fn exercise(fs: &dyn leapboot_menus::FileSystem) {
    use leapboot_menus::FileKind;
    let mut todo = vec![("/".to_string(), 0)];
    let mut visited = 0;
    while let Some((dir, depth)) = todo.pop() {
        let Ok(entries) = fs.read_dir(&dir) else { continue };
        for e in entries.into_iter().take(64) {
            visited += 1;
            if visited > 256 {
                return;
            }
            let p = leapboot_menus::fs::join(&dir, &e.name);
            match fs.metadata(&p) {
                Ok(m) if m.kind == FileKind::Dir && depth < 4 => todo.push((p, depth + 1)),
                Ok(m) if m.kind == FileKind::File => {
                    let _ = fs.read(&p, 1 << 20);
                    let _ = fs.read_range(&p, 4095, 8193);
                    let _ = fs.read_range(&p, m.len.saturating_sub(3), 100);
                }
                _ => {}
            }
        }
    }
    for p in ["/boot/grub2/grub.cfg", "/boot/loader/entries", "/@/boot/grub2/grub.cfg", "/boot/vmlinuz"] {
        let _ = fs.metadata(p);
        let _ = fs.read(p, 1 << 20);
    }
}
