//! Every system call leapboot makes that needs `unsafe`, each behind a safe function
//! with its `SAFETY` note; nothing else in the crate may use `unsafe` (`lib.rs` forbids
//! it module by module). Calls the standard library already wraps safely (`read`,
//! `write`, `open`) are made through it, not here.
//!
//! - [`block`]: a block device's size and logical sector size (`BLKGETSIZE64`,
//!   `BLKSSZGET`);
//! - [`tty`]: termios, window size, output queue, `poll(2)` over consoles;
//! - [`mount()`](mount::mount): `mount(2)`;
//! - [`kexec`]: `memfd_create`, `kexec_file_load`, `reboot(LINUX_REBOOT_CMD_KEXEC)`;
//! - [`system`]: `uname`, `CLOCK_BOOTTIME`, `finit_module`, the kernel console level;
//! - [`fsflags`]: inode flags (`FS_IOC_GETFLAGS`/`FS_IOC_SETFLAGS`), to remove an
//!   immutable efivarfs variable.

#![allow(unsafe_code)]

pub mod block;
pub mod fsflags;
pub mod kexec;
pub mod mount;
pub mod system;
pub mod tty;

/// The result of a call that returns 0 or -1 with `errno`.
fn check(r: libc::c_long) -> std::io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
