//! The running system's command line, for `--reuse-cmdline` and `leapboot status`
//! (pure functions over the text of `/proc/cmdline`).
//!
//! `--reuse-cmdline` passes `/proc/cmdline` on as kexec-tools does
//! (`get_command_line` in `kexec/kexec.c` drops `BOOT_IMAGE=`, which names the
//! previous boot's kernel), and also drops what else described the previous boot rather
//! than the system: `initrd=` (systemd-boot's `initrd=\path` of the old entry) and
//! `leapboot.entry=` (leapboot adds the new one). For a GRUB entry the entry's own
//! `BOOT_IMAGE=` is put back in front, as GRUB would pass it.
//! Everything after a lone `--` belongs to init and is kept as written.

/// The parameters of a command line as written (quotes kept), with the key each one
/// sets (quotes removed, before `=`).
fn params(cmdline: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in cmdline.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if c.is_whitespace() && !quoted {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.into_iter()
        .map(|raw| {
            let plain: String = raw.chars().filter(|&c| c != '"').collect();
            let key = plain
                .split_once('=')
                .map_or(plain.as_str(), |(k, _)| k)
                .to_string();
            (raw, key)
        })
        .collect()
}

/// Keys `--reuse-cmdline` leaves out.
const DROPPED: [&str; 3] = ["BOOT_IMAGE", "initrd", "leapboot.entry"];

/// `/proc/cmdline` for the next kernel: without `BOOT_IMAGE=`, `initrd=` and
/// `leapboot.entry=`, the rest as written.
pub fn reuse(proc_cmdline: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut for_init = false;
    for (raw, key) in params(proc_cmdline.trim()) {
        if raw == "--" {
            for_init = true;
        }
        if !for_init && DROPPED.contains(&key.as_str()) {
            continue;
        }
        out.push(raw);
    }
    out.join(" ")
}

/// [`reuse`] for an entry whose own command line is `entry_cmdline`: a GRUB entry's
/// `BOOT_IMAGE=` (its first parameter) goes back in front.
pub fn reuse_for_entry(proc_cmdline: &str, entry_cmdline: &str) -> String {
    let kept = reuse(proc_cmdline);
    let boot_image = params(entry_cmdline)
        .into_iter()
        .next()
        .filter(|(_, k)| k == "BOOT_IMAGE")
        .map(|(raw, _)| raw);
    match boot_image {
        Some(b) if kept.is_empty() => b,
        Some(b) => format!("{b} {kept}"),
        None => kept,
    }
}

/// The value of the first `key=value` parameter (quotes removed), before any `--`.
pub fn param_value(cmdline: &str, key: &str) -> Option<String> {
    for (raw, k) in params(cmdline) {
        if raw == "--" {
            return None;
        }
        if k == key {
            let plain: String = raw.chars().filter(|&c| c != '"').collect();
            return plain.split_once('=').map(|(_, v)| v.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub_boot_image_goes() {
        assert_eq!(
            reuse("BOOT_IMAGE=/boot/vmlinuz-6.1.0-50-amd64 root=UUID=1a57 ro quiet\n"),
            "root=UUID=1a57 ro quiet"
        );
        // Quoted, as GRUB writes a path with a blank.
        assert_eq!(
            reuse("BOOT_IMAGE=\"/boot/my kernel\" root=/dev/vda2"),
            "root=/dev/vda2"
        );
    }

    #[test]
    fn systemd_boot_initrds_and_leapboot_entry_go() {
        assert_eq!(
            reuse(
                "initrd=\\1a57\\6.1.0\\initrd.img-6.1.0 initrd=\\ucode.img root=/dev/vda2 ro leapboot.entry=old"
            ),
            "root=/dev/vda2 ro"
        );
        assert_eq!(reuse("leapboot.entry=\"Advanced options>Debian\" a"), "a");
    }

    #[test]
    fn the_rest_is_kept_as_written() {
        assert_eq!(
            reuse("root=/dev/vda2 dyndbg=\"file x.c +p\" console=ttyS0,115200  panic=-1"),
            "root=/dev/vda2 dyndbg=\"file x.c +p\" console=ttyS0,115200 panic=-1"
        );
        // Keys that merely start like a dropped one stay.
        assert_eq!(
            reuse("initrdmem=1 BOOT_IMAGEX=2"),
            "initrdmem=1 BOOT_IMAGEX=2"
        );
        // After `--`, everything belongs to init.
        assert_eq!(reuse("ro -- initrd=x single"), "ro -- initrd=x single");
        assert_eq!(reuse(""), "");
    }

    #[test]
    fn grub_entry_gets_its_own_boot_image() {
        assert_eq!(
            reuse_for_entry(
                "BOOT_IMAGE=/boot/vmlinuz-6.1.0-9-amd64 root=UUID=1a57 ro",
                "BOOT_IMAGE=/boot/vmlinuz-6.1.0-50-amd64 root=UUID=1a57 ro quiet"
            ),
            "BOOT_IMAGE=/boot/vmlinuz-6.1.0-50-amd64 root=UUID=1a57 ro"
        );
        assert_eq!(
            reuse_for_entry("initrd=\\x root=/dev/vda2", "root=/dev/vda2 quiet"),
            "root=/dev/vda2"
        );
    }

    #[test]
    fn values() {
        let c = "BOOT_IMAGE=/k leapboot.entry=\"Advanced options>Debian, with Linux 6.1\" ro";
        assert_eq!(
            param_value(c, "leapboot.entry").as_deref(),
            Some("Advanced options>Debian, with Linux 6.1")
        );
        assert_eq!(param_value(c, "root"), None);
        assert_eq!(param_value("-- leapboot.entry=x", "leapboot.entry"), None);
    }
}
