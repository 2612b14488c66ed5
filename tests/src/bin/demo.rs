//! `scripts/demo`: builds a demo disk and boots it with leapboot under QEMU, the
//! serial console in this terminal. Quit QEMU with Ctrl-a x.
//!
//! Usage: `leapboot-demo TIMEOUT` (seconds the menu counts down; `-1` waits for a
//! key). `scripts/demo` builds it, runs it and restores the terminal afterwards,
//! using the serial log this writes to `target/e2e/demo/serial.log`.
//!
//! The disk: GPT, a FAT ESP with two Boot Loader Specification entries and a
//! loader.conf, an ext4 root with a third entry under /boot/loader/entries. Every
//! entry boots the same Debian kernel into a small target system that prints its
//! banner and its command line, then powers off.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot_e2e::{Scenario, TARGET_OPTIONS};
use leapboot_qemu::{Accel, DiskImage, Partition, default_append, vm::QBOOT_ROM};
use std::io::{IsTerminal, Write};
use std::process::Command;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// Runs one preparation step, saying what it is and how long it took; on a
/// terminal the line counts the seconds while the step runs.
fn step<T>(what: &str, work: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let tty = std::io::stderr().is_terminal();
    eprint!("demo: {what} ...");
    let (done, ticks) = channel::<()>();
    let ticker = tty.then(|| {
        let what = what.to_string();
        std::thread::spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = ticks.recv_timeout(Duration::from_secs(1)) {
                eprint!("\rdemo: {what} ... {} s", start.elapsed().as_secs());
            }
        })
    });
    let out = work();
    drop(done);
    if let Some(t) = ticker {
        let _ = t.join();
        eprint!("\r\x1b[K");
        eprint!("demo: {what} ...");
    }
    eprintln!(" {:.1} s", start.elapsed().as_secs_f64());
    out
}

fn usage() -> ! {
    eprintln!(
        "usage: scripts/demo [TIMEOUT]   (seconds before the default boots; -1 waits for a key)"
    );
    std::process::exit(2);
}

fn main() {
    let timeout = match std::env::args().nth(1) {
        None => 30,
        Some(arg) => match arg.parse::<i64>() {
            Ok(t) if t >= -1 => t,
            _ => usage(),
        },
    };
    let accel = Accel::from_env().unwrap_or_else(|e| {
        eprintln!("demo: {e}");
        std::process::exit(2);
    });
    let cache = leapboot_qemu::kernel::cache_dir();
    let mut s = step(
        &format!(
            "Debian kernel (the first run downloads it into {})",
            cache.display()
        ),
        || Scenario::new("demo"),
    );
    let vmlinuz = s.kernel.vmlinuz.clone();
    let entry = |title: &str, version: &str, initrds: &[&str], opts: &str| {
        let mut t = format!("title {title}\nversion {version}\nlinux /vmlinuz\n");
        for i in initrds {
            t.push_str(&format!("initrd {i}\n"));
        }
        t.push_str(&format!("options {TARGET_OPTIONS} {opts}\n"));
        t
    };
    let (esp_initrd, root_initrd, extra) = step("target system initramfs", || {
        (
            s.target_initrd(&["esp"]),
            s.target_initrd(&["root"]),
            s.marker("extra"),
        )
    });
    let esp = Partition::esp(64)
        .file_from("/vmlinuz", &vmlinuz)
        .file("/target.img", esp_initrd)
        .file("/extra.img", extra)
        .file(
            "/loader/entries/demo-6.1.conf",
            entry(
                "Demo Linux 6.1",
                "6.1",
                &["/target.img", "/extra.img"],
                "demo=new",
            ),
        )
        .file(
            "/loader/entries/demo-5.10.conf",
            entry("Demo Linux 5.10", "5.10", &["/target.img"], "demo=old"),
        )
        .file("/loader/loader.conf", "default demo-*\n");
    let root = Partition::linux_ext4(64, "root", "5a0e1c2d-7b3f-4e8a-9c6d-1f2e3a4b5c6d")
        .file_from("/boot/vmlinuz", &vmlinuz)
        .file("/boot/target.img", root_initrd)
        .file(
            "/boot/loader/entries/fedora-root.conf",
            entry("Root filesystem entry", "1", &["/target.img"], "demo=root"),
        );
    let disk = step(
        "demo disk: GPT, FAT ESP with two BLS entries, ext4 root with one",
        || s.disk(&DiskImage::gpt(160).partition(esp).partition(root)),
    );
    step(
        "firmware initramfs: leapboot as PID 1, virtio modules",
        || {
            s.firmware(&format!("timeout = {timeout}\n"));
        },
    );
    let initrd = s.dir.join("firmware-initrd.img");
    let log = s.dir.join("serial.log");
    let (accel_name, accel_args): (&str, &[&str]) = match accel {
        Accel::Tcg => ("TCG", &["-accel", "tcg"]),
        Accel::Kvm => ("KVM", &["-accel", "kvm", "-cpu", "host"]),
    };
    let countdown = match timeout {
        -1 => "waits for a key".to_string(),
        0 => "boots the default at once, without a menu".to_string(),
        t => format!("boots the default after {t} s unless a key is pressed"),
    };
    eprintln!("demo: disk {}", disk.display());
    eprintln!(
        "demo: booting QEMU ({accel_name}); in a few seconds leapboot shows its menu, and {countdown}.\n\
         demo:   ↑ ↓ move, Enter boots, e edits the command line, d boots with handoff debugging,\n\
         demo:   l shows the log, h the help; the booted system prints its command line and powers off.\n\
         demo:   scripts/demo -1 waits for a key, scripts/demo 5 boots after 5 s.\n\
         demo:   Quit QEMU at any time with Ctrl-a x."
    );
    let _ = std::io::stderr().flush();
    // -nographic's `-serial mon:stdio`, spelled out to add a log of what the guest
    // wrote: scripts/demo reads it to know whether the menu was on screen at the end.
    let status = Command::new("qemu-system-x86_64")
        .args(accel_args)
        .args(["-m", "1024", "-bios", QBOOT_ROM, "-display", "none"])
        .arg("-chardev")
        .arg(format!(
            "stdio,id=console,mux=on,signal=off,logfile={}",
            log.display()
        ))
        .args(["-serial", "chardev:console", "-mon", "chardev=console"])
        .arg("-no-reboot")
        .arg("-kernel")
        .arg(&s.kernel.vmlinuz)
        .arg("-initrd")
        .arg(&initrd)
        .arg("-append")
        .arg(default_append())
        .arg("-drive")
        .arg(format!(
            "file={},format=raw,if=virtio,readonly=on",
            disk.display()
        ))
        .status();
    match status {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(err) => {
            eprintln!("demo: cannot run qemu-system-x86_64: {err}");
            std::process::exit(1);
        }
    }
}
