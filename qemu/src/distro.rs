//! Real distribution images for the `leapboot reboot` tests: Debian 12 systems with
//! systemd, Debian's kernels and initramfs, and a boot loader installed by Debian's own
//! tools, built once and cached, then booted by their firmware under QEMU and driven
//! over the serial line. Two layouts: BIOS + GRUB ([`debian12_bios`]) and UEFI (OVMF)
//! + systemd-boot ([`debian12_uefi`]).
//!
//! # The recipe and the cache
//!
//! A [`Recipe`] is everything that decides an image: the suite, the packages, the disk
//! layout, the filesystem UUIDs and its files from `qemu/recipes/debian12/` (shell
//! scripts and units, compiled in). Its [`Recipe::key`] is a hash of all of it; the
//! image lives in `<cache>/distro/<name>-<key>/` (`disk.img`, `manifest`, `build.log`),
//! where `<cache>` is [`cache_dir`](crate::kernel::cache_dir), so it is built again only
//! when the recipe changes (and the directories of older keys are removed then). As for
//! the kernel cache, the directory appears only complete: it is prepared in
//! `<cache>/distro/.<name>-<key>.tmp-<pid>/` and renamed into place, under an exclusive
//! lock on `<cache>/distro/.lock`. Package versions are not part of the key: an image
//! keeps the versions it was built with until its recipe changes. The packages a build
//! downloaded are kept in `<cache>/distro/debs-<name>/` for the next build of that
//! recipe.
//!
//! # How an image is built (as root, on the host)
//!
//! 1. `mmdebstrap --variant=minbase` makes the Debian tree in a directory, from the
//!    Debian sources apt on this machine is configured with (`apt-get indextargets`:
//!    `bookworm`, `bookworm-updates`, `bookworm-security`), with `systemd-sysv`,
//!    `udev`, `dbus`, `linux-image-amd64` and the harness's
//!    [`kernel_version`](crate::kernel::kernel_version) kernel (two kernels, so that a
//!    non-default entry exists), `initramfs-tools` (whose hooks write each kernel's
//!    initramfs), and `grub-pc` (BIOS) or `systemd-boot` (UEFI).
//!    `recipes/debian12/customize.sh` then writes `fstab`, the hostname, a fixed
//!    machine id, `/etc/default/grub` (serial terminal, 1 s menu,
//!    `console=ttyS0,115200`) or `/etc/kernel/cmdline`, masks the serial getty and
//!    installs the test driver.
//! 2. The disk, a sparse file of [`Recipe::disk_size_mib`]. BIOS: an MBR (`sfdisk`)
//!    with one bootable Linux partition from 1 MiB. UEFI: GPT (`sgdisk`) with a FAT32
//!    ESP (`mkfs.vfat --offset`) and the root partition. ext4 is made from the tree
//!    straight into the root partition (`mke2fs -d TREE -E offset=...`): no loop
//!    device, no mount.
//! 3. The boot loader: the host kernel sees no partitions in an image file (and may
//!    have no vfat), so the image's own kernel and initramfs boot it under QEMU with
//!    `init=/usr/local/sbin/leapboot-image-setup`, which starts udev and installs the
//!    boot loader as an administrator or the package would, then powers off.
//!    `recipes/debian12/setup-bios.sh`: `grub-install --target=i386-pc /dev/vda` and
//!    `update-grub`, so grub.cfg is the one Debian's `grub-mkconfig` writes
//!    (`root=UUID=...`, the "Advanced options" submenu, recovery entries).
//!    `recipes/debian12/setup-uefi.sh`: what `systemd-boot`'s postinst does once an ESP
//!    is mounted, `bootctl install` and `kernel-install add` for each kernel (Boot
//!    Loader Specification entries, kernel and initramfs copied to the ESP), without
//!    EFI variables (this boot has no EFI; OVMF finds `EFI/BOOT/BOOTX64.EFI`).
//!    Both print the kernels in the boot loader's order, recorded in the manifest
//!    ([`DistroImage::kernels`]).
//!
//! A cold build takes 2 to 6 minutes on two cores under TCG (mmdebstrap 1.5 to 4 min,
//! most of it the download without a package cache; the disk 5 s; the boot loader
//! 35 to 70 s in the guest). The image is about 1.2 GiB on disk (3 GiB sparse).
//!
//! # Driving a booted image
//!
//! The image starts `leapboot-test-driver.service` after `multi-user.target`
//! (`recipes/debian12/leapboot-test-driver`). It mounts an ext4 disk labelled
//! [`TEST_DISK_LABEL`] read-only at [`TEST_DISK_MOUNT`] if one is attached (the host
//! puts the leapboot binary there at test time, see [`test_disk`], so that a new
//! leapboot does not rebuild the image), prints
//! `LEAPBOOT-GUEST-UP boot=N uname=R uptime=S cmdline=C` on ttyS0 and then runs the
//! scripts the host sends on ttyS0. [`Guest`] boots an image with its firmware
//! (SeaBIOS, whose banner and GRUB's menu show on the serial line, or OVMF, whose boot
//! manager and systemd-boot's menu do) on a `-snapshot` of the cached disk, so the
//! guest's writes last across its reboots but never reach the cache, and speaks that
//! protocol: [`Guest::wait_up`], [`Guest::run`], [`Guest::start`]. At the end of every
//! shutdown, after the services have stopped and the filesystems are unmounted, a
//! `system-shutdown` hook (`recipes/debian12/leapboot-test-down`) prints
//! `LEAPBOOT-GUEST-DOWN verb=V uptime=S`, V being what systemd-shutdown does next
//! (`reboot`, `kexec`, `poweroff`): [`Guest::wait_down`].
//!
//! ```no_run
//! use leapboot_qemu::distro::{self, Guest};
//! # fn main() -> leapboot_qemu::Result<()> {
//! let image = distro::debian12_bios()?;
//! let mut guest = Guest::boot(&image, &[], std::path::Path::new("/tmp/guest.log"))?;
//! let up = guest.wait_up(distro::boot_timeout())?;
//! assert_eq!(up.boot, 1);
//! let out = guest.run("grub-editenv list", leapboot_qemu::default_timeout())?;
//! assert_eq!(out.status, 0);
//! # Ok(())
//! # }
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::disk::{DiskImage, Partition};
use crate::kernel::{cache_dir, kernel_version};
use crate::util::{FileLock, Fnv64, command_failed, io_err, run, run_unchecked, run_with_stdin};
use crate::vm::{Accel, Vm, VmConfig, default_timeout, qemu_binary};
use crate::{Error, Result};

/// Changes when the build steps in this file change in a way the recipe does not show,
/// so that images built the old way are not used.
const BUILDER_VERSION: &str = "1";

/// The label of the disk [`test_disk`] makes; the driver mounts it.
pub const TEST_DISK_LABEL: &str = "LBTEST";
/// Where the driver mounts the test disk, read-only.
pub const TEST_DISK_MOUNT: &str = "/run/leapboot-test";
/// The driver's line after every boot.
pub const UP_MARKER: &str = "LEAPBOOT-GUEST-UP";
/// The line systemd-shutdown's last step prints before every reboot, kexec or
/// power-off.
pub const DOWN_MARKER: &str = "LEAPBOOT-GUEST-DOWN";

const MIB: u64 = 1024 * 1024;
/// The root partition starts at 1 MiB, as partitioning tools align it.
const ROOT_OFFSET_MIB: u64 = 1;
/// A line the guest's terminal takes in canonical mode holds at most 4095 bytes.
const MAX_COMMAND_LINE: usize = 4000;

/// The files of `qemu/recipes/debian12` both layouts use, by their names in
/// `$RECIPE_DIR`.
const DEBIAN12_FILES: &[(&str, &str)] = &[
    (
        "customize.sh",
        include_str!("../recipes/debian12/customize.sh"),
    ),
    (
        "leapboot-test-driver",
        include_str!("../recipes/debian12/leapboot-test-driver"),
    ),
    (
        "leapboot-test-driver.service",
        include_str!("../recipes/debian12/leapboot-test-driver.service"),
    ),
    (
        "leapboot-test-down",
        include_str!("../recipes/debian12/leapboot-test-down"),
    ),
];
/// `setup-in-guest.sh` of the BIOS + GRUB layout.
const DEBIAN12_SETUP_BIOS: &str = include_str!("../recipes/debian12/setup-bios.sh");
/// `setup-in-guest.sh` of the UEFI + systemd-boot layout.
const DEBIAN12_SETUP_UEFI: &str = include_str!("../recipes/debian12/setup-uefi.sh");

/// OVMF, Debian's `ovmf` package: the firmware code (read-only) and the variable store
/// template (written through a `-snapshot` overlay only).
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
/// See [`OVMF_CODE`].
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

/// How an image boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootKind {
    /// BIOS (SeaBIOS) and GRUB (`grub-pc`) in the MBR; one ext4 root partition with
    /// `/boot`.
    Bios,
    /// UEFI (OVMF) and systemd-boot on an ESP mounted at `/boot/efi`, with Boot
    /// Loader Specification entries written by `kernel-install`; GPT, ESP and ext4
    /// root.
    Uefi,
}

impl BootKind {
    /// `bios` or `uefi` (the manifest, `$BOOT` for `customize.sh`).
    pub fn as_str(self) -> &'static str {
        match self {
            BootKind::Bios => "bios",
            BootKind::Uefi => "uefi",
        }
    }

    fn parse(s: &str) -> Option<BootKind> {
        match s {
            "bios" => Some(BootKind::Bios),
            "uefi" => Some(BootKind::Uefi),
            _ => None,
        }
    }
}

/// What decides a distribution image; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    /// Name, the first part of the cache directory's name.
    pub name: String,
    /// Debian suite (`bookworm`); its `-updates` and `-security` suites are used too
    /// where apt on this machine has them.
    pub suite: String,
    /// Packages installed besides the `minbase` variant.
    pub packages: Vec<String>,
    /// Firmware and boot loader.
    pub boot: BootKind,
    /// Size of the ESP ([`BootKind::Uefi`]), in MiB.
    pub esp_size_mib: u64,
    /// Volume id of the ESP (its UUID `XXXX-XXXX`).
    pub esp_volume_id: u32,
    /// Size of the disk image (sparse), in MiB.
    pub disk_size_mib: u64,
    /// UUID of the root filesystem.
    pub root_uuid: String,
    /// Label of the root filesystem.
    pub root_label: String,
    /// `/etc/machine-id` (32 hex digits).
    pub machine_id: String,
    /// MBR disk identifier.
    pub mbr_id: u32,
    /// The recipe's files, by name: `customize.sh` runs on the tree,
    /// `setup-in-guest.sh` installs the boot loader in the guest; the others are
    /// there for `customize.sh` (in `$RECIPE_DIR`).
    pub files: Vec<(String, String)>,
}

impl Recipe {
    /// Debian 12 (bookworm), BIOS, MBR with one ext4 root partition holding `/boot`,
    /// GRUB (`grub-pc`), two kernels: `linux-image-amd64` and
    /// `linux-image-<kernel_version()>`.
    pub fn debian12_bios() -> Recipe {
        Recipe::debian12(BootKind::Bios)
    }

    /// Debian 12 (bookworm), UEFI, GPT with a 512 MiB ESP (FAT32) at `/boot/efi` and an ext4
    /// root partition, systemd-boot (`systemd-boot`, `bootctl install`, entries by
    /// `kernel-install`), the same two kernels as [`Recipe::debian12_bios`].
    pub fn debian12_uefi() -> Recipe {
        Recipe::debian12(BootKind::Uefi)
    }

    fn debian12(boot: BootKind) -> Recipe {
        let loader: &[&str] = match boot {
            BootKind::Bios => &["grub-pc"],
            BootKind::Uefi => &["systemd-boot", "dosfstools"],
        };
        let mut packages: Vec<String> = [
            "systemd-sysv",
            "udev",
            "dbus",
            "libpam-systemd",
            "kmod",
            "zstd",
            "initramfs-tools",
            "linux-image-amd64",
        ]
        .iter()
        .chain(loader)
        .map(|p| p.to_string())
        .collect();
        packages.push(format!("linux-image-{}", kernel_version()));
        let setup = match boot {
            BootKind::Bios => DEBIAN12_SETUP_BIOS,
            BootKind::Uefi => DEBIAN12_SETUP_UEFI,
        };
        let mut files: Vec<(String, String)> = DEBIAN12_FILES
            .iter()
            .map(|(n, c)| (n.to_string(), c.to_string()))
            .collect();
        files.push(("setup-in-guest.sh".to_string(), setup.to_string()));
        Recipe {
            name: format!("debian12-{}", boot.as_str()),
            suite: "bookworm".to_string(),
            packages,
            boot,
            esp_size_mib: match boot {
                BootKind::Bios => 0,
                BootKind::Uefi => 512,
            },
            esp_volume_id: 0x4c42_4553,
            disk_size_mib: 3072,
            root_uuid: "5c1e6f7a-0b2d-4c3e-9f4a-6b7c8d9e0f12".to_string(),
            root_label: "debian-root".to_string(),
            machine_id: "4c65617062f06f74a5b1c0de00000012".to_string(),
            mbr_id: 0x4c42_5431,
            files,
        }
    }

    /// The ESP's UUID as Linux shows it (`XXXX-XXXX`).
    pub fn esp_uuid(&self) -> String {
        format!(
            "{:04X}-{:04X}",
            self.esp_volume_id >> 16,
            self.esp_volume_id & 0xffff
        )
    }

    /// The cache key: 16 hex digits of a hash over every field and file.
    pub fn key(&self) -> String {
        let mut h = Fnv64::new();
        h.field(BUILDER_VERSION.as_bytes());
        h.field(self.name.as_bytes());
        h.field(self.suite.as_bytes());
        for p in &self.packages {
            h.field(p.as_bytes());
        }
        h.field(self.boot.as_str().as_bytes());
        h.field(&self.esp_size_mib.to_le_bytes());
        h.field(&self.esp_volume_id.to_le_bytes());
        h.field(&self.disk_size_mib.to_le_bytes());
        h.field(self.root_uuid.as_bytes());
        h.field(self.root_label.as_bytes());
        h.field(self.machine_id.as_bytes());
        h.field(&self.mbr_id.to_le_bytes());
        for (name, contents) in &self.files {
            h.field(name.as_bytes());
            h.field(contents.as_bytes());
        }
        format!("{:016x}", h.finish())
    }

    fn check(&self) -> Result<()> {
        let plain = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._+".contains(c))
        };
        if !plain(&self.name) || self.name.starts_with('.') || !plain(&self.suite) {
            return Err(Error::Invalid(format!(
                "recipe name {:?} or suite {:?} is not a plain word",
                self.name, self.suite
            )));
        }
        if let Some(p) = self.packages.iter().find(|p| !plain(p)) {
            return Err(Error::Invalid(format!(
                "recipe {}: package name {p:?}",
                self.name
            )));
        }
        if self.boot == BootKind::Uefi && self.esp_size_mib < 64 {
            return Err(Error::Invalid(format!(
                "recipe {}: a {} MiB ESP is too small",
                self.name, self.esp_size_mib
            )));
        }
        if self.disk_size_mib < 256 + self.esp_size_mib {
            return Err(Error::Invalid(format!(
                "recipe {}: a {} MiB disk is too small",
                self.name, self.disk_size_mib
            )));
        }
        for f in ["customize.sh", "setup-in-guest.sh"] {
            if self.file(f).is_none() {
                return Err(Error::Invalid(format!("recipe {} has no {f}", self.name)));
            }
        }
        Ok(())
    }

    fn file(&self, name: &str) -> Option<&str> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.as_str())
    }
}

/// A built image in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistroImage {
    /// `<cache>/distro/<name>-<key>`.
    pub dir: PathBuf,
    /// The raw disk image (boot it with [`Guest`], which never writes to it).
    pub disk: PathBuf,
    /// The recipe's name.
    pub name: String,
    /// Firmware and boot loader.
    pub boot: BootKind,
    /// The recipe's key.
    pub key: String,
    /// UUID of the root filesystem.
    pub root_uuid: String,
    /// `/etc/machine-id`.
    pub machine_id: String,
    /// The installed kernels' releases (`uname -r`) in the boot loader's order (as
    /// `update-grub` found them, or systemd-boot's newest first): the first is the
    /// default entry's.
    pub kernels: Vec<String>,
    /// [`BootKind::Uefi`]: the Boot Loader Specification entry file of each of
    /// [`kernels`](DistroImage::kernels), as `kernel-install` named it in
    /// `loader/entries` (`<entry-token>-<kernel>.conf`); empty for BIOS.
    pub bls_entries: Vec<String>,
}

impl DistroImage {
    /// The image in `dir` if it is complete (its manifest and disk exist).
    fn load(dir: &Path) -> Result<Option<DistroImage>> {
        let manifest = dir.join("manifest");
        let disk = dir.join("disk.img");
        if !manifest.is_file() || !disk.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&manifest).map_err(io_err("cannot read", &manifest))?;
        let get = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(str::to_string)
                .ok_or_else(|| Error::Invalid(format!("{} has no {key}= line", manifest.display())))
        };
        Ok(Some(DistroImage {
            dir: dir.to_path_buf(),
            disk,
            name: get("name")?,
            boot: BootKind::parse(&get("boot")?).ok_or_else(|| {
                Error::Invalid(format!("{}: unknown boot= value", manifest.display()))
            })?,
            key: get("key")?,
            root_uuid: get("root_uuid")?,
            machine_id: get("machine_id")?,
            kernels: get("kernels")?
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            bls_entries: get("bls_entries")?
                .split_whitespace()
                .map(str::to_string)
                .collect(),
        }))
    }

    /// The entry file (systemd-boot's and `bootctl`'s id) `kernel-install` wrote for
    /// `kernel` ([`BootKind::Uefi`]).
    pub fn bls_entry(&self, kernel: &str) -> Option<&str> {
        let i = self.kernels.iter().position(|k| k == kernel)?;
        self.bls_entries.get(i).map(String::as_str)
    }

    /// The `grub-reboot`/`grub-set-default` path of the "Advanced options" entry that
    /// boots `kernel` as Debian's `10_linux` names it:
    /// `Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux <kernel>`.
    pub fn grub_advanced_entry(&self, kernel: &str) -> String {
        format!("Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux {kernel}")
    }
}

/// The Debian 12 BIOS + GRUB image ([`Recipe::debian12_bios`]), built into the cache on
/// first use (minutes; needs root, `mmdebstrap`, `mke2fs`, `sfdisk` and QEMU), then
/// cheap.
pub fn debian12_bios() -> Result<DistroImage> {
    build_cached(&Recipe::debian12_bios(), &cache_dir())
}

/// The Debian 12 UEFI + systemd-boot image ([`Recipe::debian12_uefi`]), as
/// [`debian12_bios`] (also needs `mkfs.vfat` and `sgdisk` to build, OVMF to boot).
pub fn debian12_uefi() -> Result<DistroImage> {
    build_cached(&Recipe::debian12_uefi(), &cache_dir())
}

/// The image of `recipe` in `cache`, built first if it is not there.
pub fn build_cached(recipe: &Recipe, cache: &Path) -> Result<DistroImage> {
    recipe.check()?;
    let base = cache.join("distro");
    let key = recipe.key();
    let final_dir = base.join(format!("{}-{key}", recipe.name));
    if let Some(image) = DistroImage::load(&final_dir)? {
        return Ok(image);
    }
    std::fs::create_dir_all(&base).map_err(io_err("cannot create cache directory", &base))?;
    let _lock = FileLock::acquire(&base.join(".lock"))?;
    if let Some(image) = DistroImage::load(&final_dir)? {
        return Ok(image);
    }
    check_tools()?;
    // Under the lock, any temporary directory of this recipe is a leftover of a build
    // that died.
    remove_entries(&base, |n| {
        n.starts_with(&format!(".{}-", recipe.name)) && n.contains(".tmp-")
    })?;

    let started = Instant::now();
    eprintln!(
        "leapboot-qemu: building the {} image {key} in {} (once per recipe; minutes)",
        recipe.name,
        base.display()
    );
    let work =
        BuildDir::new(base.join(format!(".{}-{key}.tmp-{}", recipe.name, std::process::id())))?;
    let out = work.path().join("out");
    std::fs::create_dir_all(&out).map_err(io_err("cannot create directory", &out))?;
    let debs = base.join(format!("debs-{}", recipe.name));
    let kernels = build(recipe, work.path(), &out, &debs)?;

    let manifest = format!(
        "name={}\nboot={}\nkey={key}\nroot_uuid={}\nmachine_id={}\nkernels={}\n\
         bls_entries={}\npackages={}\nbuild_seconds={}\n",
        recipe.name,
        recipe.boot.as_str(),
        recipe.root_uuid,
        recipe.machine_id,
        kernels
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        kernels
            .iter()
            .filter_map(|(_, e)| e.as_deref())
            .collect::<Vec<_>>()
            .join(" "),
        recipe.packages.join(" "),
        started.elapsed().as_secs()
    );
    let manifest_path = out.join("manifest");
    std::fs::write(&manifest_path, manifest).map_err(io_err("cannot write", &manifest_path))?;
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir)
            .map_err(io_err("cannot remove incomplete", &final_dir))?;
    }
    std::fs::rename(&out, &final_dir).map_err(io_err("cannot rename into place", &final_dir))?;
    drop(work);
    // Images of older versions of this recipe.
    let current = format!("{}-{key}", recipe.name);
    remove_entries(&base, |n| {
        n != current
            && n.strip_prefix(&format!("{}-", recipe.name))
                .is_some_and(|k| k.len() == 16 && k.chars().all(|c| c.is_ascii_hexdigit()))
    })?;
    eprintln!(
        "leapboot-qemu: built {} in {:.0} s",
        final_dir.display(),
        started.elapsed().as_secs_f64()
    );
    DistroImage::load(&final_dir)?.ok_or_else(|| {
        Error::Missing(format!(
            "{} is incomplete right after its build",
            final_dir.display()
        ))
    })
}

/// The three build steps (see the module docs); returns the kernels in the boot
/// loader's order, each with its BLS entry file (UEFI).
fn build(
    recipe: &Recipe,
    work: &Path,
    out: &Path,
    debs: &Path,
) -> Result<Vec<(String, Option<String>)>> {
    let recipe_dir = work.join("recipe");
    std::fs::create_dir_all(&recipe_dir).map_err(io_err("cannot create directory", &recipe_dir))?;
    for (name, contents) in &recipe.files {
        let path = recipe_dir.join(name);
        std::fs::write(&path, contents).map_err(io_err("cannot write", &path))?;
    }
    let tree = work.join("tree");
    let mut log = String::new();

    let t = Instant::now();
    let output = bootstrap(recipe, &tree, &recipe_dir, debs)?;
    let _ = writeln!(
        log,
        "== mmdebstrap ({:.0} s)\n{}",
        t.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&output)
    );
    let versions = tree_kernels(&tree)?;
    let Some(newest) = versions.first() else {
        return Err(Error::Missing(format!(
            "mmdebstrap installed no kernel in {}/boot",
            tree.display()
        )));
    };

    let t = Instant::now();
    let disk = out.join("disk.img");
    make_disk(recipe, &tree, &disk)?;
    let _ = writeln!(log, "== disk ({:.0} s)", t.elapsed().as_secs_f64());

    let t = Instant::now();
    let serial = work.join("setup-serial.log");
    let setup = install_boot_loader(recipe, &tree, newest, &disk, &serial);
    let serial_text = std::fs::read_to_string(&serial).unwrap_or_default();
    let _ = writeln!(
        log,
        "== boot loader, in the guest ({:.0} s)\n{serial_text}",
        t.elapsed().as_secs_f64()
    );
    let log_path = out.join("build.log");
    std::fs::write(&log_path, &log).map_err(io_err("cannot write", &log_path))?;
    setup?;

    // The setup script names the kernels in the boot loader's order:
    // "LEAPBOOT-SETUP: kernel <release>[ entry <file>]".
    let found: Vec<(String, Option<String>)> = serial_text
        .lines()
        .filter_map(|l| l.split("LEAPBOOT-SETUP: kernel ").nth(1))
        .filter_map(|rest| {
            let mut words = rest.split_whitespace();
            let kernel = words.next()?.to_string();
            let entry = match (words.next(), words.next()) {
                (Some("entry"), Some(file)) => Some(file.to_string()),
                _ => None,
            };
            Some((kernel, entry))
        })
        .collect();
    if found.is_empty() {
        return Err(Error::Missing(format!(
            "the boot loader lists no kernel (serial log: {})",
            log_path.display()
        )));
    }
    Ok(found)
}

/// Checks that the build's tools run, and says which packages provide them.
fn check_tools() -> Result<()> {
    for (tool, arg, package) in [
        ("mmdebstrap", "--version", "mmdebstrap"),
        ("mke2fs", "-V", "e2fsprogs"),
        ("sfdisk", "--version", "fdisk"),
        ("sgdisk", "--version", "gdisk"),
        ("mkfs.vfat", "--help", "dosfstools"),
        ("apt-get", "--version", "apt"),
    ] {
        let ok = Command::new(tool)
            .arg(arg)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(Error::Missing(format!(
                "{tool} does not run: install Debian's {package} (scripts/setup)"
            )));
        }
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Error::Missing(
            "building a distribution image needs root (mmdebstrap chroots, the tree has \
             root-owned files)"
                .into(),
        ));
    }
    Ok(())
}

/// The `deb` lines for `suite`, `suite-updates` and `suite-security` (main) from the
/// sources apt on this machine is configured with.
fn apt_sources(suite: &str) -> Result<Vec<String>> {
    let output = run(Command::new("apt-get").args([
        "indextargets",
        "--format",
        "$(REPO_URI) $(RELEASE) $(COMPONENT)",
        "Created-By: Packages",
    ]))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let wanted = [
        suite.to_string(),
        format!("{suite}-updates"),
        format!("{suite}-security"),
    ];
    let mut lines = Vec::new();
    for want in &wanted {
        let uri = text.lines().find_map(|l| {
            let mut f = l.split_whitespace();
            let (uri, release, component) = (f.next()?, f.next()?, f.next()?);
            (release == want && component == "main").then(|| uri.to_string())
        });
        if let Some(uri) = uri {
            lines.push(format!("deb {uri} {want} main"));
        }
    }
    if !lines.iter().any(|l| l.ends_with(&format!(" {suite} main"))) {
        return Err(Error::Missing(format!(
            "apt on this machine has no source for Debian {suite} main \
             (`apt-get indextargets` lists none); add one to /etc/apt/sources.list.d \
             and run apt-get update"
        )));
    }
    Ok(lines)
}

/// `mmdebstrap` into `tree`; returns its output.
fn bootstrap(recipe: &Recipe, tree: &Path, recipe_dir: &Path, debs: &Path) -> Result<Vec<u8>> {
    let sources = apt_sources(&recipe.suite)?;
    std::fs::create_dir_all(debs).map_err(io_err("cannot create directory", debs))?;
    let debs_str = debs
        .to_str()
        .filter(|s| !s.contains(['\'', '"', ' ']))
        .ok_or_else(|| {
            Error::Invalid(format!(
                "package cache path {} has quotes or spaces",
                debs.display()
            ))
        })?;
    let customize = recipe_dir.join("customize.sh");
    let customize = customize
        .to_str()
        .filter(|s| !s.contains(['\'', '"', ' ']))
        .ok_or_else(|| {
            Error::Invalid(format!(
                "recipe path {} has quotes or spaces",
                recipe_dir.display()
            ))
        })?;
    let mut cmd = Command::new("mmdebstrap");
    cmd.args(["--mode=root", "--variant=minbase", "--format=directory"])
        .arg(format!("--include={}", recipe.packages.join(",")))
        .arg("--aptopt=APT::Install-Recommends \"false\"")
        .arg("--setup-hook=mkdir -p \"$1\"/var/cache/apt/archives")
        .arg(format!(
            "--setup-hook=sync-in {debs_str} /var/cache/apt/archives/"
        ))
        .arg(format!("--customize-hook=sh {customize} \"$1\""))
        // The package cache keeps what this build used, nothing older.
        .arg(format!(
            "--customize-hook=find {debs_str} -maxdepth 1 -name '*.deb' -delete"
        ))
        .arg(format!(
            "--customize-hook=sync-out /var/cache/apt/archives {debs_str}"
        ))
        .arg(&recipe.suite)
        .arg(tree)
        .args(&sources)
        .env("BOOT", recipe.boot.as_str())
        .env("ROOT_UUID", &recipe.root_uuid)
        .env("ESP_UUID", recipe.esp_uuid())
        .env("MACHINE_ID", &recipe.machine_id)
        .env("RECIPE_DIR", recipe_dir)
        .env("DEBIAN_FRONTEND", "noninteractive");
    let output = run_unchecked(&mut cmd)?;
    if !output.status.success() {
        return Err(command_failed(&cmd, &output));
    }
    let mut text = output.stdout;
    text.extend_from_slice(&output.stderr);
    Ok(text)
}

/// Kernel releases with a `vmlinuz` and an `initrd.img` in `<tree>/boot`, newest
/// first.
fn tree_kernels(tree: &Path) -> Result<Vec<String>> {
    let boot = tree.join("boot");
    let mut versions = Vec::new();
    for entry in std::fs::read_dir(&boot).map_err(io_err("cannot list", &boot))? {
        let entry = entry.map_err(io_err("cannot list", &boot))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(v) = name.strip_prefix("vmlinuz-")
            && boot.join(format!("initrd.img-{v}")).is_file()
        {
            versions.push(v.to_string());
        }
    }
    versions.sort_by(|a, b| version_cmp(b, a));
    Ok(versions)
}

/// Compares versions as runs of digits (by value) and of other characters.
fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            let boundary = i == bytes.len()
                || bytes.get(i).map(u8::is_ascii_digit) != bytes.get(i - 1).map(u8::is_ascii_digit);
            if boundary {
                let digits = bytes.get(start).is_some_and(u8::is_ascii_digit);
                out.push((digits, s.get(start..i).unwrap_or("")));
                start = i;
            }
        }
        out
    }
    for (x, y) in chunks(a).into_iter().zip(chunks(b)) {
        let ord = match (x, y) {
            ((true, x), (true, y)) => {
                let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                x.len().cmp(&y.len()).then_with(|| x.cmp(y))
            }
            ((_, x), (_, y)) => x.cmp(y),
        };
        if ord.is_ne() {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

/// The sparse disk. BIOS: MBR, one bootable Linux partition from 1 MiB, ext4 from
/// `tree`. UEFI: GPT, the ESP (FAT, empty) from 1 MiB, then the ext4 root.
fn make_disk(recipe: &Recipe, tree: &Path, disk: &Path) -> Result<()> {
    let file = std::fs::File::create(disk).map_err(io_err("cannot create", disk))?;
    file.set_len(recipe.disk_size_mib * MIB)
        .map_err(io_err("cannot size", disk))?;
    drop(file);
    let (root_offset_mib, root_size_mib) = match recipe.boot {
        BootKind::Bios => {
            let table = format!(
                "label: dos\nlabel-id: 0x{:08x}\nstart={}, type=83, bootable\n",
                recipe.mbr_id,
                ROOT_OFFSET_MIB * MIB / 512
            );
            run_with_stdin(
                Command::new("sfdisk")
                    .args(["--quiet", "--no-reread", "--no-tell-kernel"])
                    .arg(disk),
                table.as_bytes(),
            )?;
            (ROOT_OFFSET_MIB, recipe.disk_size_mib - ROOT_OFFSET_MIB)
        }
        BootKind::Uefi => {
            let esp_start = ROOT_OFFSET_MIB * MIB / 512;
            let root_offset = ROOT_OFFSET_MIB + recipe.esp_size_mib;
            // The backup GPT takes the last 33 sectors: the root ends 1 MiB early.
            let root_size = recipe.disk_size_mib - root_offset - 1;
            let mut h = Fnv64::new();
            h.field(recipe.name.as_bytes());
            h.field(recipe.root_uuid.as_bytes());
            let guid = |n: u64| {
                let mut h = h;
                h.field(&n.to_le_bytes());
                let a = h.finish();
                h.field(b"2");
                let b = h.finish();
                format!(
                    "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                    a >> 32,
                    (a >> 16) & 0xffff,
                    a & 0xfff,
                    (b >> 48) & 0xfff,
                    b & 0xffff_ffff_ffff
                )
            };
            run(Command::new("sgdisk")
                .arg("--clear")
                .arg(format!("--disk-guid={}", guid(0)))
                .arg(format!("--new=1:{esp_start}:+{}M", recipe.esp_size_mib))
                .args(["--typecode=1:ef00", "--change-name=1:EFI System Partition"])
                .arg(format!("--partition-guid=1:{}", guid(1)))
                .arg(format!("--new=2:{}:+{root_size}M", root_offset * MIB / 512))
                .args(["--typecode=2:8300", "--change-name=2:root"])
                .arg(format!("--partition-guid=2:{}", guid(2)))
                .arg(disk))?;
            run(Command::new("mkfs.vfat")
                .arg(format!("--offset={esp_start}"))
                .args(["-F", "32", "-n", "ESP", "-i"])
                .arg(format!("{:08X}", recipe.esp_volume_id))
                .arg(disk)
                .arg((recipe.esp_size_mib * 1024).to_string()))?;
            (root_offset, root_size)
        }
    };
    run(Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-L"])
        .arg(&recipe.root_label)
        .arg("-U")
        .arg(&recipe.root_uuid)
        .arg("-E")
        .arg(format!("offset={},root_owner=0:0", root_offset_mib * MIB))
        .arg("-d")
        .arg(tree)
        .arg(disk)
        .arg(format!("{}k", root_size_mib * 1024)))?;
    Ok(())
}

/// Boots `tree`'s kernel `version` with the disk and runs `setup-in-guest.sh` as
/// `init` (see the module docs, step 3).
fn install_boot_loader(
    recipe: &Recipe,
    tree: &Path,
    version: &str,
    disk: &Path,
    serial: &Path,
) -> Result<()> {
    let boot = tree.join("boot");
    let config = VmConfig::new(
        boot.join(format!("vmlinuz-{version}")),
        boot.join(format!("initrd.img-{version}")),
    )
    .append(format!(
        "root=UUID={} rw console=ttyS0,115200 panic=-1 quiet \
         init=/usr/local/sbin/leapboot-image-setup",
        recipe.root_uuid
    ))
    .virtio_disk(disk)
    .serial_log(serial);
    let mut vm = Vm::start(config)?;
    let timeout = boot_timeout() * 3;
    let (i, line) =
        vm.wait_for_first(&["LEAPBOOT-SETUP: OK", "LEAPBOOT-SETUP: FAILED"], timeout)?;
    if i != 0 {
        return Err(Error::Invalid(format!(
            "installing GRUB in the guest failed: {line} (serial log: {})",
            serial.display()
        )));
    }
    vm.wait_exit(default_timeout())?;
    Ok(())
}

/// A build directory, removed on drop unless something is still mounted below it (a
/// chroot's `/proc` or `/dev`): removing through such a mount would remove the host's
/// files.
struct BuildDir {
    path: PathBuf,
}

impl BuildDir {
    fn new(path: PathBuf) -> Result<BuildDir> {
        std::fs::create_dir_all(&path).map_err(io_err("cannot create directory", &path))?;
        Ok(BuildDir { path })
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for BuildDir {
    fn drop(&mut self) {
        let _ = remove_tree(&self.path);
    }
}

/// Mount points at or below `dir`, deepest first.
fn mounts_below(dir: &Path) -> Vec<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut found: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .map(PathBuf::from)
        .filter(|m| m.starts_with(&dir))
        .collect();
    found.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    found
}

/// `/proc/self/mountinfo` writes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(i) = rest.find('\\') {
        out.push_str(rest.get(..i).unwrap_or(""));
        let code = rest
            .get(i + 1..i + 4)
            .and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(c) => {
                out.push(char::from(c));
                rest = rest.get(i + 4..).unwrap_or("");
            }
            None => {
                out.push('\\');
                rest = rest.get(i + 1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    out
}

/// Removes `dir` after unmounting whatever is mounted below it; refuses if a mount
/// stays.
fn remove_tree(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for m in mounts_below(dir) {
        let _ = run_unchecked(Command::new("umount").arg("--lazy").arg(&m));
    }
    let left = mounts_below(dir);
    if let Some(m) = left.first() {
        return Err(Error::Invalid(format!(
            "not removing {}: {} is still mounted",
            dir.display(),
            m.display()
        )));
    }
    std::fs::remove_dir_all(dir).map_err(io_err("cannot remove", dir))
}

/// Removes the entries of `base` whose names satisfy `pick`.
fn remove_entries(base: &Path, pick: impl Fn(&str) -> bool) -> Result<()> {
    for entry in std::fs::read_dir(base).map_err(io_err("cannot list", base))? {
        let entry = entry.map_err(io_err("cannot list", base))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if pick(&name) {
            remove_tree(&entry.path())?;
        }
    }
    Ok(())
}

/// Timeout for one boot of a distribution image to its [`UP_MARKER`]: three times
/// [`default_timeout`] (a whole Debian system under TCG).
pub fn boot_timeout() -> Duration {
    default_timeout() * 3
}

/// Writes a small ext4 disk labelled [`TEST_DISK_LABEL`] (no partition table) with
/// `files` (path inside, host file) at `path`; the guest's driver mounts it read-only
/// at [`TEST_DISK_MOUNT`].
pub fn test_disk(path: &Path, files: &[(&str, &Path)]) -> Result<()> {
    let mut bytes = 0;
    for (_, host) in files {
        bytes += std::fs::metadata(host)
            .map_err(io_err("cannot read", *host))?
            .len();
    }
    let size_mib = (bytes / MIB + 8).max(16);
    let mut part = Partition::linux_ext4(
        size_mib,
        TEST_DISK_LABEL,
        "4c425445-5354-4449-534b-000000000001",
    );
    for (inside, host) in files {
        part = part.file_from(inside, host);
    }
    DiskImage::superfloppy(part).write(path)
}

/// What the driver printed when the guest came up.
#[derive(Debug, Clone, PartialEq)]
pub struct GuestUp {
    /// How many times this disk has booted (1 for the first boot of a [`Guest`]).
    pub boot: u32,
    /// `uname -r`.
    pub uname: String,
    /// Seconds since the kernel started (`/proc/uptime`).
    pub uptime: f64,
    /// `/proc/cmdline`.
    pub cmdline: String,
    /// When the host saw the line, since the [`Guest`] started.
    pub at: Duration,
}

impl GuestUp {
    /// Parses `LEAPBOOT-GUEST-UP boot=N uname=R uptime=S cmdline=C` (anywhere in
    /// `line`).
    pub fn parse(line: &str, at: Duration) -> Option<GuestUp> {
        let rest = line.split(UP_MARKER).nth(1)?;
        let (head, cmdline) = rest.split_once(" cmdline=")?;
        let field = |name: &str| {
            head.split_whitespace()
                .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
        };
        Some(GuestUp {
            boot: field("boot")?.parse().ok()?,
            uname: field("uname")?.to_string(),
            uptime: field("uptime")?.parse().ok()?,
            cmdline: cmdline.trim_end().to_string(),
            at,
        })
    }
}

/// What the guest printed at the very end of a shutdown.
#[derive(Debug, Clone, PartialEq)]
pub struct GuestDown {
    /// What systemd-shutdown does next: `reboot`, `kexec`, `poweroff` or `halt`.
    pub verb: String,
    /// Seconds since the kernel started.
    pub uptime: f64,
    /// When the host saw the line, since the [`Guest`] started.
    pub at: Duration,
}

impl GuestDown {
    /// Parses `LEAPBOOT-GUEST-DOWN verb=V uptime=S` (anywhere in `line`).
    pub fn parse(line: &str, at: Duration) -> Option<GuestDown> {
        let rest = line.split(DOWN_MARKER).nth(1)?;
        let verb = rest
            .split_whitespace()
            .find_map(|w| w.strip_prefix("verb="))?;
        Some(GuestDown {
            verb: verb.to_string(),
            uptime: uptime_field(rest)?,
            at,
        })
    }
}

/// The value of the first `uptime=S` word in `line`.
fn uptime_field(line: &str) -> Option<f64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("uptime="))?
        .parse()
        .ok()
}

/// What a script run by the driver printed, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutput {
    /// The script's number in this [`Guest`].
    pub id: u64,
    /// Its exit status.
    pub status: i32,
    /// Its standard output and error, one line each.
    pub output: String,
}

/// A distribution image booted by its firmware (SeaBIOS or OVMF) under QEMU, driven
/// through its test driver (see the module docs). Dropping it kills QEMU.
pub struct Guest {
    vm: Vm,
    next_id: u64,
}

impl Guest {
    /// Boots `image` with its firmware, SeaBIOS or OVMF ([`OVMF_CODE`], and
    /// [`OVMF_VARS`] through the snapshot), serial console on stdio (with
    /// `graphics=off` SeaBIOS's banner is there too), on a `-snapshot` of its disk, with
    /// `extra_disks` (raw, read-only; [`test_disk`]) after it. Without `-no-reboot`: a
    /// reboot goes through the firmware again, as on a machine. The serial line goes
    /// to `serial_log`.
    pub fn boot(image: &DistroImage, extra_disks: &[&Path], serial_log: &Path) -> Result<Guest> {
        let accel = Accel::from_env()?;
        let mut cmd = Command::new(qemu_binary());
        cmd.args(["-no-user-config", "-nodefaults", "-name", "leapboot-distro"])
            .args(["-machine", "q35,graphics=off"]);
        if image.boot == BootKind::Uefi {
            for f in [OVMF_CODE, OVMF_VARS] {
                if !Path::new(f).is_file() {
                    return Err(Error::Missing(format!(
                        "{f} does not exist: install Debian's ovmf (scripts/setup)"
                    )));
                }
            }
            cmd.arg("-drive")
                .arg(format!(
                    "if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"
                ))
                .arg("-drive")
                .arg(format!("if=pflash,format=raw,unit=1,file={OVMF_VARS}"));
        }
        cmd.args(accel.args());
        cmd.args(["-m", "1024", "-display", "none", "-monitor", "none"])
            .args(["-serial", "stdio", "-snapshot"]);
        let mut disks = vec![(image.disk.as_path(), false)];
        disks.extend(extra_disks.iter().map(|d| (*d, true)));
        for (i, (disk, readonly)) in disks.into_iter().enumerate() {
            crate::vm::require_file(disk)?;
            let p = crate::vm::drive_path(disk)?;
            let ro = if readonly { ",readonly=on" } else { "" };
            cmd.arg("-drive")
                .arg(format!("file={p},format=raw,id=disk{i},if=virtio{ro}"));
        }
        Ok(Guest {
            vm: Vm::spawn(cmd, serial_log)?,
            next_id: 1,
        })
    }

    /// Waits for the next [`UP_MARKER`] line.
    pub fn wait_up(&mut self, timeout: Duration) -> Result<GuestUp> {
        let line = self.vm.wait_for(UP_MARKER, timeout)?;
        let at = self.vm.elapsed();
        GuestUp::parse(&line, at)
            .ok_or_else(|| Error::Invalid(format!("cannot read the driver's line {line:?}")))
    }

    /// Sends `script` (bash) to the driver without waiting for it; returns its id.
    /// For scripts that reboot: wait for [`wait_up`](Guest::wait_up) then.
    pub fn start(&mut self, script: &str) -> Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let line = format!("LBRUN {id} {}\n", base64(script.as_bytes()));
        if line.len() > MAX_COMMAND_LINE {
            return Err(Error::Invalid(format!(
                "script of {} bytes is too long for one terminal line",
                script.len()
            )));
        }
        self.vm.send(line.as_bytes())?;
        Ok(id)
    }

    /// Waits until the driver has started script `id`; the guest's uptime then.
    pub fn wait_started(&mut self, id: u64, timeout: Duration) -> Result<f64> {
        let line = self
            .vm
            .wait_for(&format!("LEAPBOOT-RUN {id} start"), timeout)?;
        uptime_field(&line)
            .ok_or_else(|| Error::Invalid(format!("cannot read the driver's line {line:?}")))
    }

    /// Waits for the next [`DOWN_MARKER`] line: the end of a shutdown.
    pub fn wait_down(&mut self, timeout: Duration) -> Result<GuestDown> {
        let line = self.vm.wait_for(DOWN_MARKER, timeout)?;
        let at = self.vm.elapsed();
        GuestDown::parse(&line, at)
            .ok_or_else(|| Error::Invalid(format!("cannot read the shutdown line {line:?}")))
    }

    /// Waits for script `id` to end; its output and exit status.
    pub fn wait_done(&mut self, id: u64, timeout: Duration) -> Result<RunOutput> {
        let line = self.vm.wait_for(&format!("LEAPBOOT-RC {id} "), timeout)?;
        let status = line
            .rsplit(' ')
            .next()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| Error::Invalid(format!("cannot read the exit status in {line:?}")))?;
        let prefix = format!("LEAPBOOT-OUT {id}: ");
        let output = self
            .vm
            .lines()
            .iter()
            .filter_map(|l| l.split_once(&prefix).map(|(_, rest)| rest.to_string()))
            .collect::<Vec<_>>()
            .join("\n");
        Ok(RunOutput { id, status, output })
    }

    /// Runs `script` (bash) in the guest and waits for it.
    pub fn run(&mut self, script: &str, timeout: Duration) -> Result<RunOutput> {
        let id = self.start(script)?;
        self.wait_done(id, timeout)
    }

    /// The serial output after the driver started script `id` (empty if it has not).
    pub fn log_since(&self, id: u64) -> String {
        let log = self.vm.log();
        let marker = format!("LEAPBOOT-RUN {id} start");
        match log.find(&marker) {
            Some(i) => log.get(i..).unwrap_or("").to_string(),
            None => String::new(),
        }
    }

    /// The VM, for waits and the log.
    pub fn vm(&mut self) -> &mut Vm {
        &mut self.vm
    }
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                let index = usize::try_from((n >> shift) & 63).unwrap_or(0);
                out.push(char::from(ALPHABET.get(index).copied().unwrap_or(b'=')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
    }

    #[test]
    fn kernel_versions_sort_newest_first() {
        let mut v = vec![
            "6.1.0-9-amd64",
            "6.1.0-57-amd64",
            "6.1.0-50-amd64",
            "5.10.0-30-amd64",
        ];
        v.sort_by(|a, b| version_cmp(b, a));
        assert_eq!(
            v,
            [
                "6.1.0-57-amd64",
                "6.1.0-50-amd64",
                "6.1.0-9-amd64",
                "5.10.0-30-amd64"
            ]
        );
    }

    #[test]
    fn the_up_line_is_read_with_a_command_line_of_many_words() {
        let up = GuestUp::parse(
            "\x1b[0mLEAPBOOT-GUEST-UP boot=2 uname=6.1.0-50-amd64 uptime=12.5 \
             cmdline=BOOT_IMAGE=/boot/vmlinuz-6.1.0-50-amd64 root=UUID=x ro leapboot.entry=a>b",
            Duration::from_secs(3),
        )
        .unwrap();
        assert_eq!(up.boot, 2);
        assert_eq!(up.uname, "6.1.0-50-amd64");
        assert!((up.uptime - 12.5).abs() < 1e-9);
        assert_eq!(
            up.cmdline,
            "BOOT_IMAGE=/boot/vmlinuz-6.1.0-50-amd64 root=UUID=x ro leapboot.entry=a>b"
        );
        assert!(GuestUp::parse("LEAPBOOT-GUEST-UP boot=x", Duration::ZERO).is_none());
        let down = GuestDown::parse(
            "LEAPBOOT-GUEST-DOWN verb=kexec uptime=61.02",
            Duration::from_secs(9),
        )
        .unwrap();
        assert_eq!(down.verb, "kexec");
        assert!((down.uptime - 61.02).abs() < 1e-9);
        assert_eq!(uptime_field("LEAPBOOT-RUN 3 start uptime=40.5"), Some(40.5));
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo(r"/a\040b\134c"), "/a b\\c");
        assert_eq!(unescape_mountinfo(r"/plain"), "/plain");
        assert_eq!(unescape_mountinfo(r"/odd\x"), "/odd\\x");
    }

    #[test]
    fn the_key_follows_the_recipe() {
        let a = Recipe::debian12_bios();
        let mut b = a.clone();
        assert_eq!(a.key(), b.key());
        b.files[0].1.push('\n');
        assert_ne!(a.key(), b.key());
        let mut c = a.clone();
        c.packages.push("less".into());
        assert_ne!(a.key(), c.key());
        assert!(a.check().is_ok());
    }
}
