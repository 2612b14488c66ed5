//! Stacked storage read through leapboot's devices code and its `list` command, on
//! images the real tools made (`leapboot_qemu::fixtures`: `lvcreate` and
//! `mdadm --create` inside a QEMU guest, `cryptsetup luksFormat` on the host):
//! LVM2 linear and striped LVs, RAID1 arrays with metadata 1.2, 1.0 and 0.90 (whole
//! and degraded), LUKS1 and LUKS2 next to a plain partition; then hostile copies
//! edited byte by byte here (metadata text that does not parse, an LV past the end of
//! its PV, a circular buffer that wraps, RAID superblocks that disagree, absurd
//! sizes), each answered with a clear message while the good layouts are still
//! listed, and every image left byte-identical.
//!
//! Without QEMU or the tools (lvm2, mdadm, cryptsetup-bin, busybox-static) the tests
//! say so and pass; with `LEAPBOOT_REQUIRE_QEMU=1` they fail instead.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot::devices::disk::{self, Disk};
use leapboot::devices::scan::Together;
use leapboot_qemu::fixtures::{self, StackedImages};
use leapboot_qemu::hostile::{self, LvmMetadata};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one run of `leapboot` did.
#[derive(Debug)]
struct Run {
    code: i32,
    out: String,
    err: String,
}

/// Runs `leapboot ARGS`, killed (and the test failed) after a minute: no input may
/// make it hang.
fn leapboot(args: &[&str]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_leapboot"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let o = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).unwrap();
        s
    });
    let e = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).unwrap();
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("leapboot {args:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code().expect("leapboot exited by a signal"),
        out: o.join().unwrap(),
        err: e.join().unwrap(),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A fresh directory for one test's copies (hundreds of MiB), removed on drop.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for Dir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

fn dir(name: &str) -> Dir {
    let d = std::env::temp_dir()
        .join(format!("leapboot-stacked-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    Dir(d)
}

/// A copy of `img` in `dir`, to edit.
fn copy(img: &Path, dir: &Path) -> PathBuf {
    let to = dir.join(img.file_name().unwrap());
    std::fs::copy(img, &to).unwrap();
    to
}

/// A checksum of the whole image (`cksum`: C speed, where a debug build's own hash
/// of these 64 to 128 MiB images would take seconds).
fn digest(p: &Path) -> String {
    let o = Command::new("cksum").arg(p).output().unwrap();
    assert!(o.status.success(), "cksum {}", p.display());
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs `leapboot ARGS` and checks that no image named in them changed.
fn list(args: &[&str]) -> Run {
    let images: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| a.ends_with(".img"))
        .collect();
    let before: Vec<String> = images.iter().map(|p| digest(Path::new(p))).collect();
    let run = leapboot(args);
    let after: Vec<String> = images.iter().map(|p| digest(Path::new(p))).collect();
    assert_eq!(before, after, "leapboot {args:?} changed an image");
    run
}

fn images(test: &str) -> Option<StackedImages> {
    fixtures::stacked_or_skip(test)
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// Byte offset of partition `n` (1-based) of `img`.
fn partition_offset(img: &Path, n: u32) -> u64 {
    let d = Disk::open(img, "img").unwrap();
    let parts = disk::partitions(&d).unwrap();
    parts.iter().find(|p| p.number == n).unwrap().offset
}

fn read_at(img: &Path, at: u64, len: usize) -> Vec<u8> {
    hostile::read_at(img, at, len).unwrap()
}

fn write_at(img: &Path, at: u64, data: &[u8]) {
    hostile::write_at(img, at, data).unwrap();
}

// --- good layouts -------------------------------------------------------------------

#[test]
fn lvm_root_lv_is_listed_and_the_striped_lv_reads_byte_for_byte() {
    let Some(im) = images("lvm_root_lv_is_listed_and_the_striped_lv_reads_byte_for_byte") else {
        return;
    };
    let (a, b) = (im.lvm_a(), im.lvm_b());
    let mut t = Together::default();
    assert!(t.disk_volumes(&a, "lvm-a").is_empty());
    assert!(t.disk_volumes(&b, "lvm-b").is_empty());
    assert!(t.has_members(&a) && t.has_members(&b));
    let stacked = t.stacked_volumes();
    let names: Vec<&str> = stacked
        .volumes
        .iter()
        .map(|v| v.info.device.as_str())
        .collect();
    assert_eq!(
        names,
        ["debian--vg-root", "debian--vg-data"],
        "{:?}",
        stacked.problems
    );
    assert!(stacked.problems.is_empty(), "{:?}", stacked.problems);
    assert_eq!(stacked.used, [a.clone(), b.clone()]);
    let root = &stacked.volumes[0];
    assert_eq!(root.info.uuid.as_deref(), Some(fixtures::LVM_ROOT_UUID));
    assert!(root.location.is_none(), "an LV is never written");
    let data = &stacked.volumes[1];
    assert_eq!(data.info.uuid.as_deref(), Some(fixtures::LVM_DATA_UUID));
    // 1 MiB over 64 KiB stripes on two PVs: every other chunk is on the other disk.
    let read = data.fs.read(fixtures::STRIPED_FILE, 2 << 20).unwrap();
    assert!(
        read == fixtures::striped_file_contents(),
        "the striped file differs"
    );

    let r = list(&["list", "-v", "--disk", s(&a), "--disk", s(&b)]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.out.contains("* Debian on LVM [debian-lvm]"), "{}", r.out);
    assert!(r.out.contains("on debian--vg-root (bls)"), "{}", r.out);
    for line in [
        "LVM2 physical volume of VG debian-vg",
        "LV data of VG debian-vg, striped over 2 PVs",
        "debian--vg-pool: a thin pool: not supported",
        "debian--vg-thin: a thin LV: not supported",
        "debian--vg-root--snap: a snapshot of root: not supported",
        "debian--vg-mirror: a RAID LV (raid1): not supported",
    ] {
        assert!(r.err.contains(line), "missing {line:?} in:\n{}", r.err);
    }
}

#[test]
fn an_lv_on_a_missing_pv_is_named_and_the_others_still_read() {
    let Some(im) = images("an_lv_on_a_missing_pv_is_named_and_the_others_still_read") else {
        return;
    };
    let r = list(&["list", "--disk", s(&im.lvm_a())]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.out.contains("Debian on LVM [debian-lvm]"), "{}", r.out);
    assert!(
        r.err
            .contains("debian--vg-data: LV data of VG debian-vg: needs PV pv1")
            && r.err.contains("which is missing"),
        "{}",
        r.err
    );
    // The second disk alone: its PV gives no LV it holds in full.
    let r = list(&["list", "--disk", s(&im.lvm_b())]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.err
            .contains("holds RAID or LVM members that give no volume"),
        "{}",
        r.err
    );
}

#[test]
fn raid1_arrays_of_every_metadata_version_show_once() {
    let Some(im) = images("raid1_arrays_of_every_metadata_version_show_once") else {
        return;
    };
    let (a, b) = (im.raid_a(), im.raid_b());
    let mut t = Together::default();
    t.disk_volumes(&a, "raid-a");
    t.disk_volumes(&b, "raid-b");
    let stacked = t.stacked_volumes();
    let mut found: Vec<(String, String)> = stacked
        .volumes
        .iter()
        .map(|v| (v.info.device.clone(), v.info.uuid.clone().unwrap()))
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            (
                "md/boot10".to_string(),
                fixtures::RAID_FS_UUIDS[1].to_string()
            ),
            (
                "md/boot12".to_string(),
                fixtures::RAID_FS_UUIDS[0].to_string()
            ),
            ("md2".to_string(), fixtures::RAID_FS_UUIDS[2].to_string()),
        ]
    );
    let r = list(&["list", "-v", "--disk", s(&a), "--disk", s(&b)]);
    assert_eq!(r.code, 0, "{r:?}");
    for (id, title) in &fixtures::ENTRIES[1..4] {
        assert_eq!(count(&r.out, &format!("{title} [{id}]")), 1, "{}", r.out);
    }
    assert!(r.out.contains("on md/boot12 (bls)"), "{}", r.out);
    for uuid in fixtures::RAID_ARRAY_UUIDS {
        assert!(
            r.err.contains(&format!("UUID {uuid}")),
            "{uuid} in\n{}",
            r.err
        );
    }
    assert!(r.err.contains("2 of 2 members"), "{}", r.err);
    assert!(
        r.err.contains("RAID0 member of md/scratch") && r.err.contains("RAID0 is not supported"),
        "{}",
        r.err
    );
    // A 1.0 or 0.90 member keeps its filesystem at byte 0: never listed as a plain ext4.
    assert!(!r.out.contains("on raid-a.img"), "{}", r.out);
}

#[test]
fn a_degraded_raid1_is_read_from_its_one_member() {
    let Some(im) = images("a_degraded_raid1_is_read_from_its_one_member") else {
        return;
    };
    let r = list(&["list", "--disk", s(&im.raid_b())]);
    assert_eq!(r.code, 0, "{r:?}");
    for (id, title) in &fixtures::ENTRIES[1..4] {
        assert_eq!(count(&r.out, &format!("{title} [{id}]")), 1, "{}", r.out);
    }
    assert_eq!(
        count(&r.err, "RAID1 array is degraded: 1 of 2 members present"),
        3,
        "{}",
        r.err
    );
}

#[test]
fn luks_is_listed_as_encrypted_next_to_a_plain_partition() {
    let Some(im) = images("luks_is_listed_as_encrypted_next_to_a_plain_partition") else {
        return;
    };
    let r = list(&["list", "-v", "--disk", s(&im.luks())]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.out.contains("Plain beside LUKS [plain]"), "{}", r.out);
    let luks2 = format!(
        "luks.img2: encrypted (LUKS2) UUID={} LABEL={}, not unlocked by leapboot",
        fixtures::LUKS2_UUID,
        fixtures::LUKS2_LABEL
    );
    let luks1 = format!(
        "luks.img3: encrypted (LUKS1) UUID={} LABEL=-, not unlocked by leapboot",
        fixtures::LUKS1_UUID
    );
    assert!(r.err.contains(&luks2), "{}", r.err);
    assert!(r.err.contains(&luks1), "{}", r.err);
}

// --- hostile copies ------------------------------------------------------------------

fn metadata(img: &Path, pv: u64) -> LvmMetadata {
    LvmMetadata::read(img, pv).unwrap()
}

/// Copies of both LVM disks and the LUKS disk (the good one that must still list).
fn lvm_copies(im: &StackedImages, name: &str) -> (Dir, PathBuf, PathBuf, PathBuf) {
    let d = dir(name);
    let (a, b, good) = (
        copy(&im.lvm_a(), &d),
        copy(&im.lvm_b(), &d),
        copy(&im.luks(), &d),
    );
    (d, a, b, good)
}

#[test]
fn lvm_metadata_that_does_not_parse_is_reported() {
    let Some(im) = images("lvm_metadata_that_does_not_parse_is_reported") else {
        return;
    };
    let (_d, a, b, good) = lvm_copies(&im, "lvm-text");
    let m = metadata(&a, partition_offset(&a, 2));
    m.write(
        &m.edited("logical_volumes {", "logical_volumes = {")
            .unwrap(),
        None,
    )
    .unwrap();
    // The other PV's copy still describes the VG.
    let r = list(&["list", "--disk", s(&a), "--disk", s(&b), "--disk", s(&good)]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.out.contains("Debian on LVM [debian-lvm]") && r.out.contains("[plain]"),
        "{}",
        r.out
    );
    assert!(
        r.err
            .contains("lvm-a.img2: LVM metadata: metadata text: metadata text line")
            && r.err.contains("expected a value, found '{'"),
        "{}",
        r.err
    );
    // Alone, the damaged PV gives nothing, and says why.
    let r = list(&["list", "--disk", s(&a), "--disk", s(&good)]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.out.contains("[plain]"), "{}", r.out);
    assert!(r.err.contains("expected a value"), "{}", r.err);
    // Garbage under a right CRC, and a wrong CRC.
    m.write(&"{[\"".repeat(5000), None).unwrap();
    let r = list(&["list", "--disk", s(&a), "--disk", s(&good)]);
    assert!(
        r.out.contains("[plain]") && r.err.contains("lvm-a.img2: LVM metadata"),
        "{r:?}"
    );
    m.break_text_crc().unwrap();
    let r = list(&["list", "--disk", s(&a), "--disk", s(&good)]);
    assert!(r.err.contains("metadata text: CRC is"), "{}", r.err);
}

#[test]
fn an_lv_past_the_end_of_its_pv_is_an_error_naming_it() {
    let Some(im) = images("an_lv_past_the_end_of_its_pv_is_an_error_naming_it") else {
        return;
    };
    let (_d, a, b, good) = lvm_copies(&im, "lvm-past-end");
    let m = metadata(&a, partition_offset(&a, 2));
    // Past the extents the PV has.
    m.write(&m.edited("\"pv0\", 0\n", "\"pv0\", 28\n").unwrap(), None)
        .unwrap();
    let r = list(&["list", "--disk", s(&a), "--disk", s(&b), "--disk", s(&good)]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.err
            .contains("debian--vg-root: LV root of VG debian-vg: maps extents 28..36 past the end of PV pv0 (31 extents)"),
        "{}",
        r.err
    );
    assert!(
        !r.out.contains("debian-lvm") && r.out.contains("[plain]"),
        "{}",
        r.out
    );
    // Past the end of the device, with a PV that claims more extents than it holds.
    m.write(
        &m.edited("pe_count = 31", "pe_count = 9999")
            .unwrap()
            .replacen("\"pv0\", 0\n", "\"pv0\", 9000\n", 1),
        None,
    )
    .unwrap();
    let r = list(&["list", "--disk", s(&a), "--disk", s(&b), "--disk", s(&good)]);
    assert!(
        r.err.contains("LV root of VG debian-vg: maps bytes")
            && r.err.contains("past the end of PV pv0 (131072000 bytes)"),
        "{}",
        r.err
    );
    // Absurd numbers overflow nothing.
    m.write(
        &m.edited("extent_size = 8192", "extent_size = 9223372036854775807")
            .unwrap(),
        None,
    )
    .unwrap();
    let r = list(&["list", "--disk", s(&a), "--disk", s(&b), "--disk", s(&good)]);
    assert!(r.out.contains("[plain]"), "{r:?}");
    assert!(
        r.err
            .contains("extent_size = 9223372036854775807 sectors is out of range"),
        "{}",
        r.err
    );
}

#[test]
fn metadata_that_wraps_around_the_circular_buffer_is_read() {
    let Some(im) = images("metadata_that_wraps_around_the_circular_buffer_is_read") else {
        return;
    };
    let (_d, a, _, _) = lvm_copies(&im, "lvm-wrap");
    let m = metadata(&a, partition_offset(&a, 2));
    // 1000 bytes before the end of the area; the rest right after its header.
    m.write(&m.text, Some(m.area_size() - 1000)).unwrap();
    let back = metadata(&a, partition_offset(&a, 2));
    assert_eq!(back.text, m.text);
    let r = list(&["list", "--disk", s(&a)]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.out.contains("Debian on LVM [debian-lvm]"), "{}", r.out);
}

fn edit_md_v1(img: &Path, at: u64, edit: impl FnOnce(&mut Vec<u8>)) {
    hostile::edit_md_v1(img, at, edit).unwrap();
}

#[test]
fn raid_superblocks_that_disagree_or_lie_are_reported() {
    let Some(im) = images("raid_superblocks_that_disagree_or_lie_are_reported") else {
        return;
    };
    let d = dir("raid-hostile");
    let (a, b, good) = (
        copy(&im.raid_a(), &d),
        copy(&im.raid_b(), &d),
        copy(&im.luks(), &d),
    );
    // md/boot12 (1.2, 4 KiB into partition 1): the same event count, another member count.
    edit_md_v1(&b, partition_offset(&b, 1) + 4096, |sb| {
        sb[92..96].copy_from_slice(&3u32.to_le_bytes());
    });
    // md/boot10 (1.0, at the end of partition 2): raid-b's member is stale.
    let p2 = Disk::open(&b, "b")
        .map(|d| disk::partitions(&d).unwrap())
        .unwrap()[1]
        .clone();
    let at10 = hostile::md_v10_superblock_at(p2.len) + p2.offset;
    edit_md_v1(&b, at10, |sb| {
        let events = u64::from_le_bytes(sb[200..208].try_into().unwrap());
        sb[200..208].copy_from_slice(&(events - 1).to_le_bytes());
    });
    // The RAID0 member on raid-a claims absurd data.
    edit_md_v1(&a, partition_offset(&a, 4) + 4096, |sb| {
        sb[136..144].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
        sb[80..88].copy_from_slice(&0u64.to_le_bytes());
    });
    let r = list(&["list", "--disk", s(&a), "--disk", s(&b), "--disk", s(&good)]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.err.contains("md/boot12: RAID1 array UUID")
            && r.err
                .contains("is not read: members with the same event count")
            && r.err.contains("disagree: 3 members against 2"),
        "{}",
        r.err
    );
    assert!(
        r.err
            .contains("md/boot10: member raid-b.img2 left out: stale (event count"),
        "{}",
        r.err
    );
    assert!(
        r.out.contains("[raid10]") && r.out.contains("[raid090]") && r.out.contains("[plain]"),
        "{}",
        r.out
    );
    assert!(!r.out.contains("[raid12]"), "{}", r.out);
    let r = list(&["list", "-v", "--disk", s(&a)]);
    assert!(
        r.err
            .contains("raid-a.img4: md superblock 1.2 at byte 4096: data_size")
            && r.err.contains("is out of range; partition skipped"),
        "{}",
        r.err
    );
    // A damaged checksum is named, and the partition is not read as anything else.
    let at = partition_offset(&a, 1) + 4096;
    let mut sb = read_at(&a, at, 4096);
    sb[100] ^= 1;
    write_at(&a, at, &sb);
    let r = list(&["list", "-v", "--disk", s(&a)]);
    assert!(
        r.err
            .contains("raid-a.img1: md superblock 1.2 at byte 4096: checksum is"),
        "{}",
        r.err
    );
    assert!(r.out.contains("[raid10]"), "{}", r.out);
}
