//! Block device geometry from the kernel (`<linux/fs.h>` ioctls).

use std::fs::File;
use std::os::fd::AsRawFd;

/// `_IOR(0x12, 114, size_t)`: the device's size in bytes.
const BLKGETSIZE64: libc::c_ulong = 0x8008_1272;
/// `_IO(0x12, 104)`: the logical sector size, the unit of LBAs (512, or 4096 on 4Kn).
const BLKSSZGET: libc::c_ulong = 0x1268;

/// The size in bytes of the block device open as `file`.
pub fn size_bytes(file: &File) -> std::io::Result<u64> {
    let mut size: u64 = 0;
    // SAFETY: BLKGETSIZE64 writes one u64 through the pointer, which points at a u64 we
    // own for the call; the fd is open for the call.
    let r = unsafe { libc::ioctl(file.as_raw_fd(), BLKGETSIZE64, &mut size as *mut u64) };
    super::check(r.into()).map(|()| size)
}

/// The logical sector size of the block device open as `file`.
pub fn logical_sector_size(file: &File) -> std::io::Result<u32> {
    let mut size: libc::c_int = 0;
    // SAFETY: BLKSSZGET writes one int through the pointer, which points at an int we
    // own for the call; the fd is open for the call.
    let r = unsafe { libc::ioctl(file.as_raw_fd(), BLKSSZGET, &mut size as *mut libc::c_int) };
    super::check(r.into())?;
    u32::try_from(size).map_err(|_| std::io::Error::other("negative sector size"))
}
