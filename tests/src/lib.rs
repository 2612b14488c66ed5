//! Scenarios for the end-to-end tests and the demo: the firmware side (a Debian
//! kernel with leapboot as PID 1 in its initramfs) and the disks it boots from.
//!
//! A test reads as "these disks, these settings; expect these serial lines":
//! [`Scenario::new`] names the run, [`Scenario::firmware`] builds the firmware
//! initramfs with the given `/etc/leapboot.toml`, [`Scenario::boot`] starts QEMU.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot_initramfs::Archive;
use leapboot_qemu::{
    DiskImage, DiskSpec, Kernel, Vm, VmConfig, debian_kernel, default_append, default_timeout,
};
use std::path::PathBuf;

/// Kernel modules the firmware initramfs carries: virtio block devices (QEMU) and
/// AHCI/IDE disks. leapboot reads filesystems itself, so no filesystem modules.
pub const FIRMWARE_MODULES: &[&str] = &["virtio_pci", "virtio_blk", "ahci", "ata_piix", "sd_mod"];

/// Options every target entry carries so the target prints on the serial console
/// and a target panic ends QEMU; `no_timer_check`, because a kernel started by kexec
/// on a loaded host under TCG can fail its IO-APIC timer check and panic ("IO-APIC +
/// timer doesn't work!"), which was seen once.
pub const TARGET_OPTIONS: &str = "console=ttyS0,115200 panic=-1 loglevel=4 no_timer_check";

/// Path of a static workspace binary (`LEAPBOOT_BIN_DIR`, else built on demand).
pub fn static_bin(package: &str, bin: &str) -> PathBuf {
    leapboot_qemu::static_binary(package, bin).unwrap_or_else(|e| panic!("building {bin}: {e}"))
}

/// The host-mode leapboot binary (the same static binary PID 1 runs).
pub fn leapboot_bin() -> PathBuf {
    static_bin("leapboot", "leapboot")
}

/// Builds the firmware initramfs: `/init` = leapboot, `/etc/leapboot.toml` =
/// `settings`, and [`FIRMWARE_MODULES`] with dependencies from `kernel`.
pub fn firmware_initramfs(kernel: &Kernel, settings: &str) -> Vec<u8> {
    let init = std::fs::read(leapboot_bin()).expect("reading leapboot binary");
    let mut a = Archive::new();
    for d in ["dev", "proc", "sys", "run", "tmp", "etc"] {
        a.add_dir(d, 0o755).expect("dir");
    }
    a.add_char_device("dev/console", 0o600, 5, 1)
        .expect("console");
    a.add_file("init", 0o755, init).expect("init");
    a.add_file("etc/leapboot.toml", 0o644, settings.as_bytes().to_vec())
        .expect("settings");
    let names: Vec<String> = FIRMWARE_MODULES.iter().map(|s| s.to_string()).collect();
    a.add_modules(&kernel.modules_dir, &names).expect("modules");
    a.to_gzip().expect("gzip")
}

/// One end-to-end run: its own directory under `target/e2e/<name>`.
pub struct Scenario {
    /// Name (directory and log names).
    pub name: String,
    /// Working directory.
    pub dir: PathBuf,
    /// The Debian kernel, firmware and target alike.
    pub kernel: Kernel,
    disks: Vec<PathBuf>,
    /// Drives attached with hand-written QEMU `-drive` options (error injection,
    /// throttling); not passed to `host_list`.
    raw_drives: Vec<String>,
    initrd: Option<PathBuf>,
}

impl Scenario {
    /// Fetches the kernel (cached) and makes a clean directory for `name`.
    pub fn new(name: &str) -> Scenario {
        let dir = leapboot_qemu::binaries::workspace_dir()
            .join("target/e2e")
            .join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scenario dir");
        let kernel = debian_kernel().unwrap_or_else(|e| panic!("{name}: Debian kernel: {e}"));
        Scenario {
            name: name.to_string(),
            dir,
            kernel,
            disks: Vec::new(),
            raw_drives: Vec::new(),
            initrd: None,
        }
    }

    /// The target initramfs (leapboot-target-init) with `markers`, as bytes.
    pub fn target_initrd(&self, markers: &[&str]) -> Vec<u8> {
        leapboot_qemu::target_initramfs(&self.kernel, markers).expect("target initramfs")
    }

    /// A second initrd holding only `/markers/<name>`.
    pub fn marker(&self, name: &str) -> Vec<u8> {
        leapboot_qemu::marker_initrd(name).expect("marker initrd")
    }

    /// Writes `image` as the next virtio disk; returns its path.
    pub fn disk(&mut self, image: &DiskImage) -> PathBuf {
        let path = self.dir.join(format!("disk{}.img", self.disks.len()));
        image
            .write(&path)
            .unwrap_or_else(|e| panic!("{}: disk image: {e}", self.name));
        self.disks.push(path.clone());
        path
    }

    /// Copies the image file `from` (one made elsewhere, such as the cached
    /// stacked-storage fixtures) into the scenario's directory as the next virtio
    /// disk; returns the copy's path.
    pub fn disk_copy(&mut self, from: &std::path::Path) -> PathBuf {
        let path = self.dir.join(format!("disk{}.img", self.disks.len()));
        std::fs::copy(from, &path)
            .unwrap_or_else(|e| panic!("{}: copying {}: {e}", self.name, from.display()));
        self.disks.push(path.clone());
        path
    }

    /// Writes `image` and attaches it with `-drive <options>`, where `options` is
    /// made from the image path (for blkdebug error injection or throttling).
    pub fn raw_disk(
        &mut self,
        image: &DiskImage,
        options: impl FnOnce(&std::path::Path) -> String,
    ) -> PathBuf {
        let path = self.dir.join(format!("raw{}.img", self.raw_drives.len()));
        image
            .write(&path)
            .unwrap_or_else(|e| panic!("{}: disk image: {e}", self.name));
        self.raw_drives.push(options(&path));
        path
    }

    /// Builds the firmware initramfs with these settings.
    pub fn firmware(&mut self, settings: &str) -> &mut Self {
        let path = self.dir.join("firmware-initrd.img");
        std::fs::write(&path, firmware_initramfs(&self.kernel, settings))
            .expect("write firmware initrd");
        self.initrd = Some(path);
        self
    }

    /// Starts QEMU: the Debian kernel with the firmware initramfs and every disk,
    /// `extra` appended to the firmware kernel's command line.
    pub fn boot(&self, extra: &str) -> Vm {
        let initrd = self.initrd.clone().expect("call firmware() before boot()");
        let mut cfg = VmConfig::new(&self.kernel.vmlinuz, &initrd)
            .append(format!("{} {extra}", default_append()).trim().to_string())
            .serial_log(self.dir.join("serial.log"));
        for d in &self.disks {
            cfg = cfg.disk(DiskSpec::virtio(d));
        }
        for r in &self.raw_drives {
            cfg = cfg.extra_arg("-drive").extra_arg(r.clone());
        }
        Vm::start(cfg).unwrap_or_else(|e| panic!("{}: starting QEMU: {e}", self.name))
    }

    /// Runs `leapboot list --json --disk <every disk>` on the host and returns the
    /// entries' ids in order, with the default's id.
    pub fn host_list(&self) -> (Vec<String>, Option<String>) {
        let mut cmd = std::process::Command::new(leapboot_bin());
        cmd.arg("list").arg("--json");
        for d in &self.disks {
            cmd.arg("--disk").arg(d);
        }
        let out = cmd.output().expect("running leapboot list");
        assert!(
            out.status.success(),
            "leapboot list: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("list --json output is JSON");
        let entries = v["entries"].as_array().expect("entries array");
        let ids = entries
            .iter()
            .map(|e| e["id"].as_str().unwrap_or_default().to_string())
            .collect();
        let default = entries
            .iter()
            .find(|e| e["default"] == true)
            .map(|e| e["id"].as_str().unwrap_or_default().to_string());
        (ids, default)
    }
}

/// Entries as leapboot printed them on the serial console (`menu:` lines):
/// ids in order and the default (marked `*`).
pub fn menu_from_log(log: &str) -> (Vec<String>, Option<String>) {
    let mut ids = Vec::new();
    let mut default = None;
    for line in log.lines() {
        let Some(rest) = line.split(" leapboot: menu: ").nth(1) else {
            continue;
        };
        // "* 2 Title [id] on vda1" or "  0 Title [id] on vda2"
        let (Some(open), Some(close)) = (rest.rfind(" ["), rest.rfind("] on ")) else {
            continue;
        };
        if close <= open {
            continue;
        }
        let id = rest[open + 2..close].to_string();
        if rest.starts_with('*') {
            default = Some(id.clone());
        }
        ids.push(id);
    }
    (ids, default)
}

/// Fails the test if the serial log shows a kernel panic, PID 1 dying, or one of
/// leapboot's contained internal errors.
pub fn assert_alive(log: &str) {
    for bad in ["Kernel panic", "Attempted to kill init", "internal error"] {
        assert!(!log.contains(bad), "serial log contains {bad:?}");
    }
}

/// The text after `marker` on a serial line (without the line end); empty when the
/// line lacks it.
pub fn after(line: &str, marker: &str) -> String {
    line.split(marker)
        .nth(1)
        .unwrap_or_default()
        .trim_end()
        .to_string()
}

/// Waits for the booted target to print its command line (`LEAPBOOT-TARGET-CMDLINE:`)
/// and returns it.
pub fn target_cmdline(vm: &mut Vm) -> String {
    let line = vm
        .wait_for("LEAPBOOT-TARGET-CMDLINE: ", default_timeout())
        .unwrap();
    after(&line, "LEAPBOOT-TARGET-CMDLINE: ")
}

/// Waits for the booted target to name the marker initrds it found
/// (`LEAPBOOT-TARGET-INITRDS:`) and returns them, blank-separated.
pub fn target_initrds(vm: &mut Vm) -> String {
    let line = vm
        .wait_for("LEAPBOOT-TARGET-INITRDS: ", default_timeout())
        .unwrap();
    after(&line, "LEAPBOOT-TARGET-INITRDS: ")
}

/// How grub-mkconfig's `00_header` chooses `default`: a one-shot `next_entry` (used
/// up with `save_env`), else `GRUB_DEFAULT` as written (`${saved_entry}` for `saved`).
pub fn grub_mkconfig_default(default: &str) -> String {
    format!(
        "if [ \"${{next_entry}}\" ] ; then\n   set default=\"${{next_entry}}\"\n   set next_entry=\n   \
         save_env next_entry\n   set boot_once=true\nelse\n   set default=\"{default}\"\nfi\n"
    )
}

/// What grub-mkconfig's `00_header` writes on Debian, Ubuntu and RHEL alike after
/// choosing `default`: the `--id` option when GRUB has it, the one-shot
/// `prev_saved_entry` handling and `savedefault`.
pub const GRUB_MKCONFIG_IDS_AND_SAVEDEFAULT: &str = r#"if [ x"${feature_menuentry_id}" = xy ]; then
  menuentry_id_option="--id"
else
  menuentry_id_option=""
fi

export menuentry_id_option

if [ "${prev_saved_entry}" ]; then
  set saved_entry="${prev_saved_entry}"
  save_env saved_entry
  set prev_saved_entry=
  save_env prev_saved_entry
  set boot_once=true
fi

function savedefault {
  if [ -z "${boot_once}" ]; then
    saved_entry="${chosen}"
    save_env saved_entry
  fi
}
"#;

/// grub-mkconfig's `load_video` function (`00_header`).
pub const GRUB_MKCONFIG_LOAD_VIDEO: &str = r#"function load_video {
  if [ x$feature_all_video_module = xy ]; then
    insmod all_video
  else
    insmod efi_gop
    insmod efi_uga
    insmod ieee1275_fb
    insmod vbe
    insmod vga
    insmod video_bochs
    insmod video_cirrus
  fi
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines are grub-mkconfig's (`00_header`, Debian 12 and RHEL 9 alike).
    #[test]
    fn the_default_block_is_grub_mkconfigs() {
        assert_eq!(
            grub_mkconfig_default("${saved_entry}"),
            r#"if [ "${next_entry}" ] ; then
   set default="${next_entry}"
   set next_entry=
   save_env next_entry
   set boot_once=true
else
   set default="${saved_entry}"
fi
"#
        );
    }
}
