//! Inode flags (`chattr`/`lsattr`): `FS_IOC_GETFLAGS` and `FS_IOC_SETFLAGS` from
//! `<linux/fs.h>`. efivarfs marks most variables immutable (`FS_IMMUTABLE_FL`), so
//! removing one (a consumed `LoaderEntryOneShot`) first clears that flag, as
//! `chattr -i` and systemd's `efi_set_variable` do.

use std::fs::File;
use std::os::fd::AsRawFd;

/// `FS_IMMUTABLE_FL`: the file cannot be changed, renamed or removed.
pub const FS_IMMUTABLE_FL: libc::c_int = 0x0000_0010;

/// The inode flags of the open file. The ioctl is declared with a `long` but the
/// kernel reads and writes an `int` (`fs/ioctl.c`, `ioctl_getflags`), as e2fsprogs passes.
pub fn get_flags(file: &File) -> std::io::Result<libc::c_int> {
    let mut flags: libc::c_int = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one int through the pointer, which points at an
    // int we own for the call; the fd is open for the call.
    let r = unsafe {
        libc::ioctl(
            file.as_raw_fd(),
            libc::FS_IOC_GETFLAGS,
            &mut flags as *mut libc::c_int,
        )
    };
    super::check(r.into()).map(|()| flags)
}

/// Sets the inode flags of the open file (needs `CAP_LINUX_IMMUTABLE` to change
/// `FS_IMMUTABLE_FL`).
pub fn set_flags(file: &File, flags: libc::c_int) -> std::io::Result<()> {
    let mut value = flags;
    // SAFETY: FS_IOC_SETFLAGS reads one int through the pointer, which points at an int
    // we own for the call; the fd is open for the call.
    let r = unsafe {
        libc::ioctl(
            file.as_raw_fd(),
            libc::FS_IOC_SETFLAGS,
            &mut value as *mut libc::c_int,
        )
    };
    super::check(r.into())
}
