//! Btrfs through leapboot's volume (`lambutter` behind leapboot's superblock checks and
//! read budget): a sparse disk image (see `sparse_image.rs`) detected, opened and
//! walked. lambutter checks every superblock and tree-block crc32c, so this target
//! recomputes them after mutation (every block whose header carries the superblock's
//! fsid), letting mutations reach the B-tree, extent and decompression code. Nothing
//! may panic, hang or exhaust memory.
#![no_main]

#[path = "sparse_image.rs"]
mod sparse_image;

use leapboot::devices::disk::{self, Disk};
use leapboot::devices::volume;
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

const SUPERBLOCKS: [u64; 2] = [0x1_0000, 0x400_0000];

fn crc32c(data: &[u8]) -> u32 {
    crc::Crc::<u32>::new(&crc::CRC_32_ISCSI).checksum(data)
}

/// Reads `len` bytes at `at` from the block map (absent bytes are zeros).
fn get(blocks: &BTreeMap<u64, Vec<u8>>, at: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    for (i, chunk) in out.chunks_mut(sparse_image::BLOCK as usize).enumerate() {
        if let Some(b) = blocks.get(&(at / sparse_image::BLOCK + i as u64)) {
            let n = b.len().min(chunk.len());
            chunk[..n].copy_from_slice(&b[..n]);
        }
    }
    out
}

fn put(blocks: &mut BTreeMap<u64, Vec<u8>>, at: u64, data: &[u8]) {
    for (i, chunk) in data.chunks(sparse_image::BLOCK as usize).enumerate() {
        blocks.insert(at / sparse_image::BLOCK + i as u64, chunk.to_vec());
    }
}

/// Makes every checksum valid: superblocks, then each nodesize-aligned block present
/// whose header names the filesystem.
fn fix_checksums(blocks: &mut BTreeMap<u64, Vec<u8>>) {
    let sb = get(blocks, SUPERBLOCKS[0], 4096);
    let nodesize = u32::from_le_bytes(sb[0x94..0x98].try_into().unwrap());
    let nodesize = if nodesize.is_power_of_two() && (4096..=65536).contains(&nodesize) {
        u64::from(nodesize)
    } else {
        16384
    };
    let fsid = sb[0x20..0x30].to_vec();
    let starts: Vec<u64> = blocks
        .keys()
        .map(|b| b * sparse_image::BLOCK)
        .filter(|at| at % nodesize == 0 && !SUPERBLOCKS.contains(at))
        .collect();
    for at in starts {
        let mut node = get(blocks, at, nodesize as usize);
        if node[0x20..0x30] == fsid[..] {
            let c = crc32c(&node[32..]);
            node[..4].copy_from_slice(&c.to_le_bytes());
            put(blocks, at, &node);
        }
    }
    for at in SUPERBLOCKS {
        if blocks.contains_key(&(at / sparse_image::BLOCK)) {
            let mut s = get(blocks, at, 4096);
            let c = crc32c(&s[32..]);
            s[..4].copy_from_slice(&c.to_le_bytes());
            put(blocks, at, &s);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut blocks = sparse_image::blocks(data);
    fix_checksums(&mut blocks);
    let Some((path, file)) = sparse_image::memfd(&blocks) else { return };
    let Ok(d) = Disk::open(std::path::Path::new(&path), "fuzz") else { return };
    let Ok(parts) = disk::partitions(&d) else { return };
    for p in &parts {
        let slice = volume::slice::Slice::new(d.clone(), p.offset, p.len);
        if !matches!(volume::detect(&slice), Ok(Some(volume::FsType::Btrfs))) {
            continue;
        }
        if let Ok(Some(v)) = volume::open(&d, p) {
            sparse_image::exercise(v.fs.as_ref());
        }
    }
    drop(file);
});
