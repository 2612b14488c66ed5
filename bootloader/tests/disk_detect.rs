//! Partition-table and filesystem detection on images built here: synthetic GPT and
//! MBR tables (valid and corrupt, byte by byte), and real FAT and ext4 filesystems
//! made by mkfs.vfat and mke2fs (dosfstools, e2fsprogs; `scripts/test` installs them).

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot::devices::disk::{self, Disk, DiskError, Scheme};
use leapboot::devices::volume;
use leapboot_menus::VolumeRole;
use std::path::{Path, PathBuf};
use std::process::Command;

const MIB: u64 = 1024 * 1024;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("leapboot-disk-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn guid_bytes(s: &str) -> [u8; 16] {
    // Mixed-endian GUID encoding as GPT stores it.
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    let b: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    [
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13],
        b[14], b[15],
    ]
}

struct GptPart {
    type_guid: &'static str,
    first: u64,
    last: u64,
    name: &'static str,
}

/// Writes a GPT (primary and backup) with `count` entries of `entry_size` bytes.
fn write_gpt(img: &mut [u8], parts: &[GptPart], count: u32, entry_size: u32) {
    let sectors = img.len() as u64 / 512;
    let mut entries = vec![0u8; (count * entry_size) as usize];
    for (i, p) in parts.iter().enumerate() {
        let e = &mut entries[i * entry_size as usize..];
        e[0..16].copy_from_slice(&guid_bytes(p.type_guid));
        e[16..32].copy_from_slice(&guid_bytes("01234567-89ab-cdef-0123-456789abcdef"));
        e[16..18].copy_from_slice(&(i as u16 + 1).to_le_bytes());
        e[32..40].copy_from_slice(&p.first.to_le_bytes());
        e[40..48].copy_from_slice(&p.last.to_le_bytes());
        for (j, c) in p.name.encode_utf16().enumerate() {
            e[56 + 2 * j..58 + 2 * j].copy_from_slice(&c.to_le_bytes());
        }
    }
    let entries_crc = crc32fast::hash(&entries);
    let entry_sectors = (entries.len() as u64).div_ceil(512);
    let header = |my: u64, alt: u64, table: u64| {
        let mut h = [0u8; 92];
        h[0..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&my.to_le_bytes());
        h[32..40].copy_from_slice(&alt.to_le_bytes());
        h[40..48].copy_from_slice(&(2 + entry_sectors).to_le_bytes());
        h[48..56].copy_from_slice(&(sectors - 2 - entry_sectors).to_le_bytes());
        h[56..72].copy_from_slice(&guid_bytes("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"));
        h[72..80].copy_from_slice(&table.to_le_bytes());
        h[80..84].copy_from_slice(&count.to_le_bytes());
        h[84..88].copy_from_slice(&entry_size.to_le_bytes());
        h[88..92].copy_from_slice(&entries_crc.to_le_bytes());
        let crc = crc32fast::hash(&h);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        h
    };
    // Protective MBR.
    img[446 + 4] = 0xee;
    img[446 + 8..446 + 12].copy_from_slice(&1u32.to_le_bytes());
    img[446 + 12..446 + 16]
        .copy_from_slice(&u32::try_from(sectors - 1).unwrap_or(u32::MAX).to_le_bytes());
    img[510] = 0x55;
    img[511] = 0xaa;
    let last = sectors - 1;
    let backup_table = last - entry_sectors;
    img[512..604].copy_from_slice(&header(1, last, 2));
    img[1024..1024 + entries.len()].copy_from_slice(&entries);
    let b = (backup_table * 512) as usize;
    img[b..b + entries.len()].copy_from_slice(&entries);
    img[(last * 512) as usize..(last * 512) as usize + 92].copy_from_slice(&header(
        last,
        1,
        backup_table,
    ));
}

fn two_parts() -> Vec<GptPart> {
    vec![
        GptPart {
            type_guid: "c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
            first: 2048,
            last: 4095,
            name: "ESP",
        },
        GptPart {
            type_guid: "0fc63daf-8483-4772-8e79-3d69d8477de4",
            first: 4096,
            last: 8191,
            name: "root",
        },
    ]
}

fn open(img: &[u8], name: &str) -> Disk {
    let p = tmp(name);
    std::fs::write(&p, img).unwrap();
    Disk::open(&p, name).unwrap()
}

#[test]
fn gpt_valid_roles_and_names() {
    let mut img = vec![0u8; (8 * MIB) as usize];
    write_gpt(&mut img, &two_parts(), 128, 128);
    let parts = disk::partitions(&open(&img, "gpt-valid")).unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].scheme, Scheme::Gpt);
    assert_eq!(
        (parts[0].number, parts[0].offset, parts[0].len),
        (1, 2048 * 512, 2048 * 512)
    );
    assert_eq!(parts[0].role, VolumeRole::Esp);
    assert_eq!(parts[0].name.as_deref(), Some("ESP"));
    assert_eq!(parts[1].role, VolumeRole::Other);
    assert_eq!(parts[1].display_name("vda"), "vda2");
    assert_eq!(parts[1].display_name("nvme0n1"), "nvme0n1p2");
}

#[test]
fn gpt_bad_primary_crc_falls_back_to_backup() {
    let mut img = vec![0u8; (8 * MIB) as usize];
    write_gpt(&mut img, &two_parts(), 128, 128);
    img[512 + 16] ^= 0xff; // primary header CRC
    let t = disk::read_table(&open(&img, "gpt-backup")).unwrap();
    assert_eq!(t.parts.len(), 2);
    assert_eq!(t.damage.len(), 1, "{:?}", t.damage);
    assert!(
        t.damage[0].contains("gpt-backup: GPT: primary header at LBA 1: CRC")
            && t.damage[0].contains("read from the backup header at LBA 16383"),
        "{:?}",
        t.damage
    );
}

/// The primary header wiped (its signature gone, as when the first sectors of a disk
/// are overwritten): with the protective MBR still there, the backup header is read
/// (UEFI 2.10, 5.3.2) and the damage reported; without a protective MBR, a backup
/// header left at the end by an earlier GPT is not taken for the table.
#[test]
fn gpt_primary_wiped_is_read_from_the_backup_only_under_a_protective_mbr() {
    let mut img = vec![0u8; (8 * MIB) as usize];
    write_gpt(&mut img, &two_parts(), 128, 128);
    img[512..1024].fill(0);
    let t = disk::read_table(&open(&img, "gpt-wiped")).unwrap();
    assert_eq!(t.parts.len(), 2);
    assert_eq!(t.parts[1].offset, 4096 * 512);
    assert!(
        t.damage.len() == 1 && t.damage[0].contains("no primary header at LBA 1"),
        "{:?}",
        t.damage
    );
    img[0..512].fill(0);
    let t = disk::read_table(&open(&img, "gpt-stale")).unwrap();
    assert_eq!(t.parts.len(), 1);
    assert_eq!(t.parts[0].scheme, Scheme::Whole);
    assert!(t.damage.is_empty());
}

#[test]
fn gpt_bad_crc_and_truncated_entries_is_an_error_naming_both() {
    let mut img = vec![0u8; (8 * MIB) as usize];
    write_gpt(&mut img, &two_parts(), 128, 128);
    img[512 + 16] ^= 0xff;
    // Truncate the disk: the backup header (last sector) is gone too.
    img.truncate((4 * MIB) as usize);
    let err = disk::partitions(&open(&img, "gpt-bad")).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DiskError::Corrupt { .. }), "{msg}");
    assert!(msg.contains("gpt-bad") && msg.contains("CRC"), "{msg}");
}

#[test]
fn gpt_entry_array_crc_mismatch_detected() {
    let mut img = vec![0u8; (8 * MIB) as usize];
    write_gpt(&mut img, &two_parts(), 128, 128);
    img[1024 + 40] ^= 0x01; // primary entries changed, CRC stale; backup intact
    let t = disk::read_table(&open(&img, "gpt-entries")).unwrap();
    assert_eq!(t.parts[0].offset, 2048 * 512, "backup entries must be used");
    assert!(
        t.damage[0].contains("entry array at LBA 2"),
        "{:?}",
        t.damage
    );
}

#[test]
fn gpt_256_byte_entries_are_refused_without_panic() {
    let mut img = vec![0u8; (8 * MIB) as usize];
    write_gpt(&mut img, &two_parts(), 64, 256);
    let err = disk::partitions(&open(&img, "gpt-256"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("entry size 256"), "{err}");
}

#[test]
fn gpt_huge_entry_count_is_refused_before_allocation() {
    let mut img = vec![0u8; (8 * MIB) as usize];
    write_gpt(&mut img, &two_parts(), 128, 128);
    for lba in [1u64, img.len() as u64 / 512 - 1] {
        let h = (lba * 512) as usize;
        img[h + 80..h + 84].copy_from_slice(&u32::MAX.to_le_bytes());
        img[h + 16..h + 20].fill(0);
        let crc = crc32fast::hash(&img[h..h + 92]);
        img[h + 16..h + 20].copy_from_slice(&crc.to_le_bytes());
    }
    let err = disk::partitions(&open(&img, "gpt-huge"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("entry count 4294967295"), "{err}");
}

fn mbr_entry(img: &mut [u8], base: usize, i: usize, kind: u8, start: u32, sectors: u32) {
    let at = base + 446 + i * 16;
    img[at + 4] = kind;
    img[at + 8..at + 12].copy_from_slice(&start.to_le_bytes());
    img[at + 12..at + 16].copy_from_slice(&sectors.to_le_bytes());
    img[base + 510] = 0x55;
    img[base + 511] = 0xaa;
}

#[test]
fn mbr_primary_and_logical() {
    let mut img = vec![0u8; (8 * MIB) as usize];
    mbr_entry(&mut img, 0, 0, 0xef, 2048, 2048);
    mbr_entry(&mut img, 0, 1, 0x05, 4096, 8192);
    // EBR at 4096: logical at +2048, next EBR at ext+4096.
    mbr_entry(&mut img, 4096 * 512, 0, 0x83, 2048, 1024);
    mbr_entry(&mut img, 4096 * 512, 1, 0x05, 4096, 4096);
    mbr_entry(&mut img, 8192 * 512, 0, 0x83, 2048, 1024);
    let parts = disk::partitions(&open(&img, "mbr")).unwrap();
    let got: Vec<_> = parts
        .iter()
        .map(|p| (p.number, p.offset / 512, p.role))
        .collect();
    assert_eq!(
        got,
        [
            (1, 2048, VolumeRole::Esp),
            (5, 6144, VolumeRole::Other),
            (6, 10240, VolumeRole::Other)
        ]
    );
    assert!(parts.iter().all(|p| p.scheme == Scheme::Mbr));
}

/// A broken link in the extended-partition chain loses only what lies behind it: the
/// primaries and the logical partitions before the break are kept, and the break is
/// reported.
#[test]
fn mbr_extended_chain_loop_keeps_what_was_read() {
    let mut img = vec![0u8; (8 * MIB) as usize];
    mbr_entry(&mut img, 0, 0, 0x05, 4096, 8192);
    mbr_entry(&mut img, 4096 * 512, 0, 0x83, 2048, 1024);
    mbr_entry(&mut img, 4096 * 512, 1, 0x05, 0, 4096); // points back at itself
    mbr_entry(&mut img, 4096 * 512, 1, 0x05, 1, 4096);
    img[4096 * 512 + 446 + 16 + 8..4096 * 512 + 446 + 16 + 12].copy_from_slice(&0u32.to_le_bytes());
    // next.start == 0 ends the chain; make a real loop instead: next EBR at +0 relative.
    let parts = disk::partitions(&open(&img, "mbr-end")).unwrap();
    assert_eq!(parts.len(), 1);
    let mut img2 = img.clone();
    mbr_entry(&mut img2, 4096 * 512, 1, 0x05, 4096, 4096);
    mbr_entry(&mut img2, 8192 * 512, 0, 0x83, 2048, 1024);
    mbr_entry(&mut img2, 8192 * 512, 1, 0x05, 1, 4096); // ext+1 <= 8192: goes backwards
    mbr_entry(&mut img2, 0, 1, 0xef, 2048, 2048);
    let t = disk::read_table(&open(&img2, "mbr-loop")).unwrap();
    let got: Vec<_> = t.parts.iter().map(|p| (p.number, p.offset / 512)).collect();
    assert_eq!(got, [(2, 2048), (5, 6144), (6, 10240)]);
    assert_eq!(t.damage.len(), 1);
    assert!(
        t.damage[0].contains("mbr-loop: MBR: extended boot record chain loops back to sector 4097")
            && t.damage[0].contains("from 7 on"),
        "{:?}",
        t.damage
    );
    // An EBR without its signature ends the chain the same way.
    let mut img3 = img2.clone();
    img3[8192 * 512 + 510] = 0;
    let t = disk::read_table(&open(&img3, "mbr-nosig")).unwrap();
    assert_eq!(t.parts.len(), 2);
    assert!(
        t.damage[0].contains("sector 8192 has no 55aa signature"),
        "{:?}",
        t.damage
    );
}

#[test]
fn no_table_is_one_whole_disk_volume() {
    let img = vec![0u8; MIB as usize];
    let parts = disk::partitions(&open(&img, "blank")).unwrap();
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].scheme, Scheme::Whole);
    let d = open(&img, "blank2");
    assert!(volume::open(&d, &parts[0]).unwrap().is_none());
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("{cmd:?}: {e} (scripts/test installs dosfstools and e2fsprogs)")
    });
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mkfs_fat(path: &Path) {
    let _ = std::fs::remove_file(path);
    run(Command::new("mkfs.vfat")
        .args(["-F", "32", "-n", "LEAPESP", "-i", "1234ABCD", "-C"])
        .arg(path)
        .arg("40000"));
    run(Command::new("mmd")
        .arg("-i")
        .arg(path)
        .arg("::/loader")
        .arg("::/loader/entries"));
    let src = tmp("fat-entry.conf");
    std::fs::write(&src, "title T\nlinux /vmlinuz\n").unwrap();
    run(Command::new("mcopy")
        .arg("-i")
        .arg(path)
        .arg(&src)
        .arg("::/loader/entries/Mixed-Case.conf"));
}

fn mkfs_ext4(path: &Path) {
    let _ = std::fs::remove_file(path);
    let root = tmp("ext4-root");
    std::fs::create_dir_all(root.join("boot/grub")).unwrap();
    std::fs::write(root.join("boot/grub/grub.cfg"), "menuentry x {}\n").unwrap();
    run(Command::new("mke2fs")
        .args([
            "-q",
            "-F",
            "-t",
            "ext4",
            "-L",
            "leaproot",
            "-U",
            "0a1b2c3d-0000-4000-8000-123456789abc",
            "-d",
        ])
        .arg(&root)
        .arg(path)
        .arg("16M"));
}

#[test]
fn fat_and_ext4_detected_with_uuid_and_label() {
    let fat = tmp("fat.img");
    mkfs_fat(&fat);
    let d = Disk::open(&fat, "fat.img").unwrap();
    let parts = disk::partitions(&d).unwrap();
    assert_eq!(
        parts[0].scheme,
        Scheme::Whole,
        "a FAT boot sector is not an MBR"
    );
    let v = volume::open(&d, &parts[0]).unwrap().expect("fat volume");
    assert_eq!(v.info.fs_type, "vfat");
    assert_eq!(v.info.uuid.as_deref(), Some("1234-ABCD"));
    assert_eq!(v.info.label.as_deref(), Some("LEAPESP"));
    let names: Vec<_> =
        v.fs.read_dir("/loader/entries")
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
    assert_eq!(names, ["Mixed-Case.conf"]);
    assert!(
        v.fs.is_file("/LOADER/entries/mixed-case.conf"),
        "FAT lookups ignore case"
    );
    assert_eq!(
        v.fs.read("/loader/entries/Mixed-Case.conf", 100).unwrap(),
        b"title T\nlinux /vmlinuz\n"
    );
    assert!(matches!(
        v.fs.read("/loader/entries/Mixed-Case.conf", 3),
        Err(leapboot_menus::FsError::TooLarge { .. })
    ));

    let ext = tmp("ext4.img");
    mkfs_ext4(&ext);
    let d = Disk::open(&ext, "ext4.img").unwrap();
    let parts = disk::partitions(&d).unwrap();
    let v = volume::open(&d, &parts[0]).unwrap().expect("ext4 volume");
    assert_eq!(v.info.fs_type, "ext4");
    assert_eq!(
        v.info.uuid.as_deref(),
        Some("0a1b2c3d-0000-4000-8000-123456789abc")
    );
    assert_eq!(v.info.label.as_deref(), Some("leaproot"));
    assert_eq!(
        v.fs.read("/boot/grub/grub.cfg", 100).unwrap(),
        b"menuentry x {}\n"
    );
    assert!(v.fs.read("/nope", 100).unwrap_err().is_not_found());
}

#[test]
fn corrupt_ext4_superblock_is_an_error_not_a_panic() {
    let ext = tmp("ext4-bad.img");
    mkfs_ext4(&ext);
    let mut bytes = std::fs::read(&ext).unwrap();
    // Keep the magic, break the block size and group counts.
    bytes[1024 + 0x18] = 0xff; // s_log_block_size
    bytes[1024 + 0x20..1024 + 0x24].fill(0); // s_blocks_per_group
    std::fs::write(&ext, &bytes).unwrap();
    let d = Disk::open(&ext, "ext4-bad.img").unwrap();
    let parts = disk::partitions(&d).unwrap();
    let err = volume::open(&d, &parts[0]).unwrap_err().to_string();
    assert!(
        err.contains("ext4-bad.img") && err.contains("corrupt ext4"),
        "{err}"
    );
}

// 4Kn disks (4096-byte logical sectors), made with the real tools. `sgdisk` and
// `sfdisk` take the sector size from the device they write and a plain file is always
// 512, so the table is written through a loop device with 4096-byte sectors
// (`losetup --sector-size 4096`); the filesystems are made in files of their own and
// copied in at the partition offsets. Needs root and loop devices: without them these
// tests fail rather than skip.

const SECTOR_4K: u64 = 4096;
/// The 4Kn fixture's partitions, in 4096-byte LBAs (first, last).
const ESP_4K: (u64, u64) = (256, 8447);
const ROOT_4K: (u64, u64) = (8448, 12543);
const ROOT_4K_UUID: &str = "4b4e0000-0000-4000-8000-0000000004a4";

/// A loop device over an image, detached when dropped.
struct LoopDevice(PathBuf);

impl LoopDevice {
    fn attach(img: &Path, sector_size: u64) -> LoopDevice {
        let out = Command::new("losetup")
            .arg("--sector-size")
            .arg(sector_size.to_string())
            .args(["-f", "--show"])
            .arg(img)
            .output()
            .unwrap_or_else(|e| panic!("losetup: {e} (util-linux; the 4Kn tests need it)"));
        assert!(
            out.status.success(),
            "losetup --sector-size {sector_size} needs root and loop devices: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        LoopDevice(PathBuf::from(
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        ))
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.0).output();
    }
}

/// Writes `fs` (a filesystem image file) into `img` at byte `offset`.
fn put(img: &Path, fs: &Path, offset: u64) {
    use std::os::unix::fs::FileExt;
    let bytes = std::fs::read(fs).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(img).unwrap();
    f.write_all_at(&bytes, offset).unwrap();
}

/// A FAT filesystem with 4096-byte sectors holding a BLS entry and its kernel.
fn mkfs_fat_4k(path: &Path, bytes: u64) {
    let _ = std::fs::remove_file(path);
    std::fs::File::create(path).unwrap().set_len(bytes).unwrap();
    run(Command::new("mkfs.vfat")
        .args(["-S", "4096", "-n", "LEAP4KN", "-i", "4a4b1234"])
        .arg(path));
    run(Command::new("mmd")
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-i")
        .arg(path)
        .args(["::/loader", "::/loader/entries"]));
    let entry = tmp("fourkn.conf");
    std::fs::write(
        &entry,
        "title Four K\nversion 1\nlinux /vmlinuz\noptions root=LABEL=root4k fourkn=1\n",
    )
    .unwrap();
    let kernel = tmp("fourkn-vmlinuz");
    std::fs::write(&kernel, vec![0x4b; 10_000]).unwrap();
    run(Command::new("mcopy")
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-i")
        .arg(path)
        .arg(&entry)
        .arg("::/loader/entries/fourkn.conf"));
    run(Command::new("mcopy")
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-i")
        .arg(path)
        .arg(&kernel)
        .arg("::/vmlinuz"));
}

/// An ext4 with 4096-byte blocks (what Linux needs on a 4Kn disk).
fn mkfs_ext4_4k(path: &Path, bytes: u64) {
    let _ = std::fs::remove_file(path);
    let root = tmp("ext4-4k-root");
    std::fs::create_dir_all(root.join("boot/grub")).unwrap();
    std::fs::write(root.join("boot/grub/grub.cfg"), "menuentry fourkn {}\n").unwrap();
    run(Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-b", "4096", "-L", "root4k", "-U"])
        .arg(ROOT_4K_UUID)
        .arg("-d")
        .arg(&root)
        .arg(path)
        .arg(format!("{}k", bytes / 1024)));
}

/// The 4Kn fixture (built once per test run): 64 MiB, GPT written by sgdisk on a
/// 4096-byte-sector loop device, a FAT ESP and an ext4 root. Tests copy it before
/// changing it.
fn image_4kn() -> &'static Path {
    static IMAGE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    IMAGE.get_or_init(|| {
        let img = tmp("4kn.img");
        let _ = std::fs::remove_file(&img);
        std::fs::File::create(&img)
            .unwrap()
            .set_len(64 * MIB)
            .unwrap();
        {
            let dev = LoopDevice::attach(&img, SECTOR_4K);
            run(Command::new("sgdisk")
                .args(["-o", "-a", "256"])
                .arg(format!("-n=1:{}:{}", ESP_4K.0, ESP_4K.1))
                .args(["-t=1:ef00", "-c=1:ESP"])
                .arg(format!("-n=2:{}:{}", ROOT_4K.0, ROOT_4K.1))
                .args(["-t=2:8300", "-c=2:root"])
                .arg(&dev.0));
        }
        let len = |(first, last): (u64, u64)| (last + 1 - first) * SECTOR_4K;
        let fat = tmp("4kn-esp.img");
        mkfs_fat_4k(&fat, len(ESP_4K));
        put(&img, &fat, ESP_4K.0 * SECTOR_4K);
        let ext = tmp("4kn-root.img");
        mkfs_ext4_4k(&ext, len(ROOT_4K));
        put(&img, &ext, ROOT_4K.0 * SECTOR_4K);
        img
    })
}

/// Checks the fixture's partitions and volumes as leapboot reads them from `d`.
fn check_4kn_disk(d: &Disk) {
    assert_eq!(d.sector_size(), 4096, "{}", d.name);
    let parts = disk::partitions(d).unwrap();
    let got: Vec<_> = parts
        .iter()
        .map(|p| (p.number, p.scheme, p.offset, p.len, p.role))
        .collect();
    assert_eq!(
        got,
        [
            (1, Scheme::Gpt, 256 * 4096, 8192 * 4096, VolumeRole::Esp),
            (2, Scheme::Gpt, 8448 * 4096, 4096 * 4096, VolumeRole::Other),
        ]
    );
    assert_eq!(parts[0].name.as_deref(), Some("ESP"));
    let esp = volume::open(d, &parts[0]).unwrap().expect("FAT on the ESP");
    assert_eq!(esp.info.fs_type, "vfat");
    assert_eq!(esp.info.uuid.as_deref(), Some("4A4B-1234"));
    assert_eq!(esp.info.label.as_deref(), Some("LEAP4KN"));
    assert!(
        esp.fs
            .read("/loader/entries/fourkn.conf", 1000)
            .unwrap()
            .starts_with(b"title Four K\n")
    );
    assert_eq!(esp.fs.read("/vmlinuz", 100_000).unwrap().len(), 10_000);
    let root = volume::open(d, &parts[1]).unwrap().expect("ext4 on root");
    assert_eq!(root.info.fs_type, "ext4");
    assert_eq!(root.info.uuid.as_deref(), Some(ROOT_4K_UUID));
    assert_eq!(
        root.fs.read("/boot/grub/grub.cfg", 100).unwrap(),
        b"menuentry fourkn {}\n"
    );
}

/// The image file: the sector size is probed (the GPT header at byte 4096), partition
/// LBAs count 4096-byte sectors, and both filesystems read.
#[test]
fn gpt_4kn_image_made_by_sgdisk_reads_partitions_and_files() {
    let img = image_4kn();
    assert_eq!(&std::fs::read(img).unwrap()[4096..4104], b"EFI PART");
    check_4kn_disk(&Disk::open(img, "4kn.img").unwrap());
    // The same image given its sector size explicitly reads the same.
    check_4kn_disk(&Disk::open_with_sector_size(img, "4kn.img", Some(4096)).unwrap());
}

/// The block device: the sector size comes from the kernel (`BLKSSZGET`) on a loop
/// device with 4096-byte sectors, and the fixture reads through it as from the image.
/// A blank device shows the kernel's answer is used, not a probe (which would say 512).
#[test]
fn block_device_sector_size_comes_from_the_kernel() {
    let copy = tmp("4kn-loop.img");
    std::fs::copy(image_4kn(), &copy).unwrap();
    {
        let dev = LoopDevice::attach(&copy, SECTOR_4K);
        check_4kn_disk(&Disk::open(&dev.0, "loop4k").unwrap());
    }
    let blank = tmp("blank-4k.img");
    std::fs::write(&blank, vec![0u8; MIB as usize]).unwrap();
    assert_eq!(Disk::open(&blank, "blank").unwrap().sector_size(), 512);
    let dev = LoopDevice::attach(&blank, SECTOR_4K);
    let d = Disk::open(&dev.0, "blank-loop").unwrap();
    assert_eq!(d.sector_size(), 4096);
    assert_eq!(d.size, MIB);
}

/// A bad primary header CRC on a 4Kn disk: the backup (in the last 4096-byte sector)
/// is used, with the primary hidden from the `gpt` crate at bytes 4096..8192. Both
/// headers bad: a corrupt table naming the CRC, not a disk read at 512 and found empty.
#[test]
fn gpt_4kn_bad_header_crc_is_reported() {
    let mut bytes = std::fs::read(image_4kn()).unwrap();
    bytes[4096 + 16] ^= 0xff; // primary header CRC
    let d = open(&bytes, "4kn-bad-primary.img");
    assert_eq!(d.sector_size(), 4096);
    let parts = disk::partitions(&d).unwrap();
    assert_eq!(
        parts.iter().map(|p| p.offset).collect::<Vec<_>>(),
        [256 * 4096, 8448 * 4096],
        "the backup header's entries"
    );

    let last = bytes.len() - 4096;
    assert_eq!(
        &bytes[last..last + 8],
        b"EFI PART",
        "backup in the last sector"
    );
    bytes[last + 16] ^= 0xff; // backup header CRC
    let d = open(&bytes, "4kn-bad.img");
    assert_eq!(d.sector_size(), 4096);
    let err = disk::partitions(&d).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DiskError::Corrupt { .. }), "{msg}");
    assert!(
        msg.contains("4kn-bad.img: corrupt GPT partition table: header at LBA 1: CRC is")
            && msg.contains("backup: header at LBA 16383: CRC is"),
        "{msg}"
    );

    // The primary header's signature gone too: the protective MBR (LBA 1 to the last
    // 4096-byte sector) still tells the sector size; with no primary header there is
    // no GPT, as on a 512-byte disk, and the disk is read whole.
    bytes[4096..4104].fill(0);
    let d = open(&bytes, "4kn-no-primary.img");
    assert_eq!(d.sector_size(), 4096);
    let parts = disk::partitions(&d).unwrap();
    assert_eq!(parts[0].scheme, Scheme::Whole);
}

/// An image with a GPT signature at both byte 512 and byte 4096 is read with 512-byte
/// sectors (the probe's first rule), and its 512-byte table is the one used (here the
/// backup's: the stray copy lies in the primary's entry array).
#[test]
fn probe_prefers_512_when_both_headers_exist() {
    let mut img = vec![0u8; (8 * MIB) as usize];
    write_gpt(&mut img, &two_parts(), 128, 128);
    // A stray header copy at byte 4096 (inside the 512-byte entry array's sectors).
    let header: Vec<u8> = img[512..604].to_vec();
    img[4096..4188].copy_from_slice(&header);
    let d = open(&img, "gpt-both");
    assert_eq!(d.sector_size(), 512);
    assert_eq!(disk::probe_sector_size(&d), 512);
    let parts = disk::partitions(&d).unwrap();
    assert_eq!(parts[0].offset, 2048 * 512);
}

/// A 512-byte-sector image made by sgdisk on the plain file still reads as before,
/// and an explicit sector size that is not a power of two is refused.
#[test]
fn gpt_512_image_made_by_sgdisk_still_reads() {
    let img = tmp("512.img");
    let _ = std::fs::remove_file(&img);
    std::fs::File::create(&img)
        .unwrap()
        .set_len(64 * MIB)
        .unwrap();
    run(Command::new("sgdisk")
        .args(["-o", "-n=1:2048:67583", "-t=1:ef00", "-c=1:ESP"])
        .args(["-n=2:67584:100351", "-t=2:8300"])
        .arg(&img));
    let fat = tmp("512-esp.img");
    mkfs_fat(&fat);
    put(&img, &fat, 2048 * 512);
    let ext = tmp("512-root.img");
    mkfs_ext4(&ext);
    put(&img, &ext, 67584 * 512);
    let d = Disk::open(&img, "512.img").unwrap();
    assert_eq!(d.sector_size(), 512);
    let parts = disk::partitions(&d).unwrap();
    assert_eq!(
        parts.iter().map(|p| (p.offset, p.len)).collect::<Vec<_>>(),
        [(2048 * 512, 65536 * 512), (67584 * 512, 32768 * 512)]
    );
    let esp = volume::open(&d, &parts[0]).unwrap().expect("FAT");
    assert_eq!(esp.info.uuid.as_deref(), Some("1234-ABCD"));
    let root = volume::open(&d, &parts[1]).unwrap().expect("ext4");
    assert_eq!(
        root.fs.read("/boot/grub/grub.cfg", 100).unwrap(),
        b"menuentry x {}\n"
    );
    let err = Disk::open_with_sector_size(&img, "512.img", Some(1000))
        .unwrap_err()
        .to_string();
    assert!(err.contains("sector size 1000"), "{err}");
}

/// An MBR written by sfdisk on a 4Kn device: no GPT to tell, so the probe finds the
/// FAT at LBA × 4096 (nothing at LBA × 512), and the partition is read there.
#[test]
fn mbr_4kn_image_made_by_sfdisk_is_probed_by_its_filesystem() {
    let img = tmp("4kn-mbr.img");
    let _ = std::fs::remove_file(&img);
    std::fs::File::create(&img)
        .unwrap()
        .set_len(48 * MIB)
        .unwrap();
    {
        let dev = LoopDevice::attach(&img, SECTOR_4K);
        let mut child = Command::new("sfdisk")
            .args(["--quiet", "--no-reread", "--no-tell-kernel"])
            .arg(&dev.0)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("sfdisk");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"label: dos\nstart=256, size=8192, type=ef\n")
            .unwrap();
        assert!(child.wait().unwrap().success(), "sfdisk");
    }
    let fat = tmp("4kn-mbr-esp.img");
    mkfs_fat_4k(&fat, 8192 * 4096);
    put(&img, &fat, 256 * 4096);
    let d = Disk::open(&img, "4kn-mbr.img").unwrap();
    assert_eq!(d.sector_size(), 4096);
    let parts = disk::partitions(&d).unwrap();
    assert_eq!(
        parts
            .iter()
            .map(|p| (p.scheme, p.offset, p.len, p.role))
            .collect::<Vec<_>>(),
        [(Scheme::Mbr, 256 * 4096, 8192 * 4096, VolumeRole::Esp)]
    );
    let v = volume::open(&d, &parts[0]).unwrap().expect("FAT");
    assert!(v.fs.is_file("/loader/entries/fourkn.conf"));
    // Told 512, the same table points at nothing readable.
    let d512 = Disk::open_with_sector_size(&img, "4kn-mbr.img", Some(512)).unwrap();
    let p512 = disk::partitions(&d512).unwrap();
    assert_eq!(p512[0].offset, 256 * 512);
    assert!(volume::open(&d512, &p512[0]).unwrap().is_none());
}

/// The host tool: `leapboot list --disk` on the 4Kn image lists its BLS entry, and the
/// verbose log's disk line shows the sector size.
#[test]
fn host_list_reads_a_4kn_image() {
    let out = Command::new(env!("CARGO_BIN_EXE_leapboot"))
        .args(["list", "-v", "--disk"])
        .arg(image_4kn())
        .output()
        .expect("running leapboot list");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "leapboot list: {stderr}");
    assert!(
        stdout.contains("Four K [fourkn]"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("root=LABEL=root4k fourkn=1"),
        "stdout:\n{stdout}"
    );
    assert!(
        stderr.contains("4kn.img: 67108864 bytes, 4096-byte sectors, GPT, 2 partition(s)"),
        "stderr:\n{stderr}"
    );
}

/// Boot counting's rename on the 4Kn ESP (FAT with 4096-byte sectors) at the byte
/// range the GPT gives: written in place, at a byte offset inside the ESP, and read
/// back by leapboot and by mtools.
#[test]
fn counting_renames_on_a_4kn_esp() {
    let img = tmp("4kn-count.img");
    std::fs::copy(image_4kn(), &img).unwrap();
    let d = Disk::open(&img, "4kn-count.img").unwrap();
    let esp = disk::partitions(&d).unwrap().remove(0);
    let renamed = leapboot::writes::counting::rename_at(
        &img,
        "4kn-count.img1",
        esp.offset,
        esp.len,
        "/loader/entries/fourkn.conf",
        "/loader/entries/fourkn+2-1.conf",
    )
    .unwrap();
    assert!(
        renamed
            .blocks
            .iter()
            .all(|&b| b >= esp.offset && b < esp.offset + esp.len && b % 512 == 0),
        "{renamed:?}"
    );
    let v = volume::open(&d, &esp).unwrap().expect("FAT");
    assert!(v.fs.is_file("/loader/entries/fourkn+2-1.conf"));
    assert!(!v.fs.is_file("/loader/entries/fourkn.conf"));
    let out = Command::new("mdir")
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-b")
        .arg("-i")
        .arg(format!("{}@@{}", img.display(), esp.offset))
        .arg("::/loader/entries")
        .output()
        .expect("mdir");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("fourkn+2-1.conf"), "{listing}");
}

/// A GPT listing one FAT filesystem 1024 times (issue 16, class 5): the partitions
/// that start where an earlier one starts are read once and listed once, so the work
/// is one volume's, not 1024.
#[test]
fn partitions_aliasing_one_filesystem_are_read_once() {
    let fat = tmp("alias-fat.img");
    mkfs_fat(&fat);
    let fat_bytes = std::fs::read(&fat).unwrap();
    let mut img = vec![0u8; (48 * MIB) as usize];
    img[(MIB as usize)..(MIB as usize) + fat_bytes.len()].copy_from_slice(&fat_bytes);
    let last = 2048 + fat_bytes.len() as u64 / 512 - 1;
    let parts: Vec<GptPart> = (0..1024)
        .map(|_| GptPart {
            type_guid: "c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
            first: 2048,
            last,
            name: "ESP",
        })
        .collect();
    write_gpt(&mut img, &parts, 1024, 128);
    let path = tmp("alias.img");
    std::fs::write(&path, &img).unwrap();
    assert_eq!(
        disk::partitions(&Disk::open(&path, "alias").unwrap())
            .unwrap()
            .len(),
        1024
    );
    let volumes = leapboot::devices::scan::disk_volumes(&path, "alias");
    assert_eq!(volumes.len(), 1);
    assert_eq!(volumes[0].info.device, "alias1");
}
