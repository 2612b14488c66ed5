//! LUKS detection: arbitrary bytes as the first sectors of a device, read by the
//! header parser (`devices::stack::luks::parse`, LUKS1 and LUKS2 binary headers)
//! and by the whole stacked-storage probe PID 1 runs on every partition
//! (`devices::stack::probe`: md superblocks first, then LUKS, then an LVM label),
//! with the line it would log. A recognised header must say what the format says:
//! version 1 or 2, and text fields no longer than the bytes they come from. Nothing
//! may panic, hang or allocate without bound.
#![no_main]

use leapboot::devices::disk::Disk;
use leapboot::devices::stack::{self, luks};
use libfuzzer_sys::fuzz_target;
use std::io::Write;
use std::os::fd::FromRawFd;

/// At most `bytes` characters: one per byte of the field (a byte that is not
/// UTF-8 becomes one U+FFFD).
fn fits(field: Option<&String>, bytes: usize) -> bool {
    field.is_none_or(|f| f.chars().count() <= bytes)
}

/// The LUKS specifications' field widths: the UUID is 40 bytes, the LUKS2 label
/// and subsystem 48.
fn check_fields(l: &luks::Luks) {
    assert!(l.version == 1 || l.version == 2, "version {}", l.version);
    assert!(fits(l.uuid.as_ref(), 40));
    assert!(fits(l.label.as_ref(), 48));
    assert!(fits(l.subsystem.as_ref(), 48));
    assert!(l.version == 2 || (l.label.is_none() && l.subsystem.is_none()));
}

/// The input as a device: a memfd opened through /proc, as PID 1 opens a disk.
fn probe_as_device(data: &[u8]) {
    // SAFETY: memfd_create returns a new fd that the File owns.
    let fd = unsafe { libc::memfd_create(c"fuzz-luks".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return;
    }
    let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
    if f.write_all(data).is_err() {
        return;
    }
    let path = format!("/proc/self/fd/{fd}");
    let Ok(d) = Disk::open(std::path::Path::new(&path), "fuzz") else {
        return;
    };
    let len = u64::try_from(data.len()).unwrap_or(0);
    match stack::probe(&d, "fuzz1", 0, len) {
        Ok(Some(found)) => {
            if let stack::Found::Luks(l) = &found {
                check_fields(l);
            }
            let _ = found.describe();
        }
        Ok(None) => {}
        Err(e) => {
            let _ = e.to_string();
        }
    }
    drop(f);
}

fuzz_target!(|data: &[u8]| {
    match luks::parse(data) {
        Ok(Some(l)) => {
            check_fields(&l);
            let _ = l.kind();
        }
        Ok(None) => assert!(!data.starts_with(luks::MAGIC)),
        Err(e) => {
            let _ = e.to_string();
        }
    }
    probe_as_device(data);
});
