//! End to end for the Boot Loader Specification (issue 4): a unified kernel image booted
//! from its sections, and boot counting's rename on the ESP, checked on the disk image
//! byte for byte, with mtools and fsck.fat, and by a second boot and the host tool.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot_e2e::{
    Scenario, TARGET_OPTIONS, assert_alive, leapboot_bin, menu_from_log, target_cmdline,
    target_initrds,
};
use leapboot_menus::uki;
use leapboot_qemu::{DiskImage, Partition, default_timeout, qemu_or_skip};
use std::path::Path;
use std::process::Command;

/// The booted command line is the entry's, exactly (with systemd-boot's `initrd=` in
/// front for a Type #1 entry); leapboot may add its own `leapboot.entry=<id>` at the
/// end (the `entry_param` setting), nothing else.
fn assert_cmdline(got: &str, want: &str, id: &str) {
    assert!(
        got == want || got == format!("{want} leapboot.entry={id}"),
        "target command line\n  got:  {got:?}\n  want: {want:?}"
    );
}

/// A UKI built here (`.osrel`, `.cmdline`, `.linux` = the Debian kernel, `.initrd` = the
/// target initramfs) at `/EFI/Linux/test.efi` is the only entry: leapboot reads the
/// two payload sections by byte range, kexecs them, and the target gets `.cmdline`.
#[test]
fn uki_boots_from_its_sections_with_its_cmdline() {
    if !qemu_or_skip("uki_boots_from_its_sections_with_its_cmdline") {
        return;
    }
    let mut s = Scenario::new("bls-uki");
    let kernel = std::fs::read(&s.kernel.vmlinuz).expect("reading vmlinuz");
    let initrd = s.target_initrd(&["uki"]);
    let cmdline = format!("{TARGET_OPTIONS} uki=test");
    let osrel = b"NAME=\"Leapboot Test\"\nID=leapboot-test\nVERSION_ID=1\nPRETTY_NAME=\"Leapboot Test UKI\"\n";
    let image = uki::build(
        uki::HOST_MACHINE,
        &[
            (".osrel", osrel.as_slice()),
            (".cmdline", cmdline.as_bytes()),
            (".linux", &kernel),
            (".initrd", &initrd),
        ],
    );
    let esp = Partition::esp(64).file("/EFI/Linux/test.efi", image.clone());
    s.disk(&DiskImage::gpt(80).partition(esp));
    s.firmware("timeout = 0\n");
    let mut vm = s.boot("");
    vm.wait_for("timeout 0: booting default entry 'test'", default_timeout())
        .unwrap();
    let k = vm
        .wait_for("handoff: kernel /EFI/Linux/test.efi", default_timeout())
        .unwrap();
    // The whole `.linux` section, read by byte range.
    assert!(k.contains(&format!("({} bytes", kernel.len())), "{k}");
    assert_cmdline(&target_cmdline(&mut vm), &cmdline, "test");
    assert_eq!(target_initrds(&mut vm), "uki");
    vm.wait_exit(default_timeout()).unwrap();
    let log = vm.log();
    assert_alive(&log);
    let (ids, default) = menu_from_log(&log);
    assert_eq!(ids, ["test"]);
    assert_eq!(default.as_deref(), Some("test"));
    assert_eq!(s.host_list(), (ids, default));
}

/// `mdir -b` of a directory of the FAT filesystem at `offset` in `img`: the long names.
fn mdir(img: &Path, offset: u64, dir: &str) -> Vec<String> {
    let out = Command::new("mdir")
        .env("MTOOLS_SKIP_CHECK", "1")
        .env("MTOOLSRC", "/dev/null")
        .arg("-b")
        .arg("-i")
        .arg(format!("{}@@{offset}", img.display()))
        .arg(format!("::{dir}"))
        .output()
        .expect("running mdir");
    assert!(
        out.status.success(),
        "mdir: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.rsplit('/').next().map(str::to_string))
        .collect()
}

/// `fsck.fat -n` on a copy of the partition finds nothing to fix.
fn fsck_clean(part: &[u8], scratch: &Path) {
    std::fs::write(scratch, part).unwrap();
    let out = Command::new("fsck.fat")
        .arg("-n")
        .arg(scratch)
        .output()
        .expect("running fsck.fat");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // A clean run prints the version line and the summary line only.
    assert!(
        out.status.success() && text.lines().count() == 2,
        "fsck.fat -n: {text}"
    );
}

/// `leapboot list --disk IMAGE` (text): titles and ids in order, `*` on the default.
fn host_list_text(img: &Path) -> Vec<String> {
    let out = Command::new(leapboot_bin())
        .arg("list")
        .arg("--disk")
        .arg(img)
        .output()
        .expect("running leapboot list");
    assert!(
        out.status.success(),
        "leapboot list: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("* ") || l.starts_with("  ") && !l.starts_with("    "))
        .map(str::to_string)
        .collect()
}

/// Disk offsets of the 512-byte blocks that differ.
fn changed_blocks(before: &[u8], after: &[u8]) -> Vec<usize> {
    assert_eq!(before.len(), after.len(), "image size changed");
    before
        .chunks(512)
        .zip(after.chunks(512))
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, _)| i * 512)
        .collect()
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Boot counting end to end. `x+1.conf` (version 2, one try left) is the default over
/// `y.conf` (version 1; both have a sort-key, without which systemd-boot orders by id
/// alone). Booting it renames it to `x+0-1.conf` on the ESP, after the
/// kernel is loaded and before the jump: the image then differs in one 512-byte block
/// of the `/loader/entries` directory and nowhere else. On the next boot of the same
/// image `x` has no tries left and sorts last, so `y` is the default and boots, and the
/// image is not written again; the host tool lists the image the same way.
#[test]
fn counted_entry_is_renamed_before_boot_and_sorts_last_after() {
    if !qemu_or_skip("counted_entry_is_renamed_before_boot_and_sorts_last_after") {
        return;
    }
    let mut s = Scenario::new("bls-counting");
    let vmlinuz = s.kernel.vmlinuz.clone();
    let esp = Partition::esp(64)
        .file_from("/vmlinuz", &vmlinuz)
        .file("/target.img", s.target_initrd(&["esp"]))
        .file(
            "/loader/entries/x+1.conf",
            format!(
                "title Counted X\nsort-key leapboot\nversion 2.0\nlinux /vmlinuz\ninitrd /target.img\noptions {TARGET_OPTIONS} entry=x\n"
            ),
        )
        .file(
            "/loader/entries/y.conf",
            format!(
                "title Plain Y\nsort-key leapboot\nversion 1.0\nlinux /vmlinuz\ninitrd /target.img\noptions {TARGET_OPTIONS} entry=y\n"
            ),
        );
    let disk = DiskImage::gpt(80).partition(esp);
    let esp_offset = disk.partition_offset(1).expect("ESP offset") as usize;
    let esp_len = 64 * 1024 * 1024;
    // Attached writable (DiskSpec::virtio): the rename must reach the image.
    let img = s.disk(&disk);
    s.firmware("timeout = 0\n");

    // Before: the host lists x first and as the default.
    assert_eq!(
        host_list_text(&img),
        ["* Counted X [x]", "  Plain Y [y]"],
        "host list before the boot"
    );
    let before = std::fs::read(&img).unwrap();

    // First boot: x, renamed before the jump.
    let mut vm = s.boot("");
    vm.wait_for("timeout 0: booting default entry 'x'", default_timeout())
        .unwrap();
    let renamed = vm
        .wait_for("boot counting: renamed", default_timeout())
        .unwrap();
    assert!(
        renamed.contains("/loader/entries/x+1.conf to /loader/entries/x+0-1.conf on vda1"),
        "{renamed}"
    );
    assert_cmdline(
        &target_cmdline(&mut vm),
        &format!(r"initrd=\target.img {TARGET_OPTIONS} entry=x"),
        "x",
    );
    vm.wait_exit(default_timeout()).unwrap();
    let log1 = vm.log();
    std::fs::write(s.dir.join("serial-boot1.log"), &log1).unwrap();
    assert_alive(&log1);
    let (ids, default) = menu_from_log(&log1);
    assert_eq!(
        (ids, default.as_deref()),
        (vec!["x".to_string(), "y".to_string()], Some("x"))
    );

    // The image: one 512-byte block changed, inside the ESP, holding the long name.
    let after = std::fs::read(&img).unwrap();
    let changed = changed_blocks(&before, &after);
    assert_eq!(changed.len(), 1, "blocks changed by the boot: {changed:?}");
    let b = changed[0];
    assert!(
        (esp_offset..esp_offset + esp_len).contains(&b),
        "changed block {b:#x} is outside the ESP at {esp_offset:#x}"
    );
    // A long-name slot holds its first five UTF-16 units at bytes 1..11.
    assert!(
        contains(&before[b..b + 512], &utf16("x+1.c")),
        "old long name not in block {b:#x}"
    );
    assert!(
        contains(&after[b..b + 512], &utf16("x+0-1")),
        "new long name not in block {b:#x}"
    );
    let diff: Vec<usize> = (b..b + 512).filter(|&i| before[i] != after[i]).collect();
    eprintln!(
        "boot counting changed block {b:#x} (ESP offset {:#x}), bytes {:#x}..={:#x} ({} bytes differ)",
        b - esp_offset,
        diff.first().unwrap() - b,
        diff.last().unwrap() - b,
        diff.len()
    );
    let names = mdir(&img, esp_offset as u64, "/loader/entries");
    assert!(names.iter().any(|n| n == "x+0-1.conf"), "{names:?}");
    assert!(!names.iter().any(|n| n == "x+1.conf"), "{names:?}");
    fsck_clean(
        &after[esp_offset..esp_offset + esp_len],
        &s.dir.join("esp-after.img"),
    );

    // The host tool: x has no tries left and sorts last; y is the default.
    let listed = host_list_text(&img);
    assert_eq!(
        listed,
        ["* Plain Y [y]", "  Counted X [x]"],
        "host list after the boot"
    );
    assert_eq!(
        s.host_list(),
        (
            vec!["y".to_string(), "x".to_string()],
            Some("y".to_string())
        )
    );

    // Second boot of the same image: y boots; nothing is written.
    let mut vm = s.boot("");
    vm.wait_for("timeout 0: booting default entry 'y'", default_timeout())
        .unwrap();
    assert_cmdline(
        &target_cmdline(&mut vm),
        &format!(r"initrd=\target.img {TARGET_OPTIONS} entry=y"),
        "y",
    );
    vm.wait_exit(default_timeout()).unwrap();
    let log2 = vm.log();
    assert_alive(&log2);
    assert!(
        !log2.contains("boot counting:"),
        "second boot renamed something"
    );
    let (ids, default) = menu_from_log(&log2);
    assert_eq!(
        (ids, default.as_deref()),
        (vec!["y".to_string(), "x".to_string()], Some("y"))
    );
    assert_eq!(
        std::fs::read(&img).unwrap(),
        after,
        "second boot wrote the image"
    );
}
