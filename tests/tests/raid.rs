//! End to end: a server whose `/boot` is an md RAID1 array (metadata 1.2, what
//! `mdadm --create` and Debian's installer write by default) with one of its two
//! members missing (issue 12). leapboot as PID 1 finds the one member, says the array
//! is degraded, reads the ext4 inside it, runs the GRUB config Debian's grub-mkconfig
//! writes for `/boot` on md (`insmod mdraid1x`, `set root='mduuid/<uuid>'`, `search
//! --no-floppy --fs-uuid --set=root --hint='mduuid/<uuid>'`), and boots its default
//! entry: the real Debian kernel with the exact command line and initrd. `leapboot
//! list --disk` on the same image lists what the firmware menu showed.
//!
//! The disk is `raid-b.img` of the stacked-storage fixtures
//! (`leapboot_qemu::fixtures`): `mdadm --create` and `mke2fs` ran inside a QEMU guest
//! (the host kernel has no md driver). The kernel, the target initrd and grub.cfg are
//! then written here into the member's copy of the array, from the host: in RAID1
//! each member holds the array's bytes from its data offset (read from the 1.2
//! superblock 4 KiB into the partition), so the ext4 lies at partition offset + data
//! offset, and `debugfs -w 'image?offset=N'` writes into it without md, mount or root.
//! That keeps the cached fixtures independent of the kernel's bytes and of the
//! target-init binary, which change more often than the array does.
//!
//! Without QEMU or the fixture tools the test says so and passes; with
//! `LEAPBOOT_REQUIRE_QEMU=1` it fails instead.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot_e2e::{
    Scenario, TARGET_OPTIONS, assert_alive, menu_from_log, target_cmdline, target_initrds,
};
use leapboot_qemu::fixtures::{self, RAID_ARRAY_UUIDS, RAID_FS_UUIDS};
use leapboot_qemu::{default_timeout, hostile, qemu_or_skip};
use std::path::Path;
use std::process::Command;

/// The root filesystem's UUID that the entries pass as `root=` (not on this disk:
/// the target is an initramfs that never mounts it).
const ROOT_UUID: &str = "5e7e0000-a1d0-4000-8000-00000000002f";

/// The md UUID as GRUB writes it in `mduuid/...`: 32 hex digits, no colons.
fn grub_mduuid(mdadm_uuid: &str) -> String {
    mdadm_uuid.replace(':', "")
}

/// The entry id Debian gives its first, simple entry.
fn simple_id() -> String {
    format!("gnulinux-simple-{ROOT_UUID}")
}

/// What grub-mkconfig's `prepare_grub_to_access_device` writes for an ext2-family
/// filesystem on an md array (GRUB's abstraction module, partition map, filesystem
/// module, then the device name and a UUID search with the device as the hint).
fn access_md(indent: &str) -> String {
    let md = grub_mduuid(RAID_ARRAY_UUIDS[0]);
    let fs = RAID_FS_UUIDS[0];
    [
        "insmod part_gpt".to_string(),
        "insmod diskfilter".to_string(),
        "insmod mdraid1x".to_string(),
        "insmod ext2".to_string(),
        format!("set root='mduuid/{md}'"),
        "if [ x$feature_platform_search_hint = xy ]; then".to_string(),
        format!("  search --no-floppy --fs-uuid --set=root --hint='mduuid/{md}'  {fs}"),
        "else".to_string(),
        format!("  search --no-floppy --fs-uuid --set=root {fs}"),
        "fi".to_string(),
    ]
    .iter()
    .map(|l| format!("{indent}{l}\n"))
    .collect()
}

/// One Debian entry's body for kernel `version` with /boot as its own filesystem:
/// paths are relative to /boot's root (`/vmlinuz-...`).
fn entry_body(version: &str, extra: &str, indent: &str) -> String {
    let mut out = format!("{indent}load_video\n{indent}insmod gzio\n");
    out.push_str(&format!(
        "{indent}if [ x$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi\n"
    ));
    out.push_str(&access_md(indent));
    out.push_str(&format!(
        "{indent}echo\t'Loading Linux {version} ...'\n\
         {indent}linux\t/vmlinuz-{version} root=UUID={ROOT_UUID} ro {extra} {TARGET_OPTIONS}\n\
         {indent}echo\t'Loading initial ramdisk ...'\n\
         {indent}initrd\t/initrd.img-{version}\n"
    ));
    out
}

/// `/boot/grub/grub.cfg` in the shape of Debian 12's grub-mkconfig for `/boot` on
/// RAID1 (shortened: no theme, no os-prober): header with grubenv and
/// `menuentry_id_option`, `$prefix` found on the array, the simple entry and an
/// "Advanced options" submenu with the recovery entry.
fn grub_cfg(version: &str) -> String {
    let mut cfg = String::from(
        "### BEGIN /etc/grub.d/00_header ###\n\
         if [ -s $prefix/grubenv ]; then\n  set have_grubenv=true\n  load_env\nfi\n\
         set default=\"0\"\n\
         if [ x\"${feature_menuentry_id}\" = xy ]; then\n  menuentry_id_option=\"--id\"\n\
         else\n  menuentry_id_option=\"\"\nfi\nexport menuentry_id_option\n\
         function load_video {\n  insmod all_video\n}\n",
    );
    cfg.push_str(&access_md(""));
    cfg.push_str(
        "set timeout=5\n### END /etc/grub.d/00_header ###\n\n### BEGIN /etc/grub.d/10_linux ###\n",
    );
    cfg.push_str(&format!(
        "menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class gnu --class os \
         $menuentry_id_option '{}' {{\n{}}}\n",
        simple_id(),
        entry_body(version, "quiet raid=degraded", "\t")
    ));
    cfg.push_str(&format!(
        "submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option \
         'gnulinux-advanced-{ROOT_UUID}' {{\n\
         \tmenuentry 'Debian GNU/Linux, with Linux {version} (recovery mode)' --class debian \
         --class gnu-linux --class gnu --class os $menuentry_id_option \
         'gnulinux-{version}-recovery-{ROOT_UUID}' {{\n{}\t}}\n}}\n",
        entry_body(version, "single", "\t\t")
    ));
    cfg.push_str("### END /etc/grub.d/10_linux ###\n");
    cfg
}

/// Runs `debugfs` on the ext4 at byte `offset` of `img` (`-w` when `write`) with
/// `commands` from a file; fails the test on anything on stderr but the banner.
fn debugfs(img: &Path, offset: u64, write: bool, commands: &str) -> String {
    let script = img.with_extension("debugfs");
    std::fs::write(&script, commands).unwrap();
    let mut cmd = Command::new("debugfs");
    if write {
        cmd.arg("-w");
    }
    let out = cmd
        .arg("-f")
        .arg(&script)
        .arg(format!("{}?offset={offset}", img.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("debugfs ") && !l.trim().is_empty())
        .collect();
    assert!(
        out.status.success() && complaints.is_empty(),
        "debugfs {commands:?}: {stderr}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The byte offset of the ext4 inside the metadata 1.2 array's member on `img`.
fn array_fs_offset(img: &Path) -> u64 {
    let (part, _) = hostile::gpt_partition(img, 1).unwrap();
    let sb = part + hostile::MD_V12_SUPERBLOCK_AT;
    part + hostile::md_v1_data_offset(img, sb).unwrap()
}

/// Puts Debian's /boot into the array's filesystem on `img`: the kernel, the
/// initrd, grub.cfg; the fixture's BLS entry and fake kernel removed.
fn install_boot(s: &Scenario, img: &Path) {
    let v = &s.kernel.version;
    let initrd = s.dir.join("initrd.img");
    std::fs::write(&initrd, s.target_initrd(&["raid12"])).unwrap();
    let cfg = s.dir.join("grub.cfg");
    std::fs::write(&cfg, grub_cfg(v)).unwrap();
    let at = array_fs_offset(img);
    debugfs(
        img,
        at,
        true,
        &format!(
            "rm /loader/entries/raid12.conf\nrm /vmlinuz-6.1.0-raid12\nmkdir /grub\n\
             write {} /vmlinuz-{v}\nwrite {} /initrd.img-{v}\nwrite {} /grub/grub.cfg\n",
            s.kernel.vmlinuz.display(),
            initrd.display(),
            cfg.display()
        ),
    );
    // What the array holds now, by size.
    let listing = debugfs(img, at, false, "ls -p /\nls -p /grub\n");
    for (name, path) in [
        (format!("vmlinuz-{v}"), s.kernel.vmlinuz.clone()),
        (format!("initrd.img-{v}"), initrd),
        ("grub.cfg".to_string(), cfg),
    ] {
        let len = std::fs::metadata(&path).unwrap().len();
        assert!(
            listing.contains(&format!("/{name}/{len}/")),
            "{name} ({len} bytes) is not in the array:\n{listing}"
        );
    }
}

#[test]
fn degraded_raid1_boot_array_boots_debian() {
    let test = "degraded_raid1_boot_array_boots_debian";
    if !qemu_or_skip(test) {
        return;
    }
    let Some(images) = fixtures::stacked_or_skip(test) else {
        return;
    };
    let mut s = Scenario::new("raid-degraded");
    // Only raid-b: every array on it has one of its two members.
    let disk = s.disk_copy(&images.raid_b());
    install_boot(&s, &disk);
    s.firmware("timeout = 0\n");
    let before = leapboot_qemu::file_digest(&disk).unwrap();
    let mut vm = s.boot("");
    let uuid = RAID_ARRAY_UUIDS[0];
    vm.wait_for(
        "md/boot12: RAID1 array is degraded: 1 of 2 members present",
        default_timeout(),
    )
    .unwrap();
    vm.wait_for(
        &format!("RAID1 array UUID {uuid} (metadata 1.2), 1 of 2 members, degraded"),
        default_timeout(),
    )
    .unwrap();
    vm.wait_for(
        &format!("volume: md/boot12: ext4 UUID={}", RAID_FS_UUIDS[0]),
        default_timeout(),
    )
    .unwrap();
    vm.wait_for(
        &format!("timeout 0: booting default entry '{}'", simple_id()),
        default_timeout(),
    )
    .unwrap();
    let v = &s.kernel.version;
    assert_eq!(
        target_cmdline(&mut vm),
        format!(
            "BOOT_IMAGE=/vmlinuz-{v} root=UUID={ROOT_UUID} ro quiet raid=degraded \
             {TARGET_OPTIONS} leapboot.entry={}",
            simple_id()
        )
    );
    // The target printed its banner (the running kernel's release) before that.
    let banner = vm
        .wait_for_any("LEAPBOOT-TARGET: booted Linux ", default_timeout())
        .unwrap();
    assert!(banner.trim_end().ends_with(v.as_str()), "{banner}");
    assert_eq!(target_initrds(&mut vm), "raid12");
    vm.wait_exit(default_timeout()).unwrap();
    let log = vm.log();
    assert_alive(&log);
    assert_eq!(
        leapboot_qemu::file_digest(&disk).unwrap(),
        before,
        "the member's image changed"
    );
    // The firmware menu and the host tool agree on the entries and the default.
    let (pid1_ids, pid1_default) = menu_from_log(&log);
    assert!(pid1_ids.contains(&simple_id()), "{pid1_ids:?}");
    assert_eq!(pid1_default, Some(simple_id()));
    assert_eq!(s.host_list(), (pid1_ids, pid1_default));
}
