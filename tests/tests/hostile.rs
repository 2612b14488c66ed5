//! Hostile disks: each scenario attaches a damaged, failing or stalling disk next to
//! a good one. leapboot must name the bad disk's problem on the console, keep going,
//! and boot the good disk's entry; no disk image may change (leapboot opens disks
//! read-only, and these tests attach them writable to prove it).
//!
//! The newer readers (XFS, Btrfs, LVM2, md RAID, LUKS) get one VM with a bad disk of
//! each kind beside the good one ([`new_readers_hostile_disks_next_to_good_disk`]):
//! images the real tools made (`mkfs.xfs`, `mkfs.btrfs`, and the stacked-storage
//! fixtures of `leapboot_qemu::fixtures`), edited with the byte edits of
//! `leapboot_qemu::hostile` that the host-level tests use too.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot_e2e::{Scenario, TARGET_OPTIONS};
use leapboot_qemu::fixtures::{self, StackedImages};
use leapboot_qemu::hostile::{self, LvmMetadata};
use leapboot_qemu::{
    DiskImage, Filesystem, PartType, Partition, default_timeout, file_digest, qemu_or_skip,
};
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
    hostile::write_at(path, offset, bytes).unwrap();
}

fn read_at(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    hostile::read_at(path, offset, len).unwrap()
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

/// True when the XFS and Btrfs images can be made here (`mkfs.xfs` and `xfs_db`,
/// `mkfs.btrfs`); otherwise says why the test is skipped, or fails it under
/// `LEAPBOOT_REQUIRE_QEMU=1`.
fn xfs_btrfs_or_skip(test: &str, images: &[&DiskImage]) -> bool {
    let mut missing: Vec<String> = images
        .iter()
        .flat_map(|i| i.missing_requirements())
        .collect();
    if !Command::new("xfs_db")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        missing.push("xfs_db (package xfsprogs)".into());
    }
    if missing.is_empty() {
        return true;
    }
    let why = format!("{test}: needs {}", missing.join(", "));
    assert!(
        std::env::var("LEAPBOOT_REQUIRE_QEMU").as_deref() != Ok("1"),
        "{why} and LEAPBOOT_REQUIRE_QEMU=1; run scripts/setup"
    );
    eprintln!("SKIPPED {why}");
    false
}

/// A bare XFS (300 MiB, the least xfsprogs makes) whose `/loader/entries` holds
/// 6000 long names (a directory in B-tree format) and `/boot/loader/entries` 60 (one
/// extent): none ends in `.conf`, so only the directories themselves are read.
fn xfs_base() -> DiskImage {
    let mut image = DiskImage::superfloppy(Partition::new(
        PartType::Linux,
        300,
        Filesystem::xfs("hostile", "0badbad0-0000-4000-8000-0000000000f5"),
    ));
    for i in 0..6000 {
        image = image.file(
            &format!("/loader/entries/not-an-entry-with-a-much-longer-name-{i}"),
            "",
        );
    }
    for i in 0..60 {
        image = image.file(&format!("/boot/loader/entries/not-an-entry-{i}"), "");
    }
    image
}

/// A bare Btrfs (`mkfs.btrfs --rootdir`) with one BLS entry.
fn btrfs_base() -> DiskImage {
    DiskImage::superfloppy(Partition::new(
        PartType::Linux,
        128,
        Filesystem::btrfs("hostile", "0badbad0-0000-4000-8000-0000000000b7"),
    ))
    .file(
        "/boot/loader/entries/btrfs.conf",
        "title Btrfs\nlinux /boot/vmlinuz\n",
    )
    .file("/boot/vmlinuz", "not a kernel")
}

/// Edits the whole image at `path` in memory with `edit` and writes it back.
fn edit_image(path: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut img = std::fs::read(path).unwrap();
    edit(&mut img);
    std::fs::write(path, img).unwrap();
}

/// One bad disk: its image and, for each problem it holds, the device leapboot
/// names it by and the words that must follow on one console line.
struct Bad {
    image: PathBuf,
    problems: Vec<(String, &'static str)>,
}

/// Attaches copies of images as the next virtio disks and knows their device names
/// (the good disk is `vda`; copies follow from `vdb` in order).
struct Attach<'a> {
    s: &'a mut Scenario,
    next: char,
}

impl Attach<'_> {
    /// A copy of `from` as the next disk: its path and its device name.
    fn copy(&mut self, from: &Path) -> (PathBuf, String) {
        let device = format!("vd{}", self.next);
        self.next = char::from(self.next as u8 + 1);
        (self.s.disk_copy(from), device)
    }
}

/// The XFS and Btrfs disks: made once in the scenario's directory, then copied and
/// edited.
fn xfs_btrfs_bad_disks(at: &mut Attach<'_>) -> Vec<Bad> {
    let base_xfs = at.s.dir.join("xfs-base.img");
    xfs_base().write(&base_xfs).unwrap();
    let base_btrfs = at.s.dir.join("btrfs-base.img");
    btrfs_base().write(&base_btrfs).unwrap();
    let mut out = Vec::new();

    let (image, d) = at.copy(&base_xfs);
    hostile::xfs_break_superblock_crc(&image).unwrap();
    let problems = vec![(d, "corrupt xfs filesystem: superblock checksum mismatch")];
    out.push(Bad { image, problems });

    let (image, d) = at.copy(&base_xfs);
    hostile::xfs_bmbt_self_loop(&image, "/loader/entries").unwrap();
    let problems = vec![(
        d,
        "/loader/entries: corrupt filesystem: gave up after reading",
    )];
    out.push(Bad { image, problems });

    let (image, d) = at.copy(&base_xfs);
    let (dir, field) = ("/boot/loader/entries", "u3.bmx[0].blockcount");
    hostile::xfs_set_inode_field(&image, dir, field, 2_097_151).unwrap();
    let problems = vec![(d, "/boot/loader/entries: corrupt filesystem")];
    out.push(Bad { image, problems });

    let (image, d) = at.copy(&base_btrfs);
    edit_image(&image, |b| {
        hostile::btrfs_break_superblock_csum(b, &hostile::BTRFS_SUPERBLOCKS);
    });
    let problems = vec![(
        d,
        "corrupt btrfs filesystem: no superblock copy with a valid crc32c",
    )];
    out.push(Bad { image, problems });

    let (image, d) = at.copy(&base_btrfs);
    edit_image(&image, |b| {
        assert!(
            hostile::btrfs_fs_tree_self_loop(b) > 0,
            "no file-tree blocks"
        );
    });
    let problems = vec![(d, "corrupt B-tree (infinite_recursion)")];
    out.push(Bad { image, problems });
    out
}

/// The stacked-storage disks, copied from the fixtures and edited: an LVM PV whose
/// metadata maps the root LV past the PV's end beside the VG's other PV, whose copy
/// of the metadata does not parse; both members of the RAID arrays, whose 1.2
/// superblocks disagree on the member count; the LUKS disk with garbage after its
/// LUKS2 header's magic.
fn stacked_bad_disks(at: &mut Attach<'_>, im: &StackedImages) -> Vec<Bad> {
    let mut out = Vec::new();

    let (image, _) = at.copy(&im.lvm_a());
    let (pv, _) = hostile::gpt_partition(&image, 2).unwrap();
    let m = LvmMetadata::read(&image, pv).unwrap();
    let past_end = m.edited("\"pv0\", 0\n", "\"pv0\", 28\n").unwrap();
    m.write(&past_end, None).unwrap();
    let problems = vec![(
        "debian--vg-root".to_string(),
        "maps extents 28..36 past the end of PV pv0 (31 extents)",
    )];
    out.push(Bad { image, problems });

    let (image, d) = at.copy(&im.lvm_b());
    let (pv, _) = hostile::gpt_partition(&image, 1).unwrap();
    let m = LvmMetadata::read(&image, pv).unwrap();
    let unparsable = m
        .text
        .replacen("logical_volumes {", "logical_volumes = {", 1);
    m.write(&unparsable, None).unwrap();
    let problems = vec![(format!("{d}1"), "expected a value, found '{'")];
    out.push(Bad { image, problems });

    let (image, _) = at.copy(&im.raid_a());
    let problems = vec![("md/boot12".to_string(), "disagree: 3 members against 2")];
    out.push(Bad { image, problems });
    let (image, _) = at.copy(&im.raid_b());
    let (p1, _) = hostile::gpt_partition(&image, 1).unwrap();
    hostile::edit_md_v1(&image, p1 + hostile::MD_V12_SUPERBLOCK_AT, |sb| {
        sb[92..96].copy_from_slice(&3u32.to_le_bytes()); // raid_disks
    })
    .unwrap();
    out.push(Bad {
        image,
        problems: Vec::new(),
    });

    let (image, d) = at.copy(&im.luks());
    let (p2, _) = hostile::gpt_partition(&image, 2).unwrap();
    hostile::luks_garbage_after_magic(&image, p2).unwrap();
    let problems = vec![(
        format!("{d}2"),
        "LUKS header: version 32639 is not LUKS1 or LUKS2",
    )];
    out.push(Bad { image, problems });
    out
}

/// A line of `log` that names `device` (followed by `:` or a blank) and `what`.
fn named_line<'a>(log: &'a str, device: &str, what: &str) -> Option<&'a str> {
    log.lines().find(|l| {
        l.contains(what) && (l.contains(&format!("{device}:")) || l.contains(&format!("{device} ")))
    })
}

/// (7) The newer readers, one VM: three XFS disks (a superblock whose CRC is wrong,
/// a directory whose B-tree block points at itself, a directory extent of 2^21 - 1
/// blocks), two Btrfs (every superblock checksum wrong, every file-tree block an
/// interior node pointing at itself), two LVM PVs of one VG (an LV mapped past its
/// PV's end, metadata text that does not parse), two RAID members whose superblocks
/// disagree, and a LUKS header with garbage after its magic, beside the good disk.
/// Each problem is named on the console with its device, the good entry boots, and
/// every image is byte-identical afterwards.
#[test]
fn new_readers_hostile_disks_next_to_good_disk() {
    let test = "new_readers_hostile_disks_next_to_good_disk";
    if !qemu_or_skip(test) || !xfs_btrfs_or_skip(test, &[&xfs_base(), &btrfs_base()]) {
        return;
    }
    let Some(im) = fixtures::stacked_or_skip(test) else {
        return;
    };
    let started = std::time::Instant::now();
    let mut s = Scenario::new("hostile-new-readers");
    let good = s.disk(&good_disk(&s));
    let mut at = Attach {
        s: &mut s,
        next: 'b',
    };
    let mut bad = xfs_btrfs_bad_disks(&mut at);
    bad.extend(stacked_bad_disks(&mut at, &im));
    let prepared = started.elapsed();
    // The fixtures' own entries (fake kernels) are listed too: the good one is
    // chosen by name.
    s.firmware("timeout = 0\ndefault = \"good\"\n");
    let mut images = vec![good];
    images.extend(bad.iter().map(|b| b.image.clone()));
    let log = expect_good_boot(&s, &images, &[]);
    eprintln!(
        "{test}: {} bad disks made in {:.1} s, booted and checked in {:.1} s",
        bad.len(),
        prepared.as_secs_f64(),
        (started.elapsed() - prepared).as_secs_f64()
    );
    let mut missing = Vec::new();
    for (device, what) in bad.iter().flat_map(|b| b.problems.iter()) {
        if named_line(&log, device, what).is_none() {
            missing.push(format!("{device}: {what}"));
        }
    }
    assert!(
        missing.is_empty(),
        "not named on the console:\n{}\n(serial log: {})",
        missing.join("\n"),
        s.dir.join("serial.log").display()
    );
}
