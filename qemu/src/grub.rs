//! Real GRUB on test disks, for differential tests: Debian's `grub-pc-bin`
//! (GRUB 2.06 for BIOS, `i386-pc`) installed on a [`DiskImage`] without root,
//! loop devices or `grub-install`, and booted by SeaBIOS.
//!
//! `grub-install` makes `core.img` with `grub-mkimage`, copies the modules to
//! `$prefix/i386-pc` and runs `grub-bios-setup`, which embeds `core.img` in the
//! BIOS boot partition and writes `boot.img` to the MBR. Debian's
//! `grub-bios-setup` finds the root device from the host's mounted `/boot/grub`,
//! so it cannot target an image file; this module does its steps itself:
//!
//! 1. [`BiosGrub::core_image`]: `grub-mkimage -O i386-pc -p PREFIX` with the
//!    modules that read the prefix (disk, partition map, filesystem). The image
//!    is `diskboot.img` (one sector, ending in a blocklist of the sectors to
//!    load next) followed by the LZMA-compressed kernel and modules;
//!    `grub-mkimage` fills in the blocklist's length.
//! 2. [`BiosGrub::boot_partition`]: a 1 MiB BIOS boot partition (GPT type
//!    `ef02`) holding `core.img`, where `grub-bios-setup` embeds it on GPT.
//! 3. [`BiosGrub::with_modules`]: every `*.mod` and `*.lst` in `<dir>/i386-pc`
//!    of a partition, where normal mode loads modules from (`insmod`, and
//!    `normal.mod` itself).
//! 4. [`install`], once the image is written: what `grub-bios-setup` does when it
//!    embeds (`util/setup.c`): `boot.img` into sector 0, keeping the MBR's BPB
//!    and partition table; the LBA of `core.img`'s first sector at
//!    `GRUB_BOOT_MACHINE_KERNEL_SECTOR` (0x5c, 8 bytes); boot drive 0xff (the
//!    drive the BIOS booted from); the boot-drive check jump replaced by two
//!    `nop`s as for a hard disk; and in `diskboot.img` the first blocklist
//!    (`firstlist` in `grub-core/boot/i386/pc/diskboot.S`, the last 12 bytes of
//!    the sector: start LBA 8 bytes, sector count 2, segment 2) pointed at the
//!    sector after it. No Reed-Solomon redundancy is added (the field stays 0,
//!    as for a blocklist install).
//! 5. [`boot_bios`]: QEMU boots the disk with SeaBIOS (no `-kernel`), the
//!    serial console on stdio as [`Vm`] expects. Configs for it start with
//!    `serial --unit=0 --speed=115200; terminal_input serial; terminal_output
//!    serial` and a short `timeout`, so GRUB runs headless.
//!
//! [`grubenv`] makes an environment block with `grub-editenv`, and
//! [`read_grubenv`] reads back the one on an image, to see what GRUB's
//! `save_env` wrote.
//!
//! ```no_run
//! use leapboot_qemu::{DiskImage, Partition, grub::{self, BiosGrub}};
//! # fn main() -> leapboot_qemu::Result<()> {
//! let grub = BiosGrub::new("(hd0,gpt2)/boot/grub");
//! let root = Partition::linux_ext4(48, "root", "6e0a6a26-3d93-4f6b-9d3c-a3b1a4a4d001")
//!     .file("/boot/grub/grub.cfg", "serial --unit=0 --speed=115200\n...");
//! let image = DiskImage::gpt(0)
//!     .partition(grub.boot_partition()?)
//!     .partition(grub.with_modules(root, "/boot/grub")?);
//! let path = std::path::Path::new("/tmp/grub-disk.img");
//! image.write(path)?;
//! grub::install(&image, path)?;
//! let mut vm = grub::boot_bios(&[path], std::path::Path::new("/tmp/grub.log"))?;
//! vm.wait_for("Booting `", leapboot_qemu::default_timeout())?;
//! # Ok(())
//! # }
//! ```

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::disk::{DiskImage, Filesystem, PartType, Partition};
use crate::util::{TempDir, io_err, run};
use crate::vm::{Accel, Vm, qemu_binary};
use crate::{Error, Result};

/// Where Debian's `grub-pc-bin` puts the i386-pc images and modules.
pub const I386_PC_DIR: &str = "/usr/lib/grub/i386-pc";

/// Modules built into `core.img` by default: enough to read a prefix on an
/// ext2/3/4 filesystem in a GPT partition through the BIOS.
pub const CORE_MODULES: &[&str] = &["biosdisk", "part_gpt", "ext2"];

const SECTOR: u64 = 512;
const MIB: u64 = 1024 * 1024;

/// `GRUB_BOOT_MACHINE_BPB_START`/`_END` (`include/grub/i386/pc/boot.h`): the
/// DOS BPB, kept from the disk's sector 0.
const BPB: std::ops::Range<usize> = 0x03..0x5a;
/// `GRUB_BOOT_MACHINE_KERNEL_SECTOR`: LBA of `core.img`'s first sector, 8 bytes.
const KERNEL_SECTOR: usize = 0x5c;
/// `GRUB_BOOT_MACHINE_BOOT_DRIVE`: 0xff means "the drive in DL".
const BOOT_DRIVE: usize = 0x64;
/// `GRUB_BOOT_MACHINE_DRIVE_CHECK`: a 2-byte jump, `nop nop` on hard disks.
const DRIVE_CHECK: usize = 0x66;
/// `GRUB_BOOT_MACHINE_WINDOWS_NT_MAGIC` to `GRUB_BOOT_MACHINE_PART_END`: disk
/// signature and partition table, kept from the disk's sector 0.
const PART_TABLE: std::ops::Range<usize> = 0x1b8..0x1fe;
/// `firstlist` in `diskboot.S`: `0x200 - GRUB_BOOT_MACHINE_LIST_SIZE` (12).
const FIRSTLIST: usize = 0x1f4;

/// How to build GRUB for a disk: the prefix and the modules in `core.img`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BiosGrub {
    prefix: String,
    modules: Vec<String>,
    dir: PathBuf,
}

impl BiosGrub {
    /// GRUB with `$prefix` = `prefix` (for example `(hd0,gpt2)/boot/grub`),
    /// [`CORE_MODULES`] in `core.img`, images and modules from [`I386_PC_DIR`].
    pub fn new(prefix: &str) -> BiosGrub {
        BiosGrub {
            prefix: prefix.to_string(),
            modules: CORE_MODULES.iter().map(|m| m.to_string()).collect(),
            dir: PathBuf::from(I386_PC_DIR),
        }
    }

    /// Builds one more module into `core.img`.
    pub fn module(mut self, name: &str) -> BiosGrub {
        self.modules.push(name.to_string());
        self
    }

    /// Takes images and modules from `dir` instead of [`I386_PC_DIR`].
    pub fn from_dir(mut self, dir: impl Into<PathBuf>) -> BiosGrub {
        self.dir = dir.into();
        self
    }

    /// The prefix `core.img` is built with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn check_installed(&self) -> Result<()> {
        check_installed_in(&self.dir)
    }

    /// `core.img` from `grub-mkimage -O i386-pc -p PREFIX MODULES...`.
    pub fn core_image(&self) -> Result<Vec<u8>> {
        self.check_installed()?;
        let tmp = TempDir::new_in(&std::env::temp_dir(), "leapboot-grub-mkimage")?;
        let out = tmp.path().join("core.img");
        let mut cmd = Command::new("grub-mkimage");
        cmd.arg("-d")
            .arg(&self.dir)
            .args(["-O", "i386-pc", "-p"])
            .arg(&self.prefix)
            .arg("-o")
            .arg(&out)
            .args(&self.modules);
        run(&mut cmd)?;
        let core = std::fs::read(&out).map_err(io_err("cannot read", &out))?;
        check_core(&core, &self.dir)?;
        Ok(core)
    }

    /// A 1 MiB BIOS boot partition (GPT `ef02`, named `BIOS`) holding
    /// [`core_image`](BiosGrub::core_image).
    pub fn boot_partition(&self) -> Result<Partition> {
        let core = self.core_image()?;
        Ok(Partition::new(PartType::BiosBoot, 1, Filesystem::Bytes(core)).name("BIOS"))
    }

    /// `part` with GRUB's modules and lists (`*.mod`, `*.lst`) added under
    /// `<config_dir>/i386-pc`, as `grub-install` copies them next to `grub.cfg`.
    pub fn with_modules(&self, mut part: Partition, config_dir: &str) -> Result<Partition> {
        self.check_installed()?;
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .map_err(io_err("cannot list", &self.dir))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".mod") || n.ends_with(".lst"))
            .collect();
        names.sort();
        let dir = config_dir.trim_end_matches('/');
        for n in names {
            part = part.file_from(&format!("{dir}/i386-pc/{n}"), self.dir.join(&n));
        }
        Ok(part)
    }
}

/// Whether GRUB for i386-pc is installed: the images and modules in
/// [`I386_PC_DIR`], `grub-mkimage` and `grub-editenv`. The error says what is
/// missing and which packages provide it.
pub fn check_installed() -> Result<()> {
    check_installed_in(Path::new(I386_PC_DIR))
}

fn check_installed_in(dir: &Path) -> Result<()> {
    let hint = "install Debian's grub-pc-bin and grub-common (scripts/setup)";
    for f in ["boot.img", "diskboot.img", "kernel.img", "normal.mod"] {
        if !dir.join(f).is_file() {
            return Err(Error::Missing(format!(
                "{} does not exist: {hint}",
                dir.join(f).display()
            )));
        }
    }
    for tool in ["grub-mkimage", "grub-editenv"] {
        let found = Command::new(tool)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Err(Error::Missing(format!("{tool} does not run: {hint}")));
        }
    }
    Ok(())
}

/// Checks that `core` starts with this GRUB's `diskboot.img` and that its first
/// blocklist loads the rest of it.
fn check_core(core: &[u8], dir: &Path) -> Result<()> {
    let diskboot_path = dir.join("diskboot.img");
    let diskboot = std::fs::read(&diskboot_path).map_err(io_err("cannot read", &diskboot_path))?;
    let sector = core.get(..SECTOR as usize);
    let same_code = match (sector, diskboot.get(..FIRSTLIST)) {
        (Some(s), Some(d)) => s.get(..FIRSTLIST) == Some(d),
        _ => false,
    };
    if !same_code {
        return Err(Error::Invalid(format!(
            "core.img does not start with {}",
            diskboot_path.display()
        )));
    }
    let (_, len, _) = blocklist(core);
    let sectors = (core.len() as u64).div_ceil(SECTOR);
    if u64::from(len) + 1 != sectors {
        return Err(Error::Invalid(format!(
            "core.img is {sectors} sectors but its first blocklist loads {len} after diskboot"
        )));
    }
    Ok(())
}

/// The first blocklist of a `core.img` sector: (start LBA, sectors, segment).
fn blocklist(sector: &[u8]) -> (u64, u16, u16) {
    let mut start = [0u8; 8];
    let mut len = [0u8; 2];
    let mut seg = [0u8; 2];
    if let Some(b) = sector.get(FIRSTLIST..FIRSTLIST + 12) {
        start.copy_from_slice(&b[..8]);
        len.copy_from_slice(&b[8..10]);
        seg.copy_from_slice(&b[10..12]);
    }
    (
        u64::from_le_bytes(start),
        u16::from_le_bytes(len),
        u16::from_le_bytes(seg),
    )
}

/// Makes the disk written from `image` at `path` boot the `core.img` in its
/// BIOS boot partition (see the module docs, step 4).
pub fn install(image: &DiskImage, path: &Path) -> Result<()> {
    install_from(image, path, Path::new(I386_PC_DIR))
}

/// [`install`] with `boot.img` from `dir`.
pub fn install_from(image: &DiskImage, path: &Path, dir: &Path) -> Result<()> {
    let (number, part) = image
        .partitions()
        .iter()
        .enumerate()
        .find(|(_, p)| p.type_ == PartType::BiosBoot)
        .ok_or_else(|| Error::Invalid("the disk has no BIOS boot partition".into()))?;
    let Filesystem::Bytes(core) = &part.fs else {
        return Err(Error::Invalid(
            "the BIOS boot partition does not hold core.img (Filesystem::Bytes)".into(),
        ));
    };
    let offset = image
        .partition_offset(number + 1)
        .ok_or_else(|| Error::Invalid("BIOS boot partition has no offset".into()))?;
    let core_lba = offset / SECTOR;
    let core_sectors = (core.len() as u64).div_ceil(SECTOR);
    if core_sectors > part.size_mib * MIB / SECTOR {
        return Err(Error::Invalid(format!(
            "core.img ({core_sectors} sectors) does not fit in the {} MiB BIOS boot partition",
            part.size_mib
        )));
    }
    let boot_path = dir.join("boot.img");
    let boot = std::fs::read(&boot_path).map_err(io_err("cannot read", &boot_path))?;
    if boot.len() != SECTOR as usize || boot[0x1fe..] != [0x55, 0xaa] {
        return Err(Error::Invalid(format!(
            "{} is not a 512-byte boot sector",
            boot_path.display()
        )));
    }

    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err("cannot open", path))?;
    // diskboot.img: the sectors after it, loaded to the default segment (0x820).
    let mut first = [0u8; SECTOR as usize];
    file.read_exact_at(&mut first, offset)
        .map_err(io_err("cannot read", path))?;
    if first[..] != core[..SECTOR as usize] {
        return Err(Error::Invalid(format!(
            "{}: partition {} does not hold the core.img of the description",
            path.display(),
            number + 1
        )));
    }
    first[FIRSTLIST..FIRSTLIST + 8].copy_from_slice(&(core_lba + 1).to_le_bytes());
    let (start, len, _) = blocklist(&first);
    debug_assert_eq!((start, u64::from(len)), (core_lba + 1, core_sectors - 1));
    file.write_all_at(&first, offset)
        .map_err(io_err("cannot write", path))?;

    // boot.img over sector 0, with the disk's BPB and partition table.
    let mut mbr = [0u8; SECTOR as usize];
    file.read_exact_at(&mut mbr, 0)
        .map_err(io_err("cannot read", path))?;
    let mut sector0 = boot;
    sector0[BPB].copy_from_slice(&mbr[BPB]);
    sector0[PART_TABLE].copy_from_slice(&mbr[PART_TABLE]);
    sector0[KERNEL_SECTOR..KERNEL_SECTOR + 8].copy_from_slice(&core_lba.to_le_bytes());
    sector0[BOOT_DRIVE] = 0xff;
    sector0[DRIVE_CHECK..DRIVE_CHECK + 2].copy_from_slice(&[0x90, 0x90]);
    file.write_all_at(&sector0, 0)
        .map_err(io_err("cannot write", path))?;
    file.sync_all().map_err(io_err("cannot sync", path))?;
    Ok(())
}

/// Boots `disks` (raw images, virtio, writable, the first one is GRUB's `hd0`)
/// with SeaBIOS and no `-kernel`: the firmware runs the MBR's `boot.img`. The
/// serial console is captured to `serial_log` as for [`Vm::start`].
pub fn boot_bios(disks: &[&Path], serial_log: &Path) -> Result<Vm> {
    let accel = Accel::from_env()?;
    let mut cmd = Command::new(qemu_binary());
    cmd.args(["-no-user-config", "-nodefaults", "-name", "leapboot-grub"])
        .args(["-machine", "q35"]);
    cmd.args(accel.args());
    cmd.args(["-m", "1024", "-display", "none", "-monitor", "none"])
        .args(["-serial", "stdio", "-no-reboot"]);
    for (i, disk) in disks.iter().enumerate() {
        crate::vm::require_file(disk)?;
        let p = crate::vm::drive_path(disk)?;
        cmd.arg("-drive")
            .arg(format!("file={p},format=raw,id=disk{i},if=virtio"));
    }
    Vm::spawn(cmd, serial_log)
}

/// A GRUB environment block (`grubenv`, 1024 bytes) holding `vars` in order,
/// made with `grub-editenv FILE create` and `grub-editenv FILE set`.
pub fn grubenv(vars: &[(&str, &str)]) -> Result<Vec<u8>> {
    let tmp = TempDir::new_in(&std::env::temp_dir(), "leapboot-grubenv")?;
    let file = tmp.path().join("grubenv");
    run(Command::new("grub-editenv").arg(&file).arg("create"))?;
    for (k, v) in vars {
        run(Command::new("grub-editenv")
            .arg(&file)
            .arg("set")
            .arg(format!("{k}={v}")))?;
    }
    std::fs::read(&file).map_err(io_err("cannot read", &file))
}

/// Signature of an environment block (`GRUB_ENVBLK_SIGNATURE`).
pub const GRUBENV_SIGNATURE: &[u8] = b"# GRUB Environment Block\n";

/// The variables of the first environment block found on the disk image at
/// `path` (a 1024-byte block starting on a sector boundary with
/// [`GRUBENV_SIGNATURE`]), in order; `None` if there is none. For checking what
/// `save_env` wrote: GRUB rewrites the block in place.
pub fn read_grubenv(path: &Path) -> Result<Option<Vec<(String, String)>>> {
    let file = std::fs::File::open(path).map_err(io_err("cannot open", path))?;
    let len = file.metadata().map_err(io_err("cannot stat", path))?.len();
    let mut buf = vec![0u8; MIB as usize];
    let mut pos = 0u64;
    while pos < len {
        let n = buf.len().min((len - pos) as usize);
        file.read_exact_at(&mut buf[..n], pos)
            .map_err(io_err("cannot read", path))?;
        for s in (0..n).step_by(SECTOR as usize) {
            if buf[s..n].starts_with(GRUBENV_SIGNATURE) {
                let mut block = vec![0u8; 1024];
                file.read_exact_at(&mut block, pos + s as u64)
                    .map_err(io_err("cannot read", path))?;
                return Ok(Some(parse_grubenv(&block)));
            }
        }
        pos += n as u64;
    }
    Ok(None)
}

/// `name=value` lines of an environment block, as `grub_envblk_iterate` reads
/// them (`lib/envblk.c`): lines starting with `#` (the signature, the `#`
/// padding) are skipped, and `\` takes the next byte literally, so an escaped
/// newline belongs to the value.
fn parse_grubenv(block: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut bytes = block.iter().copied();
    let mut line = Vec::new();
    let mut at_start = true;
    let mut comment = false;
    while let Some(b) = bytes.next() {
        if at_start {
            at_start = false;
            comment = b == b'#';
        }
        match b {
            b'\\' if !comment => {
                if let Some(n) = bytes.next() {
                    line.push(n);
                }
            }
            b'\n' => {
                if !comment {
                    push_var(&mut out, &line);
                }
                line.clear();
                at_start = true;
            }
            _ if !comment => line.push(b),
            _ => {}
        }
    }
    if !comment {
        push_var(&mut out, &line);
    }
    out
}

fn push_var(out: &mut Vec<(String, String)>, line: &[u8]) {
    let line = String::from_utf8_lossy(line);
    if let Some((k, v)) = line.split_once('=') {
        out.push((k.to_string(), v.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grubenv_blocks_parse() {
        let mut block = GRUBENV_SIGNATURE.to_vec();
        block.extend_from_slice(b"saved_entry=a>b\nnext_entry=\nx=back\\\\slash\\\nline\n");
        block.resize(1024, b'#');
        assert_eq!(
            parse_grubenv(&block),
            [
                ("saved_entry".to_string(), "a>b".to_string()),
                ("next_entry".to_string(), String::new()),
                ("x".to_string(), "back\\slash\nline".to_string()),
            ]
        );
    }

    /// GRUB installed (or a skip notice; a failure with `LEAPBOOT_REQUIRE_QEMU=1`,
    /// whose scripts install GRUB with QEMU).
    fn grub_or_skip(test: &str) -> bool {
        let Err(e) = check_installed() else {
            return true;
        };
        if crate::util::env_nonempty("LEAPBOOT_REQUIRE_QEMU").as_deref() == Some("1") {
            panic!("{test}: LEAPBOOT_REQUIRE_QEMU=1 but {e}");
        }
        eprintln!("SKIPPED {test}: {e}");
        false
    }

    /// The bytes `install` writes, read back: boot.img's fields and the first
    /// blocklist, with the MBR's partition table kept; and a grubenv made by
    /// grub-editenv found again on the disk.
    #[test]
    fn install_points_boot_img_at_core_img() {
        if !grub_or_skip("install_points_boot_img_at_core_img") {
            return;
        }
        let grub = BiosGrub::new("(hd0,gpt2)/boot/grub");
        let env = grubenv(&[("saved_entry", "a>b"), ("odd", "back\\slash")]).unwrap();
        let image = DiskImage::gpt(0)
            .partition(grub.boot_partition().unwrap())
            .partition(
                Partition::linux_ext4(8, "root", "6e0a6a26-3d93-4f6b-9d3c-a3b1a4a4d001")
                    .file("/boot/grub/grubenv", env),
            );
        let tmp = TempDir::new_in(&std::env::temp_dir(), "leapboot-grub-install-test").unwrap();
        let path = tmp.path().join("disk.img");
        image.write(&path).unwrap();
        let before = std::fs::read(&path).unwrap();
        install(&image, &path).unwrap();
        let after = std::fs::read(&path).unwrap();

        let boot = std::fs::read(Path::new(I386_PC_DIR).join("boot.img")).unwrap();
        let core_lba = image.partition_offset(1).unwrap() / SECTOR;
        assert_eq!(core_lba, 2048);
        let sector0 = &after[..512];
        assert_eq!(&sector0[..3], &boot[..3], "boot.img's jump");
        assert_eq!(&sector0[0x5a..0x5c], &boot[0x5a..0x5c]);
        assert_eq!(
            &sector0[KERNEL_SECTOR..KERNEL_SECTOR + 8],
            &2048u64.to_le_bytes()
        );
        assert_eq!(sector0[BOOT_DRIVE], 0xff);
        assert_eq!(&sector0[DRIVE_CHECK..DRIVE_CHECK + 2], &[0x90, 0x90]);
        assert_eq!(
            &sector0[0x68..PART_TABLE.start],
            &boot[0x68..PART_TABLE.start]
        );
        assert_eq!(
            &sector0[PART_TABLE], &before[PART_TABLE],
            "partition table kept"
        );
        assert_eq!(&sector0[BPB], &before[BPB], "BPB kept");
        assert_eq!(&sector0[0x1fe..], &[0x55, 0xaa]);

        let core_start = (core_lba * SECTOR) as usize;
        let core = grub.core_image().unwrap();
        let sectors = (core.len() as u64).div_ceil(SECTOR);
        let first = &after[core_start..core_start + 512];
        assert_eq!(blocklist(first), (2049, (sectors - 1) as u16, 0x820));
        // The rest of core.img is where the blocklist says, unchanged.
        assert_eq!(
            &after[core_start + 512..core_start + core.len()],
            &core[512..]
        );
        // Nothing but sector 0 and core.img's first sector changed.
        let changed: Vec<usize> = (0..after.len() / 512)
            .filter(|&i| after[i * 512..(i + 1) * 512] != before[i * 512..(i + 1) * 512])
            .collect();
        assert_eq!(changed, [0, 2048]);

        assert_eq!(
            read_grubenv(&path).unwrap().unwrap(),
            [
                ("saved_entry".to_string(), "a>b".to_string()),
                ("odd".to_string(), "back\\slash".to_string()),
            ]
        );
    }

    #[test]
    fn blocklist_fields() {
        let mut s = vec![0u8; 512];
        s[FIRSTLIST..FIRSTLIST + 12]
            .copy_from_slice(&[9, 8, 0, 0, 0, 0, 0, 0, 0x34, 0, 0x20, 0x08]);
        assert_eq!(blocklist(&s), (0x809, 0x34, 0x820));
    }
}
