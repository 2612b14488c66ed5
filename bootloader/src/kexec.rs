//! The two syscalls of a handoff: `kexec_file_load(2)` with the kernel and the
//! concatenated initrds in memfds, then `reboot(LINUX_REBOOT_CMD_KEXEC)`.
//! Errors are decoded into words, with what the user can do.

use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};

/// `KEXEC_FILE_UNLOAD`: unload the loaded kernel.
pub const KEXEC_FILE_UNLOAD: libc::c_ulong = 0x1;
/// `KEXEC_FILE_NO_INITRAMFS`: no initrd is passed.
pub const KEXEC_FILE_NO_INITRAMFS: libc::c_ulong = 0x4;

/// Why a kexec step failed.
#[derive(Debug, thiserror::Error)]
pub enum KexecError {
    /// The command line holds a NUL byte.
    #[error("command line contains a NUL byte")]
    CmdlineNul,
    /// Creating or filling a memfd failed.
    #[error("cannot stage {what} in memory: {source}")]
    Memfd {
        /// `kernel` or `initrd`.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// `kexec_file_load` failed.
    #[error("kexec_file_load failed: {} ({}): {}", errno_name(*.errno), std::io::Error::from_raw_os_error(*.errno), describe_load_errno(*.errno))]
    Load {
        /// errno.
        errno: i32,
    },
    /// `reboot(LINUX_REBOOT_CMD_KEXEC)` returned.
    #[error("reboot(LINUX_REBOOT_CMD_KEXEC) failed: {} ({})", errno_name(*.errno), std::io::Error::from_raw_os_error(*.errno))]
    Exec {
        /// errno.
        errno: i32,
    },
}

/// The symbolic name of an errno value a kexec can return.
pub fn errno_name(errno: i32) -> &'static str {
    match errno {
        libc::ENOEXEC => "ENOEXEC",
        libc::EPERM => "EPERM",
        libc::EKEYREJECTED => "EKEYREJECTED",
        libc::ENOMEM => "ENOMEM",
        libc::EINVAL => "EINVAL",
        libc::ENOSYS => "ENOSYS",
        libc::EBUSY => "EBUSY",
        libc::EBADMSG => "EBADMSG",
        libc::ENOKEY => "ENOKEY",
        libc::EFBIG => "EFBIG",
        libc::EACCES => "EACCES",
        libc::EBADF => "EBADF",
        _ => "errno",
    }
}

/// What a `kexec_file_load` errno means and what to do about it.
pub fn describe_load_errno(errno: i32) -> &'static str {
    match errno {
        libc::ENOEXEC => {
            "not a bootable kernel image (kexec_file_load needs a bzImage; an ELF vmlinux or a truncated file is refused)"
        }
        libc::EPERM => {
            "not permitted: the running kernel is in lockdown mode (Secure Boot) or leapboot lacks CAP_SYS_BOOT"
        }
        libc::EKEYREJECTED => {
            "the kernel's signature was refused: sign it with a key the firmware kernel trusts, or boot without signature enforcement"
        }
        libc::ENOKEY => {
            "the kernel is not signed, or signed with an unknown key, and signatures are enforced"
        }
        libc::EBADMSG => "the kernel's signature is malformed",
        libc::ENOMEM => {
            "out of memory: the kernel and initrds do not fit in the memory kexec can use"
        }
        libc::EINVAL => {
            "invalid argument: the command line may be longer than the new kernel accepts, or the image is unusable"
        }
        libc::ENOSYS => "the firmware kernel was built without CONFIG_KEXEC_FILE",
        libc::EBUSY => "a kexec load is already in progress",
        libc::EFBIG => "the image is larger than the kernel accepts",
        _ => "unexpected error from the kernel",
    }
}

fn memfd(name: &str, what: &'static str, data: &[u8]) -> Result<File, KexecError> {
    let err = |source| KexecError::Memfd { what, source };
    let cname =
        CString::new(name).map_err(|_| err(std::io::Error::from_raw_os_error(libc::EINVAL)))?;
    // SAFETY: memfd_create takes a NUL-terminated name and flags; it returns a new fd or -1.
    let fd = unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(err(std::io::Error::last_os_error()));
    }
    // SAFETY: fd was just created and is owned by nothing else.
    let mut f = unsafe { File::from_raw_fd(fd) };
    f.write_all(data).map_err(err)?;
    Ok(f)
}

/// Loads a kernel for a later [`exec`]. `initrd` is every initrd concatenated, or
/// empty for none; `cmdline` is the new kernel's full command line.
pub fn load(kernel: &[u8], initrd: &[u8], cmdline: &str) -> Result<(), KexecError> {
    let c = CString::new(cmdline).map_err(|_| KexecError::CmdlineNul)?;
    let k = memfd("leapboot-kernel", "kernel", kernel)?;
    let i = if initrd.is_empty() {
        None
    } else {
        Some(memfd("leapboot-initrd", "initrd", initrd)?)
    };
    let flags = if i.is_none() {
        KEXEC_FILE_NO_INITRAMFS
    } else {
        0
    };
    let initrd_fd = i.as_ref().map_or(-1, |f| f.as_raw_fd());
    let len = c.as_bytes_with_nul().len();
    // SAFETY: both fds are open for the call; the command line pointer and its length
    // (which counts the trailing NUL, as the syscall requires) come from one CString.
    let r = unsafe {
        libc::syscall(
            libc::SYS_kexec_file_load,
            k.as_raw_fd(),
            initrd_fd,
            len as libc::c_ulong,
            c.as_ptr(),
            flags,
        )
    };
    if r != 0 {
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        return Err(KexecError::Load { errno });
    }
    Ok(())
}

/// Unloads a loaded kernel (after a failed handoff, before trying another entry).
pub fn unload() {
    // SAFETY: an unload takes no fds and no command line.
    unsafe {
        libc::syscall(
            libc::SYS_kexec_file_load,
            -1,
            -1,
            0 as libc::c_ulong,
            std::ptr::null::<u8>(),
            KEXEC_FILE_UNLOAD,
        )
    };
}

/// Jumps into the loaded kernel. Returns only on failure.
pub fn exec() -> KexecError {
    // SAFETY: reboot with RB_KEXEC does not return on success.
    unsafe { libc::sync() };
    let r = unsafe { libc::reboot(libc::LINUX_REBOOT_CMD_KEXEC) };
    let errno = if r != 0 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    } else {
        0
    };
    KexecError::Exec { errno }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_words() {
        let e = KexecError::Load {
            errno: libc::ENOEXEC,
        };
        let s = e.to_string();
        assert!(
            s.contains("ENOEXEC") && s.contains("not a bootable kernel image"),
            "{s}"
        );
        for errno in [
            libc::EPERM,
            libc::EKEYREJECTED,
            libc::ENOMEM,
            libc::EINVAL,
            libc::ENOSYS,
        ] {
            assert_ne!(describe_load_errno(errno), describe_load_errno(9999));
            assert_ne!(errno_name(errno), "errno");
        }
    }

    #[test]
    fn nul_in_cmdline_is_refused_before_any_syscall() {
        assert!(matches!(
            load(b"x", b"", "a\0b"),
            Err(KexecError::CmdlineNul)
        ));
    }
}
