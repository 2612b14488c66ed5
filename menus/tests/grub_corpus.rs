//! Every GRUB config of the shared corpus (`<repo>/../shared/corpus/grub`), run the
//! way GRUB runs it. Each case prints its entries (title path, kernel, initrds,
//! command line) and the default, then checks what GRUB's own rules say it must be:
//! the expected values below were worked out from the configs and GRUB's sources
//! (`grub-core/script/execute.c`, `normal/menu.c`, `commands/search.c`, rhboot's
//! `blscfg.c`), not taken from any other tool's output.
//!
//! Skips with a notice when the corpus folder is absent.

mod grub_common;
use grub_common::*;
use leapboot_menus::grub::GrubScan;
use leapboot_menus::grub::default::TimeoutStyle;
use leapboot_menus::grub::grubenv::EnvChange;
use leapboot_menus::menu::DefaultReason;
use leapboot_menus::{
    Diagnostic, MemFs, Menu, Severity, VolumeInfo, VolumeRole, VolumeView, scan_all,
};
use std::path::Path;

/// A u-root case folder as a volume: UUID and LABEL from its files.
fn folder_volume(dir: &Path, device: &str, extra: &[&str]) -> (VolumeInfo, MemFs) {
    let read = |n: &str| {
        std::fs::read_to_string(dir.join(n))
            .ok()
            .map(|s| s.trim().to_string())
    };
    let mut fs = load_dir(dir);
    for p in extra {
        fs.insert(p, Vec::new());
    }
    let info = VolumeInfo {
        uuid: read("UUID"),
        label: read("LABEL"),
        device: device.into(),
        fs_type: read("TYPE").unwrap_or_else(|| "ext4".into()),
        role: VolumeRole::Other,
    };
    (info, fs)
}

/// A single-file petitboot case as a volume holding the config at `path`.
fn text_volume(
    file: &Path,
    path: &str,
    uuid: &str,
    label: Option<&str>,
    extra: &[(&str, &str)],
) -> (VolumeInfo, MemFs) {
    let mut fs = MemFs::new();
    fs.insert(path, std::fs::read(file).expect("corpus file"));
    for (p, d) in extra {
        fs.insert(p, d.as_bytes().to_vec());
    }
    (vol("sda1", uuid, label), fs)
}

struct Case {
    scan: GrubScan,
    diags: Vec<Diagnostic>,
    menu: Menu,
}

fn run_case(name: &str, vols: Vec<(VolumeInfo, MemFs)>) -> Case {
    let views: Vec<VolumeView<'_>> = vols
        .iter()
        .map(|(i, f)| VolumeView { info: i, fs: f })
        .collect();
    let scans = scan_all(&views);
    let menu = Menu::assemble(&scans, None);
    let (scan, diags) = scans
        .into_iter()
        .find_map(|s| s.grub.map(|g| (g, s.diagnostics)))
        .unwrap_or_else(|| panic!("{name}: no GRUB config found"));
    println!(
        "=== {name}: {} entries, default {:?}",
        scan.entries.len(),
        scan.default
    );
    print!("{}", render(&scan));
    for d in &diags {
        println!("  diag {}: {d}", d.severity.as_str());
    }
    // No command of any corpus config is lost to a syntax error or an unknown command.
    let lost: Vec<_> = diags
        .iter()
        .filter(|d| d.message.contains("syntax error") || d.message.contains("unknown command"))
        .collect();
    assert!(lost.is_empty(), "{name}: {lost:?}");
    Case { scan, diags, menu }
}

fn paths(c: &Case) -> Vec<&str> {
    c.scan
        .entries
        .iter()
        .map(|e| e.path.as_deref().unwrap_or(""))
        .collect()
}

fn no_errors(name: &str, c: &Case) {
    let bad: Vec<_> = c
        .diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert!(bad.is_empty(), "{name}: {bad:?}");
}

#[test]
fn grub_corpus() {
    let Some(corpus) = corpus() else { return };
    let g = corpus.join("grub");
    let u = g.join("uroot");
    let p = g.join("petitboot");
    let mut table: Vec<(String, usize, Option<String>)> = Vec::new();
    let mut record = |name: &str, c: &Case| {
        let d = c
            .scan
            .default
            .and_then(|i| c.scan.entries.get(i))
            .map(|e| e.title.clone());
        table.push((name.to_string(), c.scan.entries.len(), d));
    };

    // debian12: grub-mkconfig output, GRUB_TIMEOUT=0, no grubenv.
    let c = run_case(
        "debian12",
        vec![folder_volume(&g.join("debian12"), "sda1", &[])],
    );
    no_errors("debian12", &c);
    assert_eq!(
        paths(&c),
        [
            "Debian GNU/Linux",
            "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-50-amd64",
            "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-50-amd64 (recovery mode)",
        ]
    );
    let e = &c.scan.entries[0];
    assert_eq!(e.id, "gnulinux-simple-1a57a4ed-fd86-48c4-9241-44d4785fd2b6");
    assert_eq!(e.kernel, "/boot/vmlinuz-6.1.0-50-amd64");
    assert_eq!(e.initrds, ["/boot/initrd.img-6.1.0-50-amd64"]);
    // The trailing blank after `console=ttyS0` is not an argument.
    assert_eq!(
        e.cmdline,
        "BOOT_IMAGE=/boot/vmlinuz-6.1.0-50-amd64 root=UUID=1a57a4ed-fd86-48c4-9241-44d4785fd2b6 ro console=ttyS0"
    );
    assert_eq!(
        c.scan.entries[2].cmdline,
        "BOOT_IMAGE=/boot/vmlinuz-6.1.0-50-amd64 root=UUID=1a57a4ed-fd86-48c4-9241-44d4785fd2b6 ro single console=ttyS0"
    );
    assert_eq!(c.scan.default, Some(0));
    assert_eq!(c.scan.timeout.seconds, Some(0));
    assert_eq!(
        c.menu.default_entry().map(|e| e.id.as_str()),
        Some(e.id.as_str())
    );
    assert!(c.scan.env_writes.is_empty());
    record("debian12", &c);

    // CentOS 7 install DVD: `search -l` finds the DVD itself; `set default="1"`.
    // The kernel is missing from the folder; empty placeholders stand in.
    let c = run_case(
        "uroot/CentOS_7_x86_64_DVD_1810",
        vec![folder_volume(
            &u.join("CentOS_7_x86_64_DVD_1810"),
            "sr0",
            &["/images/pxeboot/vmlinuz", "/images/pxeboot/initrd.img"],
        )],
    );
    no_errors("CentOS_7_x86_64_DVD_1810", &c);
    assert_eq!(
        paths(&c),
        [
            "Install CentOS 7",
            "Test this media & install CentOS 7",
            "Troubleshooting -->>>Install CentOS 7 in basic graphics mode",
            "Troubleshooting -->>>Rescue a CentOS system",
        ]
    );
    assert_eq!(c.scan.default, Some(1));
    assert_eq!(c.scan.timeout.seconds, Some(60));
    // `\x20` stays for the kernel to decode (Fedora/RHEL GRUB keeps it).
    assert_eq!(
        c.scan.entries[1].cmdline,
        "BOOT_IMAGE=/images/pxeboot/vmlinuz inst.stage2=hd:LABEL=CentOS\\x207\\x20x86_64 rd.live.check quiet"
    );
    record("uroot/CentOS_7_x86_64_DVD_1810", &c);

    // CentOS 7 EFI install: the ESP's config finds the kernels on sda2 by UUID.
    let c = run_case(
        "uroot/CentOS_7_x86_64_DVD_1810_efi_install",
        vec![
            folder_volume(
                &u.join("CentOS_7_x86_64_DVD_1810_efi_install_sda1"),
                "sda1",
                &[],
            ),
            folder_volume(
                &u.join("CentOS_7_x86_64_DVD_1810_efi_install_sda2"),
                "sda2",
                &[],
            ),
        ],
    );
    no_errors("CentOS_7 efi", &c);
    assert_eq!(c.scan.entries.len(), 2);
    let e = &c.scan.entries[0];
    assert_eq!(e.volume.device, "sda2");
    assert_eq!(e.kernel, "/vmlinuz-3.10.0-957.el7.x86_64");
    assert_eq!(e.initrds, ["/initramfs-3.10.0-957.el7.x86_64.img"]);
    assert_eq!(
        e.cmdline,
        "BOOT_IMAGE=/vmlinuz-3.10.0-957.el7.x86_64 root=/dev/mapper/centos-root ro crashkernel=auto rd.lvm.lv=centos/root rd.lvm.lv=centos/swap console=ttyS0,115200,8n1 LANG=en_US.UTF-8"
    );
    assert!(e.problem.is_none());
    // `default="${saved_entry}"` with no grubenv: empty, which names nothing: entry 0.
    assert_eq!(c.scan.default_value.as_deref(), Some(""));
    assert_eq!(c.scan.default, Some(0));
    assert_eq!(c.scan.timeout.seconds, Some(5));
    record("uroot/CentOS_7_x86_64_DVD_1810_efi_install", &c);

    // CentOS 7 legacy /boot: `linux16`; the folder holds only the config.
    let c = run_case(
        "uroot/CentOS_7_x86_64_DVD_1810_legacy_install_sda1",
        vec![folder_volume(
            &u.join("CentOS_7_x86_64_DVD_1810_legacy_install_sda1"),
            "sda1",
            &[
                "/vmlinuz-3.10.0-957.el7.x86_64",
                "/initramfs-3.10.0-957.el7.x86_64.img",
            ],
        )],
    );
    no_errors("CentOS_7 legacy", &c);
    assert_eq!(c.scan.entries.len(), 2);
    assert_eq!(c.scan.info[0].loader.as_deref(), Some("linux16"));
    assert!(c.scan.entries[0].problem.is_none());
    assert!(
        c.scan.entries[1]
            .problem
            .as_deref()
            .unwrap_or("")
            .contains("vmlinuz-0-rescue")
    );
    assert_eq!(c.scan.default, Some(0));
    record("uroot/CentOS_7_x86_64_DVD_1810_legacy_install_sda1", &c);

    // CentOS 8 Stream on one partition: grubenv next to the config, `blscfg` reads
    // /boot/loader/entries (the /loader/entries fallback), tboot is multiboot2.
    let c = run_case(
        "uroot/CentOS_8_Stream_x86_64_blscfg_sda1",
        vec![folder_volume(
            &u.join("CentOS_8_Stream_x86_64_blscfg_sda1"),
            "sda1",
            &[],
        )],
    );
    no_errors("CentOS 8", &c);
    assert_eq!(
        paths(&c),
        [
            "CentOS Linux (5.18.0) 8",
            "CentOS Linux (0-rescue-9af7b02ac08149d985841c07c8ff366e) 8",
            "tboot 1.10.2>CentOS Linux GNU/Linux, with tboot 1.10.2 and Linux 5.18.0",
        ]
    );
    let e = &c.scan.entries[0];
    assert_eq!(e.id, "9af7b02ac08149d985841c07c8ff366e-5.18.0");
    assert_eq!(e.version.as_deref(), Some("5.18.0"));
    assert_eq!(
        e.source.file,
        "/boot/loader/entries/9af7b02ac08149d985841c07c8ff366e-5.18.0.conf"
    );
    // `$kernelopts` from the grubenv, `$tuned_params` empty; `($root)` is expanded.
    assert_eq!(
        e.cmdline,
        "BOOT_IMAGE=(hd0,gpt1)/boot/vmlinuz-5.18.0 root=UUID=d0be5cb9-622d-42d5-a531-674aaa120309 ro crashkernel=auto rhgb quiet console=ttyS1,57600n8"
    );
    assert_eq!(e.initrds, ["/boot/initramfs-5.18.0.img"]);
    assert!(
        c.scan.entries[2]
            .problem
            .as_deref()
            .unwrap_or("")
            .contains("multiboot2")
    );
    // saved_entry `9af7...-5.18.0` starts with a digit: upstream GRUB reads it as
    // index 9, out of range, so entry 0 (which is that entry anyway).
    assert_eq!(
        c.scan.default_value.as_deref(),
        Some("9af7b02ac08149d985841c07c8ff366e-5.18.0")
    );
    assert_eq!(c.scan.default, Some(0));
    assert_eq!(c.scan.timeout.seconds, Some(5));
    assert_eq!(c.scan.timeout.style, TimeoutStyle::Menu);
    // 10_reset_boot_success: `save_env boot_success boot_indeterminate` on the grubenv.
    assert_eq!(c.scan.env_writes.len(), 1);
    assert_eq!(c.scan.env_writes[0].path, "/EFI/centos/grubenv");
    assert_eq!(
        c.scan.env_writes[0].changes,
        [
            EnvChange::Set("boot_success".into(), "0".into()),
            EnvChange::Set("boot_indeterminate".into(), "0".into())
        ]
    );
    // The BLS files GRUB read are GRUB entries in the merged menu, not BLS ones too.
    assert_eq!(c.menu.entries.len(), 3);
    assert!(matches!(
        c.menu.default_reason,
        Some(DefaultReason::Grub(_))
    ));
    record("uroot/CentOS_8_Stream_x86_64_blscfg_sda1", &c);

    // Debian 10 installed.
    let c = run_case(
        "uroot/debian_10_4_installed",
        vec![folder_volume(
            &u.join("debian_10_4_installed"),
            "sda1",
            &[
                "/boot/vmlinuz-4.19.0-9-amd64",
                "/boot/initrd.img-4.19.0-9-amd64",
            ],
        )],
    );
    no_errors("debian_10_4_installed", &c);
    assert_eq!(c.scan.entries.len(), 3);
    assert_eq!(c.scan.default, Some(0));
    assert_eq!(c.scan.timeout.seconds, Some(5));
    assert_eq!(
        c.scan.entries[0].cmdline,
        "BOOT_IMAGE=/boot/vmlinuz-4.19.0-9-amd64 root=UUID=39ec20e2-83f5-44ce-8671-f31ce0856377 ro console=ttyS0 quiet"
    );
    record("uroot/debian_10_4_installed", &c);

    // Debian 9 live ISO: `[ ${iso_path} ]` with iso_path unset is `[ ]`, which is
    // true in GRUB, so `loopback` becomes `findiso=` and every entry passes it.
    let c = run_case(
        "uroot/debian_9_install",
        vec![folder_volume(
            &u.join("debian_9_install"),
            "sr0",
            &[
                "/live/vmlinuz-4.9.0-3-amd64",
                "/live/initrd.img-4.9.0-3-amd64",
            ],
        )],
    );
    no_errors("debian_9_install", &c);
    assert_eq!(
        c.scan.entries[0].path.as_deref(),
        Some("Debian GNU/Linux Live (kernel 4.9.0-3-amd64)")
    );
    assert_eq!(
        c.scan.entries[0].cmdline,
        "BOOT_IMAGE=/live/vmlinuz-4.9.0-3-amd64 boot=live components findiso="
    );
    assert_eq!(c.scan.entries.len(), 80, "every localisation entry is kept");
    // `loopback` is not exported, so inside the submenu `"${loopback}"` is an empty
    // argument: GRUB's command line ends with a blank there.
    assert_eq!(
        c.scan.entries[1].cmdline,
        "BOOT_IMAGE=/live/vmlinuz-4.9.0-3-amd64 boot=live components locales=sq_AL.UTF-8 "
    );
    let live = c
        .scan
        .entries
        .iter()
        .filter(|e| e.kernel.starts_with("/live/"));
    assert_eq!(live.filter(|e| e.problem.is_none()).count(), 77);
    assert!(
        c.scan.entries[77]
            .problem
            .as_deref()
            .unwrap_or("")
            .contains("/d-i/gtk/vmlinuz")
    );
    assert_eq!(
        c.scan.timeout.seconds, None,
        "no `timeout`: GRUB waits for a key"
    );
    assert_eq!(c.scan.default, Some(0));
    record("uroot/debian_9_install", &c);

    // Fedora 27 live: the label search finds nothing here (no label), `$root` stays
    // the volume the config is on.
    let c = run_case(
        "uroot/fedora_27_install",
        vec![folder_volume(
            &u.join("fedora_27_install"),
            "sr0",
            &["/images/pxeboot/vmlinuz", "/images/pxeboot/initrd.img"],
        )],
    );
    no_errors("fedora_27_install", &c);
    assert_eq!(
        paths(&c),
        [
            "Start Fedora-Workstation-Live 27",
            "Test this media & start Fedora-Workstation-Live 27",
            "Troubleshooting -->>>Start Fedora-Workstation-Live 27 in basic graphics mode",
        ]
    );
    assert_eq!(c.scan.default, Some(1));
    assert_eq!(c.scan.info[1].loader.as_deref(), Some("linuxefi"));
    assert_eq!(
        c.scan.entries[1].cmdline,
        "BOOT_IMAGE=/images/pxeboot/vmlinuz root=live:CDLABEL=Fedora-WS-Live-27-1-6 rd.live.image rd.live.check quiet"
    );
    record("uroot/fedora_27_install", &c);

    // Qubes: Xen entries load with `multiboot`; nothing here can boot.
    let c = run_case(
        "uroot/qubes_3_2_boot",
        vec![folder_volume(&u.join("qubes_3_2_boot"), "sda1", &[])],
    );
    no_errors("qubes", &c);
    assert!(c.scan.entries.len() >= 5);
    assert!(
        c.scan
            .entries
            .iter()
            .all(|e| e.problem.as_deref().unwrap_or("").contains("multiboot"))
    );
    assert_eq!(
        c.scan.entries[1]
            .path
            .as_deref()
            .map(|p| p.matches('>').count()),
        Some(2),
        "two submenu levels"
    );
    assert_eq!(c.scan.default, Some(0));
    assert_eq!(c.menu.default, None);
    record("uroot/qubes_3_2_boot", &c);

    // RHEL 7.8, root filesystem holding /boot; no kernels in the folder.
    let c = run_case(
        "uroot/rhel_7_8_another",
        vec![folder_volume(&u.join("rhel_7_8_another"), "sda1", &[])],
    );
    no_errors("rhel_7_8_another", &c);
    assert_eq!(c.scan.entries.len(), 2);
    assert!(
        c.scan.entries[0]
            .problem
            .as_deref()
            .unwrap_or("")
            .contains("/boot/vmlinuz-3.10.0-1127.el7.x86_64")
    );
    assert_eq!(c.scan.timeout.seconds, Some(1));
    record("uroot/rhel_7_8_another", &c);

    // RHEL 7.8 /boot partition: the first two entries share one `--id` (as written).
    let c = run_case(
        "uroot/rhel_7_8_installed",
        vec![folder_volume(&u.join("rhel_7_8_installed"), "sda1", &[])],
    );
    no_errors("rhel_7_8_installed", &c);
    assert_eq!(c.scan.entries.len(), 3);
    assert_eq!(c.scan.entries[0].id, c.scan.entries[1].id);
    assert_eq!(c.scan.default, Some(0));
    record("uroot/rhel_7_8_installed", &c);

    // Ubuntu 16.04 /boot: hidden menu, `vt.handoff=7` from the `gfxmode` function,
    // fwsetup entry unbootable.
    let c = run_case(
        "uroot/ubuntu_16_04_boot",
        vec![folder_volume(
            &u.join("ubuntu_16_04_boot"),
            "sda1",
            &[
                "/vmlinuz-4.10.0-42-generic.efi.signed",
                "/initrd.img-4.10.0-42-generic",
                "/vmlinuz-4.10.0-40-generic.efi.signed",
                "/initrd.img-4.10.0-40-generic",
            ],
        )],
    );
    no_errors("ubuntu_16_04", &c);
    assert_eq!(c.scan.entries.len(), 8);
    assert_eq!(
        c.scan.entries[0].cmdline,
        "BOOT_IMAGE=/vmlinuz-4.10.0-42-generic.efi.signed root=/dev/mapper/ubuntu--vg-root ro quiet splash vt.handoff=7"
    );
    assert_eq!(c.scan.entries[0].id, "gnulinux-simple-UUID2");
    assert_eq!(
        c.scan.entries[3].cmdline,
        "BOOT_IMAGE=/vmlinuz-4.10.0-42-generic.efi.signed root=/dev/mapper/ubuntu--vg-root ro recovery nomodeset"
    );
    assert!(
        c.scan.entries[7]
            .problem
            .as_deref()
            .unwrap_or("")
            .contains("fwsetup")
    );
    assert_eq!(c.scan.timeout.seconds, Some(0));
    assert_eq!(c.scan.timeout.style, TimeoutStyle::Hidden);
    assert_eq!(c.scan.default, Some(0));
    record("uroot/ubuntu_16_04_boot", &c);

    // ---- petitboot single-file configs, each on a volume with the UUID its
    // `search` asks for and empty kernel/initrd placeholders.

    let c = run_case(
        "petitboot/grub2-f18-ppc64",
        vec![text_volume(
            &p.join("grub2-f18-ppc64.conf"),
            "/boot/grub2/grub.cfg",
            "773653a7-660e-490e-9a74-d9fdfc9bbbf6",
            None,
            &[
                ("/vmlinuz-3.6.10-4.fc18.ppc64p7", ""),
                ("/initramfs-3.6.10-4.fc18.ppc64p7.img", ""),
            ],
        )],
    );
    no_errors("f18", &c);
    assert_eq!(
        paths(&c),
        [
            "Fedora",
            "Advanced options for Fedora>Fedora, with Linux 3.6.10-4.fc18.ppc64p7"
        ]
    );
    assert_eq!(
        c.scan.entries[0].cmdline,
        "BOOT_IMAGE=/vmlinuz-3.6.10-4.fc18.ppc64p7 root=/dev/mapper/fedora_ltcfbl8eb-root ro rd.lvm.lv=fedora_ltcfbl8eb/swap rd.dm=0 rd.lvm.lv=fedora_ltcfbl8eb/root rd.md=0 rd.luks=0 vconsole.keymap=us rhgb quiet"
    );
    assert_eq!(c.scan.default, Some(0));
    assert_eq!(c.scan.timeout.seconds, Some(5));
    record("petitboot/grub2-f18-ppc64", &c);

    // Fedora 20 ppc media: entries come from a `for` loop guarded by `[ -d ... ]`;
    // `$2` in the body is the extra argument after the title.
    let c = run_case(
        "petitboot/grub2-f20-ppc",
        vec![text_volume(
            &p.join("grub2-f20-ppc.conf"),
            "/boot/grub/grub.cfg",
            "2013-12-10-00-00-00-00",
            None,
            &[
                ("/ppc/ppc32/vmlinuz", ""),
                ("/ppc/ppc32/initrd.img", ""),
                ("/ppc/ppc64/vmlinuz", ""),
                ("/ppc/ppc64/initrd.img", ""),
            ],
        )],
    );
    no_errors("f20", &c);
    assert_eq!(
        paths(&c),
        [
            "Install Fedora 20 (32-bit kernel)",
            "Test this media & install Fedora 20  (32-bit kernel)",
            "Rescue a Fedora system (32-bit kernel)",
            "Install Fedora 20 (64-bit kernel)",
            "Test this media & install Fedora 20  (64-bit kernel)",
            "Rescue a Fedora system (64-bit kernel)",
            "Other options...>Reboot",
            "Other options...>Exit to Open Firmware",
        ]
    );
    assert_eq!(c.scan.entries[4].kernel, "/ppc/ppc64/vmlinuz");
    assert_eq!(
        c.scan.entries[4].cmdline,
        "BOOT_IMAGE=/ppc/ppc64/vmlinuz rd.live.check ro"
    );
    assert!(
        c.scan.entries[6]
            .problem
            .as_deref()
            .unwrap_or("")
            .contains("reboot")
    );
    assert!(
        c.scan.entries[7]
            .problem
            .as_deref()
            .unwrap_or("")
            .contains("exit")
    );
    assert_eq!(c.scan.default, Some(0));
    record("petitboot/grub2-f20-ppc", &c);

    // RHEL 8 ppc64le (generated for petitboot): `--users $grub_users` with the
    // variable unset leaves `--users` without a value; GRUB would reject these
    // entries, leapboot keeps them with a warning. The grubenv gives `kernelopts` and
    // a saved_entry that starts with a digit: upstream reads it as index 8, out of
    // range, so the default is entry 0 (Fedora's GRUB would pick entry 1).
    let env = grubenv(&[
        (
            "saved_entry",
            "8e15296c9cc14deb9e3f8548d49fd6fc-4.18.0-80.el8.ppc64le",
        ),
        (
            "kernelopts",
            "root=/dev/mapper/rhel-root ro crashkernel=auto",
        ),
    ]);
    let c = run_case(
        "petitboot/grub2-rhel8",
        vec![text_volume(
            &p.join("grub2-rhel8.conf"),
            "/boot/grub2/grub.cfg",
            "9a8ea027-4829-45b9-829b-18ed6cc1f33b",
            None,
            &[
                ("/boot/grub2/grubenv", env.as_str()),
                ("/vmlinuz-4.18.0-80.11.2.el8_0.ppc64le", ""),
                ("/initramfs-4.18.0-80.11.2.el8_0.ppc64le.img", ""),
                ("/vmlinuz-4.18.0-80.el8.ppc64le", ""),
                ("/initramfs-4.18.0-80.el8.ppc64le.img", ""),
            ],
        )],
    );
    assert_eq!(c.scan.entries.len(), 3);
    assert_eq!(
        c.scan.entries[1].id,
        "8e15296c9cc14deb9e3f8548d49fd6fc-4.18.0-80.el8.ppc64le"
    );
    assert_eq!(
        c.scan.entries[0].cmdline,
        "BOOT_IMAGE=/vmlinuz-4.18.0-80.11.2.el8_0.ppc64le root=/dev/mapper/rhel-root ro crashkernel=auto"
    );
    assert!(
        c.diags
            .iter()
            .filter(|d| d.message.contains("--users"))
            .count()
            == 3
    );
    assert_eq!(c.scan.default, Some(0));
    assert!(
        c.scan.entries[2].problem.is_some(),
        "rescue kernel is absent"
    );
    // 10_reset_boot_success writes the grubenv the config came with.
    assert_eq!(c.scan.env_writes.len(), 1);
    assert_eq!(
        c.scan.env_writes[0].changes[0],
        EnvChange::Set("boot_success".into(), "0".into())
    );
    record("petitboot/grub2-rhel8", &c);

    // RHCOS: `search --label boot` sets `bootpart`; no ignition.firstboot, so
    // `$ignition_firstboot` is empty and vanishes; no `--id`, so the extra argument
    // is `$2` and the id is the title.
    let c = run_case(
        "petitboot/grub2-rhcos-ootpa",
        vec![text_volume(
            &p.join("grub2-rhcos-ootpa.conf"),
            "/grub2/grub.cfg",
            "645e1535-a6f3-4fa6-a82c-b8c032619a7b",
            Some("boot"),
            &[
                (
                    "/ostree/rhcos-6264e4be818e20cf1021bd6e7aa8c76147ce07dec186468c7dfbbc9c5dfc7d8b/vmlinuz-4.18.0-80.11.2.el8_0.ppc64le",
                    "",
                ),
                (
                    "/ostree/rhcos-6264e4be818e20cf1021bd6e7aa8c76147ce07dec186468c7dfbbc9c5dfc7d8b/initramfs-4.18.0-80.11.2.el8_0.ppc64le.img",
                    "",
                ),
            ],
        )],
    );
    no_errors("rhcos", &c);
    assert_eq!(c.scan.entries.len(), 1);
    let e = &c.scan.entries[0];
    assert_eq!(
        e.id,
        "Red Hat Enterprise Linux CoreOS 42.80.20191030.0 (Ootpa) (ostree)"
    );
    assert_eq!(
        e.cmdline,
        "BOOT_IMAGE=/ostree/rhcos-6264e4be818e20cf1021bd6e7aa8c76147ce07dec186468c7dfbbc9c5dfc7d8b/vmlinuz-4.18.0-80.11.2.el8_0.ppc64le console=tty0 console=hvc0,115200n8 rootflags=defaults,prjquota rw root=UUID=8d8a5c3b-97e6-4d7b-bb87-206af5a9d851 ostree=/ostree/boot.0/rhcos/6264e4be818e20cf1021bd6e7aa8c76147ce07dec186468c7dfbbc9c5dfc7d8b/0 ignition.platform.id=openstack"
    );
    assert_eq!(c.scan.timeout.seconds, Some(1));
    record("petitboot/grub2-rhcos-ootpa", &c);

    // Kubuntu 13.04: `keystatus` (no key held) makes the os-prober snippet set
    // timeout=0; `$vt_handoff` comes from `gfxmode keep`; memtest via linux16.
    let c = run_case(
        "petitboot/grub2-ubuntu-13_04-x86",
        vec![text_volume(
            &p.join("grub2-ubuntu-13_04-x86.conf"),
            "/boot/grub/grub.cfg",
            "29beca39-9181-4780-bbb2-ab5d4be59aaf",
            None,
            &[
                ("/boot/vmlinuz-3.8.0-19-generic", ""),
                ("/boot/initrd.img-3.8.0-19-generic", ""),
                ("/boot/memtest86+.bin", ""),
            ],
        )],
    );
    no_errors("ubuntu 13.04", &c);
    assert_eq!(c.scan.entries.len(), 5);
    assert_eq!(
        c.scan.entries[0].cmdline,
        "BOOT_IMAGE=/boot/vmlinuz-3.8.0-19-generic root=UUID=29beca39-9181-4780-bbb2-ab5d4be59aaf ro quiet splash vt.handoff=7"
    );
    assert_eq!(
        c.scan.entries[4].cmdline,
        "BOOT_IMAGE=/boot/memtest86+.bin console=ttyS0,115200n8"
    );
    assert_eq!(c.scan.timeout.seconds, Some(0));
    assert_eq!(c.scan.default, Some(0));
    record("petitboot/grub2-ubuntu-13_04-x86", &c);

    // Fedora CoreOS 38: one BLS file read by `blscfg` from /loader/entries.
    let c = run_case(
        "petitboot/grub2-blscfg-fcos38",
        vec![text_volume(
            &p.join("grub2-blscfg-fcos38.conf"),
            "/loader/entries/ostree-1-fedora-coreos.conf",
            "4310acc5-6457-44fd-89e5-6a976d84ae0e",
            Some("boot"),
            &[
                (
                    "/grub2/grub.cfg",
                    "function load_video {\n  insmod all_video\n}\nset timeout=1\nblscfg\n",
                ),
                (
                    "/ostree/fedora-coreos-00f1847831b603756e2804045135de37a3740b16b7777f8633b779e043222e29/vmlinuz-6.3.8-200.fc38.ppc64le",
                    "",
                ),
                (
                    "/ostree/fedora-coreos-00f1847831b603756e2804045135de37a3740b16b7777f8633b779e043222e29/initramfs-6.3.8-200.fc38.ppc64le.img",
                    "",
                ),
            ],
        )],
    );
    no_errors("fcos38", &c);
    assert_eq!(c.scan.entries.len(), 1);
    let e = &c.scan.entries[0];
    assert_eq!(e.id, "ostree-1-fedora-coreos");
    assert_eq!(e.title, "Fedora CoreOS 38.20230625.3.0 (ostree:1)");
    assert_eq!(
        e.cmdline,
        "BOOT_IMAGE=(hd0,gpt1)/ostree/fedora-coreos-00f1847831b603756e2804045135de37a3740b16b7777f8633b779e043222e29/vmlinuz-6.3.8-200.fc38.ppc64le mitigations=auto,nosmt ignition.platform.id=metal ostree=/ostree/boot.0/fedora-coreos/00f1847831b603756e2804045135de37a3740b16b7777f8633b779e043222e29/0 root=UUID=198343c8-def9-4ac4-88ee-c6821e7e71ba rw rootflags=prjquota boot=UUID=4310acc5-6457-44fd-89e5-6a976d84ae0e"
    );
    record("petitboot/grub2-blscfg-fcos38", &c);

    println!("\n| case | entries | default |");
    println!("| --- | --- | --- |");
    for (name, n, d) in &table {
        println!("| {name} | {n} | {} |", d.as_deref().unwrap_or("-"));
    }
}

/// A 1024-byte grubenv holding `vars`.
fn grubenv(vars: &[(&str, &str)]) -> String {
    let mut b = leapboot_menus::grub::grubenv::EnvBlock::new(1024);
    for (k, v) in vars {
        b.set(k, v).unwrap();
    }
    String::from_utf8(b.as_bytes().to_vec()).unwrap()
}
