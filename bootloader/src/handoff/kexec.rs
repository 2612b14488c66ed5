//! The two syscalls of a handoff: `kexec_file_load(2)` with the kernel and the
//! concatenated initrds in memfds, then `reboot(LINUX_REBOOT_CMD_KEXEC)`.
//! Errors are decoded into a cause and a remedy, per errno and per situation
//! ([`decode_load_error`]): the lockdown mode (`/sys/kernel/security/lockdown`),
//! `kexec_load_disabled`, whether the kernel is signed, what the pre-flight checks
//! found about the image, the command line against its limit, sizes against free
//! memory. The kernel's own `kexec` messages from `/dev/kmsg` ([`KmsgWatch`]) go in
//! the report too.
//!
//! Where each errno comes from (Linux 6.1): `kexec_file_load` in `kernel/kexec_file.c`
//! (EPERM without CAP_SYS_BOOT or with `kexec_load_disabled`; EINVAL for bad flags or
//! a command line without its NUL; EBUSY when another load holds the lock);
//! `kimage_validate_signature` (EPERM when lockdown refuses an unverified image; the
//! verifier's error, EKEYREJECTED, ENOKEY, ENODATA, EBADMSG, when `KEXEC_SIG_FORCE`
//! enforces signatures); `bzImage64_probe`/`bzImage64_load` in
//! `arch/x86/kernel/kexec-bzimage64.c` (ENOEXEC for an image it does not recognise or
//! a truncated one, EINVAL for a command line over `cmdline_size` less 30 bytes);
//! `kexec_add_buffer` (EADDRNOTAVAIL when no memory hole fits a segment) and page
//! allocation (ENOMEM).

use crate::sys;
use std::ffi::CString;
use std::fs::File;
use std::io::Write;

pub use sys::kexec::{KEXEC_FILE_NO_INITRAMFS, KEXEC_FILE_UNLOAD};

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
        libc::ENODATA => "ENODATA",
        libc::ENOPKG => "ENOPKG",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::EFBIG => "EFBIG",
        libc::EACCES => "EACCES",
        libc::EBADF => "EBADF",
        libc::EFAULT => "EFAULT",
        _ => "errno",
    }
}

/// What a `kexec_file_load` errno means in general (without knowing the situation).
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
        libc::ENODATA => "the kernel carries no signature and signatures are enforced",
        libc::EBADMSG => "the kernel's signature is malformed",
        libc::ENOMEM | libc::EADDRNOTAVAIL => {
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

/// What is known about the system and the images when a load fails; every field is
/// optional knowledge that sharpens the decoded cause.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Situation {
    /// Lockdown mode: `none`, `integrity`, `confidentiality` (`None`: unknown).
    pub lockdown: Option<String>,
    /// `/proc/sys/kernel/kexec_load_disabled`.
    pub kexec_load_disabled: Option<bool>,
    /// Whether the kernel carries an Authenticode signature (`None`: not a PE file).
    pub kernel_signed: Option<bool>,
    /// Why the pre-flight reader thinks the image does not load (empty: looks fine).
    pub image_problems: Vec<String>,
    /// What the kernel file is, in words.
    pub image: Option<String>,
    /// Command line length without the NUL.
    pub cmdline_len: usize,
    /// Longest command line the kernel takes through kexec.
    pub cmdline_limit: Option<u32>,
    /// Kernel file size.
    pub kernel_len: u64,
    /// All initrds together.
    pub initrd_len: u64,
    /// The kernel's `init_size`.
    pub init_size: Option<u32>,
    /// `MemAvailable`.
    pub mem_available: Option<u64>,
}

impl Situation {
    /// Reads the system's side: lockdown mode and `kexec_load_disabled`.
    pub fn probe_system(mut self) -> Situation {
        self.lockdown = lockdown_mode();
        self.kexec_load_disabled = std::fs::read_to_string("/proc/sys/kernel/kexec_load_disabled")
            .ok()
            .map(|s| s.trim() == "1");
        self
    }
}

/// A decoded load error: the errno, its cause in this situation, and a remedy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// errno.
    pub errno: i32,
    /// Symbolic name.
    pub name: &'static str,
    /// What happened.
    pub cause: String,
    /// What the user can do.
    pub remedy: String,
}

impl std::fmt::Display for Decoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "kexec_file_load failed: {} ({}): {}; {}",
            self.name,
            std::io::Error::from_raw_os_error(self.errno),
            self.cause,
            self.remedy
        )
    }
}

const SIGN_REMEDY: &str = "boot a kernel signed with a key the firmware kernel trusts (the distribution's signed vmlinuz, or one signed with sbsign by a key in its .builtin_trusted_keys, .secondary_trusted_keys or .platform keyring, e.g. enrolled in db or MOK)";

/// Decodes a `kexec_file_load` errno into a cause and remedy for this situation.
pub fn decode_load_error(errno: i32, s: &Situation) -> Decoded {
    let size = crate::handoff::report::size;
    let mib_or = |v: Option<u64>| v.map_or("unknown".to_string(), size);
    let locked = s
        .lockdown
        .as_deref()
        .filter(|m| *m == "integrity" || *m == "confidentiality");
    let signed = match s.kernel_signed {
        Some(true) => "the kernel is signed, but not by a key the firmware kernel trusts",
        Some(false) => "the kernel is not signed",
        None => "the kernel is not a signed PE image",
    };
    let (cause, remedy): (String, String) = match errno {
        libc::EPERM if s.kexec_load_disabled == Some(true) => (
            "kexec is switched off: /proc/sys/kernel/kexec_load_disabled is 1, and it stays 1 until reboot".into(),
            "remove whatever sets kernel.kexec_load_disabled=1 (a sysctl.d file or hardening script) from the firmware system".into(),
        ),
        libc::EPERM if locked.is_some() => (
            format!(
                "the firmware kernel is in lockdown mode '{}' (Secure Boot) and loads only kernels whose signature it verifies; {signed}",
                locked.unwrap_or_default()
            ),
            format!("{SIGN_REMEDY}, or run the firmware kernel without lockdown (Secure Boot off, no lockdown= parameter)"),
        ),
        libc::EPERM => (
            "not permitted: leapboot lacks CAP_SYS_BOOT, or a security module (IMA appraisal, SELinux, a lockdown this kernel does not report) refused the image".into(),
            "run leapboot as root (PID 1 in the firmware), and check the kernel log for the module that refused".into(),
        ),
        libc::EKEYREJECTED => (
            format!("signature enforcement (KEXEC_SIG_FORCE or IMA policy) rejected the kernel's signature; {signed}"),
            SIGN_REMEDY.into(),
        ),
        libc::ENOKEY => (
            format!("signature enforcement is on and the key that signed the kernel is not in the firmware kernel's keyrings; {signed}"),
            SIGN_REMEDY.into(),
        ),
        libc::ENODATA | libc::ENOPKG | libc::EBADMSG | libc::EMSGSIZE => (
            format!(
                "signature enforcement is on and the kernel's signature is {}; {signed}",
                match errno {
                    libc::ENODATA => "missing",
                    libc::ENOPKG => "made with an algorithm the firmware kernel lacks",
                    _ => "malformed",
                }
            ),
            SIGN_REMEDY.into(),
        ),
        libc::ENOEXEC if !s.image_problems.is_empty() => (
            format!("the image is not one kexec_file_load loads: {}", s.image_problems.join("; ")),
            "point the entry at the distribution's vmlinuz (a 64-bit bzImage), or reinstall the kernel package".into(),
        ),
        libc::ENOEXEC => (
            format!(
                "no kexec loader of the firmware kernel accepted the image ({}); on a machine running 5-level paging the image also needs XLF_5LEVEL",
                s.image.as_deref().unwrap_or("unknown image")
            ),
            "boot a 64-bit bzImage built with boot protocol 2.12 or later; the kernel log lines below name the check that failed".into(),
        ),
        libc::EINVAL if s.cmdline_limit.is_some_and(|l| s.cmdline_len > l as usize) => (
            format!(
                "the command line is too long: {} bytes, and this kernel takes at most {} through kexec_file_load",
                s.cmdline_len,
                s.cmdline_limit.unwrap_or(0)
            ),
            "shorten the entry's options or the append setting".into(),
        ),
        libc::EINVAL => (
            format!(
                "the firmware kernel refused an argument (command line {} of at most {} bytes, {} of initrds)",
                s.cmdline_len,
                s.cmdline_limit.map_or("unknown".into(), |l| l.to_string()),
                size(s.initrd_len)
            ),
            "the kernel log lines below name the check that failed; check the command line for stray quotes".into(),
        ),
        libc::ENOMEM | libc::EADDRNOTAVAIL => (
            format!(
                "out of memory for the new kernel: kernel {}, initrds {}, kernel init_size {}, MemAvailable {}{}",
                size(s.kernel_len),
                size(s.initrd_len),
                s.init_size.map_or("unknown".into(), |i| size(u64::from(i))),
                mib_or(s.mem_available),
                if errno == libc::EADDRNOTAVAIL {
                    "; no free physical memory range is large enough for one of the segments"
                } else {
                    ""
                }
            ),
            "use a smaller initrd (dracut --hostonly, MODULES=dep), drop extra initrds, or give the machine more memory; a crashkernel= reservation also takes memory away".into(),
        ),
        libc::ENOSYS => (
            "the firmware kernel has no kexec_file_load (built without CONFIG_KEXEC_FILE)".into(),
            "rebuild the firmware kernel with CONFIG_KEXEC_FILE=y".into(),
        ),
        libc::EBUSY => (
            "another kexec load is in progress".into(),
            "try again; if it persists, reboot the machine".into(),
        ),
        libc::EFBIG => (
            format!("the image is larger than the kernel reads ({})", size(s.kernel_len.max(s.initrd_len))),
            "use a smaller kernel or initrd".into(),
        ),
        _ => (
            format!("unexpected error from the kernel: {}", std::io::Error::from_raw_os_error(errno)),
            "the kernel log lines below may say more; please report this".into(),
        ),
    };
    Decoded {
        errno,
        name: errno_name(errno),
        cause,
        remedy,
    }
}

/// The active lockdown mode from `/sys/kernel/security/lockdown` (`[none] integrity
/// confidentiality`): the bracketed word. As PID 1, securityfs is mounted first if needed.
pub fn lockdown_mode() -> Option<String> {
    const PATH: &str = "/sys/kernel/security/lockdown";
    if !std::path::Path::new(PATH).exists() && std::process::id() == 1 {
        let _ = sys::mount::mount(
            "securityfs",
            "/sys/kernel/security",
            "securityfs",
            libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV,
            None,
        );
    }
    parse_lockdown(&std::fs::read_to_string(PATH).ok()?)
}

/// The bracketed word of a lockdown file.
pub fn parse_lockdown(text: &str) -> Option<String> {
    let start = text.find('[')?;
    let end = start + text.get(start..)?.find(']')?;
    text.get(start + 1..end).map(str::to_string)
}

/// Names of the flags `kexec_file_load` was called with.
pub fn flag_names(flags: libc::c_ulong) -> String {
    let mut names = Vec::new();
    if flags & KEXEC_FILE_UNLOAD != 0 {
        names.push("KEXEC_FILE_UNLOAD");
    }
    if flags & KEXEC_FILE_NO_INITRAMFS != 0 {
        names.push("KEXEC_FILE_NO_INITRAMFS");
    }
    if names.is_empty() {
        format!("{flags:#x}")
    } else {
        format!("{flags:#x} {}", names.join("|"))
    }
}

/// The flags [`load`] passes.
pub fn load_flags(has_initrd: bool) -> libc::c_ulong {
    if has_initrd {
        0
    } else {
        KEXEC_FILE_NO_INITRAMFS
    }
}

/// Watches `/dev/kmsg` from now on, to quote the kernel's own `kexec` messages after
/// a failed load (they name the check that failed: `kexec-bzImage64: Not a bzImage`).
pub struct KmsgWatch {
    file: Option<File>,
}

impl KmsgWatch {
    /// Opens `/dev/kmsg` positioned at its end.
    pub fn start() -> KmsgWatch {
        use std::io::Seek;
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .ok()
            .and_then(|mut f| f.seek(std::io::SeekFrom::End(0)).ok().map(|_| f));
        KmsgWatch { file }
    }

    /// Kernel messages since [`start`](KmsgWatch::start) that mention kexec, at most `max`.
    pub fn kexec_lines(&mut self, max: usize) -> Vec<String> {
        use std::io::Read;
        let mut out = Vec::new();
        let Some(f) = &mut self.file else {
            return out;
        };
        let mut buf = vec![0u8; 8192];
        // Each read returns one record; stop at EAGAIN (no more) or after a bound.
        for _ in 0..1000 {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let rec =
                        String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
                    // "PRI,SEQ,TIME,FLAGS;message\n"
                    let msg = rec.split_once(';').map_or(rec.as_str(), |(_, m)| m);
                    let msg = msg.lines().next().unwrap_or_default().trim();
                    if msg.contains("kexec") && !msg.starts_with("leapboot:") && out.len() < max {
                        out.push(msg.to_string());
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(_) => break,
            }
        }
        out
    }
}

fn memfd(name: &str, what: &'static str, data: &[u8]) -> Result<File, KexecError> {
    let err = |source| KexecError::Memfd { what, source };
    let mut f = sys::kexec::memfd(name).map_err(err)?;
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
    let flags = load_flags(i.is_some());
    sys::kexec::file_load(&k, i.as_ref(), &c, flags).map_err(|errno| KexecError::Load { errno })
}

/// Unloads a loaded kernel (after a failed handoff, before trying another entry).
pub fn unload() {
    sys::kexec::unload();
}

/// Jumps into the loaded kernel. Returns only on failure. Waits (a bounded time) for
/// the consoles to send what was logged, so the report is complete on a serial line.
pub fn exec() -> KexecError {
    crate::log::drain_consoles(std::time::Duration::from_secs(3));
    KexecError::Exec {
        errno: sys::kexec::reboot_into_loaded(),
    }
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
