//! The newc reader, and a write/read round trip of what it accepted.
#![no_main]

use leapboot_initramfs::{Archive, read_cpio};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(entries) = read_cpio(data) else { return };
    let mut a = Archive::new();
    let mut added = 0;
    for e in &entries {
        if e.is_file() && a.add_file(&e.path, e.mode & 0o7777, e.data.clone()).is_ok() {
            added += 1;
        }
    }
    let again = read_cpio(&a.to_cpio()).expect("our own archive must read back");
    assert_eq!(again.iter().filter(|e| e.is_file()).count(), added);
});
