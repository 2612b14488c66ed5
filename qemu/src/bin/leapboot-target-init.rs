//! `/init` of the *target* system that leapboot kexecs into in tests.
//!
//! As PID 1 it mounts `/proc` (and a devtmpfs on `/dev` if `/dev/console`
//! cannot be opened), prints these lines to the console and powers off:
//!
//! ```text
//! LEAPBOOT-TARGET: booted Linux <uname -r>
//! LEAPBOOT-TARGET-CMDLINE: <contents of /proc/cmdline>
//! LEAPBOOT-TARGET-INITRDS: <sorted names of the files in /markers, or "none">
//! LEAPBOOT-TARGET: powering off
//! ```
//!
//! It never exits (PID 1 exiting panics the kernel): if power-off fails it
//! sleeps forever. Run as any other PID (e.g. by hand on a host) it only
//! prints the lines and exits, without mounting or powering anything off.

// The test target's PID 1 (mount, reboot): harness code, not the boot loader.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};

fn main() {
    let pid1 = std::process::id() == 1;
    if pid1 {
        mount("proc", "/proc", "proc");
    }
    let mut console = open_console();
    if console.is_none() && pid1 {
        mount("devtmpfs", "/dev", "devtmpfs");
        console = open_console();
    }
    let mut out = Output { console };

    out.line(&format!(
        "LEAPBOOT-TARGET: booted Linux {}",
        kernel_release()
    ));
    let cmdline = match std::fs::read_to_string("/proc/cmdline") {
        Ok(s) => s.trim_end_matches(['\n', '\0']).to_string(),
        Err(e) => format!("<cannot read /proc/cmdline: {e}>"),
    };
    out.line(&format!("LEAPBOOT-TARGET-CMDLINE: {cmdline}"));
    out.line(&format!("LEAPBOOT-TARGET-INITRDS: {}", markers()));
    out.line("LEAPBOOT-TARGET: powering off");

    if !pid1 {
        return;
    }
    // SAFETY: plain syscalls without pointers.
    unsafe {
        libc::sync();
        libc::reboot(libc::RB_POWER_OFF);
    }
    out.line(&format!(
        "LEAPBOOT-TARGET: power-off failed: {}",
        std::io::Error::last_os_error()
    ));
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

/// Writes lines to `/dev/console`, and to stdout unless stdout already is the
/// console (as it is for PID 1 started by the kernel), so nothing is doubled.
struct Output {
    console: Option<File>,
}

impl Output {
    fn line(&mut self, text: &str) {
        let line = format!("{text}\n");
        let console_rdev = self
            .console
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map(|m| m.rdev());
        if let Some(console) = &mut self.console {
            let _ = console.write_all(line.as_bytes());
            let _ = console.flush();
        }
        let stdout_rdev = std::fs::metadata("/proc/self/fd/1")
            .ok()
            .filter(|m| m.file_type().is_char_device())
            .map(|m| m.rdev());
        if console_rdev.is_none() || stdout_rdev != console_rdev {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(line.as_bytes());
            let _ = stdout.flush();
        }
    }
}

fn open_console() -> Option<File> {
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open("/dev/console")
        .ok()
}

fn mount(source: &str, target: &str, fstype: &str) {
    let _ = std::fs::create_dir_all(target);
    let c = |s: &str| std::ffi::CString::new(s).unwrap_or_default();
    let (source, target, fstype) = (c(source), c(target), c(fstype));
    // SAFETY: valid NUL-terminated strings, null data.
    unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        );
    }
}

fn kernel_release() -> String {
    // SAFETY: uname fills the zeroed struct; release is NUL-terminated.
    unsafe {
        let mut uts: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut uts) != 0 {
            return "<uname failed>".to_string();
        }
        CStr::from_ptr(uts.release.as_ptr())
            .to_string_lossy()
            .into_owned()
    }
}

fn markers() -> String {
    let mut names: Vec<String> = match std::fs::read_dir("/markers") {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(" ")
    }
}
