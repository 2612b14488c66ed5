//! Server disks as the distributions' installers leave them, built by the real tools
//! (issue 12), each booted by leapboot as PID 1 of the firmware kernel under QEMU:
//!
//! 1. RHEL 9: GPT with a BIOS boot partition, an XFS `/boot` holding
//!    `grub2/grub.cfg` in the shape RHEL 9's `grub2-mkconfig` writes (`search` for
//!    `/boot`, then `blscfg`), `grub2/grubenv` whose `saved_entry` names the *older*
//!    of two BLS entries by an id that starts with a digit (the machine id), and the
//!    root on LVM2 (VG `rhel`, LVs `root` on XFS and `swap`). rhboot's GRUB matches
//!    `default` against ids first, so the older entry boots, with its `options`, the
//!    `$tuned_params` that `blscfg` expands into them, its initrd and `$tuned_initrd`.
//! 2. openSUSE: one Btrfs whose top level holds the subvolume `@` (with `@/home`,
//!    `@/.snapshots` and `@/boot/grub2/i386-pc` inside) and whose default subvolume
//!    is `@`. GRUB's config is `/@/boot/grub2/grub.cfg` seen from the top level; its
//!    kernel paths (`/boot/vmlinuz-...`) are relative to the default subvolume, as
//!    openSUSE's GRUB (`btrfs_relative_path`) reads them. `saved_entry` names the
//!    older kernel in the advanced submenu by its title path.
//! 3. Debian 12 guided LVM: GPT with a BIOS boot partition and a PV (VG `debian-vg`,
//!    LVs `root` on ext4 with `/boot` inside, and `swap_1`); `/boot/grub/grub.cfg` in
//!    the shape Debian's `grub-mkconfig` writes for it (`insmod lvm`,
//!    `set root='lvmid/<vg uuid>/<lv uuid>'`, `search --fs-uuid` with the `lvmid` hint,
//!    `root=/dev/mapper/debian--vg-root`). The default entry `0` boots the newest kernel.
//! 4. A LUKS2 disk beside that Debian disk (same VM as 3): leapboot lists it as
//!    encrypted, not unlocked, and the Debian entry still boots.
//!
//! Each boot checks the target kernel's exact command line (`LEAPBOOT-TARGET-CMDLINE:`)
//! and its initrds (`LEAPBOOT-TARGET-INITRDS:`, one marker per initrd file), the serial
//! log's volume lines (XFS on a partition and on an LV, Btrfs, ext4 on an LV, the
//! LVM PV and the LUKS volume), and that `leapboot list --disk` on the image files
//! gives the same entries and default as the menu PID 1 printed (beside the LUKS
//! disk, which gives it no volume, it complains about that disk only). The kernel is
//! the real Debian one the harness boots, installed under each distribution's names.
//!
//! The disks are made with `mkfs.xfs`, `mkfs.btrfs`/`btrfs`, `pvcreate`/`vgcreate`/
//! `lvcreate` and `cryptsetup` (`leapboot_qemu::hostfs`), which needs root for loop
//! devices and mounts. Without root, a tool or QEMU the tests say why and pass; with
//! `LEAPBOOT_REQUIRE_QEMU=1` they fail instead. Serial logs: `target/e2e/servers-*/`.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot_e2e::{
    GRUB_MKCONFIG_IDS_AND_SAVEDEFAULT, GRUB_MKCONFIG_LOAD_VIDEO, Scenario, TARGET_OPTIONS,
    assert_alive, grub_mkconfig_default, leapboot_bin, menu_from_log, target_cmdline,
    target_initrds,
};
use leapboot_qemu::{
    DiskImage, Filesystem, LogicalVolume, PartType, Partition, Vm, VolumeGroup, default_timeout,
    qemu_or_skip,
};
use std::time::Instant;

/// What every target command line here carries.
const VM: &str = TARGET_OPTIONS;

/// The firmware's settings: boot the default at once, as a headless server does.
const SETTINGS: &str = "timeout = 0\n";

/// True when QEMU and `grub-editenv` (for the `grubenv` files) are there;
/// otherwise says why the test is skipped, or fails it under
/// `LEAPBOOT_REQUIRE_QEMU=1`.
fn can_start(test: &str) -> bool {
    if !qemu_or_skip(test) {
        return false;
    }
    let editenv = leapboot_qemu::hostfs::find_program("grub-editenv");
    let missing = match editenv {
        Some(_) => vec![],
        None => vec!["grub-editenv (package grub-common)".to_string()],
    };
    all_there(test, missing)
}

/// True when everything `images` need is there; otherwise as [`can_start`].
fn can_build(test: &str, images: &[&DiskImage]) -> bool {
    let mut missing: Vec<String> = images
        .iter()
        .flat_map(|i| i.missing_requirements())
        .collect();
    missing.sort();
    missing.dedup();
    all_there(test, missing)
}

/// True when nothing is `missing`; otherwise says what, and skips (or fails under
/// `LEAPBOOT_REQUIRE_QEMU=1`).
fn all_there(test: &str, missing: Vec<String>) -> bool {
    if missing.is_empty() {
        return true;
    }
    let why = format!("{test}: needs {}", missing.join(", "));
    assert!(
        std::env::var_os("LEAPBOOT_REQUIRE_QEMU").is_none_or(|v| v != "1"),
        "{why} (scripts/setup installs the packages; run as root)"
    );
    eprintln!("SKIPPED {why}");
    false
}

/// Waits for a serial line holding each element of `lines` in order: every part of
/// an element on the same line, found by its first part.
fn expect_lines(vm: &mut Vm, lines: &[Vec<String>]) {
    for parts in lines {
        let line = vm.wait_for(&parts[0], default_timeout()).unwrap();
        for p in &parts[1..] {
            assert!(line.contains(p.as_str()), "{p:?} not in {line:?}");
        }
    }
}

/// One expected serial line: every part on it.
fn line(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| p.to_string()).collect()
}

/// Waits for the target, checks its command line and initrd markers, waits for the
/// power-off, and checks that the menu PID 1 printed (ids and default) is what
/// `leapboot list` reads from the image files, with `default_id` as the default.
fn check_boot(s: &Scenario, vm: &mut Vm, cmdline: &str, initrds: &[&str], default_id: &str) {
    check_target(s, vm, cmdline, initrds, default_id);
    let (ids, default) = menu_from_log(&vm.log());
    assert_eq!(s.host_list(), (ids, default), "{}: leapboot list", s.name);
}

/// Builds the firmware and boots it, saying how long the disks (written since
/// `built`) took.
fn boot(s: &mut Scenario, built: Instant) -> Vm {
    eprintln!(
        "{}: disks written in {:.1} s",
        s.name,
        built.elapsed().as_secs_f64()
    );
    s.firmware(SETTINGS);
    s.boot("")
}

/// [`check_boot`] without `leapboot list`.
fn check_target(s: &Scenario, vm: &mut Vm, cmdline: &str, initrds: &[&str], default_id: &str) {
    let got = target_cmdline(vm);
    assert_eq!(got, cmdline, "{}: target command line", s.name);
    let markers = target_initrds(vm);
    assert_eq!(
        markers.split_whitespace().collect::<Vec<_>>(),
        initrds,
        "{}: target initrds",
        s.name
    );
    vm.wait_exit(default_timeout()).unwrap();
    eprintln!(
        "{}: target ran {:.1} s after QEMU started",
        s.name,
        vm.elapsed().as_secs_f64()
    );
    let log = vm.log();
    assert_alive(&log);
    let (ids, default) = menu_from_log(&log);
    assert_eq!(default.as_deref(), Some(default_id), "{}: {ids:?}", s.name);
}

/// leapboot's line for a PV holding `vg` on `device`, its PV UUID as LVM's tools
/// print it.
fn pv_line(device: &str, vg: &VolumeGroup) -> Vec<String> {
    vec![
        format!("volume: {device}: LVM2 physical volume of VG {} ", vg.name),
        format!("PV UUID {}", vg.pv_uuid),
    ]
}

/// `leapboot.entry=<id>`, which leapboot adds to every command line it boots.
fn entry_param(id: &str) -> String {
    format!("leapboot.entry={id}")
}

// ------------------------------------------------------------------------ RHEL 9

const RHEL_MACHINE_ID: &str = "3f2a9c6e0b1d4e7f8a9b0c1d2e3f4a5b";
const RHEL_OLD: &str = "5.14.0-70.13.1.el9_0.x86_64";
const RHEL_NEW: &str = "5.14.0-362.8.1.el9_3.x86_64";
const RHEL_BOOT_UUID: &str = "9a8ea027-4829-45b9-829b-18ed6cc1f33b";
const RHEL_ROOT_UUID: &str = "4d3f2b1a-7c6e-4f5d-9e8a-0b1c2d3e4f5a";
/// RHEL 9's kernel command line for this layout (`GRUB_CMDLINE_LINUX`), then what
/// the target needs.
fn rhel_options() -> String {
    format!(
        "root=/dev/mapper/rhel-root ro crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M \
         resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap {VM}"
    )
}

/// `/boot/grub2/grub.cfg` as RHEL 9's `grub2-mkconfig` writes it on a BIOS machine
/// with a separate `/boot` (`00_header`, `00_tuned` with a tuned profile that adds a
/// parameter and an initrd, `01_users`, `01_menu_auto_hide`, `10_linux` running
/// `blscfg`, `41_custom`), shortened: no fallback counting, terminal or empty
/// sections, and the grubenv already says the last boot succeeded
/// (`boot_success=1`), so `01_menu_auto_hide`'s `save_env` resets it.
fn rhel_grub_cfg() -> String {
    let u = RHEL_BOOT_UUID;
    let hints = "--hint-bios=hd0,gpt2 --hint-efi=hd0,gpt2 --hint-baremetal=ahci0,gpt2";
    let opts = rhel_options();
    let choose_default = grub_mkconfig_default("${saved_entry}");
    format!(
        r#"### BEGIN /etc/grub.d/00_header ###
set pager=1

if [ -f ${{config_directory}}/grubenv ]; then
  load_env -f ${{config_directory}}/grubenv
elif [ -s $prefix/grubenv ]; then
  load_env
fi
{choose_default}
{GRUB_MKCONFIG_IDS_AND_SAVEDEFAULT}
{GRUB_MKCONFIG_LOAD_VIDEO}
terminal_output console
if [ x$feature_timeout_style = xy ] ; then
  set timeout_style=menu
  set timeout=5
# Fallback normal timeout code in case the timeout_style feature is
# unavailable.
else
  set timeout=5
fi
### END /etc/grub.d/00_header ###

### BEGIN /etc/grub.d/00_tuned ###
set tuned_params="skew_tick=1"
set tuned_initrd="/tuned-initrd.img"
### END /etc/grub.d/00_tuned ###

### BEGIN /etc/grub.d/01_users ###
if [ -f ${{prefix}}/user.cfg ]; then
  source ${{prefix}}/user.cfg
  if [ -n "${{GRUB2_PASSWORD}}" ]; then
    set superusers="root"
    export superusers
    password_pbkdf2 root ${{GRUB2_PASSWORD}}
  fi
fi
### END /etc/grub.d/01_users ###

### BEGIN /etc/grub.d/01_menu_auto_hide ###
if [ "${{boot_success}}" = "1" -o "${{boot_indeterminate}}" = "1" ]; then
  set last_boot_ok=1
else
  set last_boot_ok=0
fi

# Reset boot_indeterminate after a successful boot
if [ "${{boot_success}}" = "1" ] ; then
  set boot_indeterminate=0
# Avoid boot_indeterminate causing the menu to be hidden more then once
elif [ "${{boot_indeterminate}}" = "1" ]; then
  set boot_indeterminate=2
fi
set boot_success=0
save_env boot_success boot_indeterminate
### END /etc/grub.d/01_menu_auto_hide ###

### BEGIN /etc/grub.d/10_linux ###
insmod part_gpt
insmod xfs
set root='hd0,gpt2'
if [ x$feature_platform_search_hint = xy ]; then
  search --no-floppy --fs-uuid --set=root {hints}  {u}
else
  search --no-floppy --fs-uuid --set=root {u}
fi
insmod part_gpt
insmod xfs
set boot='hd0,gpt2'
if [ x$feature_platform_search_hint = xy ]; then
  search --no-floppy --fs-uuid --set=boot {hints}  {u}
else
  search --no-floppy --fs-uuid --set=boot {u}
fi

# This section was generated by a script. Do not modify the generated file - all changes
# will be lost the next time file is regenerated. Instead edit the BootLoaderSpec files.
#
# The blscfg command parses the BootLoaderSpec files stored in /boot/loader/entries and
# populates the boot menu.

# The kernelopts variable should be defined in the grubenv file. But to ensure that menu
# entries populated from BootLoaderSpec files that use this variable work correctly even
# without a grubenv file, define a fallback kernelopts variable if this has not been set.
if [ -z "${{kernelopts}}" ]; then
  set kernelopts="{opts} "
fi

insmod blscfg
blscfg
### END /etc/grub.d/10_linux ###

### BEGIN /etc/grub.d/41_custom ###
if [ -f  ${{config_directory}}/custom.cfg ]; then
  source ${{config_directory}}/custom.cfg
elif [ -z "${{config_directory}}" -a -f  $prefix/custom.cfg ]; then
  source $prefix/custom.cfg;
fi
### END /etc/grub.d/41_custom ###
"#
    )
}

/// A BLS entry as RHEL 9's `kernel-install` and `grubby` write it: the options in
/// full (no `$kernelopts`), tuned's variables, GRUB's user and class keys.
fn rhel_entry(version: &str, release: &str, marker: &str) -> String {
    format!(
        "title Red Hat Enterprise Linux ({version}) {release}\n\
         version {version}\n\
         linux /vmlinuz-{version}\n\
         initrd /initramfs-{version}.img $tuned_initrd\n\
         options {} entry={marker} $tuned_params\n\
         grub_users $grub_users\n\
         grub_arg --unrestricted\n\
         grub_class rhel\n",
        rhel_options()
    )
}

fn rhel_disk(s: &Scenario) -> DiskImage {
    let entry = |v: &str| format!("loader/entries/{RHEL_MACHINE_ID}-{v}.conf");
    let env = leapboot_qemu::grub::grubenv(&[
        ("saved_entry", &format!("{RHEL_MACHINE_ID}-{RHEL_OLD}")),
        ("boot_success", "1"),
        ("boot_indeterminate", "0"),
    ])
    .expect("grub-editenv");
    let boot = Partition::new(PartType::Linux, 300, Filesystem::xfs("", RHEL_BOOT_UUID))
        .file("grub2/grub.cfg", rhel_grub_cfg())
        .file("grub2/grubenv", env)
        .file(
            &entry(RHEL_OLD),
            rhel_entry(RHEL_OLD, "9.0 (Plow)", "rhel-old"),
        )
        .file(
            &entry(RHEL_NEW),
            rhel_entry(RHEL_NEW, "9.3 (Plow)", "rhel-new"),
        )
        .file_from(&format!("vmlinuz-{RHEL_OLD}"), &s.kernel.vmlinuz)
        .file_from(&format!("vmlinuz-{RHEL_NEW}"), &s.kernel.vmlinuz)
        .file(
            &format!("initramfs-{RHEL_OLD}.img"),
            s.target_initrd(&["rhel-old"]),
        )
        .file(
            &format!("initramfs-{RHEL_NEW}.img"),
            s.target_initrd(&["rhel-new"]),
        )
        .file("tuned-initrd.img", s.marker("tuned"));
    let root = LogicalVolume::new("root", 300, Filesystem::xfs("", RHEL_ROOT_UUID))
        .file("etc/machine-id", format!("{RHEL_MACHINE_ID}\n"))
        .file(
            "etc/fstab",
            format!(
                "/dev/mapper/rhel-root / xfs defaults 0 0\nUUID={RHEL_BOOT_UUID} /boot xfs defaults 0 0\n/dev/mapper/rhel-swap none swap defaults 0 0\n"
            ),
        )
        .dir("boot");
    let vg =
        VolumeGroup::new("rhel")
            .lv(root)
            .lv(LogicalVolume::new("swap", 16, Filesystem::Empty));
    DiskImage::gpt(0)
        .partition(Partition::raw(PartType::BiosBoot, 1))
        .partition(boot)
        .partition(Partition::lvm(324, vg))
}

/// RHEL 9: the saved entry, the older kernel, boots from XFS `/boot` with the root
/// on LVM beside it.
#[test]
fn rhel9_xfs_boot_lvm_root_saved_entry_boots() {
    let test = "rhel9_xfs_boot_lvm_root_saved_entry_boots";
    if !can_start(test) {
        return;
    }
    let mut s = Scenario::new("servers-rhel9");
    let image = rhel_disk(&s);
    if !can_build(test, &[&image]) {
        return;
    }
    let built = Instant::now();
    let disk = s.disk(&image);
    let mut vm = boot(&mut s, built);
    expect_lines(
        &mut vm,
        &[
            line(&[&format!("volume: vda2: xfs UUID={RHEL_BOOT_UUID}")]),
            pv_line("vda3", &VolumeGroup::new("rhel")),
            line(&["disk: VG rhel: 1 PV(s) found (vda3), 2 LV(s)"]),
            line(&["disk: rhel-root: LV root of VG rhel, linear, 314572800 bytes on vda3"]),
            line(&[&format!("volume: rhel-root: xfs UUID={RHEL_ROOT_UUID}")]),
            line(&["disk: rhel-swap: LV swap of VG rhel, linear, 16777216 bytes on vda3"]),
        ],
    );
    let id = format!("{RHEL_MACHINE_ID}-{RHEL_OLD}");
    let cmdline = format!(
        "BOOT_IMAGE=(hd0,gpt2)/vmlinuz-{RHEL_OLD} {} entry=rhel-old skew_tick=1 {}",
        rhel_options(),
        entry_param(&id)
    );
    check_boot(&s, &mut vm, &cmdline, &["rhel-old", "tuned"], &id);
    // `01_menu_auto_hide` ran `save_env boot_success boot_indeterminate` with
    // `boot_success` reset to 0; leapboot made that write on XFS before the boot,
    // in place, as GRUB's `save_env` would have.
    assert!(
        vm.log()
            .contains("grubenv: /grub2/grubenv on vda2: 2 change(s) written"),
        "no grubenv write logged"
    );
    let env = leapboot_qemu::grub::read_grubenv(&disk).unwrap().unwrap();
    let want = [
        ("saved_entry", id.as_str()),
        ("boot_success", "0"),
        ("boot_indeterminate", "0"),
    ];
    assert_eq!(env, want.map(|(k, v)| (k.to_string(), v.to_string())));
}

// ----------------------------------------------------------------------- openSUSE

const SUSE_UUID: &str = "c0ffee00-5e5e-4d1a-9b2c-3d4e5f607182";
const SUSE_NEW: &str = "6.4.0-150600.23.25-default";
const SUSE_OLD: &str = "6.4.0-150600.23.7-default";
const SUSE_NAME: &str = "openSUSE Leap 15.6";

/// The kernel arguments openSUSE's `grub2-mkconfig` writes after `root=UUID=...`
/// (`${extra_cmdline}`, set only when booting a snapshot, then
/// `GRUB_CMDLINE_LINUX_DEFAULT`), with what the target needs.
fn suse_args(marker: &str) -> String {
    format!("${{extra_cmdline}} splash=silent mitigations=auto quiet {VM} entry={marker}")
}

/// One openSUSE `10_linux` menu entry for kernel `version`, indented by `indent`.
fn suse_entry(
    indent: &str,
    title: &str,
    id: &str,
    hotkey: u32,
    version: &str,
    marker: &str,
) -> String {
    let u = SUSE_UUID;
    let hints = "--hint-bios=hd0,gpt2 --hint-efi=hd0,gpt2 --hint-baremetal=ahci0,gpt2";
    let body = format!(
        "\tload_video\n\
         \tset gfxpayload=keep\n\
         \tinsmod gzio\n\
         \tinsmod part_gpt\n\
         \tinsmod btrfs\n\
         \tset root='hd0,gpt2'\n\
         \tif [ x$feature_platform_search_hint = xy ]; then\n\
         \t  search --no-floppy --fs-uuid --set=root {hints}  {u}\n\
         \telse\n\
         \t  search --no-floppy --fs-uuid --set=root {u}\n\
         \tfi\n\
         \techo\t'Loading Linux {version} ...'\n\
         \tlinux\t/boot/vmlinuz-{version} root=UUID={u}  {}\n\
         \techo\t'Loading initial ramdisk ...'\n\
         \tinitrd\t/boot/initrd-{version}\n",
        suse_args(marker)
    );
    let head = format!(
        "menuentry '{title}' --hotkey={hotkey} --class opensuse --class gnu-linux --class gnu --class os $menuentry_id_option '{id}' {{"
    );
    std::iter::once(head.as_str())
        .chain(body.lines())
        .chain(std::iter::once("}"))
        .map(|l| format!("{indent}{l}\n"))
        .collect()
}

/// `/boot/grub2/grub.cfg` as openSUSE Leap's `grub2-mkconfig` writes it (its
/// `00_header` exports `btrfs_relative_path`, so kernel paths are relative to the
/// default subvolume), shortened to the header and `10_linux`: the newest kernel,
/// then the advanced submenu with both kernels.
fn suse_grub_cfg() -> String {
    let u = SUSE_UUID;
    let adv = format!("Advanced options for {SUSE_NAME}");
    let with = |v: &str| format!("{SUSE_NAME}, with Linux {v}");
    let sub = |v: &str| format!("gnulinux-{v}-advanced-{u}");
    let choose_default = grub_mkconfig_default("${saved_entry}");
    format!(
        r#"### BEGIN /etc/grub.d/00_header ###
set btrfs_relative_path="y"
export btrfs_relative_path
if [ -f ${{config_directory}}/grubenv ]; then
  load_env -f ${{config_directory}}/grubenv
elif [ -s $prefix/grubenv ]; then
  load_env
fi
{choose_default}
if [ x"${{feature_menuentry_id}}" = xy ]; then
  menuentry_id_option="--id"
else
  menuentry_id_option=""
fi

export menuentry_id_option

{GRUB_MKCONFIG_LOAD_VIDEO}
if [ x$feature_timeout_style = xy ] ; then
  set timeout_style=menu
  set timeout=8
else
  set timeout=8
fi
### END /etc/grub.d/00_header ###

### BEGIN /etc/grub.d/10_linux ###
{simple}submenu '{adv}' --hotkey=1 $menuentry_id_option 'gnulinux-advanced-{u}' {{
{new}{old}}}

### END /etc/grub.d/10_linux ###
"#,
        simple = suse_entry(
            "",
            SUSE_NAME,
            &format!("gnulinux-simple-{u}"),
            1,
            SUSE_NEW,
            "suse-new"
        ),
        new = suse_entry(
            "\t",
            &with(SUSE_NEW),
            &sub(SUSE_NEW),
            2,
            SUSE_NEW,
            "suse-new"
        ),
        old = suse_entry(
            "\t",
            &with(SUSE_OLD),
            &sub(SUSE_OLD),
            3,
            SUSE_OLD,
            "suse-old"
        ),
    )
}

/// openSUSE's Btrfs seen from the top level: `@` and the subvolumes inside it, `@`
/// the default subvolume, everything of the installed system under `@/`.
fn suse_disk(s: &Scenario) -> DiskImage {
    let saved = format!("Advanced options for {SUSE_NAME}>{SUSE_NAME}, with Linux {SUSE_OLD}");
    let env = leapboot_qemu::grub::grubenv(&[("saved_entry", &saved)]).expect("grub-editenv");
    let btrfs = Filesystem::btrfs_with(
        "",
        SUSE_UUID,
        &[
            "@",
            "@/home",
            "@/.snapshots",
            "@/var",
            "@/boot/grub2/i386-pc",
        ],
        Some("@"),
        None,
    );
    let root = Partition::new(PartType::Linux, 256, btrfs)
        .file("@/boot/grub2/grub.cfg", suse_grub_cfg())
        .file("@/boot/grub2/grubenv", env)
        .file("@/boot/grub2/i386-pc/load.cfg", format!("search.fs_uuid {SUSE_UUID} root hd0,gpt2\nset prefix=($root)/boot/grub2\n"))
        .file_from(&format!("@/boot/vmlinuz-{SUSE_NEW}"), &s.kernel.vmlinuz)
        .file_from(&format!("@/boot/vmlinuz-{SUSE_OLD}"), &s.kernel.vmlinuz)
        .file(&format!("@/boot/initrd-{SUSE_NEW}"), s.target_initrd(&["suse-new"]))
        .file(&format!("@/boot/initrd-{SUSE_OLD}"), s.target_initrd(&["suse-old"]))
        .file("@/etc/os-release", format!("NAME=\"openSUSE Leap\"\nVERSION=\"15.6\"\nPRETTY_NAME=\"{SUSE_NAME}\"\n"))
        .file("@/etc/fstab", format!("UUID={SUSE_UUID} / btrfs defaults 0 0\nUUID={SUSE_UUID} /home btrfs subvol=/@/home 0 0\n"))
        .dir("@/.snapshots/1");
    DiskImage::gpt(0)
        .partition(Partition::raw(PartType::BiosBoot, 8))
        .partition(root)
}

/// openSUSE: the saved entry (the older kernel in the advanced submenu, named by
/// its title path) boots from `/boot` inside the default subvolume `@`.
#[test]
fn opensuse_btrfs_subvolume_saved_entry_boots() {
    let test = "opensuse_btrfs_subvolume_saved_entry_boots";
    if !can_start(test) {
        return;
    }
    let mut s = Scenario::new("servers-opensuse");
    let image = suse_disk(&s);
    if !can_build(test, &[&image]) {
        return;
    }
    let built = Instant::now();
    s.disk(&image);
    let mut vm = boot(&mut s, built);
    expect_lines(
        &mut vm,
        &[line(&[&format!("volume: vda2: btrfs UUID={SUSE_UUID} ")])],
    );
    let id = format!("gnulinux-{SUSE_OLD}-advanced-{SUSE_UUID}");
    let cmdline = format!(
        "BOOT_IMAGE=/boot/vmlinuz-{SUSE_OLD} root=UUID={SUSE_UUID} splash=silent mitigations=auto quiet {VM} entry=suse-old {}",
        entry_param(&id)
    );
    check_boot(&s, &mut vm, &cmdline, &["suse-old"], &id);
}

// ------------------------------------------------------------- Debian LVM + LUKS

const DEBIAN_OLD: &str = "6.1.0-49-amd64";
const DEBIAN_ROOT_UUID: &str = "1a57a4ed-fd86-48c4-9241-44d4785fd2b6";
const LUKS_UUID: &str = "0e3c5f1a-2b4d-4c6e-8f0a-1b2c3d4e5f60";
const LUKS_LABEL: &str = "cryptdata";

/// How Debian's `grub-mkconfig_lib` (`prepare_grub_to_access_device`) reaches a
/// filesystem on an LV, indented by `indent`: the partition map and `lvm` modules,
/// `root` set to GRUB's `lvmid/<vg uuid>/<lv uuid>` name, then `search` by UUID with
/// that name as the hint.
fn debian_access(indent: &str, vg: &VolumeGroup) -> String {
    let lvmid = format!("lvmid/{}/{}", vg.uuid, vg.lv_uuid("root").unwrap());
    let u = DEBIAN_ROOT_UUID;
    [
        "insmod part_gpt".to_string(),
        "insmod lvm".into(),
        "insmod ext2".into(),
        format!("set root='{lvmid}'"),
        "if [ x$feature_platform_search_hint = xy ]; then".into(),
        format!("  search --no-floppy --fs-uuid --set=root --hint='{lvmid}'  {u}"),
        "else".into(),
        format!("  search --no-floppy --fs-uuid --set=root {u}"),
        "fi".into(),
    ]
    .iter()
    .map(|l| format!("{indent}{l}\n"))
    .collect()
}

/// One Debian `10_linux` entry body for kernel `version`, indented by `indent`.
fn debian_entry(indent: &str, vg: &VolumeGroup, version: &str, args: &str) -> String {
    let mut out = format!(
        "{indent}load_video\n{indent}insmod gzio\n\
         {indent}if [ x$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi\n"
    );
    out.push_str(&debian_access(indent, vg));
    out.push_str(&format!(
        "{indent}echo\t'Loading Linux {version} ...'\n\
         {indent}linux\t/boot/vmlinuz-{version} root=/dev/mapper/debian--vg-root ro {args}\n\
         {indent}echo\t'Loading initial ramdisk ...'\n\
         {indent}initrd\t/boot/initrd.img-{version}\n"
    ));
    out
}

/// `/boot/grub/grub.cfg` as Debian 12's `grub-mkconfig` writes it for a root (and
/// `/boot`) on LVM: `00_header` with its font section reaching the LV, then
/// `10_linux`: the newest kernel, and the advanced submenu with each kernel and its
/// recovery mode. `GRUB_CMDLINE_LINUX_DEFAULT` holds what the target needs.
fn debian_grub_cfg(vg: &VolumeGroup, new: &str) -> String {
    let u = DEBIAN_ROOT_UUID;
    let args = |marker: &str| format!("{VM} entry={marker}");
    let recovery = |marker: &str| format!("single {VM} entry={marker}");
    let entry = |title: &str, id: &str, body: String| {
        format!(
            "\tmenuentry '{title}' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option '{id}' {{\n{body}\t}}\n"
        )
    };
    let mut advanced = String::new();
    for (v, marker) in [(new, "debian-new"), (DEBIAN_OLD, "debian-old")] {
        advanced.push_str(&entry(
            &format!("Debian GNU/Linux, with Linux {v}"),
            &format!("gnulinux-{v}-advanced-{u}"),
            debian_entry("\t\t", vg, v, &args(marker)),
        ));
        advanced.push_str(&entry(
            &format!("Debian GNU/Linux, with Linux {v} (recovery mode)"),
            &format!("gnulinux-{v}-recovery-{u}"),
            debian_entry("\t\t", vg, v, &recovery(marker)),
        ));
    }
    let choose_default = grub_mkconfig_default("0");
    format!(
        r#"### BEGIN /etc/grub.d/00_header ###
if [ -s $prefix/grubenv ]; then
  set have_grubenv=true
  load_env
fi
{choose_default}
{GRUB_MKCONFIG_IDS_AND_SAVEDEFAULT}{GRUB_MKCONFIG_LOAD_VIDEO}
if [ x$feature_default_font_path = xy ] ; then
   font=unicode
else
{access}    font="/usr/share/grub/unicode.pf2"
fi

if loadfont $font ; then
  set gfxmode=auto
  load_video
  insmod gfxterm
  set locale_dir=$prefix/locale
  set lang=en_US
  insmod gettext
fi
terminal_output gfxterm
if [ "${{recordfail}}" = 1 ] ; then
  set timeout=30
else
  if [ x$feature_timeout_style = xy ] ; then
    set timeout_style=menu
    set timeout=5
  # Fallback normal timeout code in case the timeout_style feature is
  # unavailable.
  else
    set timeout=5
  fi
fi
### END /etc/grub.d/00_header ###

### BEGIN /etc/grub.d/05_debian_theme ###
set menu_color_normal=cyan/blue
set menu_color_highlight=white/blue
### END /etc/grub.d/05_debian_theme ###

### BEGIN /etc/grub.d/10_linux ###
function gfxmode {{
	set gfxpayload="${{1}}"
}}
set linux_gfx_mode=
export linux_gfx_mode
menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-simple-{u}' {{
{simple}}}
submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-{u}' {{
{advanced}}}

### END /etc/grub.d/10_linux ###
"#,
        access = debian_access("", vg),
        simple = debian_entry("\t", vg, new, &args("debian-new")),
    )
}

/// The VG Debian's guided LVM partitioning makes: `root` (ext4, holding `/boot`)
/// and `swap_1`.
fn debian_vg() -> VolumeGroup {
    VolumeGroup::new("debian-vg")
        .lv(LogicalVolume::new(
            "root",
            96,
            Filesystem::ext4("", DEBIAN_ROOT_UUID),
        ))
        .lv(LogicalVolume::new("swap_1", 16, Filesystem::Empty))
}

fn debian_disk(s: &Scenario) -> DiskImage {
    let new = s.kernel.version.clone();
    let layout = debian_vg();
    let env = leapboot_qemu::grub::grubenv(&[]).expect("grub-editenv");
    let mut root = layout.volumes[0]
        .clone()
        .file("boot/grub/grub.cfg", debian_grub_cfg(&layout, &new))
        .file("boot/grub/grubenv", env)
        .file("etc/fstab", "/dev/mapper/debian--vg-root / ext4 errors=remount-ro 0 1\n/dev/mapper/debian--vg-swap_1 none swap sw 0 0\n");
    for (v, marker) in [(new.as_str(), "debian-new"), (DEBIAN_OLD, "debian-old")] {
        root = root
            .file_from(&format!("boot/vmlinuz-{v}"), &s.kernel.vmlinuz)
            .file(&format!("boot/initrd.img-{v}"), s.target_initrd(&[marker]));
    }
    let mut vg = layout;
    vg.volumes[0] = root;
    DiskImage::gpt(0)
        .partition(Partition::raw(PartType::BiosBoot, 1))
        .partition(Partition::lvm(120, vg))
}

/// A disk holding only a LUKS2 volume.
fn luks_disk() -> DiskImage {
    DiskImage::gpt(0).partition(
        Partition::new(
            PartType::Linux,
            24,
            Filesystem::luks2(LUKS_UUID, LUKS_LABEL),
        )
        .name(LUKS_LABEL),
    )
}

/// Debian on LVM, with a LUKS disk beside it: the default entry (the newest kernel)
/// boots from the root LV, which GRUB's config names `lvmid/...`; the LUKS volume is
/// listed as encrypted and left alone.
#[test]
fn debian_lvm_boots_beside_a_luks_disk() {
    let test = "debian_lvm_boots_beside_a_luks_disk";
    if !can_start(test) {
        return;
    }
    let mut s = Scenario::new("servers-debian-lvm");
    let debian = debian_disk(&s);
    let luks = luks_disk();
    if !can_build(test, &[&debian, &luks]) {
        return;
    }
    let built = Instant::now();
    s.disk(&debian);
    s.disk(&luks);
    let mut vm = boot(&mut s, built);
    let vg = debian_vg();
    expect_lines(
        &mut vm,
        &[
            pv_line("vda2", &vg),
            line(&["disk: VG debian-vg: 1 PV(s) found (vda2), 2 LV(s)"]),
            line(&[&format!(
                "volume: debian--vg-root: ext4 UUID={DEBIAN_ROOT_UUID}"
            )]),
        ],
    );
    // The disks are read in parallel: the LUKS disk's line may come first.
    vm.wait_for_any(
        &format!(
            "volume: vdb1: encrypted (LUKS2) UUID={LUKS_UUID} LABEL={LUKS_LABEL}, \
             not unlocked by leapboot"
        ),
        default_timeout(),
    )
    .unwrap();
    let new = s.kernel.version.clone();
    let id = format!("gnulinux-simple-{DEBIAN_ROOT_UUID}");
    let cmdline = format!(
        "BOOT_IMAGE=/boot/vmlinuz-{new} root=/dev/mapper/debian--vg-root ro {VM} entry=debian-new {}",
        entry_param(&id)
    );
    check_target(&s, &mut vm, &cmdline, &["debian-new"], &id);
    let (ids, default) = menu_from_log(&vm.log());
    assert_eq!(host_list_beside_luks(&s), (ids, default));
}

/// `leapboot list --json` on both disks of the Debian scenario: the entries and the
/// default. The LUKS disk gives it no volume, which it reports on stderr (and in its
/// exit status); nothing else may be reported.
fn host_list_beside_luks(s: &Scenario) -> (Vec<String>, Option<String>) {
    let disks = [s.dir.join("disk0.img"), s.dir.join("disk1.img")];
    let out = std::process::Command::new(leapboot_bin())
        .args(["list", "--json", "--disk"])
        .arg(&disks[0])
        .arg("--disk")
        .arg(&disks[1])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let luks = disks[1].display().to_string();
    for l in stderr.lines() {
        assert!(l.contains(&luks), "leapboot list: {l}");
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entries = v["entries"].as_array().unwrap();
    let id = |e: &serde_json::Value| e["id"].as_str().unwrap().to_string();
    (
        entries.iter().map(id).collect(),
        entries.iter().find(|e| e["default"] == true).map(id),
    )
}
