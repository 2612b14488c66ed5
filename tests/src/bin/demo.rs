//! `scripts/demo`: builds a demo disk and boots it with leapboot under QEMU, the
//! serial console in this terminal. Quit QEMU with Ctrl-a x.
//!
//! The disk: GPT, a FAT ESP with two Boot Loader Specification entries and a
//! loader.conf, an ext4 root with a third entry under /boot/loader/entries. Every
//! entry boots the same Debian kernel into a small target system that prints its
//! banner and its command line, then powers off.

use leapboot_e2e::{Scenario, TARGET_OPTIONS};
use leapboot_qemu::{DiskImage, Partition, default_append, vm::QBOOT_ROM};
use std::os::unix::process::CommandExt;
use std::process::Command;

fn main() {
    let timeout = std::env::args().nth(1).unwrap_or_else(|| "5".to_string());
    let mut s = Scenario::new("demo");
    let vmlinuz = s.kernel.vmlinuz.clone();
    let entry = |title: &str, version: &str, initrds: &[&str], opts: &str| {
        let mut t = format!("title {title}\nversion {version}\nlinux /vmlinuz\n");
        for i in initrds {
            t.push_str(&format!("initrd {i}\n"));
        }
        t.push_str(&format!("options {TARGET_OPTIONS} {opts}\n"));
        t
    };
    let esp = Partition::esp(64)
        .file_from("/vmlinuz", &vmlinuz)
        .file("/target.img", s.target_initrd(&["esp"]))
        .file("/extra.img", s.marker("extra"))
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
        .file("/boot/target.img", s.target_initrd(&["root"]))
        .file(
            "/boot/loader/entries/fedora-root.conf",
            entry("Root filesystem entry", "1", &["/target.img"], "demo=root"),
        );
    let disk = s.disk(&DiskImage::gpt(160).partition(esp).partition(root));
    s.firmware(&format!("timeout = {timeout}\n"));
    let initrd = s.dir.join("firmware-initrd.img");
    eprintln!(
        "demo: disk {} and firmware initramfs {}",
        disk.display(),
        initrd.display()
    );
    eprintln!(
        "demo: booting under QEMU (TCG); leapboot waits {timeout} s, any key stops the countdown; Ctrl-a x quits"
    );
    let err = Command::new("qemu-system-x86_64")
        .args([
            "-accel",
            "tcg",
            "-m",
            "1024",
            "-bios",
            QBOOT_ROM,
            "-nographic",
            "-no-reboot",
        ])
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
        .exec();
    eprintln!("demo: cannot run qemu-system-x86_64: {err}");
    std::process::exit(1);
}
