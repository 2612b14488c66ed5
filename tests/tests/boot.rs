//! End to end: the Debian kernel boots leapboot as PID 1 from its initramfs;
//! leapboot finds the virtio disk, reads its partitions and filesystems, and kexecs
//! the same Debian kernel into the target initramfs, which prints its command line.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot_e2e::{
    Scenario, TARGET_OPTIONS, assert_alive, menu_from_log, target_cmdline, target_initrds,
};
use leapboot_qemu::{DiskImage, Partition, default_timeout, qemu_or_skip};

const ROOT_UUID: &str = "5a0e1c2d-7b3f-4e8a-9c6d-1f2e3a4b5c6d";

/// GPT disk: a FAT ESP with two BLS entries and loader.conf, an ext4 root with
/// a third entry in /boot/loader/entries whose paths are relative to /boot.
#[test]
fn bls_autoboot_default_entry_exact_cmdline() {
    if !qemu_or_skip("bls_autoboot_default_entry_exact_cmdline") {
        return;
    }
    let mut s = Scenario::new("bls-autoboot");
    let vmlinuz = s.kernel.vmlinuz.clone();
    let esp = Partition::esp(64)
        .file_from("/vmlinuz", &vmlinuz)
        .file("/target.img", s.target_initrd(&["esp"]))
        .file("/extra.img", s.marker("second"))
        .file(
            "/loader/entries/debian-first.conf",
            format!("title First\nversion 1.0\nlinux /vmlinuz\ninitrd /target.img\noptions {TARGET_OPTIONS} entry=first\n"),
        )
        .file(
            "/loader/entries/debian-second.conf",
            format!(
                "title Second\nversion 2.0\nlinux /vmlinuz\ninitrd /target.img\ninitrd /extra.img\noptions {TARGET_OPTIONS}\noptions entry=second\n"
            ),
        )
        .file("/loader/loader.conf", "timeout 3\ndefault debian-s*\n");
    let root = Partition::linux_ext4(64, "root", ROOT_UUID)
        .file_from("/boot/vmlinuz", &vmlinuz)
        .file("/boot/target.img", s.target_initrd(&["root"]))
        .file(
            "/boot/loader/entries/linux-root.conf",
            format!("title Root\nlinux /vmlinuz\ninitrd /target.img\noptions {TARGET_OPTIONS} entry=root\n"),
        );
    s.disk(&DiskImage::gpt(160).partition(esp).partition(root));
    s.firmware("timeout = 0\n");
    let mut vm = s.boot("");
    vm.wait_for("leapboot: init: leapboot", default_timeout())
        .unwrap();
    vm.wait_for(
        "timeout 0: booting default entry 'debian-second'",
        default_timeout(),
    )
    .unwrap();
    vm.wait_for("leapboot: kexec: handoff: command line", default_timeout())
        .unwrap();
    vm.wait_for("LEAPBOOT-TARGET: booted Linux", default_timeout())
        .unwrap();
    let got = target_cmdline(&mut vm);
    // leapboot.entry= tells the booted system which entry it is (as GRUB's BOOT_IMAGE=);
    // initrd= for each initrd in front, as systemd-boot passes a BLS entry's line.
    assert_eq!(
        got,
        format!(
            r"initrd=\target.img initrd=\extra.img {TARGET_OPTIONS} entry=second leapboot.entry=debian-second"
        )
    );
    assert_eq!(target_initrds(&mut vm), "esp second");
    vm.wait_exit(default_timeout()).unwrap();
    let log = vm.log();
    assert_alive(&log);

    // Every volume is named, and the root entry's paths resolved under /boot.
    assert!(log.contains("volume: vda1: vfat"), "ESP not logged");
    assert!(
        log.contains(&format!("volume: vda2: ext4 UUID={ROOT_UUID}")),
        "root not logged"
    );
    let (pid1_ids, pid1_default) = menu_from_log(&log);
    assert_eq!(pid1_ids, ["linux-root", "debian-second", "debian-first"]);
    assert_eq!(pid1_default.as_deref(), Some("debian-second"));

    // The host tool reads the same image the same way.
    let (host_ids, host_default) = s.host_list();
    assert_eq!(host_ids, pid1_ids);
    assert_eq!(host_default, pid1_default);
}

/// A disk with filesystems but no entries: leapboot names every volume it looked
/// at, stays alive, and answers a key (a rescan) afterwards.
#[test]
fn no_bootable_entry_stays_alive() {
    if !qemu_or_skip("no_bootable_entry_stays_alive") {
        return;
    }
    let mut s = Scenario::new("no-entry");
    let esp = Partition::esp(34).file("/README.txt", "nothing to boot here\n");
    let root = Partition::linux_ext4(16, "data", ROOT_UUID).file("/hello", "hi\n");
    s.disk(&DiskImage::gpt(64).partition(esp).partition(root));
    s.firmware("timeout = 0\n");
    let mut vm = s.boot("");
    let line = vm
        .wait_for("no bootable entry found", default_timeout())
        .unwrap();
    assert!(line.contains("vda1 (vfat UUID="), "{line}");
    assert!(
        line.contains(&format!("vda2 (ext4 UUID={ROOT_UUID})")),
        "{line}"
    );
    vm.wait_for("press 0-9 to boot an entry", default_timeout())
        .unwrap();
    vm.send(b"r").unwrap();
    vm.wait_for("no bootable entry found", default_timeout())
        .unwrap();
    vm.wait_for("press 0-9 to boot an entry", default_timeout())
        .unwrap();
    assert!(vm.is_running(), "QEMU exited: PID 1 died");
    assert_alive(&vm.log());
}

/// An entry whose kernel is not a kernel: the pre-flight check says so on the console
/// (no kexec_file_load is attempted) and leapboot stays in the menu.
#[test]
fn not_a_kernel_gives_decoded_error() {
    if !qemu_or_skip("not_a_kernel_gives_decoded_error") {
        return;
    }
    let mut s = Scenario::new("not-a-kernel");
    let esp = Partition::esp(34)
        .file(
            "/notakernel",
            "this is a text file, not a bzImage\n".repeat(100),
        )
        .file(
            "/loader/entries/bad.conf",
            format!("title Bad\nlinux /notakernel\noptions {TARGET_OPTIONS}\n"),
        );
    s.disk(&DiskImage::gpt(64).partition(esp));
    s.firmware("timeout = 0\n");
    let mut vm = s.boot("");
    vm.wait_for(
        "handoff: kernel /notakernel (3500 bytes,",
        default_timeout(),
    )
    .unwrap();
    let err = vm
        .wait_for("handoff: check failed: ", default_timeout())
        .unwrap();
    assert!(
        err.contains("/notakernel is not a bootable kernel image: text"),
        "{err}"
    );
    vm.wait_for("press 0-9 to boot an entry", default_timeout())
        .unwrap();
    vm.send(b"r").unwrap();
    vm.wait_for("menu: 1 entry:", default_timeout()).unwrap();
    vm.wait_for("press 0-9 to boot an entry", default_timeout())
        .unwrap();
    assert!(vm.is_running(), "QEMU exited: PID 1 died");
    assert_alive(&vm.log());
}
