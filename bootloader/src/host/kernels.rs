//! Kernels installed as files in `/boot`, for when the boot loader's config is not the
//! source: `--latest` with no config found, `--reuse-cmdline` with no config found
//! (the running kernel again), and `KERNEL_IMAGE` from `/etc/default/kexec`.
//!
//! A kernel is `vmlinuz-VERSION` (Debian, Ubuntu, Fedora, RHEL, Arch's
//! `vmlinuz-linux` too); its initrd is the first of `initrd.img-VERSION` (Debian),
//! `initramfs-VERSION.img` (Fedora, RHEL, Arch), `initrd-VERSION` (SUSE) found beside
//! it. Newest means the UAPI version order (`menus::bls::version`, systemd's
//! `strverscmp_improved`), as `kernel-install` and systemd-boot order versions.

use leapboot_menus::bls::version;
use leapboot_menus::{Entry, EntryKind, Source, VolumeInfo};

/// One installed kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelFile {
    /// `6.1.0-50-amd64`.
    pub version: String,
    /// Path within its volume.
    pub kernel: String,
    /// Its initrd, when one is installed beside it.
    pub initrd: Option<String>,
}

/// The version in a kernel path (`/boot/vmlinuz-6.1.0-50-amd64` gives `6.1.0-50-amd64`).
pub fn version_of_kernel_path(path: &str) -> Option<&str> {
    let name = path.rsplit('/').next()?;
    ["vmlinuz-", "vmlinux-", "bzImage-", "kernel-"]
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .filter(|v| !v.is_empty())
}

/// The kernels among the file `names` of directory `dir` (a path within the volume).
pub fn kernels_in(dir: &str, names: &[String]) -> Vec<KernelFile> {
    let join = |n: &str| {
        if dir.ends_with('/') {
            format!("{dir}{n}")
        } else {
            format!("{dir}/{n}")
        }
    };
    let mut out: Vec<KernelFile> = names
        .iter()
        .filter_map(|n| {
            let v = n.strip_prefix("vmlinuz-")?;
            if v.is_empty() || v.ends_with(".old") || v.ends_with(".sig") || v.ends_with(".hmac") {
                return None;
            }
            let initrd = [
                format!("initrd.img-{v}"),
                format!("initramfs-{v}.img"),
                format!("initrd-{v}"),
            ]
            .into_iter()
            .find(|i| names.contains(i))
            .map(|i| join(&i));
            Some(KernelFile {
                version: v.to_string(),
                kernel: join(n),
                initrd,
            })
        })
        .collect();
    // Newest first.
    out.sort_by(|a, b| version::compare(&b.version, &a.version));
    out
}

/// The newest kernel, a rescue image (`vmlinuz-0-rescue-<machine id>`) only when there
/// is nothing else.
pub fn newest(files: &[KernelFile]) -> Option<&KernelFile> {
    files
        .iter()
        .find(|k| !k.version.contains("-rescue-"))
        .or(files.first())
}

/// The running kernel's files (`uname -r`).
pub fn running<'a>(files: &'a [KernelFile], release: &str) -> Option<&'a KernelFile> {
    files.iter().find(|k| k.version == release)
}

/// An entry for a kernel file that no boot loader config names: listed as GRUB-kind
/// (no `initrd=` parameters are added in front of its command line), with `why` as its
/// source so the report says where it came from.
pub fn entry(vol: &VolumeInfo, k: &KernelFile, cmdline: String, why: &str) -> Entry {
    Entry {
        id: format!("linux-{}", k.version),
        title: format!("Linux {}", k.version),
        version: Some(k.version.clone()),
        kind: EntryKind::Grub,
        volume: vol.to_ref(),
        kernel: k.kernel.clone(),
        initrds: k.initrd.iter().cloned().collect(),
        cmdline,
        devicetree: None,
        source: Source {
            file: why.to_string(),
            line: 0,
        },
        path: None,
        problem: None,
        bls: None,
        uki: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn debian_and_fedora_layouts_newest_first() {
        let k = kernels_in(
            "/boot",
            &names(&[
                "vmlinuz-6.1.0-9-amd64",
                "initrd.img-6.1.0-9-amd64",
                "vmlinuz-6.1.0-50-amd64",
                "initrd.img-6.1.0-50-amd64",
                "vmlinuz-6.1.0-10-amd64",
                "config-6.1.0-50-amd64",
                "vmlinuz.old",
            ]),
        );
        let v: Vec<&str> = k.iter().map(|k| k.version.as_str()).collect();
        // 50 > 10 > 9: by number, not by text.
        assert_eq!(v, ["6.1.0-50-amd64", "6.1.0-10-amd64", "6.1.0-9-amd64"]);
        assert_eq!(
            k[0].initrd.as_deref(),
            Some("/boot/initrd.img-6.1.0-50-amd64")
        );
        assert_eq!(k[1].initrd, None);
        let f = kernels_in(
            "/",
            &names(&[
                "vmlinuz-0-rescue-9af7b02a",
                "initramfs-0-rescue-9af7b02a.img",
                "vmlinuz-6.8.5-301.fc40.x86_64",
                "initramfs-6.8.5-301.fc40.x86_64.img",
                "vmlinuz-6.8.11-300.fc40.x86_64",
            ]),
        );
        assert_eq!(newest(&f).unwrap().version, "6.8.11-300.fc40.x86_64");
        assert_eq!(
            running(&f, "6.8.5-301.fc40.x86_64")
                .unwrap()
                .initrd
                .as_deref(),
            Some("/initramfs-6.8.5-301.fc40.x86_64.img")
        );
        // Only a rescue image: better than nothing.
        let r = kernels_in("/", &names(&["vmlinuz-0-rescue-9af7b02a"]));
        assert_eq!(newest(&r).unwrap().version, "0-rescue-9af7b02a");
    }

    #[test]
    fn versions_from_paths() {
        assert_eq!(
            version_of_kernel_path("/boot/vmlinuz-6.1.0-50-amd64"),
            Some("6.1.0-50-amd64")
        );
        assert_eq!(version_of_kernel_path("/vmlinuz"), None);
        assert_eq!(version_of_kernel_path("/EFI/Linux/debian.efi"), None);
    }
}
