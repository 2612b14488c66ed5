//! End to end on a real distribution: `leapboot reboot` on an installed Debian 12 with
//! systemd, booted the normal way (firmware, then the boot loader Debian's tools
//! installed, then Debian's kernel and initramfs). The images are built once by
//! Debian's tools and cached (`leapboot_qemu::distro`: BIOS + GRUB, UEFI (OVMF) +
//! systemd-boot; a few minutes each the first time); each test boots a `-snapshot` of
//! one with a small second disk holding this build's static leapboot, installs that as
//! `/usr/bin/leapboot` (where the Debian package puts it), and drives the guest
//! through its test driver on ttyS0 (`LEAPBOOT-GUEST-UP ...` after
//! `multi-user.target`, `LEAPBOOT-GUEST-DOWN verb=...` at the end of each shutdown).
//!
//! A test is a [`Case`]: one VM, its boots counted. [`Case::reboot`] runs a command that
//! reboots the guest and checks the [`Way`] it went down and came back by the serial
//! line: systemd's shutdown ending in a kexec and no firmware or boot loader banner
//! after it; a kexec with no shutdown at all (`--now`); or systemd's shutdown, then
//! every banner of the firmware and the boot loader. Each test chains its steps in its
//! one VM (a boot costs 30 to 50 s under TCG), each step starting from the state the
//! one before left.
//!
//! - `grub_reboot_one_shot_is_booted_by_kexec` (BIOS) and
//!   `bootctl_oneshot_is_booted_by_kexec` (UEFI), both [`one_shot_is_booted_by_kexec`]:
//!   the system's one-shot (`grub-reboot` with the "Advanced options" submenu path,
//!   `bootctl set-oneshot`) picks the older kernel; `leapboot reboot --dry-run` plans it,
//!   loads nothing and leaves the one-shot; `leapboot reboot` comes back by kexec into
//!   that kernel (`uname -r`, `/proc/cmdline` with `leapboot.entry=`), the one-shot
//!   is consumed (`next_entry` cleared, `LoaderEntryOneShot` removed), and
//!   `leapboot status` says the boot came by kexec.
//! - `bios_grub_set_default_then_now_then_fallback` (BIOS), four boots:
//!   1. `GRUB_DEFAULT=saved` and `update-grub` (the image keeps Debian's
//!      `GRUB_DEFAULT=0`), then `grub-set-default` with the older kernel's path:
//!      `leapboot reboot` is a kexec into it, and `saved_entry` is still set after
//!      (a saved default is not a one-shot);
//!   2. `grub-reboot` with the default kernel's path, then `leapboot reboot --now`:
//!      a kexec into that kernel (the one-shot before the saved default) with no
//!      shutdown: no `LEAPBOOT-GUEST-DOWN` line (systemd-shutdown never ran), and the
//!      new kernel finds the root filesystem was still mounted (ext4 replays its
//!      journal; after the clean kexec of step 1 it does not); `next_entry` is
//!      cleared on disk all the same (a sync, no unmount), `saved_entry` kept;
//!   3. the default kernel (the running one) cut short and asked for with `--entry`
//!      (not GRUB's choice, so that the ordinary reboot `--fallback` makes boots a
//!      whole kernel): exit status 1, a message naming the file and saying the
//!      system stays up, nothing loaded, the same boot still answering 10 s later;
//!      then with `--fallback` as well it says it reboots through firmware and does:
//!      SeaBIOS and GRUB after that line, GRUB booting its saved default (the older
//!      kernel) without `leapboot.entry=`.
//! - `opt_in_unit_turns_systemctl_reboot_into_kexec` (BIOS) and
//!   `opt_in_unit_on_uefi_then_a_truncated_kernel` (UEFI), both [`opt_in_unit`]: with
//!   `packaging/systemd/leapboot-kexec.service` and its `systemd-reboot.service`
//!   drop-in installed and enabled as the README says, a plain `systemctl reboot`
//!   after a one-shot for the older kernel is a kexec into it, the one-shot consumed;
//!   uninstalled again, the next `systemctl reboot` goes through firmware and boot
//!   loader into the default kernel. On UEFI the default entry's kernel on the ESP is
//!   then cut short: `leapboot reboot` exits 1 naming it, loads nothing, and the
//!   system stays up.
//!
//! `bench_reboot` (ignored; `scripts/bench`) times reboot command to guest-up marker,
//! `leapboot reboot` against `systemctl reboot` through SeaBIOS + GRUB and through
//! OVMF + systemd-boot.
//!
//! Serial logs: `target/e2e/reboot-<case>/serial.log`. Under TCG a boot of an image
//! takes 30 to 50 s; `LEAPBOOT_QEMU_TIMEOUT` scales every wait.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot_e2e::leapboot_bin;
use leapboot_qemu::distro::{
    self, BootKind, DistroImage, Guest, GuestDown, GuestUp, RunOutput, boot_timeout,
};
use leapboot_qemu::{default_timeout, qemu_or_skip};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where the guest gets leapboot.
const GUEST_BIN: &str = "/usr/bin/leapboot";
/// The opt-in unit and its drop-in for `systemd-reboot.service`, in the workspace.
const UNIT: &str = "packaging/systemd/leapboot-kexec.service";
const DROP_IN: &str = "packaging/systemd/systemd-reboot.service.d/leapboot-kexec.conf";
/// What the serial line shows of SeaBIOS and of GRUB.
const BIOS_BANNERS: &[&str] = &["SeaBIOS", "GNU GRUB"];
/// What the serial line shows of OVMF (its boot manager's lines) and of systemd-boot
/// (its menu, of which the automatic firmware-setup entry is the one line no other
/// program here prints).
const UEFI_BANNERS: &[&str] = &["BdsDxe", "Reboot Into Firmware Interface"];
/// `LoaderEntryOneShot` in efivarfs (systemd's vendor GUID).
const ONESHOT_VAR: &str =
    "/sys/firmware/efi/efivars/LoaderEntryOneShot-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";
/// The driver's count of the disk's boots.
const BOOTS_FILE: &str = "/var/lib/leapboot-test/boots";
/// What `leapboot reboot --fallback` says before it reboots through firmware.
const FALLBACK_SAID: &str = "--fallback: rebooting through firmware";

/// What the serial line shows of an image's firmware and boot loader.
fn firmware_banners(boot: BootKind) -> &'static [&'static str] {
    match boot {
        BootKind::Bios => BIOS_BANNERS,
        BootKind::Uefi => UEFI_BANNERS,
    }
}

/// How a reboot goes, and so what the serial line shows from the command to the new
/// boot's [`distro::UP_MARKER`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    /// systemd's shutdown ends in a kexec (`LEAPBOOT-GUEST-DOWN verb=kexec`); no
    /// firmware or boot loader banner after it.
    Kexec,
    /// A kexec with no shutdown (`leapboot reboot --now`): no `LEAPBOOT-GUEST-DOWN`
    /// line, since systemd-shutdown never runs; no banner either.
    KexecNow,
    /// systemd's shutdown ends in a reboot (`verb=reboot`), then every banner of the
    /// firmware and the boot loader.
    Firmware,
}

impl Way {
    /// systemd-shutdown's verb at the end of the shutdown; `None`: no shutdown.
    fn verb(self) -> Option<&'static str> {
        match self {
            Way::Kexec => Some("kexec"),
            Way::KexecNow => None,
            Way::Firmware => Some("reboot"),
        }
    }
}

/// A booted image with leapboot installed.
struct Case {
    name: String,
    image: DistroImage,
    guest: Guest,
    /// [`firmware_banners`] of the image.
    firmware: &'static [&'static str],
    /// Boots of the guest so far, as its driver counts them.
    boots: u32,
}

/// One reboot, seen from the host and from both kernels.
struct Reboot {
    /// The new boot's line.
    up: GuestUp,
    /// The serial output from the start of the command to that line.
    log: String,
    /// Seconds from sending the command to the new boot's line.
    seconds: f64,
    /// From the command's start to the end of the shutdown (old kernel's clock):
    /// stopping services, unmounting; for `leapboot reboot` also its load. 0 without
    /// a shutdown ([`Way::KexecNow`]).
    shutdown: f64,
    /// From the end of the shutdown (or the command's start, without one) to the new
    /// kernel's clock starting: firmware and boot loader, or the kexec jump; either
    /// way the kernel's decompression.
    handover: f64,
}

impl Case {
    /// [`Case::boot_image`] with the BIOS + GRUB image.
    fn boot(name: &str, extra: &[(&str, &Path)]) -> Case {
        let image =
            distro::debian12_bios().unwrap_or_else(|e| panic!("{name}: Debian 12 image: {e}"));
        Case::boot_image(image, name, extra)
    }

    /// [`Case::boot_image`] with the UEFI + systemd-boot image.
    fn boot_uefi(name: &str, extra: &[(&str, &Path)]) -> Case {
        let image =
            distro::debian12_uefi().unwrap_or_else(|e| panic!("{name}: Debian 12 UEFI image: {e}"));
        Case::boot_image(image, name, extra)
    }

    /// Boots `image` with a test disk holding leapboot and `extra` files, checks the
    /// first boot went through firmware and boot loader into the default entry, and
    /// installs leapboot as [`GUEST_BIN`].
    fn boot_image(image: DistroImage, name: &str, extra: &[(&str, &Path)]) -> Case {
        let dir = leapboot_qemu::binaries::workspace_dir()
            .join("target/e2e")
            .join(format!("reboot-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let bin = leapboot_bin();
        let mut files: Vec<(&str, &Path)> = vec![("leapboot", bin.as_path())];
        files.extend_from_slice(extra);
        let test_disk = dir.join("test-disk.img");
        distro::test_disk(&test_disk, &files).unwrap_or_else(|e| panic!("{name}: test disk: {e}"));
        let mut guest = Guest::boot(&image, &[&test_disk], &dir.join("serial.log"))
            .unwrap_or_else(|e| panic!("{name}: starting QEMU: {e}"));
        let up = guest
            .wait_up(boot_timeout())
            .unwrap_or_else(|e| panic!("{name}: first boot: {e}"));
        assert_eq!(up.boot, 1, "{name}: {up:?}");
        let log = guest.vm().log();
        let firmware = firmware_banners(image.boot);
        for banner in firmware {
            assert!(
                log.contains(banner),
                "{name}: the first boot shows no {banner:?} on the serial line"
            );
        }
        let mut case = Case {
            name: name.to_string(),
            image,
            guest,
            firmware,
            boots: 1,
        };
        let (default, _) = case.two_kernels();
        case.expect_loader_boot(&up, &default);
        case.ok(&format!(
            "install -m 0755 {}/leapboot {GUEST_BIN}",
            distro::TEST_DISK_MOUNT
        ));
        case
    }

    /// The image's default kernel and the older one, for a non-default entry.
    fn two_kernels(&self) -> (String, String) {
        match self.image.kernels.as_slice() {
            [default, older, ..] => (default.clone(), older.clone()),
            k => panic!(
                "{}: the image needs two kernels for a non-default entry: {k:?}",
                self.name
            ),
        }
    }

    /// Runs `script` in the guest.
    fn run(&mut self, script: &str) -> RunOutput {
        self.guest
            .run(script, default_timeout())
            .unwrap_or_else(|e| panic!("{}: {script}: {e}", self.name))
    }

    /// Runs `script` in the guest and checks it succeeded; its output.
    fn ok(&mut self, script: &str) -> String {
        let out = self.run(script);
        assert_eq!(
            out.status, 0,
            "{}: `{script}` failed:\n{}",
            self.name, out.output
        );
        out.output
    }

    /// Runs `script`, which reboots the guest, waits for the new boot, and checks the
    /// reboot went `way` (see [`Way`]) into the next boot of this disk.
    fn reboot(&mut self, script: &str, way: Way) -> Reboot {
        let name = self.name.clone();
        let fail = |what: &str, e: leapboot_qemu::Error| -> ! {
            panic!("{name}: `{script}`: {what}: {e}")
        };
        let started = Instant::now();
        let id = self
            .guest
            .start(script)
            .unwrap_or_else(|e| fail("sending", e));
        let start_uptime = self
            .guest
            .wait_started(id, default_timeout())
            .unwrap_or_else(|e| fail("starting", e));
        let start_at = self.guest.vm().elapsed();
        let down = way.verb().map(|_| {
            self.guest
                .wait_down(boot_timeout())
                .unwrap_or_else(|e| fail("shutting down", e))
        });
        let up = self
            .guest
            .wait_up(boot_timeout())
            .unwrap_or_else(|e| fail("coming back", e));
        let seconds = started.elapsed().as_secs_f64();
        eprintln!("{name}: `{script}` to guest up in {seconds:.1} s");
        let log = self.guest.log_since(id);
        let until_up = log.find(distro::UP_MARKER).unwrap_or(log.len());
        let handover_from = down.as_ref().map_or(start_at, |d| d.at);
        let reboot = Reboot {
            shutdown: down.as_ref().map_or(0.0, |d| d.uptime - start_uptime),
            handover: (up.at.as_secs_f64() - handover_from.as_secs_f64() - up.uptime).max(0.0),
            up,
            log: log[..until_up].to_string(),
            seconds,
        };
        self.boots += 1;
        self.check_way(script, way, down.as_ref(), &reboot);
        reboot
    }

    /// Checks that `reboot`, by `script`, went `way` into the next boot.
    fn check_way(&self, script: &str, way: Way, down: Option<&GuestDown>, reboot: &Reboot) {
        let (name, log) = (&self.name, &reboot.log);
        assert_eq!(
            reboot.up.boot, self.boots,
            "{name}: `{script}`: {:?}",
            reboot.up
        );
        match (way.verb(), down) {
            (Some(verb), Some(down)) => assert_eq!(
                down.verb, verb,
                "{name}: `{script}` ended the shutdown with {:?}, not {verb:?}:\n{log}",
                down.verb
            ),
            (None, _) => assert!(
                !log.contains(distro::DOWN_MARKER),
                "{name}: `{script}` went through systemd's shutdown:\n{log}"
            ),
            (Some(_), None) => unreachable!("a shutdown is waited for when a verb is expected"),
        }
        let expected: &[&str] = match way {
            Way::Firmware => self.firmware,
            Way::Kexec | Way::KexecNow => &[],
        };
        assert_eq!(
            self.banners(log),
            expected,
            "{name}: `{script}` went {way:?}, but the serial line shows these banners:\n{log}"
        );
    }

    /// This image's firmware and boot loader banners that appear in `log`.
    fn banners(&self, log: &str) -> Vec<&'static str> {
        self.firmware
            .iter()
            .copied()
            .filter(|b| log.contains(b))
            .collect()
    }

    /// The BLS entry file `kernel-install` wrote for `kernel` (UEFI image).
    fn bls_entry(&self, kernel: &str) -> String {
        self.image
            .bls_entry(kernel)
            .unwrap_or_else(|| {
                panic!(
                    "{}: no loader entry for {kernel} in the manifest",
                    self.name
                )
            })
            .to_string()
    }

    /// The id leapboot gives the entry of `kernel` the tests pick: the id Debian's
    /// `10_linux` gives its "Advanced options" entry, or the BLS entry file's name
    /// without `.conf`.
    fn entry_id(&self, kernel: &str) -> String {
        match self.image.boot {
            BootKind::Bios => format!("gnulinux-{kernel}-advanced-{}", self.image.root_uuid),
            BootKind::Uefi => self.bls_entry(kernel).trim_end_matches(".conf").to_string(),
        }
    }

    /// The kernel file of `kernel`'s entry: its path on its volume, as leapboot names
    /// it, and its path in the running guest. BIOS: `/boot/vmlinuz-<kernel>` on the
    /// root filesystem; UEFI: the entry's `linux` line, on the ESP at `/boot/efi`.
    fn kernel_file(&mut self, kernel: &str) -> (String, String) {
        match self.image.boot {
            BootKind::Bios => {
                let path = format!("/boot/vmlinuz-{kernel}");
                (path.clone(), path)
            }
            BootKind::Uefi => {
                let entry = self.bls_entry(kernel);
                let on_esp = self
                    .ok(&format!(
                        "sed -n 's/^linux[[:space:]]\\+//p' /boot/efi/loader/entries/{entry}"
                    ))
                    .trim()
                    .to_string();
                assert!(
                    on_esp.starts_with('/'),
                    "{}: {entry}: linux {on_esp:?}",
                    self.name
                );
                let path = format!("/boot/efi{on_esp}");
                (on_esp, path)
            }
        }
    }

    /// Checks the boot `up` runs `kernel`, started by leapboot with a kexec into that
    /// kernel's entry: `uname -r`, `leapboot.entry=<id>` on its command line, and on
    /// BIOS the `BOOT_IMAGE=` GRUB would have put there.
    fn expect_kexec_into(&self, up: &GuestUp, kernel: &str) {
        let name = &self.name;
        assert_eq!(up.uname, kernel, "{name}: {up:?}");
        let mut words = vec![format!("leapboot.entry={}", self.entry_id(kernel))];
        if self.image.boot == BootKind::Bios {
            words.push(format!("BOOT_IMAGE=/boot/vmlinuz-{kernel}"));
        }
        for w in words {
            assert!(
                up.cmdline.split_whitespace().any(|c| c == w),
                "{name}: no {w} on the command line: {}",
                up.cmdline
            );
        }
    }

    /// Checks the boot `up` runs `kernel`, started by the boot loader (no
    /// `leapboot.entry=` on its command line).
    fn expect_loader_boot(&self, up: &GuestUp, kernel: &str) {
        assert_eq!(up.uname, kernel, "{}: {up:?}", self.name);
        assert!(
            !up.cmdline.contains("leapboot.entry="),
            "{}: {}",
            self.name,
            up.cmdline
        );
    }

    /// Checks no kernel is loaded for kexec.
    fn expect_nothing_loaded(&mut self) {
        let loaded = self.ok("cat /sys/kernel/kexec_loaded");
        assert_eq!(loaded.trim(), "0", "{}: a kernel is loaded", self.name);
    }

    /// `leapboot reboot --dry-run` plans a boot of `kernel` and loads nothing.
    fn expect_plan(&mut self, kernel: &str) {
        let (file, _) = self.kernel_file(kernel);
        let plan = self.run("leapboot reboot --dry-run");
        assert_eq!(
            plan.status, 0,
            "{}: leapboot reboot --dry-run:\n{}",
            self.name, plan.output
        );
        assert!(
            plan.output.contains(&file),
            "{}: the plan does not boot {file}:\n{}",
            self.name,
            plan.output
        );
        self.expect_nothing_loaded();
    }

    /// grubenv as `grub-editenv list` prints it (BIOS image).
    fn grubenv(&mut self) -> String {
        self.ok("grub-editenv list")
    }

    /// Sets the boot loader's one-shot for `kernel`'s entry the system's way:
    /// `grub-reboot` with the "Advanced options" submenu path, or `bootctl
    /// set-oneshot` (an EFI variable).
    fn set_one_shot(&mut self, kernel: &str) {
        match self.image.boot {
            BootKind::Bios => {
                let path = self.image.grub_advanced_entry(kernel);
                let env = self.ok(&format!("grub-reboot '{path}' && grub-editenv list"));
                assert_eq!(env_value(&env, "next_entry"), Some(path.as_str()), "{env}");
            }
            BootKind::Uefi => {
                let entry = self.bls_entry(kernel);
                let list = self.ok(&format!(
                    "bootctl set-oneshot '{entry}' && bootctl list --no-pager"
                ));
                assert!(list.contains(&entry), "{}: {list}", self.name);
            }
        }
        assert!(
            self.one_shot_pending(),
            "{}: no one-shot after setting it",
            self.name
        );
    }

    /// Whether a one-shot is set: grubenv's `next_entry`, or `LoaderEntryOneShot`.
    fn one_shot_pending(&mut self) -> bool {
        match self.image.boot {
            BootKind::Bios => env_value(&self.grubenv(), "next_entry").is_some(),
            BootKind::Uefi => self.run(&format!("test -e {ONESHOT_VAR}")).status == 0,
        }
    }

    /// Makes GRUB boot a saved default, as Debian's `/etc/default/grub` documents:
    /// `GRUB_DEFAULT=saved` and `update-grub` (00_header then writes
    /// `set default="${saved_entry}"`), then `grub-set-default` with the "Advanced
    /// options" path of `kernel`.
    fn set_saved_default(&mut self, kernel: &str) {
        self.ok(
            "sed -i 's/^GRUB_DEFAULT=.*/GRUB_DEFAULT=saved/' /etc/default/grub && \
             grep -qx GRUB_DEFAULT=saved /etc/default/grub && update-grub",
        );
        let cfg = self.ok("grep -F saved_entry /boot/grub/grub.cfg");
        assert!(
            cfg.contains(r#"set default="${saved_entry}""#),
            "{}: grub.cfg does not boot the saved entry:\n{cfg}",
            self.name
        );
        let path = self.image.grub_advanced_entry(kernel);
        let env = self.ok(&format!("grub-set-default '{path}' && grub-editenv list"));
        assert_eq!(env_value(&env, "saved_entry"), Some(path.as_str()), "{env}");
        assert_eq!(env_value(&env, "next_entry"), None, "{env}");
    }

    /// Cuts the kernel file of `kernel`'s entry to 1 MiB; its name as leapboot says it.
    fn truncate_kernel(&mut self, kernel: &str) -> String {
        let (file, path) = self.kernel_file(kernel);
        self.ok(&format!("truncate -s 1M '{path}'"));
        file
    }

    /// Runs `script`, a `leapboot reboot` of a kernel `file` that cannot load, and
    /// checks what the issue asks for: exit status 1 with a message naming the file
    /// and saying the system stays up, nothing loaded, and no reboot started (10 s
    /// later the same boot answers and is not shutting down).
    fn expect_load_fails_and_stays_up(&mut self, script: &str, file: &str) {
        let name = self.name.clone();
        let out = self.run(script);
        assert_eq!(out.status, 1, "{name}: `{script}`:\n{}", out.output);
        for said in [file, "stays up"] {
            assert!(
                out.output.contains(said),
                "{name}: `{script}` does not say {said:?}:\n{}",
                out.output
            );
        }
        self.expect_nothing_loaded();
        let later = self.run(&format!(
            "sleep 10; systemctl is-system-running; cat {BOOTS_FILE}"
        ));
        let last = later.output.lines().last().unwrap_or_default();
        assert_eq!(
            last,
            self.boots.to_string(),
            "{name}: the guest rebooted:\n{}",
            later.output
        );
        assert!(
            !later.output.contains("stopping"),
            "{name}: the system is shutting down:\n{}",
            later.output
        );
        let log = self.guest.log_since(out.id);
        assert!(self.banners(&log).is_empty(), "{name}:\n{log}");
        assert!(!log.contains(distro::UP_MARKER), "{name}:\n{log}");
    }

    /// Installs and enables the opt-in unit and its drop-in from the test disk, as the
    /// README ("Plain `reboot` through kexec") says.
    fn install_unit(&mut self) {
        let disk = distro::TEST_DISK_MOUNT;
        self.ok(&format!(
            "install -m 644 {disk}/leapboot-kexec.service /etc/systemd/system/ && \
             install -D -m 644 {disk}/leapboot-kexec.conf \
                 /etc/systemd/system/systemd-reboot.service.d/leapboot-kexec.conf && \
             systemctl daemon-reload && systemctl enable --now leapboot-kexec.service"
        ));
    }

    /// The README's uninstall of the opt-in unit.
    fn uninstall_unit(&mut self) {
        self.ok("systemctl disable --now leapboot-kexec.service && \
             rm /etc/systemd/system/leapboot-kexec.service \
                /etc/systemd/system/systemd-reboot.service.d/leapboot-kexec.conf && \
             systemctl daemon-reload");
    }
}

/// The value of `key` in `grub-editenv list` output, if set and not empty.
fn env_value<'a>(env: &'a str, key: &str) -> Option<&'a str> {
    env.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .filter(|v| !v.is_empty())
}

/// The opt-in unit and its drop-in, by their names on the test disk; checks they exist
/// and that the unit runs leapboot where the guest has it.
fn unit_files() -> Vec<(&'static str, PathBuf)> {
    let workspace = leapboot_qemu::binaries::workspace_dir();
    let files = vec![
        ("leapboot-kexec.service", workspace.join(UNIT)),
        ("leapboot-kexec.conf", workspace.join(DROP_IN)),
    ];
    for (_, f) in &files {
        assert!(
            f.is_file(),
            "{} does not exist: the opt-in unit lands with `leapboot reboot`",
            f.display()
        );
    }
    let text = std::fs::read_to_string(&files[0].1).unwrap();
    assert!(
        text.contains(&format!("{GUEST_BIN} ")),
        "the unit no longer runs {GUEST_BIN}:\n{text}"
    );
    files
}

/// `(name, path)` pairs as [`Case::boot_image`] takes them.
fn as_extra<'a>(files: &'a [(&'static str, PathBuf)]) -> Vec<(&'static str, &'a Path)> {
    files.iter().map(|(n, p)| (*n, p.as_path())).collect()
}

/// On a freshly booted `case`: the system's one-shot for the older kernel,
/// `leapboot reboot --dry-run` planning it (nothing loaded, the one-shot kept), then
/// `leapboot reboot` a kexec into it, the one-shot consumed as the boot loader
/// consumes it, and `leapboot status` telling of the kexec.
fn one_shot_is_booted_by_kexec(mut case: Case) {
    let (_, older) = case.two_kernels();
    case.set_one_shot(&older);
    case.expect_plan(&older);
    assert!(case.one_shot_pending(), "a dry run consumed the one-shot");

    let reboot = case.reboot("leapboot reboot", Way::Kexec);
    case.expect_kexec_into(&reboot.up, &older);
    assert!(!case.one_shot_pending(), "the one-shot was not consumed");
    let status = case.ok("leapboot status");
    assert!(
        status.contains("came by kexec from leapboot"),
        "leapboot status after the kexec boot:\n{status}"
    );
}

#[test]
fn grub_reboot_one_shot_is_booted_by_kexec() {
    if !qemu_or_skip("grub_reboot_one_shot_is_booted_by_kexec") {
        return;
    }
    one_shot_is_booted_by_kexec(Case::boot("grub-reboot", &[]));
}

#[test]
fn bootctl_oneshot_is_booted_by_kexec() {
    if !qemu_or_skip("bootctl_oneshot_is_booted_by_kexec") {
        return;
    }
    one_shot_is_booted_by_kexec(Case::boot_uefi("bootctl", &[]));
}

// The longest chain here; its name sorts first, so that the test harness (which starts
// tests in name order, two at a time on two cores) starts it first, not last and alone.
#[test]
fn bios_grub_set_default_then_now_then_fallback() {
    if !qemu_or_skip("bios_grub_set_default_then_now_then_fallback") {
        return;
    }
    let mut case = Case::boot("saved-default", &[]);
    let (default, older) = case.two_kernels();
    let saved = case.image.grub_advanced_entry(&older);

    // 1. grub-set-default: leapboot boots the saved default and leaves it set.
    case.set_saved_default(&older);
    case.expect_plan(&older);
    let reboot = case.reboot("leapboot reboot", Way::Kexec);
    case.expect_kexec_into(&reboot.up, &older);
    let env = case.grubenv();
    assert_eq!(
        env_value(&env, "saved_entry"),
        Some(saved.as_str()),
        "grub-set-default's choice did not stay: {env}"
    );
    let ext4 = root_ext4_messages(&mut case);
    assert!(
        !journal_replayed(&ext4),
        "the clean kexec reboot left the root filesystem mounted:\n{ext4}"
    );

    // 2. --now, with a one-shot for the default kernel over the saved default: a kexec
    // into it with no shutdown at all. The one-shot's use reached the disk with only a
    // sync (no unmount); the saved default stays.
    case.set_one_shot(&default);
    let reboot = case.reboot("leapboot reboot --now", Way::KexecNow);
    case.expect_kexec_into(&reboot.up, &default);
    assert!(
        !case.one_shot_pending(),
        "--now: the one-shot was not consumed"
    );
    let env = case.grubenv();
    assert_eq!(
        env_value(&env, "saved_entry"),
        Some(saved.as_str()),
        "{env}"
    );
    let ext4 = root_ext4_messages(&mut case);
    assert!(
        journal_replayed(&ext4),
        "after --now the root filesystem was clean, as if unmounted by a shutdown:\n{ext4}"
    );

    // 3. A kernel that cannot load: the default one, asked for by id (GRUB's own
    // choice stays the saved default, whose kernel is whole, so the firmware reboot
    // can come back). Without --fallback the system stays up; with it, the ordinary
    // reboot, said aloud, into what GRUB boots.
    let file = case.truncate_kernel(&default);
    let entry = case.entry_id(&default);
    case.expect_load_fails_and_stays_up(&format!("leapboot reboot --entry '{entry}'"), &file);
    let reboot = case.reboot(
        &format!("leapboot reboot --fallback --entry '{entry}'"),
        Way::Firmware,
    );
    let log = &reboot.log;
    let said = log
        .find(FALLBACK_SAID)
        .unwrap_or_else(|| panic!("--fallback did not say {FALLBACK_SAID:?}:\n{log}"));
    assert!(
        log[..said].contains(&file),
        "the reason is not given:\n{log}"
    );
    for banner in case.firmware {
        assert!(
            log.find(banner).is_some_and(|b| b > said),
            "{banner} does not come after {FALLBACK_SAID:?}:\n{log}"
        );
    }
    case.expect_loader_boot(&reboot.up, &older);
}

/// What ext4 wrote in this boot's kernel log about the root filesystem. "recovery
/// complete" there means the kernel replayed its journal: the filesystem was still
/// mounted read-write at the jump, which a clean shutdown prevents (systemd-shutdown
/// unmounts it or remounts it read-only before the kexec).
fn root_ext4_messages(case: &mut Case) -> String {
    case.ok("dmesg | grep -F 'EXT4-fs (vda' || true")
}

/// Whether [`root_ext4_messages`] tell of a journal replay.
fn journal_replayed(ext4: &str) -> bool {
    ext4.contains("recovery complete")
}

/// On a freshly booted `case`: the opt-in unit installed and enabled as the README says,
/// a plain `systemctl reboot` after a one-shot for the older kernel is a kexec into
/// it, the one-shot consumed; uninstalled again, `systemctl reboot` goes through
/// firmware and boot loader into the default kernel.
fn opt_in_unit(case: &mut Case) {
    let (default, older) = case.two_kernels();
    case.install_unit();
    case.set_one_shot(&older);
    let reboot = case.reboot("systemctl reboot", Way::Kexec);
    case.expect_kexec_into(&reboot.up, &older);
    assert!(!case.one_shot_pending(), "the one-shot was not consumed");

    case.uninstall_unit();
    let reboot = case.reboot("systemctl reboot", Way::Firmware);
    case.expect_loader_boot(&reboot.up, &default);
}

#[test]
fn opt_in_unit_turns_systemctl_reboot_into_kexec() {
    if !qemu_or_skip("opt_in_unit_turns_systemctl_reboot_into_kexec") {
        return;
    }
    let files = unit_files();
    let mut case = Case::boot("unit", &as_extra(&files));
    opt_in_unit(&mut case);
}

#[test]
fn opt_in_unit_on_uefi_then_a_truncated_kernel() {
    if !qemu_or_skip("opt_in_unit_on_uefi_then_a_truncated_kernel") {
        return;
    }
    let files = unit_files();
    let mut case = Case::boot_uefi("unit-uefi", &as_extra(&files));
    opt_in_unit(&mut case);
    // Booted by systemd-boot into the default entry: its kernel on the ESP cut short.
    let (default, _) = case.two_kernels();
    let file = case.truncate_kernel(&default);
    case.expect_load_fails_and_stays_up("leapboot reboot", &file);
}

/// Min, median and max of `values` (not empty).
fn summary(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let median = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    (v[0], median, v[v.len() - 1])
}

/// The median of `values`, or NaN for none.
fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        f64::NAN
    } else {
        summary(values).1
    }
}

/// A systemd time span as `systemd-analyze` prints it (`1min 2.345s`, `870ms`).
fn timespan(text: &str) -> Option<f64> {
    let mut total = 0.0;
    for word in text.split_whitespace() {
        let split = word.find(|c: char| c.is_ascii_alphabetic())?;
        let (number, unit) = word.split_at(split);
        let number: f64 = number.parse().ok()?;
        total += number
            * match unit {
                "h" => 3600.0,
                "min" => 60.0,
                "s" => 1.0,
                "ms" => 0.001,
                "us" => 0.000_001,
                _ => return None,
            };
    }
    Some(total)
}

/// Kernel (with initramfs) and userspace seconds from `systemd-analyze time`:
/// "Startup finished in 9.5s (kernel) + 22.6s (userspace) = 32.1s".
fn startup(text: &str) -> Option<(f64, f64)> {
    let rest = text.split("Startup finished in ").nth(1)?;
    let (kernel, rest) = rest.split_once(" (kernel) + ")?;
    let (userspace, _) = rest.split_once(" (userspace)")?;
    Some((timespan(kernel)?, timespan(userspace)?))
}

/// One way of rebooting, measured.
#[derive(Default)]
struct Timings {
    total: Vec<f64>,
    shutdown: Vec<f64>,
    handover: Vec<f64>,
    kernel: Vec<f64>,
    userspace: Vec<f64>,
    load: Vec<f64>,
}

impl Timings {
    /// Records `reboot`, and from the booted guest what systemd and leapboot measured.
    fn add(&mut self, case: &mut Case, reboot: &Reboot) {
        self.total.push(reboot.seconds);
        self.shutdown.push(reboot.shutdown);
        self.handover.push(reboot.handover);
        let analyze = case.run("systemd-analyze time");
        if let Some((kernel, userspace)) = startup(&analyze.output) {
            self.kernel.push(kernel);
            self.userspace.push(userspace);
        }
        // leapboot's report of a kexec boot: "loaded '<id>' in N ms".
        if reboot.up.cmdline.contains("leapboot.entry=") {
            let report = case.run("cat /var/log/leapboot/last-handoff.log");
            let ms = report.output.lines().find_map(|l| {
                let (_, rest) = l.split_once("loaded '")?;
                let (_, rest) = rest.split_once("' in ")?;
                rest.strip_suffix(" ms")?.trim().parse::<f64>().ok()
            });
            self.load.extend(ms.map(|ms| ms / 1000.0));
        }
    }

    fn print(&self, label: &str) {
        let (min, median_total, max) = summary(&self.total);
        let load = if self.load.is_empty() {
            "     -".to_string()
        } else {
            format!("{:>6.1}", median(&self.load))
        };
        println!(
            "bench: {label:<42} {min:>6.1} {median_total:>6.1} {max:>6.1} | {:>8.1} {load} {:>8.1} {:>6.1} {:>6.1}",
            median(&self.shutdown),
            median(&self.handover),
            median(&self.kernel),
            median(&self.userspace),
        );
    }
}

/// Boots `image` and reboots it `runs` times each way, alternating: `leapboot reboot`
/// (kexec) and `systemctl reboot` (firmware and boot loader).
fn measure(image: DistroImage, name: &str, runs: usize) -> (Timings, Timings) {
    let mut case = Case::boot_image(image, name, &[]);
    let mut kexec = Timings::default();
    let mut firmware = Timings::default();
    for _ in 0..runs {
        let reboot = case.reboot("leapboot reboot", Way::Kexec);
        kexec.add(&mut case, &reboot);
        let reboot = case.reboot("systemctl reboot", Way::Firmware);
        firmware.add(&mut case, &reboot);
    }
    (kexec, firmware)
}

/// `scripts/bench`: seconds from the reboot command to the guest-up marker after
/// `multi-user.target`, `LEAPBOOT_BENCH_RUNS` (3) runs each, alternating on one booted
/// image: on the BIOS image (a) `leapboot reboot` and (b) `systemctl reboot` through
/// SeaBIOS and GRUB; on the UEFI image (a') `leapboot reboot` and (c) `systemctl
/// reboot` through OVMF and systemd-boot. Columns: min, median, max of the whole;
/// then medians of its parts: `shutdown` (command start to systemd-shutdown's last
/// step, old kernel's clock; includes leapboot's load, also shown alone as `load`),
/// `handover` (from there to the new kernel's clock starting: firmware and boot
/// loader, or the kexec jump; both include the kernel's decompression), `kernel` and
/// `user` as `systemd-analyze time` reports them (kernel includes the initramfs;
/// userspace ends at `multi-user.target`, a little before the marker). Prints lines
/// starting with `bench: `.
#[test]
#[ignore = "benchmark: scripts/bench"]
fn bench_reboot() {
    if !qemu_or_skip("bench_reboot") {
        return;
    }
    let runs: usize = std::env::var("LEAPBOOT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(3);
    let bios = distro::debian12_bios().unwrap_or_else(|e| panic!("BIOS image: {e}"));
    let uefi = distro::debian12_uefi().unwrap_or_else(|e| panic!("UEFI image: {e}"));
    let (a, b) = measure(bios, "bench-bios", runs);
    let (a_uefi, c) = measure(uefi, "bench-uefi", runs);
    let accel = std::env::var("LEAPBOOT_QEMU_ACCEL").unwrap_or_else(|_| "tcg".into());
    println!(
        "bench: reboot command to guest-up marker, Debian 12 under QEMU ({accel}), {runs} runs each, seconds"
    );
    println!(
        "bench: {:<42} {:>6} {:>6} {:>6} | {:>8} {:>6} {:>8} {:>6} {:>6}",
        "", "min", "median", "max", "shutdown", "load", "handover", "kernel", "user"
    );
    a.print("(a) leapboot reboot, BIOS image");
    b.print("(b) systemctl reboot: SeaBIOS + GRUB");
    a_uefi.print("(a') leapboot reboot, UEFI image");
    c.print("(c) systemctl reboot: OVMF + systemd-boot");
    println!(
        "bench: ratios of the medians: a/b {:.2}, a'/c {:.2}",
        median(&a.total) / median(&b.total),
        median(&a_uefi.total) / median(&c.total)
    );
}

#[test]
fn systemd_time_spans_are_read() {
    assert_eq!(timespan("1min 2.5s"), Some(62.5));
    assert_eq!(timespan("870ms"), Some(0.87));
    assert_eq!(
        startup("Startup finished in 9.540s (kernel) + 22.645s (userspace) = 32.185s \n"),
        Some((9.54, 22.645))
    );
    assert_eq!(startup("Bootup is not yet finished"), None);
}
