//! GRUB's names for devices it assembles itself (`diskfilter.c`): md arrays as
//! `(md/NAME)` and `(mduuid/HEX)`, LVM logical volumes as `(lvm/VG-LV)` and
//! `(lvmid/VGUUID/LVUUID)`, given to the scan as aliases of the volumes leapboot
//! assembled. Each name finds its volume in file names and in `$root`; a name GRUB
//! would not know (single dashes, another case, an absent LV) finds nothing.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod grub_common;

use grub_common::vol;
use leapboot_menus::grub::{self, GrubOptions};
use leapboot_menus::{MemFs, VolumeView};

const VG_ID: &str = "hbE5Oc-Xd2P-1a2b-3c4d-5e6f-7a8b-9c0d1e";
const LV_ID: &str = "UMl6Ey-aaaa-bbbb-cccc-dddd-eeee-ffff01";
const MD_UUID: &str = "a1a1a1a1000000000000000000000012";

const CFG: &str = r#"
menuentry 'LV by name' { linux (lvm/debian--vg-root)/boot/vmlinuz-lv root=/dev/mapper/debian--vg-root }
menuentry 'LV by id' {
  insmod lvm
  set root='lvmid/hbE5Oc-Xd2P-1a2b-3c4d-5e6f-7a8b-9c0d1e/UMl6Ey-aaaa-bbbb-cccc-dddd-eeee-ffff01'
  linux /boot/vmlinuz-lv
}
menuentry 'md by name' { set root='md/0'; linux /vmlinuz-md }
menuentry 'md by uuid' { insmod mdraid1x; linux (mduuid/a1a1a1a1000000000000000000000012)/vmlinuz-md }
menuentry 'single dashes' { linux (lvm/debian-vg-root)/boot/vmlinuz-lv }
menuentry 'upper-case uuid' { linux (mduuid/A1A1A1A1000000000000000000000012)/vmlinuz-md }
"#;

fn fs(files: &[&str]) -> MemFs {
    let mut fs = MemFs::new();
    for f in files {
        fs.insert(f, b"kernel".to_vec());
    }
    fs
}

#[test]
fn diskfilter_names_find_arrays_and_logical_volumes() {
    let mut esp = fs(&[]);
    esp.insert("/boot/grub/grub.cfg", CFG.as_bytes().to_vec());
    let vols = [
        (vol("vda1", "1111-2222", None), esp),
        (
            vol("md/0", "00000000-0000-0000-0000-0000000000a0", None),
            fs(&["/vmlinuz-md"]),
        ),
        (
            vol(
                "debian--vg-root",
                "00000000-0000-0000-0000-0000000000b0",
                None,
            ),
            fs(&["/boot/vmlinuz-lv"]),
        ),
    ];
    let views: Vec<VolumeView<'_>> = vols
        .iter()
        .map(|(i, f)| VolumeView { info: i, fs: f })
        .collect();
    let options = GrubOptions {
        device_aliases: vec![
            vec![],
            vec!["md/0".into(), format!("mduuid/{MD_UUID}")],
            vec![
                "lvm/debian--vg-root".into(),
                format!("lvmid/{VG_ID}/{LV_ID}"),
            ],
        ],
        ..GrubOptions::default()
    };
    let mut diags = Vec::new();
    let scan = grub::scan_with(&views, 0, &options, &mut diags).expect("a config");
    let got: Vec<(String, String, bool)> = scan
        .entries
        .iter()
        .map(|e| (e.title.clone(), e.volume.device.clone(), e.bootable()))
        .collect();
    let want = [
        ("LV by name", "debian--vg-root", true),
        ("LV by id", "debian--vg-root", true),
        ("md by name", "md/0", true),
        ("md by uuid", "md/0", true),
    ];
    for (title, device, bootable) in want {
        assert!(
            got.contains(&(title.into(), device.into(), bootable)),
            "{title}: {got:?}\n{diags:?}"
        );
    }
    for title in ["single dashes", "upper-case uuid"] {
        let e = scan.entries.iter().find(|e| e.title == title).unwrap();
        assert!(!e.bootable(), "{title} should find no device: {e:?}");
    }
}
