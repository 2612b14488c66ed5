//! XFS through leapboot's volume (`lamxfs` behind the read budget): a sparse disk
//! image (see `sparse_image.rs`) detected, opened and walked. Under `cargo fuzz`,
//! lamxfs skips its CRC checks, so mutations reach the inode, directory and block-map
//! parsers. Nothing may panic, hang or exhaust memory.
#![no_main]

#[path = "sparse_image.rs"]
mod sparse_image;

use leapboot::devices::disk::{self, Disk};
use leapboot::devices::volume::{self, FsType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let blocks = sparse_image::blocks(data);
    let Some((path, file)) = sparse_image::memfd(&blocks) else { return };
    let Ok(d) = Disk::open(std::path::Path::new(&path), "fuzz") else { return };
    let Ok(parts) = disk::partitions(&d) else { return };
    for p in &parts {
        let slice = volume::slice::Slice::new(d.clone(), p.offset, p.len);
        if !matches!(volume::detect(&slice), Ok(Some(FsType::Xfs))) {
            continue;
        }
        if let Ok(Some(v)) = volume::open(&d, p) {
            sparse_image::exercise(v.fs.as_ref());
        }
    }
    drop(file);
});
