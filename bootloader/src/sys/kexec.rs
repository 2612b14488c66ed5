//! The kexec system calls: files in memory, the load, the unload, and the jump.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};

/// `KEXEC_FILE_UNLOAD` (`<linux/kexec.h>`).
pub const KEXEC_FILE_UNLOAD: libc::c_ulong = 0x1;
/// `KEXEC_FILE_ON_CRASH`.
pub const KEXEC_FILE_ON_CRASH: libc::c_ulong = 0x2;
/// `KEXEC_FILE_NO_INITRAMFS`.
pub const KEXEC_FILE_NO_INITRAMFS: libc::c_ulong = 0x4;

/// An anonymous in-memory file (`memfd_create` with `MFD_CLOEXEC`).
pub fn memfd(name: &str) -> std::io::Result<File> {
    let name = CString::new(name).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: memfd_create takes a NUL-terminated name that lives for the call and
    // flags; it returns a new fd or -1.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just created by the call above and is owned by nothing else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// `kexec_file_load(kernel, initrd, cmdline, flags)`: `initrd` `None` needs
/// [`KEXEC_FILE_NO_INITRAMFS`] in `flags`. Returns the errno on failure.
pub fn file_load(
    kernel: &File,
    initrd: Option<&File>,
    cmdline: &CStr,
    flags: libc::c_ulong,
) -> Result<(), i32> {
    let len = cmdline.to_bytes_with_nul().len();
    let initrd_fd = initrd.map_or(-1, AsRawFd::as_raw_fd);
    // SAFETY: both fds are open (or -1 with KEXEC_FILE_NO_INITRAMFS) for the call; the
    // command line pointer and its length (which counts the trailing NUL, as the
    // syscall requires) come from one CStr that lives for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_kexec_file_load,
            kernel.as_raw_fd(),
            initrd_fd,
            len as libc::c_ulong,
            cmdline.as_ptr(),
            flags,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

/// Unloads a loaded kernel; harmless when none is loaded.
pub fn unload() {
    let _ = unload_checked();
}

/// Unloads a loaded kernel (whichever system call loaded it: both share the one
/// image slot); the errno when the kernel refuses (EPERM without CAP_SYS_BOOT).
pub fn unload_checked() -> Result<(), i32> {
    // SAFETY: an unload takes no fds (-1) and no command line (null, length 0).
    let r = unsafe {
        libc::syscall(
            libc::SYS_kexec_file_load,
            -1,
            -1,
            0 as libc::c_ulong,
            std::ptr::null::<u8>(),
            KEXEC_FILE_UNLOAD,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

/// Flushes filesystem buffers, then `reboot(LINUX_REBOOT_CMD_KEXEC)`: on success the
/// loaded kernel runs and this never returns; otherwise the errno.
pub fn reboot_into_loaded() -> i32 {
    // SAFETY: sync takes no arguments and cannot fail.
    unsafe { libc::sync() };
    // SAFETY: reboot takes a command constant; with LINUX_REBOOT_CMD_KEXEC it does not
    // return on success.
    let r = unsafe { libc::reboot(libc::LINUX_REBOOT_CMD_KEXEC) };
    if r != 0 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    } else {
        0
    }
}
