//! GRUB's one-shot default end to end: `next_entry` in /boot/grub/grubenv picks the
//! entry once and is cleared in place (the 1024-byte block keeps its size and its
//! sectors), so the next boot takes the normal default again.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot_e2e::{Scenario, TARGET_OPTIONS, grub_mkconfig_default, target_cmdline};
use leapboot_qemu::{DiskImage, Partition, default_timeout, qemu_or_skip};

const ROOT_UUID: &str = "7f3c2a10-1b2c-4d5e-8f90-a1b2c3d4e5f6";

/// The environment block as grub-editenv writes it: text, then `#` to 1024 bytes.
fn grubenv(vars: &str) -> Vec<u8> {
    let mut b = format!("# GRUB Environment Block\n{vars}").into_bytes();
    b.resize(1024, b'#');
    b
}

/// grub-mkconfig's header logic for `next_entry`, then two entries.
fn grub_cfg() -> String {
    let linux = format!("linux /boot/vmlinuz root=UUID={ROOT_UUID} ro {TARGET_OPTIONS}");
    let choose_default = grub_mkconfig_default("0");
    format!(
        "if [ -s $prefix/grubenv ]; then\n  load_env\nfi\n\
         {choose_default}\
         set timeout=0\n\
         menuentry 'Normal' --id normal {{\n\t{linux} which=normal\n\tinitrd /boot/target.img\n}}\n\
         menuentry 'Once' --id once {{\n\t{linux} which=once\n\tinitrd /boot/target.img\n}}\n"
    )
}

#[test]
fn next_entry_boots_once_and_is_cleared_in_place() {
    if !qemu_or_skip("next_entry_boots_once_and_is_cleared_in_place") {
        return;
    }
    let mut s = Scenario::new("grubenv-next-entry");
    let root = Partition::linux_ext4(64, "boot", ROOT_UUID)
        .file_from("/boot/vmlinuz", &s.kernel.vmlinuz)
        .file("/boot/target.img", s.target_initrd(&["root"]))
        .file("/boot/grub/grub.cfg", grub_cfg())
        .file("/boot/grub/grubenv", grubenv("next_entry=once\n"));
    let disk = s.disk(&DiskImage::gpt(72).partition(root));
    s.firmware("timeout = 0\nentry_param = false\n");
    let before = std::fs::read(&disk).unwrap();

    let mut vm = s.boot("");
    let first = target_cmdline(&mut vm);
    assert!(first.ends_with("which=once"), "{first}");
    vm.wait_exit(default_timeout()).unwrap();
    assert!(
        vm.log()
            .contains("grubenv: /boot/grub/grubenv on vda1: 1 change(s) written"),
        "no grubenv line"
    );

    // The image changed in exactly one place: the block now says next_entry=.
    let after = std::fs::read(&disk).unwrap();
    assert_eq!(before.len(), after.len());
    let changed: Vec<usize> = (0..before.len())
        .filter(|&i| before[i] != after[i])
        .collect();
    let (lo, hi) = (changed[0], *changed.last().unwrap());
    assert!(hi - lo < 1024, "changes span {lo}..{hi}");
    let block_start = after
        .windows(25)
        .position(|w| w == b"# GRUB Environment Block\n")
        .unwrap();
    let block = &after[block_start..block_start + 1024];
    assert_eq!(block, grubenv("next_entry=\n").as_slice());

    let mut vm = s.boot("");
    let second = target_cmdline(&mut vm);
    assert!(second.ends_with("which=normal"), "{second}");
    vm.wait_exit(default_timeout()).unwrap();
    assert!(
        !vm.log()
            .contains("grubenv: /boot/grub/grubenv on vda1: 1 change(s) written"),
        "wrote again"
    );
}
