//! Partition-table and filesystem detection on images built here: synthetic GPT and
//! MBR tables (valid and corrupt, byte by byte), and real FAT and ext4 filesystems
//! made by mkfs.vfat and mke2fs (dosfstools, e2fsprogs; `scripts/test` installs them).

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
        e[16] = i as u8 + 1;
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
    let parts = disk::partitions(&open(&img, "gpt-backup")).unwrap();
    assert_eq!(parts.len(), 2);
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
    let parts = disk::partitions(&open(&img, "gpt-entries")).unwrap();
    assert_eq!(parts[0].offset, 2048 * 512, "backup entries must be used");
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

#[test]
fn mbr_extended_chain_loop_is_an_error() {
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
    let err = disk::partitions(&open(&img2, "mbr-loop"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("loops back"), "{err}");
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
