//! Hostile copies of real images: the byte edits that turn an image the real tools
//! made (`mkfs.xfs`, `mkfs.btrfs`, `lvcreate`, `mdadm --create`, `cryptsetup`) into
//! one that lies, shared by the host-level tests (`bootloader/tests/stacked.rs`,
//! `bootloader/tests/xfs_btrfs.rs`) and the QEMU hostile tier
//! (`tests/tests/hostile.rs`).
//!
//! Each edit keeps every checksum right except the one it means to break, so a reader
//! meets the lie itself and not a checksum error in front of it: XFS v5 blocks and
//! Btrfs blocks carry a CRC32C (Castagnoli) ([`crc32c`]), md 1.x superblocks the sum
//! of `calc_sb_1_csum` ([`md_v1_csum`]), LVM2 metadata headers and text the CRC-32 of
//! LVM2's `calc_crc` with its own initial value ([`lvm_crc`]). The on-disk offsets
//! come from the formats' documentation and headers (XFS's `xfs_format.h`, Btrfs's
//! `ctree.h`, md's `md_p.h`, LVM2's `label.h` and `format_text/layout.h`); each
//! function names the fields it writes.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{io_err, run};
use crate::{Error, Result};

/// Reads `len` bytes at byte `at` of `path`.
pub fn read_at(path: &Path, at: u64, len: usize) -> Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(path).map_err(io_err("cannot open", path))?;
    let mut buf = vec![0u8; len];
    f.read_exact_at(&mut buf, at)
        .map_err(io_err("cannot read", path))?;
    Ok(buf)
}

/// Writes `data` at byte `at` of `path` (which must exist).
pub fn write_at(path: &Path, at: u64, data: &[u8]) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_err("cannot open for writing", path))?;
    f.write_all_at(data, at)
        .map_err(io_err("cannot write", path))
}

/// A reflected CRC-32 over `data` with polynomial `poly` (bit-reversed form),
/// starting from `init`, without a final inversion.
fn crc32_reflected(poly: u32, init: u32, data: &[u8]) -> u32 {
    let mut crc = init;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ poly
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// CRC32C (Castagnoli, as XFS v5 and Btrfs store it): initial and final value
/// inverted.
pub fn crc32c(data: &[u8]) -> u32 {
    !crc32_reflected(0x82f6_3b78, !0, data)
}

/// LVM2's `calc_crc(INITIAL_CRC, ...)`: CRC-32 (polynomial 0xedb88320) from the
/// initial value 0xf597a6cf, with no final inversion.
pub fn lvm_crc(data: &[u8]) -> u32 {
    crc32_reflected(0xedb8_8320, 0xf597_a6cf, data)
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(a)
}

/// Byte offset and length of partition `n` (1-based) of the GPT disk image `img`
/// with 512-byte sectors: the header at LBA 1 gives the entry array's LBA (byte 72)
/// and entry size (byte 84); an entry holds its first and last LBA at 32 and 40.
pub fn gpt_partition(img: &Path, n: u32) -> Result<(u64, u64)> {
    let header = read_at(img, 512, 92)?;
    if &header[..8] != b"EFI PART" || n == 0 {
        return Err(Error::Invalid(format!(
            "{}: no GPT partition {n}",
            img.display()
        )));
    }
    let entries = le_u64(&header, 72);
    let size = u64::from(le_u32(&header, 84));
    let entry = read_at(img, entries * 512 + u64::from(n - 1) * size, 48)?;
    let (first, last) = (le_u64(&entry, 32), le_u64(&entry, 40));
    if first == 0 || last < first {
        return Err(Error::Invalid(format!(
            "{}: GPT partition {n} is empty",
            img.display()
        )));
    }
    Ok((first * 512, (last - first + 1) * 512))
}

// ------------------------------------------------------------------------- md

/// `MD_SB_MAGIC`, little-endian in a 1.x superblock.
pub const MD_MAGIC: u32 = 0xa92b_4efc;

/// The md 1.x superblock checksum (`calc_sb_1_csum` in the kernel's md.c): the sum
/// of the little-endian 32-bit words of the 256-byte superblock and its
/// `2 * max_dev` bytes of roles (`max_dev` at byte 220), the checksum word (byte
/// 216) counted as zero, folded to 32 bits.
pub fn md_v1_csum(sb: &[u8]) -> u32 {
    let max_dev = le_u32(sb, 220) as usize;
    let len = (256 + 2 * max_dev).min(sb.len());
    let mut sum: u64 = 0;
    for (i, w) in sb[..len].chunks(4).enumerate() {
        if i == 54 {
            continue;
        }
        sum += match w.len() {
            4 => u64::from(le_u32(w, 0)),
            2 => u64::from(u16::from_le_bytes([w[0], w[1]])),
            _ => 0,
        };
    }
    ((sum & 0xffff_ffff) + (sum >> 32)) as u32
}

/// Byte offset, within a member of `len` bytes, of a metadata 1.0 superblock: 8 KiB
/// before the end, rounded down to 4 KiB (md_p.h).
pub fn md_v10_superblock_at(len: u64) -> u64 {
    ((len / 512 - 16) & !7) * 512
}

/// Byte offset, within a member, of a metadata 1.2 superblock.
pub const MD_V12_SUPERBLOCK_AT: u64 = 4096;

/// Edits the md 1.x superblock at byte `at` of `img` with `edit` and writes it back
/// with its checksum right. Fields: `raid_disks` at 92, `data_offset` 128,
/// `data_size` 136, `events` 200 (md_p.h's `mdp_superblock_1`).
pub fn edit_md_v1(img: &Path, at: u64, edit: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
    let mut sb = read_at(img, at, 4096)?;
    if le_u32(&sb, 0) != MD_MAGIC {
        return Err(Error::Invalid(format!(
            "{}: no md 1.x superblock at byte {at}",
            img.display()
        )));
    }
    edit(&mut sb);
    let csum = md_v1_csum(&sb);
    sb[216..220].copy_from_slice(&csum.to_le_bytes());
    write_at(img, at, &sb)
}

/// The data offset (bytes from the member's start) of the md 1.x superblock at byte
/// `at` of `img`: where the array's contents, a filesystem for RAID1, begin.
pub fn md_v1_data_offset(img: &Path, at: u64) -> Result<u64> {
    let sb = read_at(img, at, 512)?;
    Ok(le_u64(&sb, 128) * 512)
}

// ------------------------------------------------------------------------ LVM

/// The first metadata area of an LVM2 PV: its header (`mda_header`: checksum at 0,
/// `size` at 32, then `raw_locn` with `offset` 40, `size` 48, `checksum` 56) and the
/// metadata text it points at.
#[derive(Debug, Clone)]
pub struct LvmMetadata {
    img: PathBuf,
    /// Byte offset of the metadata area's header in the image.
    area_at: u64,
    header: Vec<u8>,
    /// The text, without its terminating NULs.
    pub text: String,
}

impl LvmMetadata {
    /// Reads the metadata of the PV starting at byte `pv` of `img`: the label
    /// (`LABELONE` in one of the first four sectors, the PV header at its
    /// `offset_xl`), the PV header's second list of disk areas (metadata areas), the
    /// first area's header and its text (wrapping after the 512-byte header, as
    /// LVM's circular buffer does).
    pub fn read(img: &Path, pv: u64) -> Result<LvmMetadata> {
        let head = read_at(img, pv, 4 * 512)?;
        let label = (0..4)
            .map(|s| s * 512)
            .find(|&at| &head[at..at + 8] == b"LABELONE")
            .ok_or_else(|| Error::Invalid(format!("{}: no LVM label", img.display())))?;
        let pvh = label + le_u32(&head, label + 20) as usize;
        // PV header: UUID (32 bytes), device size (8), then data areas and metadata
        // areas, each list ended by a zero entry.
        let mut at = pvh + 40;
        let mut lists = 0;
        let mut area = None;
        while at + 16 <= head.len() && lists < 2 {
            let (offset, size) = (le_u64(&head, at), le_u64(&head, at + 8));
            at += 16;
            if offset == 0 && size == 0 {
                lists += 1;
            } else if lists == 1 && area.is_none() {
                area = Some(offset);
            }
        }
        let area = area
            .ok_or_else(|| Error::Invalid(format!("{}: PV has no metadata area", img.display())))?;
        let area_at = pv + area;
        let header = read_at(img, area_at, 512)?;
        // The header's CRC as LVM wrote it: a check of `lvm_crc` on every real PV read.
        if le_u32(&header, 0) != lvm_crc(&header[4..512]) {
            return Err(Error::Invalid(format!(
                "{}: metadata area header at byte {area_at}: CRC mismatch",
                img.display()
            )));
        }
        let mut m = LvmMetadata {
            img: img.to_path_buf(),
            area_at,
            header,
            text: String::new(),
        };
        m.text = m.read_text()?;
        Ok(m)
    }

    fn read_text(&self) -> Result<String> {
        let (offset, len) = (le_u64(&self.header, 40), le_u64(&self.header, 48));
        let first = len.min(self.area_size().saturating_sub(offset));
        let mut text = read_at(&self.img, self.area_at + offset, first as usize)?;
        text.extend(read_at(
            &self.img,
            self.area_at + 512,
            (len - first) as usize,
        )?);
        let text = String::from_utf8_lossy(&text);
        Ok(text.trim_end_matches('\0').to_string())
    }

    /// Size of the metadata area in bytes (`mda_header.size`).
    pub fn area_size(&self) -> u64 {
        le_u64(&self.header, 32)
    }

    /// Writes `text` (NUL-terminated, as LVM does) at `offset` within the area (the
    /// current one when `None`), wrapping after the header as LVM's circular buffer
    /// does, and points the header's `raw_locn` at it with both CRCs right.
    pub fn write(&self, text: &str, offset: Option<u64>) -> Result<()> {
        let mut bytes = text.as_bytes().to_vec();
        bytes.push(0);
        let mut h = self.header.clone();
        let offset = offset.unwrap_or_else(|| le_u64(&h, 40));
        let first = (bytes.len() as u64).min(self.area_size() - offset) as usize;
        write_at(&self.img, self.area_at + offset, &bytes[..first])?;
        write_at(&self.img, self.area_at + 512, &bytes[first..])?;
        h[40..48].copy_from_slice(&offset.to_le_bytes());
        h[48..56].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
        h[56..60].copy_from_slice(&lvm_crc(&bytes).to_le_bytes());
        self.write_header(h)
    }

    /// Flips the recorded checksum of the text (the header's own CRC kept right), so
    /// the text no longer matches it.
    pub fn break_text_crc(&self) -> Result<()> {
        let mut h = self.header.clone();
        h[56] ^= 0xff;
        self.write_header(h)
    }

    fn write_header(&self, mut h: Vec<u8>) -> Result<()> {
        let crc = lvm_crc(&h[4..512]);
        h[0..4].copy_from_slice(&crc.to_le_bytes());
        write_at(&self.img, self.area_at, &h)
    }

    /// The text with `from` replaced by `to` (once) and the `seqno` raised to 999,
    /// so this copy wins over another PV's.
    pub fn edited(&self, from: &str, to: &str) -> Result<String> {
        if !self.text.contains(from) {
            return Err(Error::Invalid(format!("{from:?} is not in the metadata")));
        }
        let seqno = self
            .text
            .lines()
            .find(|l| l.starts_with("seqno = "))
            .ok_or_else(|| Error::Invalid("the metadata has no seqno".into()))?;
        Ok(self
            .text
            .replacen(from, to, 1)
            .replacen(seqno, "seqno = 999", 1))
    }
}

// ------------------------------------------------------------------------ XFS

/// Runs `xfs_db -x` on the bare XFS image `img` with `commands`, returning stdout.
pub fn xfs_db(img: &Path, commands: &[&str]) -> Result<String> {
    let mut cmd = Command::new("xfs_db");
    cmd.arg("-x");
    for c in commands {
        cmd.args(["-c", c]);
    }
    cmd.arg(img);
    let out = run(&mut cmd)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Sets `field` of the inode at `path` to `value` (`xfs_db -x`, which fixes the
/// inode's CRC): e.g. `core.size`, or `u3.bmx[0].blockcount` for an extent that
/// claims more blocks than the filesystem has.
pub fn xfs_set_inode_field(img: &Path, path: &str, field: &str, value: u64) -> Result<()> {
    xfs_db(
        img,
        &[&format!("path {path}"), &format!("write {field} {value}")],
    )
    .map(drop)
}

/// Breaks the primary superblock's CRC: one byte of the label (`sb_fname`, byte
/// 108) changed, the CRC (byte 224) left as it was.
pub fn xfs_break_superblock_crc(img: &Path) -> Result<()> {
    let b = read_at(img, 108, 1)?;
    write_at(img, 108, &[b[0] ^ b'Z'])
}

/// Turns the block-map B-tree leaf of the B-tree-format inode at `path` into a
/// level-1 node whose every pointer points at the block itself, CRC valid again
/// (`xfs_btree_block` long form: magic `BMA3`, level at 4, numrecs at 6, CRC at 56,
/// keys from 72 then pointers). Returns the block's filesystem block number.
pub fn xfs_bmbt_self_loop(img: &Path, path: &str) -> Result<u64> {
    let ptrs = xfs_db(img, &[&format!("path {path}"), "p u3.bmbt.ptrs"])?;
    let fsb: u64 = ptrs
        .trim()
        .rsplit(&['=', ' ', ':'][..])
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::Invalid(format!("{path}: no B-tree pointer in {ptrs:?}")))?;
    let sb = read_at(img, 0, 512)?;
    let bs = u64::from(be_u32(&sb, 4));
    let agblocks = u64::from(be_u32(&sb, 84));
    let agblklog = sb[124];
    let at = ((fsb >> agblklog) * agblocks + (fsb & ((1 << agblklog) - 1))) * bs;
    let mut blk = read_at(img, at, bs as usize)?;
    if &blk[0..4] != b"BMA3" {
        return Err(Error::Invalid(format!(
            "{path}: block {fsb} is not a v5 block-map B-tree block"
        )));
    }
    blk[4..6].copy_from_slice(&1u16.to_be_bytes());
    let maxrecs = (bs as usize - 72) / 16;
    for i in 0..maxrecs {
        let p = 72 + maxrecs * 8 + i * 8;
        blk[p..p + 8].copy_from_slice(&fsb.to_be_bytes());
    }
    blk[6..8].copy_from_slice(&(maxrecs as u16).to_be_bytes());
    blk[56..60].fill(0);
    let crc = crc32c(&blk);
    blk[56..60].copy_from_slice(&crc.to_le_bytes());
    write_at(img, at, &blk)?;
    Ok(fsb)
}

// ---------------------------------------------------------------------- Btrfs

/// Byte offsets of the Btrfs superblock copies within an image of at least 64 MiB.
pub const BTRFS_SUPERBLOCKS: [u64; 2] = [0x1_0000, 0x400_0000];

/// Recomputes a Btrfs superblock's (or tree block's) CRC32C over everything after
/// the 32-byte checksum field.
pub fn btrfs_fix_csum(block: &mut [u8]) {
    let c = crc32c(&block[32..]);
    block[..32].fill(0);
    block[..4].copy_from_slice(&c.to_le_bytes());
}

/// Breaks the checksum of the superblock copies at `copies` of `img` (one byte of
/// the label at 0x12b flipped, the checksum left as it was).
pub fn btrfs_break_superblock_csum(img: &mut [u8], copies: &[u64]) {
    for &at in copies {
        img[at as usize + 0x12b] ^= 0xff;
    }
}

/// Every tree block of the Btrfs image `img` (found by the filesystem UUID in
/// their headers, every 4 KiB): (byte offset, owner tree, level), with the node size.
pub fn btrfs_tree_blocks(img: &[u8]) -> (Vec<(usize, u64, u8)>, usize) {
    let sb = &img[0x10000..0x11000];
    let fsid = &sb[0x20..0x30];
    let nodesize = le_u32(sb, 0x94) as usize;
    let mut out = Vec::new();
    let mut at = 0;
    while at + nodesize <= img.len() {
        let h = &img[at..at + 104];
        let bytenr = le_u64(h, 48);
        if &h[32..48] == fsid && bytenr != 0 && !BTRFS_SUPERBLOCKS.contains(&(at as u64)) {
            out.push((at, le_u64(h, 88), h[100]));
        }
        at += 4096;
    }
    (out, nodesize)
}

/// Makes every block of the top-level file tree (owner 5) an interior node (level 1)
/// with one key pointer, to the block itself, checksums valid (header: `bytenr` at
/// 48, `generation` 80, `nritems` 96, `level` 100; key pointer from 101: key, block
/// number, generation). Returns how many blocks were changed.
pub fn btrfs_fs_tree_self_loop(img: &mut [u8]) -> usize {
    let (blocks, nodesize) = btrfs_tree_blocks(img);
    let mut n = 0;
    for (at, owner, _) in blocks {
        if owner != 5 {
            continue;
        }
        let b = &mut img[at..at + nodesize];
        let mut bytenr = [0u8; 8];
        bytenr.copy_from_slice(&b[48..56]);
        let mut generation = [0u8; 8];
        generation.copy_from_slice(&b[80..88]);
        b[100] = 1;
        b[96..100].copy_from_slice(&1u32.to_le_bytes());
        b[101..118].fill(0);
        b[118..126].copy_from_slice(&bytenr);
        b[126..134].copy_from_slice(&generation);
        btrfs_fix_csum(b);
        n += 1;
    }
    n
}

/// Sets the size of every regular file's inode in the top-level file tree's leaves
/// to 2^62 bytes, checksums valid (item headers of 25 bytes from 101: key type at
/// 8, data offset 17, data size 21; `btrfs_inode_item`: size at 16, mode at 52).
pub fn btrfs_huge_file_sizes(img: &mut [u8]) {
    let (blocks, nodesize) = btrfs_tree_blocks(img);
    for (at, owner, level) in blocks {
        if owner != 5 || level != 0 {
            continue;
        }
        let b = &mut img[at..at + nodesize];
        let nr = le_u32(b, 96) as usize;
        for i in 0..nr {
            let it = 101 + i * 25;
            let (typ, off, size) = (
                b[it + 8],
                le_u32(b, it + 17) as usize + 101,
                le_u32(b, it + 21) as usize,
            );
            if typ != 1 || size < 160 {
                continue; // not an INODE_ITEM
            }
            if le_u32(b, off + 52) & 0o170000 == 0o100000 {
                b[off + 16..off + 24].copy_from_slice(&(1u64 << 62).to_le_bytes());
            }
        }
        btrfs_fix_csum(b);
    }
}

// ----------------------------------------------------------------------- LUKS

/// Overwrites the LUKS header at byte `at` of `img` after its magic with bytes that
/// no LUKS version has: `version` (big-endian at 6) 0x7f7f, the rest of the first
/// 4 KiB filled with 0xa5.
pub fn luks_garbage_after_magic(img: &Path, at: u64) -> Result<()> {
    let magic = read_at(img, at, 6)?;
    if magic != b"LUKS\xba\xbe" {
        return Err(Error::Invalid(format!(
            "{}: no LUKS magic at byte {at}",
            img.display()
        )));
    }
    let mut rest = vec![0xa5u8; 4096 - 6];
    rest[..2].copy_from_slice(&[0x7f, 0x7f]);
    write_at(img, at + 6, &rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_castagnoli_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }

    /// `lvm_crc`'s loop with the standard start value and final inversion is CRC-32
    /// (check value 0xcbf43926); its own start value is checked against the headers
    /// LVM wrote, by [`LvmMetadata::read`] in `bootloader/tests/stacked.rs`.
    #[test]
    fn the_lvm_crc_loop_is_crc32() {
        assert_eq!(!crc32_reflected(0xedb8_8320, !0, b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn md_v10_superblock_sits_8_kib_before_the_end_on_a_4_kib_boundary() {
        assert_eq!(md_v10_superblock_at(12 << 20), (12 << 20) - 8192);
        assert_eq!(md_v10_superblock_at((12 << 20) + 1024), (12 << 20) - 8192);
    }
}
