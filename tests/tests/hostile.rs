//! Hostile disks: each scenario attaches a damaged, failing or stalling disk next to
//! a good one. leapboot must name the bad disk's problem on the console, keep going,
//! and boot the good disk's entry; no disk image may change (leapboot opens disks
//! read-only, and these tests attach them writable to prove it).

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot_e2e::{Scenario, TARGET_OPTIONS};
use leapboot_qemu::{DiskImage, Filesystem, Partition, default_timeout, file_digest, qemu_or_skip};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A GPT disk with an ESP holding one good BLS entry.
fn good_disk(s: &Scenario) -> DiskImage {
    let esp = Partition::esp(40)
        .file_from("/vmlinuz", &s.kernel.vmlinuz)
        .file("/target.img", s.target_initrd(&["good"]))
        .file(
            "/loader/entries/good.conf",
            format!(
                "title Good\nlinux /vmlinuz\ninitrd /target.img\noptions {TARGET_OPTIONS} good=1\n"
            ),
        );
    DiskImage::gpt(48).partition(esp)
}

/// Boots, expects the good entry to boot, and checks that no image changed.
fn expect_good_boot(s: &Scenario, images: &[PathBuf], expect_lines: &[&str]) -> String {
    let before: Vec<u64> = images.iter().map(|p| file_digest(p).unwrap()).collect();
    let mut vm = s.boot("");
    for line in expect_lines {
        vm.wait_for_any(line, default_timeout())
            .unwrap_or_else(|e| panic!("{}: {e}", s.name));
    }
    let cmdline = vm
        .wait_for("LEAPBOOT-TARGET-CMDLINE: ", default_timeout())
        .unwrap();
    assert!(cmdline.contains("good=1"), "{cmdline}");
    vm.wait_exit(default_timeout()).unwrap();
    let log = vm.log();
    for bad in [
        "Kernel panic - not syncing: Attempted to kill init",
        "leapboot: init: internal error",
    ] {
        assert!(
            !log.contains(bad),
            "{}: serial log contains {bad:?}",
            s.name
        );
    }
    let after: Vec<u64> = images.iter().map(|p| file_digest(p).unwrap()).collect();
    assert_eq!(before, after, "{}: a disk image changed", s.name);
    log
}

fn patch(path: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, offset).unwrap();
}

fn read_at(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(path).unwrap();
    let mut b = vec![0u8; len];
    f.read_exact_at(&mut b, offset).unwrap();
    b
}

fn debugfs(image: &Path, cmd: &str) {
    let out = Command::new("debugfs")
        .arg("-w")
        .arg("-R")
        .arg(cmd)
        .arg(image)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "debugfs {cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// (1) A GPT whose header CRC is wrong and whose entries and backup are cut off.
#[test]
fn corrupt_gpt_next_to_good_disk() {
    if !qemu_or_skip("corrupt_gpt_next_to_good_disk") {
        return;
    }
    let mut s = Scenario::new("hostile-gpt");
    let good = s.disk(&good_disk(&s));
    let bad = s.disk(&DiskImage::gpt(40).partition(Partition::esp(34).file("/x", "x")));
    patch(&bad, 512 + 16, &[0xde, 0xad, 0xbe, 0xef]); // primary header CRC
    // Cut the disk inside the entry array's sectors: no backup header, no entries.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&bad)
        .unwrap()
        .set_len(4 * 512)
        .unwrap();
    s.firmware("timeout = 0\n");
    expect_good_boot(
        &s,
        &[good, bad],
        &["corrupt GPT partition table: header at LBA 1: CRC is 0xefbeadde"],
    );
}

/// (2a) An ext4 whose superblock is damaged (magic intact, geometry nonsense).
#[test]
fn corrupt_ext4_superblock_next_to_good_disk() {
    if !qemu_or_skip("corrupt_ext4_superblock_next_to_good_disk") {
        return;
    }
    let mut s = Scenario::new("hostile-ext4-sb");
    let good = s.disk(&good_disk(&s));
    let bad = s.disk(
        &DiskImage::superfloppy(Filesystem::ext4(
            "broken",
            "0badbad0-0000-4000-8000-000000000001",
        ))
        .file("/boot/loader/entries/x.conf", "title X\nlinux /vmlinuz\n"),
    );
    patch(&bad, 1024 + 0x18, &[0xff, 0, 0, 0]); // s_log_block_size
    patch(&bad, 1024 + 0x20, &[0, 0, 0, 0]); // s_blocks_per_group
    s.firmware("timeout = 0\n");
    expect_good_boot(&s, &[good, bad], &["corrupt ext4 filesystem"]);
}

/// (2b) An ext4 with a directory hard-linked into itself and symlink loops where
/// entry files and grub.cfg are looked for.
#[test]
fn ext4_directory_and_symlink_loops_next_to_good_disk() {
    if !qemu_or_skip("ext4_directory_and_symlink_loops_next_to_good_disk") {
        return;
    }
    let mut s = Scenario::new("hostile-ext4-loop");
    let good = s.disk(&good_disk(&s));
    let image = DiskImage::superfloppy(Filesystem::ext4(
        "loopy",
        "0badbad0-0000-4000-8000-000000000002",
    ))
    .dir("/boot/loader/entries")
    .dir("/boot/grub")
    .dir("/loader/entries");
    let bad = s.disk(&image);
    debugfs(&bad, "ln /boot /boot/loader/entries/boot");
    debugfs(&bad, "symlink /boot/grub/grub.cfg /boot/grub/grub.cfg");
    debugfs(
        &bad,
        "symlink /loader/entries/self.conf /loader/entries/self.conf",
    );
    debugfs(&bad, "symlink /loader/loader.conf /loader/loader.conf");
    s.firmware("timeout = 0\n");
    expect_good_boot(
        &s,
        &[good, bad],
        &["volume: vdb: ext4 UUID=0badbad0-0000-4000-8000-000000000002"],
    );
}

/// (3) A FAT32 whose root directory's cluster chain loops: its first (full) cluster
/// points back at itself, so a reader following the chain never meets the end.
#[test]
fn fat_cluster_chain_loop_next_to_good_disk() {
    if !qemu_or_skip("fat_cluster_chain_loop_next_to_good_disk") {
        return;
    }
    let mut s = Scenario::new("hostile-fat-loop");
    let good = s.disk(&good_disk(&s));
    // Enough names that the root directory fills several clusters with no end marker.
    let mut image = DiskImage::superfloppy(Filesystem::fat("LOOPY"));
    for i in 0..64 {
        image = image.file(&format!("/file-with-a-long-name-{i:03}.txt"), "x");
    }
    let bad = s.disk(&image);
    let bpb = read_at(&bad, 0, 512);
    let le16 = |o: usize| u64::from(u16::from_le_bytes([bpb[o], bpb[o + 1]]));
    let le32 = |o: usize| {
        u64::from(u32::from_le_bytes([
            bpb[o],
            bpb[o + 1],
            bpb[o + 2],
            bpb[o + 3],
        ]))
    };
    assert_eq!(&bpb[82..87], b"FAT32", "this test needs a FAT32 image");
    let (bps, reserved, fats, fat_sectors, root) =
        (le16(11), le16(14), u64::from(bpb[16]), le32(36), le32(44));
    let fat_entry = |copy: u64, cluster: u64| (reserved + copy * fat_sectors) * bps + cluster * 4;
    // The first cluster is full (no end-of-directory marker in it): pointing its
    // FAT entry at itself makes the chain an endless loop over full clusters.
    for copy in 0..fats {
        patch(&bad, fat_entry(copy, root), &(root as u32).to_le_bytes());
    }
    s.firmware("timeout = 0\n");
    expect_good_boot(
        &s,
        &[good, bad],
        &["corrupt filesystem: more than 65536 entries"],
    );
}

/// (5) A disk whose every read fails (QEMU blkdebug error injection, EIO).
#[test]
fn io_errors_next_to_good_disk() {
    if !qemu_or_skip("io_errors_next_to_good_disk") {
        return;
    }
    let mut s = Scenario::new("hostile-eio");
    let good = s.disk(&good_disk(&s));
    let rules = s.dir.join("blkdebug.conf");
    std::fs::write(
        &rules,
        "[inject-error]\nevent = \"read_aio\"\nerrno = \"5\"\n",
    )
    .unwrap();
    let bad = s.raw_disk(&good_disk(&s), |p| {
        format!(
            "file=blkdebug:{}:{},format=raw,if=virtio",
            rules.display(),
            p.display()
        )
    });
    s.firmware("timeout = 0\n");
    expect_good_boot(&s, &[good, bad], &["failed: Input/output error"]);
}

/// (6) A disk that reads 1000 bytes a second, so one page takes four seconds: the menu does not wait for it
/// beyond its time limit, and the good entry boots.
#[test]
fn stalled_disk_does_not_hold_the_boot() {
    if !qemu_or_skip("stalled_disk_does_not_hold_the_boot") {
        return;
    }
    let mut s = Scenario::new("hostile-stall");
    let good = s.disk(&good_disk(&s));
    let slow = DiskImage::gpt(64)
        .partition(Partition::esp(40).file("/loader/entries/slow.conf", "title Slow\nlinux /k\n"));
    let bad = s.raw_disk(&slow, |p| {
        format!(
            "file={},format=raw,if=virtio,throttling.bps-total=1000",
            p.display()
        )
    });
    s.firmware("timeout = 0\n");
    expect_good_boot(&s, &[good, bad], &["did not answer within"]);
}

/// (4) Hostile GRUB configs next to a good disk: 50 MB of `function f { f }; f`, a
/// small config that recurses forever, and 100,000 menuentries. Each ends in an error
/// naming the file, quickly; nothing hangs.
#[test]
fn hostile_grub_configs_next_to_good_disk() {
    if !qemu_or_skip("hostile_grub_configs_next_to_good_disk") {
        return;
    }
    let mut s = Scenario::new("hostile-grub");
    let good = s.disk(&good_disk(&s));
    let huge = "function f { f }; f\n".repeat(50 * 1024 * 1024 / 20);
    let recursive = "function f { f; }\nf\nmenuentry after {\n linux /vmlinuz\n}\n";
    let many: String = (0..100_000)
        .map(|i| format!("menuentry e{i} {{ linux /k }}\n"))
        .collect();
    let bad = s.disk(
        &DiskImage::gpt(200)
            .partition(
                Partition::linux_ext4(80, "huge", "0badbad0-0000-4000-8000-000000000011")
                    .file("/boot/grub/grub.cfg", huge),
            )
            .partition(
                Partition::linux_ext4(16, "recurse", "0badbad0-0000-4000-8000-000000000012")
                    .file("/grub/grub.cfg", recursive),
            )
            .partition(
                Partition::linux_ext4(40, "many", "0badbad0-0000-4000-8000-000000000013")
                    .file("/boot/grub2/grub.cfg", many),
            ),
    );
    s.firmware("timeout = 0\n");
    let log = expect_good_boot(
        &s,
        &[good, bad],
        &[
            "/boot/grub/grub.cfg",
            "/grub/grub.cfg",
            "/boot/grub2/grub.cfg",
        ],
    );
    let grub_lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("leapboot: config: vdb"))
        .collect();
    let joined = grub_lines.join("\n");
    assert!(
        joined.contains("52428800 bytes is more than the limit"),
        "50 MB config not refused by size:\n{joined}"
    );
    assert!(
        joined.contains("function call nested deeper than"),
        "recursion not reported:\n{joined}"
    );
    assert!(
        joined.contains("/boot/grub2/grub.cfg"),
        "100,000 entries not reported:\n{joined}"
    );
}
