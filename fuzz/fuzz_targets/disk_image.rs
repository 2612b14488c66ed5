//! A whole disk image, as PID 1 meets it: partition table (GPT validated before the
//! `gpt` crate, MBR with logical partitions), filesystem probing, ext4 and FAT
//! reading, every config source, the menu. Nothing may panic, hang or abort.
#![no_main]

use leapboot::devices::disk::{self, Disk};
use leapboot::devices::volume;
use leapboot_menus::{Menu, VolumeView, scan_all};
use libfuzzer_sys::fuzz_target;
use std::io::Write;
use std::os::fd::FromRawFd;

fuzz_target!(|data: &[u8]| {
    // The image lives in a memfd, opened through /proc like any block device path.
    // SAFETY: memfd_create returns a new fd that the File owns.
    let fd = unsafe { libc::memfd_create(c"fuzz-disk".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return;
    }
    let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
    if f.write_all(data).is_err() {
        return;
    }
    let path = format!("/proc/self/fd/{fd}");
    let Ok(d) = Disk::open(std::path::Path::new(&path), "fuzz") else { return };
    let Ok(parts) = disk::partitions(&d) else { return };
    let vols: Vec<_> = parts.iter().filter_map(|p| volume::open(&d, p).ok().flatten()).collect();
    let views: Vec<VolumeView<'_>> = vols.iter().map(|v| VolumeView { info: &v.info, fs: v.fs.as_ref() }).collect();
    let scans = scan_all(&views);
    let menu = Menu::assemble(&scans, None);
    for e in &menu.entries {
        for v in &vols {
            if v.info.device == e.volume.device {
                let _ = v.fs.read(&e.kernel, 1 << 20);
            }
        }
    }
    drop(f);
});
