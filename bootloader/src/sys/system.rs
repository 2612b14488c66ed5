//! The running kernel: its release, its boot clock, its modules and its console level.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// The running kernel's release (`uname -r`), empty when `uname` fails.
pub fn kernel_release() -> String {
    // SAFETY: utsname is plain data (arrays of c_char); all zeroes is a valid value.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname fills the utsname we own, through a pointer valid for the call.
    if unsafe { libc::uname(&mut u) } != 0 {
        return String::new();
    }
    // SAFETY: the kernel NUL-terminates release within its array, which lives here.
    unsafe { CStr::from_ptr(u.release.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// `CLOCK_BOOTTIME`: time since boot, suspend included (what printk stamps show).
pub fn boottime() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own, through a pointer valid for
    // the call.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// `MODULE_INIT_COMPRESSED_FILE`: the kernel decompresses `.ko.xz`/`.ko.zst` itself.
pub const MODULE_INIT_COMPRESSED_FILE: libc::c_int = 4;

/// `finit_module(file, "", flags)`: loads the kernel module open as `file`.
pub fn finit_module(file: &File, flags: libc::c_int) -> std::io::Result<()> {
    let params = CString::default();
    // SAFETY: the fd is open for the call and params is an empty NUL-terminated string
    // that lives for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_finit_module,
            file.as_raw_fd(),
            params.as_ptr(),
            flags,
        )
    };
    super::check(r)
}

/// `SYSLOG_ACTION_CONSOLE_LEVEL`: which kernel messages reach the consoles.
pub fn set_console_log_level(level: i32) {
    // SAFETY: SYSLOG_ACTION_CONSOLE_LEVEL (8) reads no buffer, so null with length
    // `level` is what the call expects.
    unsafe { libc::klogctl(8, std::ptr::null_mut(), level) };
}
