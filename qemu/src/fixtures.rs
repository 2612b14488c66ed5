//! Disk images with stacked storage, made by the real tools: LVM2 (`pvcreate`,
//! `vgcreate`, `lvcreate`), mdadm RAID arrays (metadata 1.2, 1.0 and 0.90) and LUKS
//! (`cryptsetup luksFormat`), for the tests of leapboot's user-space readers.
//!
//! The host kernel may have loop devices but no device-mapper and no md driver, and
//! `lvcreate`, `mdadm --create` and `mke2fs` on an LV or array need both. So the LVM
//! and RAID images are made inside a QEMU guest: the cached Debian kernel
//! ([`debian_kernel`](crate::debian_kernel)) boots an initramfs holding the host's
//! `busybox` (Debian's `busybox-static`), `mdadm`, `lvm` and `mke2fs` with the shared
//! libraries `ldd` names, the kernel modules they need (with their `modules.dep`
//! closure), the file trees to put in the filesystems, and a shell script as `/init`
//! ([`GUEST_SCRIPT`]) that creates the arrays and volume groups on the virtio disks
//! (image files partitioned on the host with `sgdisk`), makes the filesystems, stops
//! everything, syncs and powers off. LUKS needs no kernel for formatting: its image
//! is made on the host.
//!
//! The images are cached under `<cache>/fixtures/stacked-<hash>/` (the cache of
//! [`debian_kernel`](crate::debian_kernel)), keyed by a hash of the recipe (this
//! module's version, the guest script, the disk layouts, the kernel and the tools'
//! versions): prepared in a temporary directory beside it, renamed into place only
//! when complete, under an exclusive lock, so parallel tests build them once.
//!
//! | image | layout |
//! | --- | --- |
//! | `lvm-a.img` (128 MiB) | GPT: 1 BIOS boot, 2 PV `pv0` of VG `debian-vg`: LVs `root` (ext4, `/boot/loader/entries/debian-lvm.conf`, `/boot/vmlinuz-6.1.0-lvm`), `swap`, half of `data`, the snapshot `root-snap`, one leg of the RAID1 LV `mirror`, the thin pool `pool` with thin LV `thin` |
//! | `lvm-b.img` (64 MiB) | GPT: 1 PV `pv1`: the other half of `data` (striped, 2 stripes of 64 KiB; ext4 with [`STRIPED_FILE`]), the other leg of `mirror` |
//! | `raid-a.img`, `raid-b.img` (92, 100 MiB) | GPT: 1 RAID1 metadata 1.2 (`boot12`, 32 MiB: room for a real kernel, see [`RAID12_PARTITION_MIB`]), 2 RAID1 metadata 1.0 (`boot10`), 3 RAID1 metadata 0.90, 4 RAID0 (`scratch`), 12 MiB each; each RAID1 holds ext4 with a BLS entry |
//! | `luks.img` (64 MiB) | GPT: 1 ext4 with a BLS entry, 2 LUKS2 (label `cryptroot`), 3 LUKS1 |

use std::path::{Path, PathBuf};
use std::process::Command;

use leapboot_initramfs::Archive;

use crate::disk::{DiskImage, Filesystem, PartType, Partition};
use crate::hostfs::find_program;
use crate::kernel::{Kernel, cache_dir, debian_kernel};
use crate::util::{FileLock, Fnv64, TempDir, env_nonempty, io_err, run, splitmix64};
use crate::vm::{DiskSpec, Vm, VmConfig, default_timeout, qemu_available};
use crate::{Error, Result};

/// Raised when the images change in a way the hash of the recipe does not see.
const RECIPE_VERSION: &str = "stacked-2";

/// ext4 UUID of the LV `debian-vg/root`.
pub const LVM_ROOT_UUID: &str = "6c5b1b0e-1b6a-4d0e-9a51-000000000a01";
/// ext4 UUID of the striped LV `debian-vg/data`.
pub const LVM_DATA_UUID: &str = "6c5b1b0e-1b6a-4d0e-9a51-000000000a02";
/// ext4 UUIDs of the RAID1 arrays with metadata 1.2, 1.0 and 0.90.
pub const RAID_FS_UUIDS: [&str; 3] = [
    "6c5b1b0e-1b6a-4d0e-9a51-000000000b12",
    "6c5b1b0e-1b6a-4d0e-9a51-000000000b10",
    "6c5b1b0e-1b6a-4d0e-9a51-000000000b09",
];
/// Size of partition 1 of the RAID disks, the metadata 1.2 array's member: large
/// enough that `tests/tests/raid.rs` can add a real Debian kernel (8 MiB) and a
/// target initrd to its ext4 (the other members are 12 MiB).
pub const RAID12_PARTITION_MIB: u64 = 32;
/// md array UUIDs (as `mdadm --uuid` takes them) of the arrays on partitions 1 to 4.
pub const RAID_ARRAY_UUIDS: [&str; 4] = [
    "a1a1a1a1:00000000:00000000:00000012",
    "a1a1a1a1:00000000:00000000:00000010",
    "a1a1a1a1:00000000:00000000:00000009",
    "a1a1a1a1:00000000:00000000:000000f0",
];
/// ext4 UUID of the plain partition beside the LUKS ones.
pub const LUKS_PLAIN_UUID: &str = "6c5b1b0e-1b6a-4d0e-9a51-000000000c01";
/// UUID of the LUKS2 partition.
pub const LUKS2_UUID: &str = "5a9a7c3e-0000-4000-8000-000000000002";
/// Label of the LUKS2 partition.
pub const LUKS2_LABEL: &str = "cryptroot";
/// UUID of the LUKS1 partition.
pub const LUKS1_UUID: &str = "5a9a7c3e-0000-4000-8000-000000000001";
/// Path of the file on the striped LV whose bytes are [`striped_file_contents`].
pub const STRIPED_FILE: &str = "/striped.bin";
/// Length of [`STRIPED_FILE`]: 1 MiB, 16 stripes of 64 KiB.
pub const STRIPED_FILE_LEN: usize = 1 << 20;

/// The BLS entries, as (entry id, title) of each layout's filesystem.
pub const ENTRIES: [(&str, &str); 5] = [
    ("debian-lvm", "Debian on LVM"),
    ("raid12", "RAID1 metadata 1.2"),
    ("raid10", "RAID1 metadata 1.0"),
    ("raid090", "RAID1 metadata 0.90"),
    ("plain", "Plain beside LUKS"),
];

/// The cached fixture images (see the module docs for their layouts).
#[derive(Debug, Clone)]
pub struct StackedImages {
    /// The directory holding them.
    pub dir: PathBuf,
}

impl StackedImages {
    /// Debian guided-LVM-like disk: PV on partition 2.
    pub fn lvm_a(&self) -> PathBuf {
        self.dir.join("lvm-a.img")
    }
    /// The second PV's disk (the striped LV's other half).
    pub fn lvm_b(&self) -> PathBuf {
        self.dir.join("lvm-b.img")
    }
    /// The first RAID disk.
    pub fn raid_a(&self) -> PathBuf {
        self.dir.join("raid-a.img")
    }
    /// The second RAID disk.
    pub fn raid_b(&self) -> PathBuf {
        self.dir.join("raid-b.img")
    }
    /// The LUKS disk.
    pub fn luks(&self) -> PathBuf {
        self.dir.join("luks.img")
    }
    /// The guest's serial log from when the images were made.
    pub fn build_log(&self) -> PathBuf {
        self.dir.join("build.log")
    }
}

/// The bytes of [`STRIPED_FILE`]: pseudo-random, so every stripe differs.
pub fn striped_file_contents() -> Vec<u8> {
    let mut state = 0x5eed_0f5e_7f1e_u64;
    let mut out = Vec::with_capacity(STRIPED_FILE_LEN);
    while out.len() < STRIPED_FILE_LEN {
        out.extend_from_slice(&splitmix64(&mut state).to_le_bytes());
    }
    out.truncate(STRIPED_FILE_LEN);
    out
}

/// A fake kernel image: what an entry's `linux` line names (never booted here).
fn fake_kernel(name: &str) -> Vec<u8> {
    let mut out = format!("not a real kernel: {name}\n").into_bytes();
    out.resize(64 * 1024, 0x5a);
    out
}

fn bls_entry(title: &str, kernel: &str, options: &str) -> String {
    format!("title {title}\nversion 6.1.0\nlinux {kernel}\noptions {options}\n")
}

/// The guest's `/init`: `@MODULES@` is replaced by the module paths in load order,
/// `@VERSION@` by the kernel release.
pub const GUEST_SCRIPT: &str = r#"#!/bin/busybox sh
/bin/busybox mkdir -p /bin /proc /sys /dev /tmp /run/lock/lvm /run/lvm /run/mdadm
/bin/busybox --install -s /bin
export PATH=/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "LEAPBOOT-FIXTURE: $*"; }
fail() { echo "LEAPBOOT-FIXTURE-FAILED: $*"; sync; poweroff -f; sleep 60; }
run() {
  say "+ $*"
  "$@" </dev/null >/tmp/out 2>&1 || { cat /tmp/out; fail "$*"; }
}
yes_run() {
  say "+ $*"
  yes | "$@" >/tmp/out 2>&1 || { cat /tmp/out; fail "$*"; }
}
for m in @MODULES@; do
  insmod /lib/modules/@VERSION@/$m || fail "insmod $m"
done
i=0
while [ ! -b /dev/vdd4 ]; do
  i=$((i + 1)); [ $i -gt 300 ] && fail "the disks did not appear"; sleep 0.1
done
# Host programs by their full paths: busybox sh prefers its own applets (mke2fs).
# The disks, checked by size: vda lvm-a 128 MiB, vdb lvm-b 64, vdc raid-a 92, vdd raid-b 100.
for d in vda:262144 vdb:131072 vdc:188416 vdd:204800; do
  [ "$(cat /sys/block/${d%%:*}/size)" = "${d##*:}" ] || fail "${d%%:*} is not the expected disk"
done

say "LVM"
run /sbin/lvm pvcreate -y -ff /dev/vda2 /dev/vdb1
run /sbin/lvm vgcreate -s 4m debian-vg /dev/vda2 /dev/vdb1
run /sbin/lvm lvcreate -y -W n -L 32m -n root debian-vg /dev/vda2
run /sbin/lvm lvcreate -y -W n -L 8m -n swap debian-vg /dev/vda2
run /sbin/lvm lvcreate -y -W n -i 2 -I 64k -L 16m -n data debian-vg /dev/vda2 /dev/vdb1
run /sbin/mke2fs -q -F -t ext4 -U @LVM_ROOT_UUID@ -L root -d /fixture/lvm-root /dev/mapper/debian--vg-root
run mkswap /dev/mapper/debian--vg-swap
run /sbin/mke2fs -q -F -t ext4 -U @LVM_DATA_UUID@ -L data -d /fixture/lvm-data /dev/mapper/debian--vg-data
run /sbin/lvm lvcreate -y -s -L 4m -n root-snap debian-vg/root
run /sbin/lvm lvcreate -y -W n --type raid1 -m 1 -L 4m -n mirror debian-vg /dev/vda2 /dev/vdb1
run /sbin/lvm lvcreate -y --type thin-pool -L 8m -n pool debian-vg /dev/vda2
run /sbin/lvm lvcreate -y -V 16m --thinpool debian-vg/pool -n thin
run /sbin/lvm vgchange -a n debian-vg

say "RAID"
yes_run /sbin/mdadm --create /dev/md0 --run --assume-clean --metadata=1.2 --level=1 --raid-devices=2 --name=boot12 --homehost=fixture --uuid=@RAID_UUID_0@ /dev/vdc1 /dev/vdd1
yes_run /sbin/mdadm --create /dev/md1 --run --assume-clean --metadata=1.0 --level=1 --raid-devices=2 --name=boot10 --homehost=fixture --uuid=@RAID_UUID_1@ /dev/vdc2 /dev/vdd2
yes_run /sbin/mdadm --create /dev/md2 --run --assume-clean --metadata=0.90 --level=1 --raid-devices=2 --uuid=@RAID_UUID_2@ /dev/vdc3 /dev/vdd3
yes_run /sbin/mdadm --create /dev/md3 --run --assume-clean --metadata=1.2 --level=0 --chunk=64 --raid-devices=2 --name=scratch --homehost=fixture --uuid=@RAID_UUID_3@ /dev/vdc4 /dev/vdd4
run /sbin/mke2fs -q -F -t ext4 -U @RAID_FS_UUID_0@ -L boot12 -d /fixture/raid12 /dev/md0
run /sbin/mke2fs -q -F -t ext4 -U @RAID_FS_UUID_1@ -L boot10 -d /fixture/raid10 /dev/md1
run /sbin/mke2fs -q -F -t ext4 -U @RAID_FS_UUID_2@ -L boot090 -d /fixture/raid090 /dev/md2
run /sbin/mke2fs -q -F -t ext4 -L scratch /dev/md3
run /sbin/mdadm --stop /dev/md0 /dev/md1 /dev/md2 /dev/md3
sync
say "DONE"
echo "LEAPBOOT-FIXTURE-DONE"
poweroff -f
sleep 60
"#;

/// `/etc/lvm/lvm.conf` in the guest: no udev, no daemons, no backups.
const LVM_CONF: &str = "\
devices {
    obtain_device_list_from_udev = 0
    external_device_info_source = \"none\"
    use_devicesfile = 0
}
activation {
    udev_sync = 0
    udev_rules = 0
    monitoring = 0
}
global {
    use_lvmpolld = 0
    event_activation = 0
    thin_check_executable = \"\"
}
backup {
    backup = 0
    archive = 0
}
";

/// Kernel modules the guest loads (with their dependencies).
const MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_blk",
    "crc32c_generic",
    "md_mod",
    "raid0",
    "raid1",
    "dm_mod",
    "dm_snapshot",
    "dm_raid",
    "dm_thin_pool",
];

/// Host programs copied into the guest, with the shared libraries `ldd` names.
const PROGRAMS: &[&str] = &["mdadm", "lvm", "mke2fs"];

/// The host tools the images need, each as (program, Debian package).
pub const TOOLS: &[(&str, &str)] = &[
    ("busybox", "busybox-static"),
    ("mdadm", "mdadm"),
    ("lvm", "lvm2"),
    ("mke2fs", "e2fsprogs"),
    ("cryptsetup", "cryptsetup-bin"),
    ("sgdisk", "gdisk"),
];

/// What is missing to build the images: QEMU and each tool, with its package.
pub fn missing_tools() -> Vec<String> {
    let mut out = Vec::new();
    if !qemu_available() {
        out.push("qemu-system-x86_64 (package qemu-system-x86)".to_string());
    }
    for (program, package) in TOOLS {
        if find_program(program).is_none() {
            out.push(format!("{program} (package {package})"));
        }
    }
    out
}

/// Test helper: the images, built on first use; `None` with a notice naming `test`
/// when QEMU or a tool is missing, or, with `LEAPBOOT_REQUIRE_QEMU=1`, a panic that
/// fails the test. A build that fails for any other reason panics with its error.
pub fn stacked_or_skip(test: &str) -> Option<StackedImages> {
    let missing = missing_tools();
    if !missing.is_empty() {
        let what = missing.join(", ");
        if env_nonempty("LEAPBOOT_REQUIRE_QEMU").as_deref() == Some("1") {
            panic!(
                "{test}: cannot build the stacked-storage images without {what} and \
                 LEAPBOOT_REQUIRE_QEMU=1; run scripts/setup"
            );
        }
        eprintln!(
            "SKIPPED {test}: cannot build the stacked-storage images without {what} \
             (set LEAPBOOT_REQUIRE_QEMU=1 to make this a failure; scripts/setup installs them)"
        );
        return None;
    }
    match stacked_images() {
        Ok(images) => Some(images),
        Err(e) => panic!("{test}: building the stacked-storage images failed: {e}"),
    }
}

/// The images, from the cache or built now (a minute or two under TCG).
pub fn stacked_images() -> Result<StackedImages> {
    let kernel = debian_kernel()?;
    let base = cache_dir().join("fixtures");
    let recipe = Recipe::new(&kernel)?;
    let dir = base.join(format!("stacked-{:016x}", recipe.hash()));
    let images = StackedImages { dir: dir.clone() };
    if is_complete(&images) {
        return Ok(images);
    }
    std::fs::create_dir_all(&base).map_err(io_err("cannot create directory", &base))?;
    let _lock = FileLock::acquire(&base.join(".lock"))?;
    if is_complete(&images) {
        return Ok(images);
    }
    let tmp = TempDir::new_in(&base, "stacked")?;
    recipe.build(tmp.path())?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(io_err("cannot remove incomplete", &dir))?;
    }
    std::fs::rename(tmp.path(), &dir).map_err(io_err("cannot rename into place", &dir))?;
    Ok(images)
}

fn is_complete(images: &StackedImages) -> bool {
    [
        images.lvm_a(),
        images.lvm_b(),
        images.raid_a(),
        images.raid_b(),
        images.luks(),
    ]
    .iter()
    .all(|p| p.is_file())
}

/// Everything the images depend on.
struct Recipe {
    kernel: Kernel,
    script: String,
    disks: Vec<(&'static str, DiskImage)>,
    luks: DiskImage,
    tool_versions: String,
}

impl Recipe {
    fn new(kernel: &Kernel) -> Result<Recipe> {
        let mut script = GUEST_SCRIPT
            .replace("@VERSION@", &kernel.version)
            .replace("@LVM_ROOT_UUID@", LVM_ROOT_UUID)
            .replace("@LVM_DATA_UUID@", LVM_DATA_UUID);
        for (i, u) in RAID_ARRAY_UUIDS.iter().enumerate() {
            script = script.replace(&format!("@RAID_UUID_{i}@"), u);
        }
        for (i, u) in RAID_FS_UUIDS.iter().enumerate() {
            script = script.replace(&format!("@RAID_FS_UUID_{i}@"), u);
        }
        let linux_raid = || PartType::Custom {
            gpt: "fd00".into(),
            mbr: 0xfd,
        };
        let raid_disk = |size| {
            (1..=4).fold(DiskImage::gpt(size), |d, n| {
                let mib = if n == 1 { RAID12_PARTITION_MIB } else { 12 };
                d.partition(Partition::raw(linux_raid(), mib).name(&format!("raid{n}")))
            })
        };
        let lvm = || PartType::Custom {
            gpt: "8e00".into(),
            mbr: 0x8e,
        };
        let disks = vec![
            (
                "lvm-a.img",
                DiskImage::gpt(128)
                    .partition(Partition::raw(PartType::BiosBoot, 1))
                    .partition(Partition::raw(lvm(), 0).name("pv0")),
            ),
            (
                "lvm-b.img",
                DiskImage::gpt(64).partition(Partition::raw(lvm(), 0).name("pv1")),
            ),
            ("raid-a.img", raid_disk(92)),
            ("raid-b.img", raid_disk(100)),
        ];
        let (plain_id, plain_title) = ENTRIES[4];
        let luks = DiskImage::gpt(64)
            .partition(
                Partition::linux_ext4(16, "plain", LUKS_PLAIN_UUID)
                    .file(
                        &format!("loader/entries/{plain_id}.conf"),
                        bls_entry(plain_title, "/vmlinuz-6.1.0-plain", "root=LABEL=plain"),
                    )
                    .file("vmlinuz-6.1.0-plain", fake_kernel("plain")),
            )
            .partition(Partition::raw(PartType::Linux, 24).name("cryptroot"))
            .partition(Partition::raw(PartType::Linux, 8).name("cryptold"));
        let mut versions = String::new();
        for (program, arg) in [
            ("mdadm", "--version"),
            ("lvm", "version"),
            ("cryptsetup", "--version"),
        ] {
            let out = Command::new(find_program(program).unwrap_or_else(|| program.into()))
                .arg(arg)
                .output();
            if let Ok(o) = out {
                versions.push_str(&String::from_utf8_lossy(&o.stdout));
                versions.push_str(&String::from_utf8_lossy(&o.stderr));
            }
        }
        // lvm complains about inherited descriptors on stderr; only its versions count.
        let tool_versions = versions
            .lines()
            .filter(|l| l.contains("version") || l.contains(" v"))
            .collect::<Vec<_>>()
            .join("\n");
        Ok(Recipe {
            kernel: kernel.clone(),
            script,
            disks,
            luks,
            tool_versions,
        })
    }

    fn hash(&self) -> u64 {
        let mut h = Fnv64::new();
        h.field(RECIPE_VERSION.as_bytes());
        h.field(self.kernel.version.as_bytes());
        h.field(self.script.as_bytes());
        h.field(LVM_CONF.as_bytes());
        h.field(MODULES.join(",").as_bytes());
        h.field(format!("{:?}", self.disks).as_bytes());
        h.field(format!("{:?}", self.luks).as_bytes());
        h.field(self.tool_versions.as_bytes());
        h.finish()
    }

    /// Builds every image into `dir`.
    fn build(&self, dir: &Path) -> Result<()> {
        for (name, disk) in &self.disks {
            disk.write(&dir.join(name))?;
        }
        self.build_luks(dir)?;
        let initrd = dir.join("guest.cpio.gz");
        std::fs::write(&initrd, self.guest_initramfs()?)
            .map_err(io_err("cannot write", &initrd))?;
        let log = dir.join("build.log");
        let mut config = VmConfig::new(&self.kernel.vmlinuz, &initrd)
            .append("console=ttyS0,115200 panic=-1 loglevel=3")
            .serial_log(&log);
        for (name, _) in &self.disks {
            config = config.disk(DiskSpec::virtio(dir.join(name)));
        }
        let mut vm = Vm::start(config)?;
        let timeout = default_timeout() * 5;
        let (which, line) = vm.wait_for_first(
            &["LEAPBOOT-FIXTURE-DONE", "LEAPBOOT-FIXTURE-FAILED"],
            timeout,
        )?;
        if which == 1 {
            let _ = vm.kill();
            return Err(Error::Invalid(format!(
                "the fixture guest failed: {line}\n{}",
                tail(&vm.log(), 40)
            )));
        }
        vm.wait_exit(default_timeout())?;
        std::fs::remove_file(&initrd).map_err(io_err("cannot remove", &initrd))?;
        Ok(())
    }

    /// `luks.img`: an ext4 partition with an entry beside a LUKS2 and a LUKS1 one,
    /// their headers written by `cryptsetup luksFormat` into image files.
    fn build_luks(&self, dir: &Path) -> Result<()> {
        let header = |kind: &str, uuid: &str, label: Option<&str>, mib: u64| -> Result<Vec<u8>> {
            let file = dir.join(format!("{kind}.hdr"));
            let f = std::fs::File::create(&file).map_err(io_err("cannot create", &file))?;
            f.set_len(mib << 20)
                .map_err(io_err("cannot resize", &file))?;
            drop(f);
            let key = dir.join("key");
            std::fs::write(&key, "leapboot-fixture").map_err(io_err("cannot write", &key))?;
            let mut cmd = Command::new("cryptsetup");
            cmd.args(["luksFormat", "--type", kind, "--batch-mode"])
                .args(["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"])
                .args(["--uuid", uuid, "--key-file"])
                .arg(&key);
            if let Some(l) = label {
                cmd.args(["--label", l]);
            }
            cmd.arg(&file);
            run(&mut cmd)?;
            let bytes = std::fs::read(&file).map_err(io_err("cannot read", &file))?;
            std::fs::remove_file(&file).map_err(io_err("cannot remove", &file))?;
            std::fs::remove_file(&key).map_err(io_err("cannot remove", &key))?;
            Ok(bytes)
        };
        let luks2 = header("luks2", LUKS2_UUID, Some(LUKS2_LABEL), 20)?;
        let luks1 = header("luks1", LUKS1_UUID, None, 4)?;
        let mut image = DiskImage::gpt(64);
        for (i, p) in self.luks.partitions().iter().enumerate() {
            let p = match i {
                1 => p.clone().fs(Filesystem::Bytes(luks2.clone())),
                2 => p.clone().fs(Filesystem::Bytes(luks1.clone())),
                _ => p.clone(),
            };
            image = image.partition(p);
        }
        image.write(&dir.join("luks.img"))
    }

    /// The guest's initramfs: busybox, the programs and their libraries, modules,
    /// the file trees for the filesystems, `/etc/lvm/lvm.conf` and `/init`.
    fn guest_initramfs(&self) -> Result<Vec<u8>> {
        let mut a = Archive::new();
        for d in ["dev", "proc", "sys", "tmp", "run", "sbin", "etc/lvm"] {
            a.add_dir(d, 0o755)?;
        }
        a.add_char_device("dev/console", 0o600, 5, 1)?;
        let busybox = find_program("busybox")
            .ok_or_else(|| Error::Missing("busybox (package busybox-static)".into()))?;
        if !crate::is_static_elf(&busybox)? {
            return Err(Error::Missing(format!(
                "{} is not a static binary: install busybox-static",
                busybox.display()
            )));
        }
        let bb = std::fs::read(&busybox).map_err(io_err("cannot read", &busybox))?;
        a.add_file("bin/busybox", 0o755, bb)?;
        let mut libs = std::collections::BTreeSet::new();
        for program in PROGRAMS {
            let path = find_program(program)
                .ok_or_else(|| Error::Missing(format!("{program} is not installed")))?;
            let data = std::fs::read(&path).map_err(io_err("cannot read", &path))?;
            a.add_file(&format!("sbin/{program}"), 0o755, data)?;
            libs.extend(shared_libraries(&path)?);
        }
        for lib in libs {
            let data = std::fs::read(&lib).map_err(io_err("cannot read", &lib))?;
            let rel = lib.to_string_lossy().trim_start_matches('/').to_string();
            a.add_file(&rel, 0o755, data)?;
        }
        if Path::new("/etc/mke2fs.conf").is_file() {
            let conf = std::fs::read("/etc/mke2fs.conf")
                .map_err(io_err("cannot read", "/etc/mke2fs.conf"))?;
            a.add_file("etc/mke2fs.conf", 0o644, conf)?;
        }
        a.add_file("etc/lvm/lvm.conf", 0o644, LVM_CONF.as_bytes().to_vec())?;
        let names: Vec<String> = MODULES.iter().map(|m| m.to_string()).collect();
        let order = a.add_modules(&self.kernel.modules_dir, &names)?;
        let script = self.script.replace("@MODULES@", &order.join(" "));
        a.add_file("init", 0o755, script.into_bytes())?;
        self.add_trees(&mut a)?;
        Ok(a.to_gzip()?)
    }

    /// The files each filesystem is made from (`mke2fs -d`).
    fn add_trees(&self, a: &mut Archive) -> Result<()> {
        let (id, title) = ENTRIES[0];
        a.add_file(
            &format!("fixture/lvm-root/boot/loader/entries/{id}.conf"),
            0o644,
            bls_entry(
                title,
                "/vmlinuz-6.1.0-lvm",
                "root=/dev/mapper/debian--vg-root ro",
            )
            .into_bytes(),
        )?;
        a.add_file(
            "fixture/lvm-root/boot/vmlinuz-6.1.0-lvm",
            0o644,
            fake_kernel("lvm"),
        )?;
        a.add_file("fixture/lvm-root/etc/hostname", 0o644, b"lvm\n".to_vec())?;
        a.add_file(
            &format!("fixture/lvm-data{STRIPED_FILE}"),
            0o644,
            striped_file_contents(),
        )?;
        for (i, dir) in ["raid12", "raid10", "raid090"].iter().enumerate() {
            let (id, title) = ENTRIES[i + 1];
            a.add_file(
                &format!("fixture/{dir}/loader/entries/{id}.conf"),
                0o644,
                bls_entry(
                    title,
                    &format!("/vmlinuz-6.1.0-{id}"),
                    &format!("root=UUID={}", RAID_FS_UUIDS[i]),
                )
                .into_bytes(),
            )?;
            a.add_file(
                &format!("fixture/{dir}/vmlinuz-6.1.0-{id}"),
                0o644,
                fake_kernel(id),
            )?;
        }
        Ok(())
    }
}

/// The libraries `ldd` lists for `program` (none for a static binary), the dynamic
/// loader included, by the paths the program will look them up at.
fn shared_libraries(program: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(program)
        .output()
        .map_err(|source| Error::Spawn {
            command: format!("ldd {}", program.display()),
            source,
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut libs = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let path = match line.split_once("=>") {
            Some((_, right)) => right.split_whitespace().next(),
            None => line
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/')),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(p));
        }
    }
    Ok(libs)
}

fn tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds (or finds) the images: `cargo test -p leapboot-qemu --lib -- --ignored
    /// build_stacked_images --nocapture` prints where they are.
    #[test]
    #[ignore = "boots QEMU for a minute or two; bootloader/tests/stacked.rs uses the images"]
    fn build_stacked_images() {
        if let Some(images) = stacked_or_skip("build_stacked_images") {
            eprintln!("stacked images in {}", images.dir.display());
        }
    }

    #[test]
    fn the_striped_file_differs_in_every_stripe() {
        let data = striped_file_contents();
        assert_eq!(data.len(), STRIPED_FILE_LEN);
        let stripes: Vec<&[u8]> = data.chunks(64 * 1024).collect();
        for (i, a) in stripes.iter().enumerate() {
            for b in &stripes[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn the_script_has_every_placeholder_filled() {
        let kernel = Kernel::at(Path::new("/nonexistent"), "6.1.0-test");
        let recipe = Recipe::new(&kernel).unwrap();
        let left: Vec<&str> = recipe
            .script
            .split('@')
            .skip(1)
            .step_by(2)
            .filter(|s| !s.contains(char::is_whitespace))
            .collect();
        assert_eq!(left, ["MODULES"], "{}", recipe.script);
    }
}
