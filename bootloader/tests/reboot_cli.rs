//! `leapboot reboot`, `load`, `status` and `list` on an installed system (issue 11), run
//! as the binary against fake system roots: the hidden `LEAPBOOT_SYSTEM_ROOT` testing
//! aid makes `/proc`, `/sys`, `/boot`, `/etc`, `/run`, `/var` and the mount points come
//! from a fixture tree, and with it set nothing is ever loaded, written or rebooted.
//! Each fixture is the smallest tree that shows one rule: a Debian BIOS system with
//! GRUB, a UEFI system with systemd-boot, a Fedora system with rhboot's GRUB, one with
//! no boot loader config.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug)]
struct Run {
    code: i32,
    out: String,
    err: String,
}

/// Runs leapboot with the system root set.
fn leapboot(root: &Path, args: &[&str]) -> Run {
    let o = Command::new(env!("CARGO_BIN_EXE_leapboot"))
        .args(args)
        .env("LEAPBOOT_SYSTEM_ROOT", root)
        .output()
        .expect("running leapboot");
    Run {
        code: o.status.code().expect("leapboot exited by a signal"),
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A fake system root.
struct Sys {
    root: PathBuf,
}

impl Sys {
    /// A fresh tree: root as uid 0 with every capability, kexec allowed, nothing loaded.
    fn new(name: &str) -> Sys {
        let root = std::env::temp_dir()
            .join(format!("leapboot-reboot-cli-{}", std::process::id()))
            .join(name);
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let s = Sys { root };
        s.file(
            "/proc/self/status",
            "Name:\tleapboot\nUid:\t0\t0\t0\t0\nCapEff:\t000001ffffffffff\n",
        );
        s.file("/proc/sys/kernel/kexec_load_disabled", "0\n");
        s.file(
            "/proc/sys/kernel/random/boot_id",
            "6d3c1e2a-0000-4000-8000-00000000b007\n",
        );
        s.file("/proc/sys/kernel/osrelease", "6.1.0-9-amd64\n");
        s.file("/sys/kernel/kexec_loaded", "0\n");
        s.file("/run/systemd/system/.keep", "");
        s
    }

    fn file(&self, path: &str, data: impl AsRef<[u8]>) {
        let p = self.root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    fn read(&self, path: &str) -> Vec<u8> {
        std::fs::read(self.root.join(path.trim_start_matches('/'))).unwrap()
    }

    fn exists(&self, path: &str) -> bool {
        self.root.join(path.trim_start_matches('/')).exists()
    }

    fn run(&self, args: &[&str]) -> Run {
        leapboot(&self.root, args)
    }
}

/// A small bzImage that passes the pre-flight checks (boot protocol 2.15, 64-bit,
/// loads above 4 GiB), with `version` as its version string.
fn bzimage(version: &str) -> Vec<u8> {
    let mut d = vec![0u8; 4 * 512 + 4096];
    let put16 =
        |d: &mut Vec<u8>, off: usize, v: u16| d[off..off + 2].copy_from_slice(&v.to_le_bytes());
    let put32 =
        |d: &mut Vec<u8>, off: usize, v: u32| d[off..off + 4].copy_from_slice(&v.to_le_bytes());
    d[0x1F1] = 3; // setup_sects
    put32(&mut d, 0x1F4, 0x100); // syssize: 4096 bytes
    put16(&mut d, 0x1FE, 0xAA55);
    d[0x200] = 0xEB;
    d[0x201] = 0x6A;
    d[0x202..0x206].copy_from_slice(b"HdrS");
    put16(&mut d, 0x206, 0x020F);
    put16(&mut d, 0x20E, 0x0100); // version string at 0x300
    d[0x211] = 1; // LOADED_HIGH
    put32(&mut d, 0x22C, 0x7fff_ffff);
    put32(&mut d, 0x230, 0x20_0000);
    d[0x234] = 1;
    put16(&mut d, 0x236, 0b11); // XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G
    put32(&mut d, 0x238, 2047);
    put32(&mut d, 0x248, 0x10);
    put32(&mut d, 0x24C, 0x100);
    put32(&mut d, 0x260, 0x0100_0000);
    let vs = format!("{version} (debian-kernel@lists.debian.org) #1 SMP");
    d[0x300..0x300 + vs.len()].copy_from_slice(vs.as_bytes());
    let payload = 3 * 512 + 512 + 0x10;
    d[payload..payload + 4].copy_from_slice(&[0x28, 0xb5, 0x2f, 0xfd]);
    d
}

/// A cpio archive's magic, enough for the initrd check.
const INITRD: &[u8] = b"07070100000000000000000000000000";

/// A GRUB environment block of 1024 bytes.
fn grubenv(vars: &[(&str, &str)]) -> Vec<u8> {
    let mut s = String::from("# GRUB Environment Block\n");
    for (k, v) in vars {
        s.push_str(&format!("{k}={v}\n"));
    }
    let mut b = s.into_bytes();
    b.resize(1024, b'#');
    b
}

const ROOT_UUID: &str = "1a57a2b4-5c6d-4e7f-8091-a2b3c4d5e6f7";

/// Debian 12's grub.cfg as grub-mkconfig writes it (GRUB_DEFAULT=saved), cut down
/// (shared with the unit tests of `host::next`).
fn debian_cfg() -> String {
    include_str!("data/debian12-grub.cfg").replace("@ROOT_UUID@", ROOT_UUID)
}

/// Debian on BIOS: one ext4 root with /boot, GRUB, two kernels.
fn debian_bios(name: &str, env: &[(&str, &str)]) -> Sys {
    let s = Sys::new(name);
    s.file(
        "/proc/self/mountinfo",
        "22 27 0:21 / /proc rw,nosuid - proc proc rw\n27 1 254:2 / / rw,relatime shared:1 - ext4 /dev/vda2 rw,errors=remount-ro\n",
    );
    s.file(
        "/run/udev/data/b254:2",
        format!("E:ID_FS_UUID={ROOT_UUID}\nE:ID_FS_TYPE=ext4\n"),
    );
    s.file("/boot/grub/grub.cfg", debian_cfg());
    s.file("/boot/grub/grubenv", grubenv(env));
    s.file("/boot/vmlinuz-6.1.0-50-amd64", bzimage("6.1.0-50-amd64"));
    s.file("/boot/initrd.img-6.1.0-50-amd64", INITRD);
    s.file("/boot/vmlinuz-6.1.0-9-amd64", bzimage("6.1.0-9-amd64"));
    s.file("/boot/initrd.img-6.1.0-9-amd64", INITRD);
    s.file(
        "/proc/cmdline",
        format!(
            "BOOT_IMAGE=/boot/vmlinuz-6.1.0-9-amd64 root=UUID={ROOT_UUID} ro quiet console=ttyS0\n"
        ),
    );
    s
}

#[test]
fn grub_reboot_with_a_submenu_path_is_the_next_entry() {
    let next = "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-9-amd64";
    let s = debian_bios("grub-reboot", &[("next_entry", next), ("saved_entry", "0")]);
    let before = s.read("/boot/grub/grubenv");
    let r = s.run(&["reboot", "--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    let id = format!("gnulinux-6.1.0-9-amd64-advanced-{ROOT_UUID}");
    assert!(
        r.out
            .contains("boot loader: GRUB (BIOS), config /boot/grub/grub.cfg on vda2"),
        "{r:?}"
    );
    assert!(r.out.contains(&format!("next entry: '{id}'")), "{r:?}");
    assert!(
        r.out
            .contains("from grubenv next_entry (grub-reboot; cleared by this boot)"),
        "{r:?}"
    );
    assert!(r.out.contains("upstream GRUB"), "{r:?}");
    assert!(
        r.out
            .contains("grubenv /boot/grub/grubenv on vda2: next_entry cleared"),
        "{r:?}"
    );
    assert!(r.out.contains("then: systemctl kexec"), "{r:?}");
    // The handoff report, as firmware prints it, with GRUB's command line.
    assert!(
        r.out
            .contains(&format!("leapboot: kexec: handoff: report for '{id}'")),
        "{r:?}"
    );
    assert!(
        r.out.contains(&format!(
            "BOOT_IMAGE=/boot/vmlinuz-6.1.0-9-amd64 root=UUID={ROOT_UUID} ro quiet leapboot.entry={id}"
        )),
        "{r:?}"
    );
    assert!(
        r.out.contains("dry run") || r.out.contains("testing aid"),
        "{r:?}"
    );
    // A dry run (and the testing aid) changes nothing.
    assert_eq!(s.read("/boot/grub/grubenv"), before);
    assert!(!s.exists("/run/leapboot/loaded"));
}

#[test]
fn saved_entry_and_the_entry_and_latest_overrides() {
    let saved =
        format!("gnulinux-advanced-{ROOT_UUID}>gnulinux-6.1.0-9-amd64-advanced-{ROOT_UUID}");
    let s = debian_bios("saved", &[("saved_entry", &saved)]);
    let r = s.run(&["reboot", "--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.out.contains("from grubenv saved_entry"), "{r:?}");
    assert!(
        r.out
            .contains("next entry: 'gnulinux-6.1.0-9-amd64-advanced-"),
        "{r:?}"
    );
    assert!(r.out.contains("consumed before the jump: nothing"), "{r:?}");
    // --latest: the newest kernel among GRUB's entries, and what GRUB itself would boot.
    let r = s.run(&["reboot", "--dry-run", "--latest"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.out
            .contains(&format!("next entry: 'gnulinux-simple-{ROOT_UUID}'")),
        "{r:?}"
    );
    assert!(
        r.out
            .contains("--latest: version 6.1.0-50-amd64 is the newest"),
        "{r:?}"
    );
    assert!(
        r.out
            .contains("the boot loader itself would boot 'gnulinux-6.1.0-9-amd64-advanced-"),
        "{r:?}"
    );
    // --entry and --reuse-cmdline: this boot's line without its BOOT_IMAGE, GRUB's own in front.
    let r = s.run(&[
        "reboot",
        "--dry-run",
        "--entry",
        "gnulinux-simple-*",
        "--reuse-cmdline",
        "--append",
        "debug",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.out.contains(&format!(
            "BOOT_IMAGE=/boot/vmlinuz-6.1.0-50-amd64 root=UUID={ROOT_UUID} ro quiet console=ttyS0 debug leapboot.entry=gnulinux-simple-"
        )),
        "{r:?}"
    );
    let r = s.run(&["reboot", "--dry-run", "--entry", "nothing-like-this"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.err.contains("no entry matches 'nothing-like-this'"),
        "{r:?}"
    );
}

#[test]
fn list_without_arguments_reads_the_mounted_boot_volumes() {
    let s = debian_bios("list", &[]);
    let r = s.run(&["list"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.out.contains("* Debian GNU/Linux [gnulinux-simple-"),
        "{r:?}"
    );
    assert!(r.out.contains("on vda2 (grub)"), "{r:?}");
}

const LOADER: &str = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";

/// An efivarfs file: attributes NV+BS+RT, then the UTF-16LE string with its NUL.
fn efivar(s: &str) -> Vec<u8> {
    let mut out = 7u32.to_le_bytes().to_vec();
    for u in s.encode_utf16().chain(std::iter::once(0)) {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

/// UEFI with systemd-boot: the ESP at /efi with two BLS entries and loader.conf.
fn systemd_boot(name: &str) -> Sys {
    let s = Sys::new(name);
    s.file(
        "/proc/self/mountinfo",
        "27 1 254:2 / / rw - ext4 /dev/vda2 rw\n40 27 254:1 / /efi rw,relatime - vfat /dev/vda1 rw,fmask=0077\n",
    );
    s.file(
        "/run/udev/data/b254:2",
        format!("E:ID_FS_UUID={ROOT_UUID}\n"),
    );
    s.file(
        "/run/udev/data/b254:1",
        "E:ID_FS_UUID=B60C-A817\nE:ID_FS_LABEL_ENC=EFI\\x20SYSTEM\nE:ID_PART_ENTRY_TYPE=c12a7328-f81f-11d2-ba4b-00a0c93ec93b\n",
    );
    s.file(
        &format!("/sys/firmware/efi/efivars/LoaderInfo-{LOADER}"),
        efivar("systemd-boot 252.39-1~deb12u2"),
    );
    let entry = |v: &str| {
        format!(
            "title Debian GNU/Linux 12\nversion {v}\nsort-key debian\nlinux /debian/{v}/linux\ninitrd /debian/{v}/initrd.img-{v}\noptions root=UUID={ROOT_UUID} ro quiet\n"
        )
    };
    for v in ["6.1.0-50-amd64", "6.1.0-9-amd64"] {
        s.file(&format!("/efi/loader/entries/debian-{v}.conf"), entry(v));
        s.file(&format!("/efi/debian/{v}/linux"), bzimage(v));
        s.file(&format!("/efi/debian/{v}/initrd.img-{v}"), INITRD);
    }
    s.file(
        "/efi/loader/loader.conf",
        "timeout 3\ndefault debian-6.1.0-50-amd64.conf\n",
    );
    s.file("/proc/cmdline", format!("initrd=\\debian\\6.1.0-50-amd64\\initrd.img-6.1.0-50-amd64 root=UUID={ROOT_UUID} ro quiet\n"));
    s
}

#[test]
fn systemd_boot_one_shot_then_loader_conf() {
    let s = systemd_boot("sd-oneshot");
    let var = format!("/sys/firmware/efi/efivars/LoaderEntryOneShot-{LOADER}");
    s.file(&var, efivar("debian-6.1.0-9-amd64.conf"));
    let r = s.run(&["reboot", "--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.out
            .contains("boot loader: systemd-boot 252.39-1~deb12u2 (the LoaderInfo EFI variable)"),
        "{r:?}"
    );
    assert!(r.out.contains("vda1 at /efi (ESP, vfat)"), "{r:?}");
    assert!(
        r.out.contains("next entry: 'debian-6.1.0-9-amd64'"),
        "{r:?}"
    );
    assert!(
        r.out
            .contains("LoaderEntryOneShot=debian-6.1.0-9-amd64.conf"),
        "{r:?}"
    );
    assert!(
        r.out
            .contains("the LoaderEntryOneShot EFI variable removed"),
        "{r:?}"
    );
    // systemd-boot's initrd= parameters, for this entry's initrd.
    assert!(
        r.out
            .contains("initrd=\\debian\\6.1.0-9-amd64\\initrd.img-6.1.0-9-amd64 root=UUID="),
        "{r:?}"
    );
    assert!(s.exists(&var), "a dry run removes nothing");
    // Without the one-shot: loader.conf's default.
    std::fs::remove_file(s.root.join(var.trim_start_matches('/'))).unwrap();
    let r = s.run(&["reboot", "--dry-run"]);
    assert!(
        r.out.contains("next entry: 'debian-6.1.0-50-amd64'"),
        "{r:?}"
    );
    assert!(
        r.out
            .contains("systemd-boot: loader.conf default debian-6.1.0-50-amd64.conf"),
        "{r:?}"
    );
    // LoaderEntryDefault beats loader.conf.
    s.file(
        &format!("/sys/firmware/efi/efivars/LoaderEntryDefault-{LOADER}"),
        efivar("debian-6.1.0-9-*"),
    );
    let r = s.run(&["reboot", "--dry-run"]);
    assert!(
        r.out.contains("next entry: 'debian-6.1.0-9-amd64'"),
        "{r:?}"
    );
    assert!(
        r.out.contains("LoaderEntryDefault=debian-6.1.0-9-*"),
        "{r:?}"
    );
}

const MID: &str = "9af7b02ac08149d985841c07c8ff366e";

#[test]
fn fedora_grub_reads_a_digit_leading_saved_entry_as_an_id() {
    let s = Sys::new("fedora");
    s.file(
        "/proc/self/mountinfo",
        "27 1 8:3 / / rw - xfs /dev/sda3 rw\n40 27 8:2 / /boot rw - ext4 /dev/sda2 rw\n",
    );
    s.file(
        "/run/udev/data/b8:2",
        "E:ID_FS_UUID=0b00b00b-1111-4222-8333-444455556666\n",
    );
    let cfg = "set kernelopts=\"root=/dev/sda3 ro\"\nif [ -s $prefix/grubenv ]; then\n  load_env\nfi\nif [ \"${next_entry}\" ] ; then\n   set default=\"${next_entry}\"\n   set next_entry=\n   save_env next_entry\nelse\n   set default=\"${saved_entry}\"\nfi\ninsmod blscfg\nblscfg\n";
    s.file("/boot/grub2/grub.cfg", cfg);
    let saved = format!("{MID}-6.7.1-200.fc40.x86_64");
    s.file("/boot/grub2/grubenv", grubenv(&[("saved_entry", &saved)]));
    for v in ["6.8.5-301.fc40.x86_64", "6.7.1-200.fc40.x86_64"] {
        s.file(
            &format!("/boot/loader/entries/{MID}-{v}.conf"),
            format!("title Fedora Linux ({v}) 40\nversion {v}\nlinux /vmlinuz-{v}\ninitrd /initramfs-{v}.img\noptions $kernelopts\n"),
        );
        s.file(&format!("/boot/vmlinuz-{v}"), bzimage(v));
        s.file(&format!("/boot/initramfs-{v}.img"), INITRD);
    }
    s.file(
        "/proc/cmdline",
        "BOOT_IMAGE=(hd0,gpt2)/vmlinuz-6.8.5-301.fc40.x86_64 root=/dev/sda3 ro\n",
    );
    let r = s.run(&["reboot", "--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.out.contains(&format!("next entry: '{saved}'")), "{r:?}");
    assert!(r.out.contains("Fedora/RHEL GRUB"), "{r:?}");
}

#[test]
fn no_boot_loader_config_is_said_and_not_guessed() {
    let s = Sys::new("no-config");
    s.file(
        "/proc/self/mountinfo",
        "27 1 254:0 / / rw - ext4 /dev/vda rw\n",
    );
    s.file("/boot/.keep", "");
    s.file(
        "/proc/cmdline",
        "BOOT_IMAGE=/boot/vmlinuz-6.1.0-9-amd64 root=/dev/vda ro console=ttyS0\n",
    );
    let r = s.run(&["reboot", "--dry-run"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.err.contains("no boot loader config found"), "{r:?}");
    assert!(
        r.err
            .contains("vda at / (root filesystem with /boot, ext4)"),
        "{r:?}"
    );
    assert!(
        r.err.contains("--latest") && r.err.contains("--reuse-cmdline"),
        "{r:?}"
    );
    assert!(!r.out.contains("handoff:"), "{r:?}");
    // --latest: nothing installed either.
    let r = s.run(&["reboot", "--dry-run", "--latest"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.err
            .contains("no kernel (vmlinuz-*) is installed in /boot"),
        "{r:?}"
    );
    // With kernels in /boot: the newest, with this boot's command line.
    s.file("/boot/vmlinuz-6.1.0-9-amd64", bzimage("6.1.0-9-amd64"));
    s.file("/boot/initrd.img-6.1.0-9-amd64", INITRD);
    s.file("/boot/vmlinuz-6.1.0-50-amd64", bzimage("6.1.0-50-amd64"));
    s.file("/boot/initrd.img-6.1.0-50-amd64", INITRD);
    let r = s.run(&["reboot", "--dry-run", "--latest"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.out.contains("next entry: 'linux-6.1.0-50-amd64'"),
        "{r:?}"
    );
    assert!(
        r.out.contains("command line")
            && r.out
                .contains(": root=/dev/vda ro console=ttyS0 leapboot.entry=linux-6.1.0-50-amd64"),
        "{r:?}"
    );
    // --reuse-cmdline alone: the running kernel again.
    let r = s.run(&["reboot", "--dry-run", "--reuse-cmdline"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.out.contains("next entry: 'linux-6.1.0-9-amd64'"), "{r:?}");
}

#[test]
fn traps_are_explained_before_acting() {
    let s = debian_bios("traps", &[]);
    s.file(
        "/proc/self/status",
        "Uid:\t1000\t1000\t1000\t1000\nCapEff:\t0000000000000000\n",
    );
    s.file("/proc/sys/kernel/kexec_load_disabled", "1\n");
    s.file("/sys/kernel/kexec_loaded", "1\n");
    s.file(
        "/sys/kernel/security/lockdown",
        "none [integrity] confidentiality\n",
    );
    s.file(
        "/etc/systemd/system/sysinit.target.wants/finalrd.service",
        "",
    );
    let r = s.run(&["reboot", "--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.out
            .contains("stop: not root: loading a kernel needs CAP_SYS_BOOT (running as uid 1000)"),
        "{r:?}"
    );
    assert!(r.out.contains("kexec_load_disabled is 1"), "{r:?}");
    assert!(r.out.contains("already loaded by another tool"), "{r:?}");
    assert!(r.out.contains("lockdown mode 'integrity'"), "{r:?}");
    assert!(r.out.contains("carries no signature"), "{r:?}");
    assert!(r.out.contains("finalrd"), "{r:?}");
    assert!(r.out.contains("a real run would stop here"), "{r:?}");
}

#[test]
fn etc_default_kexec_and_the_unit() {
    let s = debian_bios("default-kexec", &[]);
    s.file("/etc/default/kexec", "LOAD_KEXEC=false\nKERNEL_IMAGE=\"/vmlinuz\"\nINITRD=\"/initrd.img\"\nAPPEND=\"\"\nUSE_GRUB_CONFIG=false\n");
    let r = s.run(&["load", "--on-reboot"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.out
            .contains("not loading: LOAD_KEXEC=false in /etc/default/kexec"),
        "{r:?}"
    );
    // By hand, LOAD_KEXEC=false is said and the load planned; the shipped /vmlinuz is no override.
    let r = s.run(&["load", "--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.out
            .contains("stops the unit, not a load asked for by hand"),
        "{r:?}"
    );
    assert!(
        r.out
            .contains(&format!("next entry: 'gnulinux-simple-{ROOT_UUID}'")),
        "{r:?}"
    );
    // KERNEL_IMAGE and APPEND of one's own: that kernel, that command line.
    s.file(
        "/etc/default/kexec",
        "LOAD_KEXEC=true\nKERNEL_IMAGE=/boot/vmlinuz-6.1.0-9-amd64\nINITRD=/boot/initrd.img-6.1.0-9-amd64\nAPPEND=\"root=/dev/vda2 ro single\"\n",
    );
    let r = s.run(&["load", "--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.out.contains("next entry: 'linux-6.1.0-9-amd64'"), "{r:?}");
    assert!(
        r.out
            .contains("KERNEL_IMAGE=/boot/vmlinuz-6.1.0-9-amd64 in /etc/default/kexec"),
        "{r:?}"
    );
    assert!(
        r.out
            .contains(": root=/dev/vda2 ro single leapboot.entry=linux-6.1.0-9-amd64"),
        "{r:?}"
    );
    assert!(
        r.out.contains("initrd /boot/initrd.img-6.1.0-9-amd64"),
        "{r:?}"
    );
    // A firmware reboot asked for: the unit loads nothing.
    s.file("/run/leapboot/firmware-reboot", "");
    let r = s.run(&["load", "--on-reboot"]);
    assert!(
        r.out
            .contains("not loading: a firmware reboot was asked for"),
        "{r:?}"
    );
}

#[test]
fn status_says_what_is_loaded_and_how_this_boot_came() {
    let s = debian_bios("status", &[]);
    let r = s.run(&["status"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.out.contains("not loaded: no kexec image is loaded"),
        "{r:?}"
    );
    assert!(
        r.out.contains("this boot did not come from leapboot"),
        "{r:?}"
    );
    s.file("/sys/kernel/kexec_loaded", "1\n");
    let r = s.run(&["status"]);
    assert!(r.out.contains("loaded by another tool"), "{r:?}");
    s.file(
        "/run/leapboot/loaded",
        "entry=gnulinux-simple-x\ntitle=Debian GNU/Linux\nkernel=vda2:/boot/vmlinuz-6.1.0-50-amd64\ncmdline=ro\nloaded_at=1782994272\nboot_id=6d3c1e2a-0000-4000-8000-00000000b007\nby=leapboot load (uid 0, pid 7)\n",
    );
    let r = s.run(&["status"]);
    assert!(r.out.contains("loaded: 'gnulinux-simple-x' \"Debian GNU/Linux\" by leapboot load (uid 0, pid 7) at 2026-07-02T12:11:12Z"), "{r:?}");
    // After the kexec: the command line names the entry, the report the time.
    s.file("/sys/kernel/kexec_loaded", "0\n");
    s.file(
        "/proc/cmdline",
        "BOOT_IMAGE=/boot/vmlinuz ro leapboot.entry=gnulinux-simple-x\n",
    );
    s.file("/proc/stat", "cpu 1 2 3\nbtime 1782994300\n");
    s.file(
        "/var/log/leapboot/last-handoff.log",
        "# leapboot handoff report\nentry=gnulinux-simple-x\ntime=1782994272\nboot_id=old\n\nreport for 'gnulinux-simple-x'\n",
    );
    let r = s.run(&["status"]);
    assert!(
        r.out.contains("this boot came by kexec from leapboot, entry gnulinux-simple-x, at 2026-07-02T12:11:12Z (report: /var/log/leapboot/last-handoff.log)"),
        "{r:?}"
    );
}

#[test]
fn help_names_the_commands_and_exit_codes() {
    let o = Command::new(env!("CARGO_BIN_EXE_leapboot"))
        .args(["reboot", "--help"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    for flag in [
        "--entry",
        "--latest",
        "--reuse-cmdline",
        "--append",
        "--dry-run",
        "--now",
        "--fallback",
        "--firmware",
        "Exit status",
    ] {
        assert!(out.contains(flag), "{flag}: {out}");
    }
    assert!(
        !out.contains("--system-root"),
        "the testing aid stays hidden: {out}"
    );
    let o = Command::new(env!("CARGO_BIN_EXE_leapboot"))
        .args(["--help"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    for c in ["reboot", "load", "unload", "status"] {
        assert!(out.contains(c), "{c}: {out}");
    }
}
