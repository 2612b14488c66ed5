//! Differential: real GRUB and leapboot boot the same disk.
//!
//! Each case is a GPT disk as `grub-install` leaves it on a BIOS machine
//! (`core.img` in a BIOS boot partition, modules in `$prefix/i386-pc`; see
//! `leapboot_qemu::grub`) with a `grub.cfg` written the way a distribution's
//! `grub-mkconfig` writes it. The disk is booted twice:
//!
//! 1. by Debian's GRUB 2.06 (`grub-pc-bin`) from SeaBIOS, on a copy of the disk
//!    (GRUB's `save_env` writes to it);
//! 2. by leapboot as PID 1 of the firmware kernel (qboot, `timeout = 0`).
//!
//! Both times the target kernel prints its command line and the markers of the
//! initrds it received. Each case states what GRUB's rules choose and pass
//! (`grub-core/normal/menu.c` for `default` and `fallback`, `grub_create_loader_cmdline`
//! in `grub-core/lib/cmdline.c` for the command line, which starts with
//! `BOOT_IMAGE=<kernel path as written>` from the `linux` loader), and the test
//! checks both runs against that and against each other. Where GRUB's `save_env`
//! writes (`next_entry` cleared, `recordfail`, `savedefault`), the environment
//! block GRUB left on its copy is checked too, and leapboot, which makes GRUB's
//! writes before it boots, must leave the same block on its disk.
//!
//! `LEAPBOOT_BIN_DIR=$(scripts/build-static) cargo test -p leapboot-e2e --test grub
//! -- --nocapture` prints both command lines of each case; the serial logs are in
//! `target/e2e/grub-<case>/` (`grub-serial.log`, `serial.log`).
//!
//! The configs begin with `serial`/`terminal_*` so that GRUB runs on the serial
//! line, and set `timeout=0`: GRUB boots its default at once, as leapboot does
//! headless. leapboot ignores the terminal commands.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot_e2e::{
    GRUB_MKCONFIG_IDS_AND_SAVEDEFAULT, GRUB_MKCONFIG_LOAD_VIDEO, Scenario, TARGET_OPTIONS, after,
    grub_mkconfig_default, menu_from_log,
};
use leapboot_qemu::grub::{self, BiosGrub};
use leapboot_qemu::{DiskImage, Partition, Vm, default_timeout, qemu_or_skip};
use std::path::PathBuf;
use std::time::Instant;

/// Filesystem UUIDs of the cases' partitions.
const ROOT_UUID: &str = "2f4c6a1e-8b3d-4e5f-9a7c-1d2e3f4a5b6c";
const BOOT_UUID: &str = "7d1e2f3a-4b5c-4d6e-8f7a-9b0c1d2e3f4a";
const STUB_UUID: &str = "0c9b8a7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d";

/// Serial console, as the configs of headless machines and of this test start.
const SERIAL: &str =
    "serial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\n";

/// The older kernel on the disks: the same Debian kernel the harness boots,
/// installed under a second name as after an upgrade.
const OLD_VERSION: &str = "6.1.0-49-amd64";

/// What GRUB's rules say a case boots.
struct Expect {
    /// The whole command line: `BOOT_IMAGE=` and the `linux` arguments.
    cmdline: String,
    /// Markers of the initrds, sorted as the target prints them.
    initrds: Vec<&'static str>,
    /// leapboot's id of that entry, as its `leapboot.entry=` parameter names it.
    entry_id: String,
    /// `error:` lines GRUB prints on the way (a failed entry before a fallback).
    grub_errors: Vec<String>,
    /// The variables of the disk's environment block after the boot (`None`: the
    /// disk has none). GRUB's `save_env` and leapboot's writes must leave the same.
    grubenv_after: Option<Vec<(&'static str, String)>>,
}

/// What a target kernel reported.
#[derive(Debug, Clone)]
struct Booted {
    cmdline: String,
    initrds: Vec<String>,
    seconds: f64,
}

/// The path where a kernel version is installed on a Debian root filesystem.
fn vmlinuz(version: &str) -> String {
    format!("/boot/vmlinuz-{version}")
}

fn initrd_img(version: &str) -> String {
    format!("/boot/initrd.img-{version}")
}

/// A GPT disk as grub-install leaves it: the BIOS boot partition with a
/// `core.img` whose prefix is `prefix`, then `parts`.
fn grub_disk(prefix: &str, parts: Vec<Partition>) -> DiskImage {
    let grub = BiosGrub::new(prefix);
    let mut image = DiskImage::gpt(0).partition(grub.boot_partition().expect("core.img"));
    for p in parts {
        image = image.partition(p);
    }
    image
}

/// `part` with GRUB's modules in `<dir>/i386-pc`.
fn with_modules(part: Partition, dir: &str) -> Partition {
    BiosGrub::new("")
        .with_modules(part, dir)
        .expect("GRUB modules")
}

/// A Debian root filesystem: both kernels under `/boot`, the target initramfs as
/// each kernel's `initrd.img` (marker `debian`), marker initrds `/boot/m-<name>.img`,
/// `grub.cfg` and (if given) `grubenv` in `/boot/grub` with GRUB's modules.
fn debian_root(s: &Scenario, cfg: &str, env: Option<Vec<u8>>, markers: &[&str]) -> Partition {
    let version = s.kernel.version.clone();
    let target = s.target_initrd(&["debian"]);
    let mut root = Partition::linux_ext4(40, "root", ROOT_UUID)
        .file_from(&vmlinuz(&version), &s.kernel.vmlinuz)
        .file_from(&vmlinuz(OLD_VERSION), &s.kernel.vmlinuz)
        .file(&initrd_img(&version), target.clone())
        .file(&initrd_img(OLD_VERSION), target)
        .file("/boot/grub/grub.cfg", cfg);
    if let Some(env) = env {
        root = root.file("/boot/grub/grubenv", env);
    }
    for m in markers {
        root = root.file(&format!("/boot/m-{m}.img"), s.marker(m));
    }
    with_modules(root, "/boot/grub")
}

fn grubenv(vars: &[(&str, &str)]) -> Vec<u8> {
    grub::grubenv(vars).expect("grub-editenv")
}

/// The target's two lines from a run, after GRUB's or leapboot's output.
/// `GRUB`'s "Press any key to continue..." after a failed entry is answered (it
/// would wait 10 s and go on by itself).
fn target_report(vm: &mut Vm, who: &str, started: Instant) -> Booted {
    let t = default_timeout();
    let cmdline = loop {
        let (i, line) = vm
            .wait_for_first(
                &["Press any key to continue", "LEAPBOOT-TARGET-CMDLINE: "],
                t,
            )
            .unwrap_or_else(|e| panic!("{who}: {e}"));
        if i == 0 {
            vm.send(b"\r").unwrap();
            continue;
        }
        break line;
    };
    let initrds = vm
        .wait_for("LEAPBOOT-TARGET-INITRDS: ", t)
        .unwrap_or_else(|e| panic!("{who}: {e}"));
    vm.wait_exit(t).unwrap_or_else(|e| panic!("{who}: {e}"));
    Booted {
        cmdline: after(&cmdline, "LEAPBOOT-TARGET-CMDLINE: "),
        initrds: after(&initrds, "LEAPBOOT-TARGET-INITRDS: ")
            .split(' ')
            .map(str::to_string)
            .collect(),
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// `error: ...` lines GRUB printed (its screen-control sequences dropped): before
/// the target's banner, and not the kernel's own `[ seconds]` lines.
fn grub_errors(log: &str) -> Vec<String> {
    let grub_part = log
        .split("LEAPBOOT-TARGET: booted")
        .next()
        .unwrap_or_default();
    let is_kernel = |l: &str| {
        l.trim_start_matches(['\r', ' '])
            .strip_prefix('[')
            .and_then(|r| r.split_once(']'))
            .is_some_and(|(t, _)| t.trim().parse::<f64>().is_ok())
    };
    grub_part
        .lines()
        .filter(|l| !is_kernel(l))
        .filter_map(|l| l.find("error: ").map(|i| l[i..].trim_end().to_string()))
        .collect()
}

/// What a case leaves for its own further checks.
struct Runs {
    s: Scenario,
    leapboot_log: String,
}

/// True if GRUB is installed; otherwise a skip notice, or a failure with
/// `LEAPBOOT_REQUIRE_QEMU=1` (scripts/setup installs GRUB with QEMU).
fn grub_or_skip(name: &str) -> bool {
    let Err(e) = grub::check_installed() else {
        return true;
    };
    if std::env::var("LEAPBOOT_REQUIRE_QEMU").is_ok_and(|v| v == "1") {
        panic!("{name}: LEAPBOOT_REQUIRE_QEMU=1 but {e}");
    }
    eprintln!("SKIPPED {name}: {e}");
    false
}

/// Builds the case's disk, boots it with GRUB and with leapboot, and checks both
/// against `expect` and each other. `None` when skipped.
fn differential(name: &str, build: impl FnOnce(&Scenario) -> (DiskImage, Expect)) -> Option<Runs> {
    if !qemu_or_skip(name) || !grub_or_skip(name) {
        return None;
    }
    let mut s = Scenario::new(&format!("grub-{name}"));
    let (image, expect) = build(&s);
    let disk = s.disk(&image);
    grub::install(&image, &disk).expect("installing GRUB on the image");
    let grub_copy: PathBuf = s.dir.join("grub-disk.img");
    std::fs::copy(&disk, &grub_copy).expect("copying the disk for GRUB");

    let started = Instant::now();
    let mut vm = grub::boot_bios(&[&grub_copy], &s.dir.join("grub-serial.log"))
        .expect("starting QEMU with SeaBIOS");
    let by_grub = target_report(&mut vm, &format!("{name}: GRUB run"), started);
    let grub_log = vm.log();
    drop(vm);

    s.firmware("timeout = 0\n");
    let started = Instant::now();
    let mut vm = s.boot("");
    let by_leapboot = target_report(&mut vm, &format!("{name}: leapboot run"), started);
    let leapboot_log = vm.log();
    drop(vm);

    // leapboot appends `leapboot.entry=<id>` (the `entry_param` setting, on by
    // default) after the entry's command line; exactly that suffix is split off
    // before comparing with GRUB, and checked to name the expected entry.
    let suffix = format!(" {}", entry_param(&expect.entry_id));
    let leap_cmdline = by_leapboot
        .cmdline
        .strip_suffix(&suffix)
        .map(str::to_string);

    eprintln!(
        "{name}: GRUB {:.1} s, leapboot {:.1} s\n  GRUB:     {} | initrds {}\n  leapboot: {} | initrds {}",
        by_grub.seconds,
        by_leapboot.seconds,
        by_grub.cmdline,
        by_grub.initrds.join(" "),
        by_leapboot.cmdline,
        by_leapboot.initrds.join(" ")
    );
    assert_eq!(
        by_grub.cmdline, expect.cmdline,
        "{name}: GRUB did not pass the command line its rules give"
    );
    assert_eq!(
        by_grub.initrds, expect.initrds,
        "{name}: GRUB did not load the initrds its rules give"
    );
    assert_eq!(
        grub_errors(&grub_log),
        expect.grub_errors,
        "{name}: GRUB's errors"
    );
    let env_by_grub = grub::read_grubenv(&grub_copy).expect("reading GRUB's disk");
    let want = expect.grubenv_after.as_ref().map(|vars| {
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<Vec<_>>()
    });
    assert_eq!(env_by_grub, want, "{name}: grubenv after GRUB's boot");
    assert_eq!(
        leap_cmdline.as_deref(),
        Some(expect.cmdline.as_str()),
        "{name}: leapboot's command line (without `{}`) is not GRUB's: {}",
        suffix.trim(),
        by_leapboot.cmdline
    );
    assert_eq!(
        by_leapboot.initrds, by_grub.initrds,
        "{name}: leapboot's initrds differ from GRUB's"
    );
    let env_by_leapboot = grub::read_grubenv(&disk).expect("reading leapboot's disk");
    assert_eq!(
        env_by_leapboot, env_by_grub,
        "{name}: grubenv after leapboot's boot differs from GRUB's"
    );
    Some(Runs { s, leapboot_log })
}

/// leapboot's `leapboot.entry=` parameter for `id` (quoted when it has blanks).
fn entry_param(id: &str) -> String {
    if id.contains(char::is_whitespace) {
        format!("leapboot.entry=\"{id}\"")
    } else {
        format!("leapboot.entry={id}")
    }
}

/// The top of a Debian 12 `grub.cfg` (`/etc/grub.d/00_header`) for
/// `GRUB_DEFAULT=<default>` (`saved` is written as `${saved_entry}`), with the
/// serial terminal instead of gfxterm and timeout 0.
fn debian_header(default: &str) -> String {
    let default = if default == "saved" {
        "${saved_entry}"
    } else {
        default
    };
    let choose_default = grub_mkconfig_default(default);
    format!(
        r#"#
# DO NOT EDIT THIS FILE
#
# It is automatically generated by grub-mkconfig using templates
# from /etc/grub.d and settings from /etc/default/grub
#

### BEGIN /etc/grub.d/00_header ###
if [ -s $prefix/grubenv ]; then
  set have_grubenv=true
  load_env
fi
{choose_default}
{GRUB_MKCONFIG_IDS_AND_SAVEDEFAULT}{GRUB_MKCONFIG_LOAD_VIDEO}
{SERIAL}if [ x$feature_timeout_style = xy ] ; then
  set timeout_style=menu
  set timeout=0
# Fallback normal timeout code in case the timeout_style feature is
# unavailable.
else
  set timeout=0
fi
### END /etc/grub.d/00_header ###
"#
    )
}

/// One Debian `10_linux` entry body for `version` (`extra` after `ro`), with
/// `savedefault` first if `GRUB_SAVEDEFAULT=true`, and marker initrd `marker`;
/// each line indented by `indent` and a tab.
fn debian_body(
    version: &str,
    extra: &str,
    marker: &str,
    savedefault: bool,
    indent: &str,
) -> String {
    let k = vmlinuz(version);
    let i = initrd_img(version);
    let save = if savedefault { "savedefault" } else { "" };
    [
        save.to_string(),
        "load_video".to_string(),
        "insmod gzio".to_string(),
        "if [ x$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi".to_string(),
        "insmod part_gpt".to_string(),
        "insmod ext2".to_string(),
        "set root='hd0,gpt2'".to_string(),
        "if [ x$feature_platform_search_hint = xy ]; then".to_string(),
        format!("  search --no-floppy --fs-uuid --set=root --hint-bios=hd0,gpt2 --hint-efi=hd0,gpt2 --hint-baremetal=ahci0,gpt2  {ROOT_UUID}"),
        "else".to_string(),
        format!("  search --no-floppy --fs-uuid --set=root {ROOT_UUID}"),
        "fi".to_string(),
        format!("echo\t'Loading Linux {version} ...'"),
        format!("linux\t{k} root=UUID={ROOT_UUID} ro {extra} {TARGET_OPTIONS} entry={marker}"),
        "echo\t'Loading initial ramdisk ...'".to_string(),
        format!("initrd\t/boot/m-{marker}.img {i}"),
    ]
    .iter()
    .filter(|l| !l.is_empty())
    .map(|l| format!("{indent}\t{l}\n"))
    .collect()
}

/// Debian's entries: the simple one, then "Advanced options" with each kernel
/// and its recovery mode, newest first; `savedefault` in each if `GRUB_SAVEDEFAULT=true`.
fn debian_entries(s: &Scenario, savedefault: bool) -> String {
    let v = &s.kernel.version;
    let mut cfg = String::from("### BEGIN /etc/grub.d/10_linux ###\n");
    cfg.push_str(&format!(
        "menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-simple-{ROOT_UUID}' {{\n{}}}\n",
        debian_body(v, " quiet", "simple", savedefault, "")
    ));
    cfg.push_str(&format!(
        "submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-{ROOT_UUID}' {{\n"
    ));
    for (version, tag) in [(v.as_str(), "new"), (OLD_VERSION, "old")] {
        cfg.push_str(&format!(
            "\tmenuentry 'Debian GNU/Linux, with Linux {version}' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-{version}-advanced-{ROOT_UUID}' {{\n{}\t}}\n",
            debian_body(version, " quiet", tag, savedefault, "\t")
        ));
        cfg.push_str(&format!(
            "\tmenuentry 'Debian GNU/Linux, with Linux {version} (recovery mode)' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-{version}-recovery-{ROOT_UUID}' {{\n{}\t}}\n",
            debian_body(version, "single", &format!("{tag}-recovery"), savedefault, "\t")
        ));
    }
    cfg.push_str("}\n### END /etc/grub.d/10_linux ###\n");
    cfg
}

const DEBIAN_MARKERS: &[&str] = &["simple", "new", "new-recovery", "old", "old-recovery"];

/// Debian's command line for one of its entries.
fn debian_cmdline(version: &str, extra: &str, marker: &str) -> String {
    format!(
        "BOOT_IMAGE={} root=UUID={ROOT_UUID} ro {extra} {TARGET_OPTIONS} entry={marker}",
        vmlinuz(version)
    )
}

/// (1) Debian with its "Advanced options" submenu and `GRUB_DEFAULT=saved`:
/// grubenv's `saved_entry` is a title path into the submenu, as the Debian wiki
/// tells to pass to `grub-set-default`. Also the Debian end-to-end case: grub.cfg
/// on ext4 `/boot/grub`, `search --fs-uuid`, a submenu default. `savedefault`
/// writes `$chosen` back, which GRUB makes from the ids (`menu.c`).
#[test]
fn debian_saved_entry_in_submenu() {
    let runs = differential("debian-saved", |s| {
        let saved = format!(
            "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux {OLD_VERSION} (recovery mode)"
        );
        let cfg = format!("{}{}", debian_header("saved"), debian_entries(s, true));
        let env = grubenv(&[("saved_entry", &saved)]);
        let root = debian_root(s, &cfg, Some(env), DEBIAN_MARKERS);
        (
            grub_disk("(hd0,gpt2)/boot/grub", vec![root]),
            Expect {
                cmdline: debian_cmdline(OLD_VERSION, "single", "old-recovery"),
                initrds: vec!["debian", "old-recovery"],
                entry_id: format!("gnulinux-{OLD_VERSION}-recovery-{ROOT_UUID}"),
                grub_errors: vec![],
                grubenv_after: Some(vec![(
                    "saved_entry",
                    format!(
                        "gnulinux-advanced-{ROOT_UUID}>gnulinux-{OLD_VERSION}-recovery-{ROOT_UUID}"
                    ),
                )]),
            },
        )
    });
    let Some(runs) = runs else {
        return;
    };
    // The Debian end-to-end part: leapboot lists GRUB's entries in menu order,
    // submenu entries included, marks the saved one, and the host tool agrees
    // (on the disk as leapboot left it: `savedefault` rewrote `saved_entry` to the
    // id path of the same entry).
    let v = runs.s.kernel.version.clone();
    let ids = [
        format!("gnulinux-simple-{ROOT_UUID}"),
        format!("gnulinux-{v}-advanced-{ROOT_UUID}"),
        format!("gnulinux-{v}-recovery-{ROOT_UUID}"),
        format!("gnulinux-{OLD_VERSION}-advanced-{ROOT_UUID}"),
        format!("gnulinux-{OLD_VERSION}-recovery-{ROOT_UUID}"),
    ];
    let (pid1_ids, pid1_default) = menu_from_log(&runs.leapboot_log);
    assert_eq!(pid1_ids, ids);
    assert_eq!(pid1_default.as_ref(), Some(&ids[4]));
    assert!(
        runs.leapboot_log
            .contains(&format!("timeout 0: booting default entry '{}'", ids[4])),
        "leapboot did not autoboot the saved entry"
    );
    let (host_ids, host_default) = runs.s.host_list();
    assert_eq!(host_ids, pid1_ids);
    assert_eq!(host_default, pid1_default);
}

/// (5) `set default` to a path into the submenu, each step a title or an id
/// (`GRUB_DEFAULT="Advanced options for Debian GNU/Linux>gnulinux-<old>-advanced-<uuid>"`).
#[test]
fn default_title_and_id_path_into_submenu() {
    differential("title-path", |s| {
        let header = debian_header(&format!(
            "Advanced options for Debian GNU/Linux>gnulinux-{OLD_VERSION}-advanced-{ROOT_UUID}"
        ));
        let cfg = format!("{header}{}", debian_entries(s, false));
        let root = debian_root(s, &cfg, Some(grubenv(&[])), DEBIAN_MARKERS);
        (
            grub_disk("(hd0,gpt2)/boot/grub", vec![root]),
            Expect {
                cmdline: debian_cmdline(OLD_VERSION, "quiet", "old"),
                initrds: vec!["debian", "old"],
                entry_id: format!("gnulinux-{OLD_VERSION}-advanced-{ROOT_UUID}"),
                grub_errors: vec![],
                // grub-install made it; nothing writes to it without GRUB_SAVEDEFAULT.
                grubenv_after: Some(vec![]),
            },
        )
    });
}

/// (5b) `set default="1>2"`: indexes, the submenu's third entry.
#[test]
fn default_index_path_into_submenu() {
    differential("index-path", |s| {
        let header = debian_header("1>2");
        let cfg = format!("{header}{}", debian_entries(s, false));
        let root = debian_root(s, &cfg, Some(grubenv(&[])), DEBIAN_MARKERS);
        (
            grub_disk("(hd0,gpt2)/boot/grub", vec![root]),
            Expect {
                cmdline: debian_cmdline(OLD_VERSION, "quiet", "old"),
                initrds: vec!["debian", "old"],
                entry_id: format!("gnulinux-{OLD_VERSION}-advanced-{ROOT_UUID}"),
                grub_errors: vec![],
                // grub-install made it; nothing writes to it without GRUB_SAVEDEFAULT.
                grubenv_after: Some(vec![]),
            },
        )
    });
}

/// (4) `next_entry` in grubenv (as `grub-reboot 1>1` writes it) wins over
/// `saved_entry` once: the header clears it with `save_env`.
///
/// The header also sets `boot_once` so that `savedefault` does not make the
/// one-time choice permanent, but GRUB runs a submenu in a new variable context
/// (`grub_env_context_open` in `grub_menu_execute_entry`, `normal/menu.c`) that
/// carries only exported variables: inside "Advanced options" `boot_once` is
/// empty, and `savedefault` saves the submenu entry after all. leapboot must do
/// the same.
#[test]
fn next_entry_boots_once() {
    differential("next-entry", |s| {
        let v = s.kernel.version.clone();
        let cfg = format!("{}{}", debian_header("saved"), debian_entries(s, true));
        let env = grubenv(&[
            ("saved_entry", &format!("gnulinux-simple-{ROOT_UUID}")),
            ("next_entry", "1>1"),
        ]);
        let root = debian_root(s, &cfg, Some(env), DEBIAN_MARKERS);
        (
            grub_disk("(hd0,gpt2)/boot/grub", vec![root]),
            Expect {
                cmdline: debian_cmdline(&v, "single", "new-recovery"),
                initrds: vec!["debian", "new-recovery"],
                entry_id: format!("gnulinux-{v}-recovery-{ROOT_UUID}"),
                grub_errors: vec![],
                grubenv_after: Some(vec![
                    (
                        "saved_entry",
                        format!("gnulinux-advanced-{ROOT_UUID}>gnulinux-{v}-recovery-{ROOT_UUID}"),
                    ),
                    ("next_entry", String::new()),
                ]),
            },
        )
    });
}

/// (2) Ubuntu's `grub.cfg`: `recordfail` in the entry (written to grubenv),
/// `$vt_handoff` set inside an `if` in the `gfxmode` function, read on the
/// `linux` line.
#[test]
fn ubuntu_recordfail_and_vt_handoff() {
    differential("ubuntu", |s| {
        let v = s.kernel.version.clone();
        let k = vmlinuz(&v);
        let i = initrd_img(&v);
        let choose_default = grub_mkconfig_default("0");
        let cfg = format!(
            r#"### BEGIN /etc/grub.d/00_header ###
if [ -s $prefix/grubenv ]; then
  set have_grubenv=true
  load_env
fi
if [ "${{initrdfail}}" = 2 ]; then
   set initrdfail=
elif [ "${{initrdfail}}" = 1 ]; then
   set next_entry="${{prev_entry}}"
   set prev_entry=
   save_env prev_entry
   if [ "${{next_entry}}" ]; then
      set initrdfail=2
   fi
fi
{choose_default}
{GRUB_MKCONFIG_IDS_AND_SAVEDEFAULT}function initrdfail {{
    if [ -n "${{have_grubenv}}" ]; then if [ -n "${{partuuid}}" ]; then
      if [ -z "${{initrdfail}}" ]; then
        set initrdfail=1
        if [ -n "${{boot_once}}" ]; then
          set prev_entry="${{default}}"
          save_env prev_entry
        fi
      fi
      save_env initrdfail
    fi; fi
}}
function recordfail {{
  set recordfail=1
  if [ -n "${{have_grubenv}}" ]; then if [ -z "${{boot_once}}" ]; then save_env recordfail; fi; fi
}}
{GRUB_MKCONFIG_LOAD_VIDEO}
{SERIAL}if [ "${{recordfail}}" = 1 ] ; then
  set timeout=30
else
  if [ x$feature_timeout_style = xy ] ; then
    set timeout_style=hidden
    set timeout=0
  # Fallback hidden-timeout code in case the timeout_style feature is
  # unavailable.
  elif sleep --interruptible 0 ; then
    set timeout=0
  fi
fi
### END /etc/grub.d/00_header ###

### BEGIN /etc/grub.d/10_linux ###
function gfxmode {{
	set gfxpayload="${{1}}"
	if [ "${{1}}" = "keep" ]; then
		set vt_handoff=vt.handoff=7
	else
		set vt_handoff=
	fi
}}
if [ "${{recordfail}}" != 1 ]; then
  if [ -e ${{prefix}}/gfxblacklist.txt ]; then
    if [ ${{grub_platform}} != pc ]; then
      set linux_gfx_mode=keep
    elif hwmatch ${{prefix}}/gfxblacklist.txt 3; then
      if [ ${{match}} = 0 ]; then
        set linux_gfx_mode=keep
      else
        set linux_gfx_mode=text
      fi
    else
      set linux_gfx_mode=text
    fi
  else
    set linux_gfx_mode=keep
  fi
else
  set linux_gfx_mode=text
fi
export linux_gfx_mode
menuentry 'Ubuntu' --class ubuntu --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-simple-{ROOT_UUID}' {{
	recordfail
	load_video
	gfxmode $linux_gfx_mode
	insmod gzio
	if [ x$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi
	insmod part_gpt
	insmod ext2
	search --no-floppy --fs-uuid --set=root {ROOT_UUID}
	linux	{k} root=UUID={ROOT_UUID} ro {TARGET_OPTIONS} entry=ubuntu quiet splash $vt_handoff
	initrd	/boot/m-ucode.img {i} /boot/m-ubuntu.img
}}
submenu 'Advanced options for Ubuntu' $menuentry_id_option 'gnulinux-advanced-{ROOT_UUID}' {{
	menuentry 'Ubuntu, with Linux {v} (recovery mode)' --class ubuntu --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-{v}-recovery-{ROOT_UUID}' {{
		recordfail
		load_video
		insmod gzio
		insmod part_gpt
		insmod ext2
		search --no-floppy --fs-uuid --set=root {ROOT_UUID}
		linux	{k} root=UUID={ROOT_UUID} ro recovery nomodeset dis_ucode_ldr {TARGET_OPTIONS} entry=ubuntu-recovery
		initrd	{i}
	}}
}}
### END /etc/grub.d/10_linux ###
"#
        );
        let root = debian_root(s, &cfg, Some(grubenv(&[])), &["ucode", "ubuntu"]);
        (
            grub_disk("(hd0,gpt2)/boot/grub", vec![root]),
            Expect {
                cmdline: format!(
                    "BOOT_IMAGE={k} root=UUID={ROOT_UUID} ro {TARGET_OPTIONS} entry=ubuntu quiet splash vt.handoff=7"
                ),
                initrds: vec!["debian", "ubuntu", "ucode"],
                entry_id: format!("gnulinux-simple-{ROOT_UUID}"),
                grub_errors: vec![],
                grubenv_after: Some(vec![("recordfail", "1".to_string())]),
            },
        )
    });
}

/// (3) Two volumes: the prefix holds a stub `grub.cfg` that finds the `/boot`
/// partition with `search --fs-uuid --set=root` and `configfile`s its config,
/// whose paths are relative to that partition.
#[test]
fn stub_configfile_into_other_partition() {
    differential("stub", |s| {
        let v = s.kernel.version.clone();
        let stub_cfg = format!(
            "{SERIAL}search --no-floppy --fs-uuid --set=root {BOOT_UUID}\nset prefix=($root)'/grub'\nconfigfile $prefix/grub.cfg\n"
        );
        let stub = with_modules(
            Partition::linux_ext4(16, "stub", STUB_UUID).file("/boot/grub/grub.cfg", stub_cfg),
            "/boot/grub",
        );
        let boot_cfg = format!(
            r#"set timeout=0
set default=1
insmod part_gpt
insmod ext2
menuentry 'First' --id first {{
	linux /vmlinuz-{v} {TARGET_OPTIONS} entry=first
	initrd /m-first.img /initrd.img-{v}
}}
menuentry 'Second' --id second {{
	search --no-floppy --fs-uuid --set=root {BOOT_UUID}
	linux ($root)/vmlinuz-{v} {TARGET_OPTIONS} entry=second prefix=$prefix
	initrd /m-second-a.img /initrd.img-{v} /m-second-b.img
}}
"#
        );
        let boot = with_modules(
            Partition::linux_ext4(40, "boot", BOOT_UUID)
                .file_from(&format!("/vmlinuz-{v}"), &s.kernel.vmlinuz)
                .file(&format!("/initrd.img-{v}"), s.target_initrd(&["boot"]))
                .file("/m-first.img", s.marker("first"))
                .file("/m-second-a.img", s.marker("second-a"))
                .file("/m-second-b.img", s.marker("second-b"))
                .file("/grub/grub.cfg", boot_cfg),
            "/grub",
        );
        (
            grub_disk("(hd0,gpt2)/boot/grub", vec![stub, boot]),
            Expect {
                cmdline: format!(
                    "BOOT_IMAGE=(hd0,gpt3)/vmlinuz-{v} {TARGET_OPTIONS} entry=second prefix=(hd0,gpt3)/grub"
                ),
                initrds: vec!["boot", "second-a", "second-b"],
                entry_id: "second".into(),
                grub_errors: vec![],
                grubenv_after: None,
            },
        )
    });
}

/// (6) A default by id: `set default=myid` names the entry made with
/// `$menuentry_id_option myid`, not the first one.
#[test]
fn default_by_menuentry_id() {
    differential("id-default", |s| {
        let v = s.kernel.version.clone();
        let (k, i) = (vmlinuz(&v), initrd_img(&v));
        let cfg = format!(
            r#"{SERIAL}if [ x"${{feature_menuentry_id}}" = xy ]; then
  menuentry_id_option="--id"
else
  menuentry_id_option=""
fi
export menuentry_id_option
set default=myid
set timeout=0
menuentry 'Alpha' $menuentry_id_option alpha {{
	linux {k} {TARGET_OPTIONS} entry=alpha
	initrd {i} /boot/m-alpha.img
}}
menuentry 'Mine' --class os $menuentry_id_option myid {{
	linux {k} {TARGET_OPTIONS} entry=myid
	initrd /boot/m-mine-1.img {i} /boot/m-mine-2.img
}}
menuentry 'Zeta' --id zeta {{
	linux {k} {TARGET_OPTIONS} entry=zeta
	initrd {i}
}}
"#
        );
        let root = debian_root(s, &cfg, None, &["alpha", "mine-1", "mine-2"]);
        (
            grub_disk("(hd0,gpt2)/boot/grub", vec![root]),
            Expect {
                cmdline: format!("BOOT_IMAGE={k} {TARGET_OPTIONS} entry=myid"),
                initrds: vec!["debian", "mine-1", "mine-2"],
                entry_id: "myid".into(),
                grub_errors: vec![],
                grubenv_after: None,
            },
        )
    });
}

/// (7) `fallback` after a missing kernel: the default entry's kernel does not
/// exist, so `linux` fails, GRUB says so and boots the `fallback` entry (the
/// third, not the next one).
#[test]
fn fallback_after_missing_kernel() {
    differential("fallback", |s| {
        let v = s.kernel.version.clone();
        let (k, i) = (vmlinuz(&v), initrd_img(&v));
        let cfg = format!(
            r#"{SERIAL}set timeout=0
set default=0
set fallback="2"
menuentry 'Removed kernel' --id gone {{
	linux /boot/vmlinuz-5.10.0-9-amd64 {TARGET_OPTIONS} entry=gone
	initrd {i}
}}
menuentry 'Next in order' --id next {{
	linux {k} {TARGET_OPTIONS} entry=next
	initrd {i}
}}
menuentry 'Fallback' --id fb {{
	linux {k} {TARGET_OPTIONS} entry=fallback
	initrd /boot/m-fb-1.img /boot/m-fb-2.img {i}
}}
"#
        );
        let root = debian_root(s, &cfg, None, &["fb-1", "fb-2"]);
        (
            grub_disk("(hd0,gpt2)/boot/grub", vec![root]),
            Expect {
                cmdline: format!("BOOT_IMAGE={k} {TARGET_OPTIONS} entry=fallback"),
                initrds: vec!["debian", "fb-1", "fb-2"],
                entry_id: "fb".into(),
                grub_errors: vec![
                    "error: file `/boot/vmlinuz-5.10.0-9-amd64' not found.".into(),
                    "error: you need to load the kernel first.".into(),
                ],
                grubenv_after: None,
            },
        )
    });
}

/// (8) Variables set after the menu entry are read when its body runs (at boot,
/// after the whole file): an unquoted value splits into words, a quoted one with
/// a space becomes one argument that GRUB quotes, and `"` and `\` are escaped.
#[test]
fn variables_set_after_the_entry() {
    differential("late-vars", |s| {
        let v = s.kernel.version.clone();
        let (k, i) = (vmlinuz(&v), initrd_img(&v));
        let cfg = format!(
            r#"{SERIAL}set timeout=0
set late_args="early=no"
menuentry 'Late' --id late {{
	linux {k} {TARGET_OPTIONS} entry=late $late_args "$spaced" 'q"uo"te' 'back\slash'
	initrd $late_initrds
}}
set late_args="late=yes two=2"
set spaced="spaced=a b"
set late_initrds="/boot/m-late-a.img {i} /boot/m-late-b.img"
"#
        );
        let root = debian_root(s, &cfg, None, &["late-a", "late-b"]);
        (
            grub_disk("(hd0,gpt2)/boot/grub", vec![root]),
            Expect {
                cmdline: format!(
                    r#"BOOT_IMAGE={k} {TARGET_OPTIONS} entry=late late=yes two=2 "spaced=a b" q\"uo\"te back\\slash"#
                ),
                initrds: vec!["debian", "late-a", "late-b"],
                entry_id: "late".into(),
                grub_errors: vec![],
                grubenv_after: None,
            },
        )
    });
}

/// A NUL byte cuts its line (GRUB's `grub_file_getline` returns C strings), and a
/// quote left open by the cut runs on into the next line, as GRUB's lexer continues
/// a quoted string over a line end: the `'` alone on line 2 closes the title's
/// quote instead of opening a new one that would swallow the entry.
#[test]
fn nul_byte_cuts_the_line_and_the_quote_runs_on() {
    differential("nul-byte", |s| {
        let v = s.kernel.version.clone();
        let (k, i) = (vmlinuz(&v), initrd_img(&v));
        let cfg = format!(
            "{SERIAL}set timeout=0\nset title='Cut\0 here ' but not here\n'\nmenuentry \"$title\" --id after {{\n\tlinux {k} {TARGET_OPTIONS} entry=after\n\tinitrd {i}\n}}\n"
        );
        let root = debian_root(s, &cfg, None, &[]);
        (
            grub_disk("(hd0,gpt2)/boot/grub", vec![root]),
            Expect {
                cmdline: format!("BOOT_IMAGE={k} {TARGET_OPTIONS} entry=after"),
                initrds: vec!["debian"],
                entry_id: "after".into(),
                grub_errors: vec![],
                grubenv_after: None,
            },
        )
    });
}
