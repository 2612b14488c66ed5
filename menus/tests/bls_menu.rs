//! The menu over BLS and UKI entries through the public API: merging volumes, boot order,
//! the default ladder (`leapboot.default` setting, then `loader.conf`, then the first
//! bootable entry) and the boot-counter rename, one named test per rule.

// Test helpers outside #[test] fns unwrap, expect and panic: a failure there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot_menus::bls::counter::rename_for_boot;
use leapboot_menus::entry::{EntryKind, VolumeInfo, VolumeRole};
use leapboot_menus::fs::MemFs;
use leapboot_menus::menu::DefaultReason;
use leapboot_menus::scan::{VolumeView, scan_all};
use leapboot_menus::{Menu, bls::uki};

fn info(device: &str, role: VolumeRole) -> VolumeInfo {
    VolumeInfo {
        uuid: Some(format!("{device}-uuid")),
        label: None,
        device: device.into(),
        fs_type: "vfat".into(),
        role,
    }
}

fn menu(vols: &[(VolumeInfo, MemFs)], setting: Option<&str>) -> Menu {
    let views: Vec<VolumeView<'_>> = vols
        .iter()
        .map(|(i, fs)| VolumeView { info: i, fs })
        .collect();
    Menu::assemble(&scan_all(&views), setting)
}

fn ids(m: &Menu) -> Vec<String> {
    m.entries
        .iter()
        .map(|e| e.bls.as_ref().unwrap().sd_id.clone())
        .collect()
}

fn default_id(m: &Menu) -> Option<String> {
    m.default_entry()
        .map(|e| e.bls.as_ref().unwrap().sd_id.clone())
}

fn esp(entries: &[(&str, &str)]) -> MemFs {
    let mut fs = MemFs::new().with("/vmlinuz", "K").with("/initrd", "I");
    for (name, body) in entries {
        fs.insert(&format!("/loader/entries/{name}"), *body);
    }
    fs
}

const K: &str = "linux /vmlinuz\n";

/// ESP and XBOOTLDR entries are merged and ordered as one list.
#[test]
fn esp_and_xbootldr_merge() {
    let vols = [
        (
            info("esp", VolumeRole::Esp),
            esp(&[("a-1.conf", K), ("c-1.conf", K)]),
        ),
        (
            info("xbootldr", VolumeRole::Xbootldr),
            esp(&[("b-1.conf", K)]),
        ),
    ];
    let m = menu(&vols, None);
    assert_eq!(ids(&m), ["c-1.conf", "b-1.conf", "a-1.conf"]);
    assert_eq!(m.entries[1].volume.device, "xbootldr");
}

/// The Fedora layout: entries in /boot/loader/entries of a root filesystem.
#[test]
fn fedora_root_layout() {
    let root = MemFs::new()
        .with(
            "/boot/loader/entries/f-6.8.conf",
            "title Fedora\nlinux /vmlinuz-6.8\ninitrd /initramfs-6.8.img\n",
        )
        .with("/boot/vmlinuz-6.8", "K")
        .with("/boot/initramfs-6.8.img", "I");
    let m = menu(&[(info("vda3", VolumeRole::Other), root)], None);
    let e = m.default_entry().unwrap();
    assert_eq!(
        (e.kernel.as_str(), e.initrds[0].as_str()),
        ("/boot/vmlinuz-6.8", "/boot/initramfs-6.8.img")
    );
}

/// UKIs and Type #1 entries are ordered together.
#[test]
fn uki_and_type1_ordered_together() {
    let img = uki::build(
        uki::HOST_MACHINE,
        &[
            (".osrel", b"ID=fedora\nPRETTY_NAME=Fedora\n"),
            (".linux", b"K"),
        ],
    );
    let mut fs = esp(&[
        ("zzz.conf", K),
        (
            "sorted.conf",
            "sort-key fedora\nversion 1\nlinux /vmlinuz\n",
        ),
    ]);
    fs.insert("/EFI/Linux/fedora-9.efi", img);
    let m = menu(&[(info("esp", VolumeRole::Esp), fs)], None);
    // Both have sort-key "fedora"; the UKI has no version ("" is older than "1").
    assert_eq!(ids(&m), ["sorted.conf", "fedora-9.efi", "zzz.conf"]);
    assert_eq!(m.entries[1].kind, EntryKind::Uki);
}

/// Rung 1: the `default` setting wins over loader.conf; it matches leapboot's id too.
#[test]
fn setting_beats_loader_conf() {
    let mut fs = esp(&[("a-1.conf", K), ("b-1.conf", K)]);
    fs.insert("/loader/loader.conf", "default b-*\n");
    let vols = [(info("esp", VolumeRole::Esp), fs)];
    let m = menu(&vols, Some("a-1"));
    assert_eq!(default_id(&m).as_deref(), Some("a-1.conf"));
    assert_eq!(m.default_reason, Some(DefaultReason::Setting("a-1".into())));
    let m = menu(&vols, Some("A-1.CONF"));
    assert_eq!(default_id(&m).as_deref(), Some("a-1.conf"));
}

/// Rung 2: loader.conf's default, the newest match (first in order) wins.
#[test]
fn loader_conf_newest_match_wins() {
    let mut fs = esp(&[
        ("os-6.1.conf", K),
        ("os-6.10.conf", K),
        ("os-6.9.conf", K),
        ("zz.conf", K),
    ]);
    fs.insert("/loader/loader.conf", "default OS-*\n");
    let m = menu(&[(info("esp", VolumeRole::Esp), fs)], None);
    assert_eq!(default_id(&m).as_deref(), Some("os-6.10.conf"));
    assert_eq!(
        m.default_reason,
        Some(DefaultReason::LoaderConf("os-*".into()))
    );
}

/// Rung 2 is exact: a pattern without `.conf` does not match an id that has it.
#[test]
fn loader_conf_ids_keep_suffix() {
    let mut fs = esp(&[("a.conf", K), ("b.conf", K)]);
    fs.insert("/loader/loader.conf", "default a\n");
    let m = menu(&[(info("esp", VolumeRole::Esp), fs)], None);
    assert_eq!(default_id(&m).as_deref(), Some("b.conf"));
    assert_eq!(m.default_reason, Some(DefaultReason::FirstBootable));
}

/// `@saved` selects nothing (no EFI variables): the first entry.
#[test]
fn loader_conf_saved_falls_through() {
    let mut fs = esp(&[("a.conf", K), ("b.conf", K)]);
    fs.insert("/loader/loader.conf", "default @saved\n");
    let m = menu(&[(info("esp", VolumeRole::Esp), fs)], None);
    assert_eq!(m.default_reason, Some(DefaultReason::FirstBootable));
}

/// The ESP's loader.conf is preferred over another volume's.
#[test]
fn esp_loader_conf_preferred() {
    let mut other = esp(&[("a.conf", K)]);
    other.insert("/loader/loader.conf", "default a.conf\n");
    let mut e = esp(&[("b.conf", K), ("c.conf", K)]);
    e.insert("/loader/loader.conf", "default b.conf\n");
    let m = menu(
        &[
            (info("vdb1", VolumeRole::Other), other),
            (info("esp", VolumeRole::Esp), e),
        ],
        None,
    );
    assert_eq!(default_id(&m).as_deref(), Some("b.conf"));
}

/// Rung 3: the first bootable entry; entries with missing files are listed but skipped.
#[test]
fn first_bootable_skips_missing_kernel() {
    let fs = esp(&[("z-missing.conf", "linux /nope\n"), ("a.conf", K)]);
    let m = menu(&[(info("esp", VolumeRole::Esp), fs)], None);
    assert_eq!(ids(&m), ["z-missing.conf", "a.conf"]);
    assert!(!m.entries[0].bootable());
    assert_eq!(default_id(&m).as_deref(), Some("a.conf"));
}

/// Entries with no tries left sort last and are chosen only by name.
#[test]
fn bad_entries_last() {
    let fs = esp(&[("z+0-3.conf", K), ("a+2.conf", K)]);
    let m = menu(&[(info("esp", VolumeRole::Esp), fs)], None);
    assert_eq!(ids(&m), ["a.conf", "z.conf"]);
    assert_eq!(default_id(&m).as_deref(), Some("a.conf"));
}

/// The rename before boot, with full paths on the entry's volume.
#[test]
fn rename_before_boot() {
    let fs = esp(&[("fedora+3.conf", K), ("plain.conf", K)]);
    let m = menu(&[(info("esp", VolumeRole::Esp), fs)], None);
    let counted = m.entries.iter().find(|e| e.id == "fedora").unwrap();
    assert_eq!(
        rename_for_boot(counted),
        Some((
            "/loader/entries/fedora+3.conf".to_string(),
            "/loader/entries/fedora+2-1.conf".to_string()
        ))
    );
    let plain = m.entries.iter().find(|e| e.id == "plain").unwrap();
    assert_eq!(rename_for_boot(plain), None);
}

/// Each BLS file is its own entry even when two describe the same boot.
#[test]
fn identical_files_stay_separate() {
    let fs = esp(&[("x+1.conf", K), ("x+3.conf", K)]);
    let m = menu(&[(info("esp", VolumeRole::Esp), fs)], None);
    let names: Vec<_> = m
        .entries
        .iter()
        .map(|e| e.bls.as_ref().unwrap().file_name.as_str())
        .collect();
    assert_eq!(names, ["x+3.conf", "x+1.conf"]);
}

/// A UKI entry carries the section ranges the boot path reads.
#[test]
fn uki_entry_carries_sections() {
    let img = uki::build(
        uki::HOST_MACHINE,
        &[
            (".osrel", b"ID=a\n"),
            (".cmdline", b"console=ttyS0\n"),
            (".linux", b"KERNEL"),
            (".initrd", b"INITRD"),
        ],
    );
    let fs = MemFs::new().with("/EFI/Linux/a.efi", img.clone());
    let m = menu(&[(info("esp", VolumeRole::Esp), fs)], None);
    let e = m.default_entry().unwrap();
    let s = e.uki.as_ref().unwrap();
    let slice =
        |r: leapboot_menus::SectionRange| &img[r.offset as usize..(r.offset + r.size) as usize];
    assert_eq!(
        (slice(s.linux.unwrap()), slice(s.initrd.unwrap())),
        (&b"KERNEL"[..], &b"INITRD"[..])
    );
    assert_eq!(
        (e.kernel.as_str(), e.cmdline.as_str()),
        ("/EFI/Linux/a.efi", "console=ttyS0")
    );
}
