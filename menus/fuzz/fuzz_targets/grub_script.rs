//! Arbitrary bytes as a `grub.cfg`, run through the GRUB lexer, parser and
//! interpreter over in-memory volumes, then merged into a menu. Must never panic,
//! hang or exhaust memory: every loop, call and file is bounded by the scan limits.
#![no_main]

use leapboot_menus::grub::grubenv::EnvBlock;
use leapboot_menus::{MemFs, Menu, VolumeInfo, VolumeRole, VolumeView, scan_all};
use libfuzzer_sys::fuzz_target;

fn vol(device: &str, uuid: &str, label: &str) -> VolumeInfo {
    VolumeInfo {
        uuid: Some(uuid.into()),
        label: Some(label.into()),
        device: device.into(),
        fs_type: "ext4".into(),
        role: VolumeRole::Other,
    }
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks where the config lives, so ESP and /boot layouts and the
    // `configfile`/`source` of the second file are all reached.
    let (sel, cfg) = match data.split_first() {
        Some((s, rest)) => (*s, rest),
        None => (0, data),
    };
    let path = match sel % 4 {
        0 => "/boot/grub/grub.cfg",
        1 => "/grub2/grub.cfg",
        2 => "/EFI/fuzz/grub.cfg",
        _ => "/boot/grub2/grub.cfg",
    };
    let mut env = EnvBlock::new(1024);
    let _ = env.set("saved_entry", "1>0");
    let _ = env.set("kernelopts", "root=/dev/vda2 ro");
    let esp = MemFs::new()
        .with(path, cfg.to_vec())
        .with("/boot/grub/grubenv", env.as_bytes().to_vec())
        .with("/grub2/grubenv", env.as_bytes().to_vec())
        .with("/vmlinuz", "K")
        .with("/initrd.img", "I")
        .with(
            "/loader/entries/a-6.1.conf",
            "title A\nlinux /vmlinuz\ninitrd /initrd.img\noptions $kernelopts\n",
        )
        .with("/boot/grub/other.cfg", cfg.to_vec());
    let root = MemFs::new()
        .with("/boot/grub/grub.cfg", cfg.to_vec())
        .with("/boot/vmlinuz", "K")
        .with("/etc/os-release", "x");
    let v0 = vol("vda1", "AB12-CD34", "ESP");
    let v1 = vol("vda2", "5e1f0000-aaaa-bbbb-cccc-000000000002", "root");
    let views = [
        VolumeView {
            info: &v0,
            fs: &esp,
        },
        VolumeView {
            info: &v1,
            fs: &root,
        },
    ];
    let scans = scan_all(&views);
    let menu = Menu::assemble(&scans, None);
    if let Some(d) = menu.default {
        assert!(d < menu.entries.len());
    }
    for &f in &menu.fallbacks {
        assert!(f < menu.entries.len());
    }
    assert_eq!(menu.env_writes.len(), menu.entries.len());
});
