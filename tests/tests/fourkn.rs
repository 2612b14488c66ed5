//! End to end on a 4Kn disk (issue 10): a virtio disk with 4096-byte logical and
//! physical blocks (`logical_block_size=4096`), holding a GPT written in 4096-byte
//! sectors (header at byte 4096, partition LBAs in 4096-byte units), a FAT ESP with
//! 4096-byte sectors and a BLS entry, and an ext4 root with 4096-byte blocks. leapboot
//! as PID 1 takes the sector size from the kernel (`BLKSSZGET`), reads the table and
//! both filesystems, and boots the entry; the host tool reads the image file the same
//! way, its sector size probed from the GPT header's place.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot_e2e::{
    Scenario, TARGET_OPTIONS, assert_alive, firmware_initramfs, menu_from_log, target_cmdline,
    target_initrds,
};
use leapboot_qemu::{
    DiskImage, DiskSpec, Partition, Vm, VmConfig, default_append, default_timeout, qemu_or_skip,
};

const ROOT_UUID: &str = "4b4e0000-e2e0-4000-8000-00000000f00d";

#[test]
fn bls_entry_boots_from_a_4kn_disk() {
    if !qemu_or_skip("bls_entry_boots_from_a_4kn_disk") {
        return;
    }
    let mut s = Scenario::new("fourkn");
    let esp = Partition::esp(64)
        .file_from("/vmlinuz", &s.kernel.vmlinuz)
        .file("/target.img", s.target_initrd(&["fourkn"]))
        .file(
            "/loader/entries/fourkn.conf",
            format!(
                "title Four K\nversion 1\nlinux /vmlinuz\ninitrd /target.img\noptions {TARGET_OPTIONS} entry=fourkn\n"
            ),
        );
    let root = Partition::linux_ext4(32, "root4k", ROOT_UUID).file("/etc/hostname", "fourkn\n");
    let image = DiskImage::gpt(0)
        .sector_size(4096)
        .partition(esp)
        .partition(root);
    let disk = s.disk(&image);
    let bytes = std::fs::metadata(&disk).expect("disk image").len();

    let initrd = s.dir.join("firmware-initrd.img");
    std::fs::write(&initrd, firmware_initramfs(&s.kernel, "timeout = 0\n"))
        .expect("write firmware initrd");
    let cfg = VmConfig::new(&s.kernel.vmlinuz, &initrd)
        .append(default_append())
        .serial_log(s.dir.join("serial.log"))
        .disk(DiskSpec::virtio(&disk).block_size(4096));
    let mut vm = Vm::start(cfg).unwrap_or_else(|e| panic!("fourkn: starting QEMU: {e}"));

    vm.wait_for(
        &format!("vda: {bytes} bytes, 4096-byte sectors, GPT, 2 partition(s)"),
        default_timeout(),
    )
    .unwrap();
    vm.wait_for("volume: vda1: vfat", default_timeout())
        .unwrap();
    vm.wait_for(
        &format!("volume: vda2: ext4 UUID={ROOT_UUID} LABEL=root4k"),
        default_timeout(),
    )
    .unwrap();
    vm.wait_for(
        "timeout 0: booting default entry 'fourkn'",
        default_timeout(),
    )
    .unwrap();
    let scanned = vm.elapsed();
    let got = target_cmdline(&mut vm);
    let booted = vm.elapsed();
    assert_eq!(
        got,
        format!(r"initrd=\target.img {TARGET_OPTIONS} entry=fourkn leapboot.entry=fourkn")
    );
    assert_eq!(target_initrds(&mut vm), "fourkn");
    vm.wait_exit(default_timeout()).unwrap();
    let log = vm.log();
    assert_alive(&log);
    eprintln!(
        "fourkn: entry chosen {:.1} s, target command line {:.1} s after QEMU start",
        scanned.as_secs_f64(),
        booted.as_secs_f64()
    );

    let (pid1_ids, pid1_default) = menu_from_log(&log);
    assert_eq!(pid1_ids, ["fourkn"]);
    assert_eq!(pid1_default.as_deref(), Some("fourkn"));
    // The host tool reads the image file (sector size probed) the same way.
    assert_eq!(s.host_list(), (pid1_ids, pid1_default));
}
