//! Self-tests of the harness: the target system boots directly under QEMU
//! (no leapboot involved), and disk images contain what was asked for and
//! are reproducible.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use leapboot_qemu::{
    DiskImage, DiskSpec, Filesystem, Firmware, PartType, Partition, Vm, VmConfig, debian_kernel,
    default_append, default_timeout, file_digest, marker_initrd, qemu_or_skip, target_initramfs,
};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("leapboot-qemu-selftest");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn target_boots_directly_and_powers_off() {
    if !qemu_or_skip("target_boots_directly_and_powers_off") {
        return;
    }
    let kernel = debian_kernel().unwrap();
    // The target initramfs carries marker a; a second, concatenated initrd
    // carries marker b: the target must see both.
    let mut initrd = target_initramfs(&kernel, &["a"]).unwrap();
    initrd.extend(marker_initrd("b").unwrap());
    let initrd_path = scratch("direct-target.cpio.gz");
    std::fs::write(&initrd_path, &initrd).unwrap();

    let append = format!("{} leapboot.selftest=direct", default_append());
    let config = VmConfig::new(&kernel.vmlinuz, &initrd_path)
        .append(append.clone())
        .firmware(Firmware::Qboot)
        .serial_log(scratch("direct-target.log"));
    let started = Instant::now();
    let mut vm = Vm::start(config).unwrap();
    let banner = vm
        .wait_for("LEAPBOOT-TARGET: booted Linux", default_timeout())
        .unwrap();
    let to_banner = started.elapsed();
    assert!(banner.ends_with(&kernel.version), "{banner}");
    let cmdline = vm
        .wait_for("LEAPBOOT-TARGET-CMDLINE:", default_timeout())
        .unwrap();
    assert!(cmdline.contains(&append), "{cmdline}");
    let initrds = vm
        .wait_for("LEAPBOOT-TARGET-INITRDS:", default_timeout())
        .unwrap();
    assert_eq!(initrds, "LEAPBOOT-TARGET-INITRDS: a b");
    vm.wait_for("LEAPBOOT-TARGET: powering off", default_timeout())
        .unwrap();
    let status = vm.wait_exit(default_timeout()).unwrap();
    eprintln!(
        "direct target boot (TCG, qboot): banner after {:.1?}, QEMU exited ({status}) after {:.1?}",
        to_banner,
        started.elapsed()
    );
    // The whole log is searchable afterwards, and the cursor moved past the
    // banner.
    assert!(vm.find_in_log("LEAPBOOT-TARGET: booted Linux").is_some());
    assert!(
        vm.wait_for(
            "LEAPBOOT-TARGET: booted Linux",
            std::time::Duration::from_secs(1)
        )
        .is_err()
    );
    let log = std::fs::read_to_string(vm.log_path()).unwrap();
    assert!(log.contains("LEAPBOOT-TARGET-INITRDS: a b"));
}

#[test]
fn waiting_for_a_missing_line_reports_the_log_tail() {
    if !qemu_or_skip("waiting_for_a_missing_line_reports_the_log_tail") {
        return;
    }
    let kernel = debian_kernel().unwrap();
    let initrd_path = scratch("missing-line.cpio.gz");
    std::fs::write(&initrd_path, target_initramfs(&kernel, &[]).unwrap()).unwrap();
    // Disks on both buses, one read-only: QEMU must accept the -drive lines
    // (the target ignores them).
    let disk = scratch("missing-line.img");
    DiskImage::gpt(0)
        .partition(Partition::esp(8))
        .write(&disk)
        .unwrap();
    let before = file_digest(&disk).unwrap();
    let disk2 = scratch("missing-line-2.img");
    std::fs::copy(&disk, &disk2).unwrap();
    let config = VmConfig::new(&kernel.vmlinuz, &initrd_path)
        .firmware(Firmware::SeaBios)
        .disk(DiskSpec::virtio(&disk).readonly(true))
        .ide_disk(&disk2)
        .serial_log(scratch("missing-line.log"));
    let mut vm = Vm::start(config).unwrap();
    // The target powers off, so QEMU exits long before the timeout.
    let started = Instant::now();
    let err = vm
        .wait_for("THIS NEVER APPEARS", default_timeout())
        .unwrap_err()
        .to_string();
    assert!(started.elapsed() < default_timeout());
    eprintln!(
        "SeaBIOS boot ended after {:.1?}; the error reads:\n{err}",
        started.elapsed()
    );
    assert!(err.contains("QEMU exited"), "{err}");
    assert!(err.contains("`THIS NEVER APPEARS`"), "{err}");
    assert!(err.contains("LEAPBOOT-TARGET-INITRDS: none"), "{err}");
    assert_eq!(file_digest(&disk).unwrap(), before);
}

fn esp_and_root() -> DiskImage {
    DiskImage::gpt(0)
        .partition(
            Partition::esp(40)
                .file("loader/loader.conf", "timeout 3\ndefault debian\n")
                .file(
                    "loader/entries/debian.conf",
                    "title Debian\nlinux /vmlinuz\n",
                )
                .file("EFI/BOOT/BOOTX64.EFI", vec![0x4d, 0x5a])
                .dir("empty"),
        )
        .partition(
            Partition::linux_ext4(16, "root", "6e0a6a26-3d93-4f6b-9d3c-a3b1a4a4d001")
                .file("etc/os-release", "ID=debian\n")
                .file("boot/grub/grub.cfg", "menuentry 'Debian' {\n}\n"),
        )
        .partition(Partition::raw(PartType::BiosBoot, 1).name("bios"))
}

/// Copies `len` bytes at `offset` of `image` into a new file.
fn extract(image: &Path, offset: u64, len: u64, out: &Path) {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(image).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut buf = Vec::new();
    f.take(len).read_to_end(&mut buf).unwrap();
    std::fs::write(out, buf).unwrap();
}

#[test]
fn gpt_disk_has_the_files_and_is_reproducible() {
    let disk = esp_and_root();
    let a = scratch("gpt-a.img");
    let b = scratch("gpt-b.img");
    let started = Instant::now();
    disk.write(&a).unwrap();
    eprintln!(
        "GPT image (40 MiB FAT32 ESP + 16 MiB ext4 + 1 MiB BIOS boot) built in {:.2?}",
        started.elapsed()
    );
    // Different time, different path: same bytes.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    disk.write(&b).unwrap();
    assert_eq!(file_digest(&a).unwrap(), file_digest(&b).unwrap());
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap());
    assert_eq!(
        std::fs::metadata(&a).unwrap().len(),
        (1 + 40 + 16 + 1 + 1) << 20
    );

    let table = tool("sgdisk", &["-p", a.to_str().unwrap()]);
    assert!(
        table.contains(&format!(
            "Disk identifier (GUID): {}",
            disk.disk_guid().to_uppercase()
        )),
        "{table}"
    );
    for want in ["EF00  ESP", "8300  root", "EF02  bios"] {
        assert!(table.contains(want), "{want} missing in {table}");
    }
    let info = tool("sgdisk", &["-i", "2", a.to_str().unwrap()]);
    assert!(
        info.contains(&disk.partuuid(2).unwrap().to_uppercase()),
        "{info}"
    );

    let esp = format!("{}@@{}", a.display(), disk.partition_offset(1).unwrap());
    let listing = tool("mdir", &["-i", &esp, "-b", "-/", "::/"]);
    for want in [
        "::/loader/loader.conf",
        "::/loader/entries/debian.conf",
        "::/EFI/BOOT/BOOTX64.EFI",
        "::/empty/",
    ] {
        assert!(listing.contains(want), "{want} missing in {listing}");
    }
    let conf = tool("mtype", &["-i", &esp, "::/loader/entries/debian.conf"]);
    assert_eq!(conf, "title Debian\nlinux /vmlinuz\n");
    let fsinfo = tool("minfo", &["-i", &esp]);
    assert!(fsinfo.contains("ESP"), "{fsinfo}");

    let root = scratch("gpt-a-root.ext4");
    extract(&a, disk.partition_offset(2).unwrap(), 16 << 20, &root);
    let root_s = root.to_str().unwrap();
    let ls = tool("debugfs", &["-R", "ls -p /boot/grub", root_s]);
    assert!(ls.contains("/grub.cfg/"), "{ls}");
    let cat = tool("debugfs", &["-R", "cat /etc/os-release", root_s]);
    assert_eq!(cat, "ID=debian\n");
    let stats = tool("dumpe2fs", &["-h", root_s]);
    assert!(
        stats.contains("6e0a6a26-3d93-4f6b-9d3c-a3b1a4a4d001"),
        "{stats}"
    );
    assert!(stats.contains("Filesystem volume name:   root"), "{stats}");
}

#[test]
fn mbr_and_superfloppy_images() {
    let host_file = scratch("host-file.txt");
    std::fs::write(&host_file, "from the host\n").unwrap();
    let mbr = DiskImage::mbr(0)
        .partition(
            Partition::esp(8)
                .bootable(true)
                .file_from("vmlinuz", &host_file),
        )
        .partition(Partition::linux_ext4(
            8,
            "data",
            "11111111-2222-4333-8444-555555555555",
        ));
    let path = scratch("mbr.img");
    mbr.write(&path).unwrap();
    let dump = tool("sfdisk", &["-d", path.to_str().unwrap()]);
    assert!(
        dump.contains(&format!("label-id: 0x{:08x}", mbr.mbr_disk_id())),
        "{dump}"
    );
    assert!(
        dump.contains("start=        2048, size=       16384, type=ef, bootable"),
        "{dump}"
    );
    assert!(dump.contains("type=83"), "{dump}");
    let esp = format!("{}@@{}", path.display(), 1 << 20);
    assert_eq!(
        tool("mtype", &["-i", &esp, "::/vmlinuz"]),
        "from the host\n"
    );

    let floppy = DiskImage::superfloppy(Filesystem::fat("FLOPPY"))
        .size_mib(16)
        .file("boot/entry.conf", "hello\n");
    let path = scratch("superfloppy.img");
    floppy.write(&path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 16 << 20);
    let p = path.to_str().unwrap();
    assert_eq!(tool("mtype", &["-i", p, "::/boot/entry.conf"]), "hello\n");
    // No partition table: blkid sees a bare filesystem.
    let probe = tool("blkid", &["-p", "-o", "export", p]);
    assert!(probe.contains("TYPE=vfat"), "{probe}");
    let uuid = Filesystem::fat("FLOPPY").uuid().unwrap();
    assert!(probe.contains(&format!("UUID={uuid}")), "{probe}");
    assert!(!probe.contains("PTTYPE"), "{probe}");

    let ext = DiskImage::superfloppy(
        Partition::from(Filesystem::ext4(
            "whole",
            "22222222-3333-4444-8555-666666666666",
        ))
        .file("x", "y"),
    )
    .size_mib(8);
    let path = scratch("superfloppy-ext4.img");
    ext.write(&path).unwrap();
    let cat = tool("debugfs", &["-R", "cat /x", path.to_str().unwrap()]);
    assert_eq!(cat, "y");
}
