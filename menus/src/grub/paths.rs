//! GRUB device names for leapboot's volumes, and GRUB file names `(device)/path`.
//!
//! GRUB names partitions `hdN,gptM` or `hdN,msdosM` in firmware disk order. leapboot
//! sees Linux names (`vda2`, `sda1`, `nvme0n1p2`), so each volume gets a GRUB name
//! derived from its Linux name: disks are numbered in name order (`sda` is `hd0`,
//! `sdb` is `hd1`) and the partition number is kept. The partition-table tag is not
//! known to the menus crate, so names are written `gpt` and matched without regard to
//! the tag: `(hd0,msdos1)` and `(hd0,gpt1)` both find partition 1 of the first disk.
//! Callers that know the real names pass them in [`super::GrubOptions`].
//!
//! This is a heuristic where firmware order differs from Linux order (several disks
//! of different kinds); configs written by grub-mkconfig always `search` by UUID
//! first, so the name matters only when that search fails.
//!
//! Devices GRUB assembles itself (its `diskfilter` layer: md arrays, LVM logical
//! volumes) have names of their own, which the caller passes as aliases: the first is
//! the volume's name, every one resolves to it, and such volumes take no `hdN`
//! number. GRUB's `diskfilter.c` gives each array or LV two names, a `fullname`
//! (`md/NAME` with the `homehost:` prefix cut at the first colon, `md/mdN` for a 0.90
//! array by its preferred minor, `lvm/VG-LV` with every `-` inside VG and LV
//! doubled) and an `idname` (`mduuid/` and the array UUID in 32 lowercase hex digits,
//! `lvmid/VGUUID/LVUUID` as the LVM metadata writes the UUIDs); `find_lv` matches
//! either exactly.

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

use crate::entry::VolumeInfo;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Hd,
    Cd,
}

/// GRUB names of every volume, and the reverse lookup.
#[derive(Debug, Clone, Default)]
pub struct DeviceMap {
    names: Vec<String>,
    keys: Vec<Option<(Class, u32, Option<u32>)>>,
    /// Diskfilter names per volume (`md/0`, `mduuid/…`, `lvm/vg-root`, `lvmid/…`).
    aliases: Vec<Vec<String>>,
}

/// Splits a Linux block device name into disk and partition number:
/// `sda2` → (`sda`, 2), `nvme0n1p3` → (`nvme0n1`, 3), `vdb` → (`vdb`, none).
fn split_linux(dev: &str) -> Option<(String, Class, Option<u32>)> {
    let dev = dev.strip_prefix("/dev/").unwrap_or(dev);
    let digits_at = dev
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i.saturating_add(1));
    let (head, num) = dev.split_at(digits_at);
    let num: Option<u32> = if num.is_empty() {
        None
    } else {
        num.parse().ok()
    };
    for prefix in ["nvme", "mmcblk", "loop", "md", "nbd"] {
        if head.starts_with(prefix) {
            // These carry `p` before the partition number: nvme0n1p2, mmcblk0p1.
            return match head.strip_suffix('p') {
                Some(disk) if num.is_some() && disk.ends_with(|c: char| c.is_ascii_digit()) => {
                    Some((disk.to_string(), Class::Hd, num))
                }
                _ => Some((dev.to_string(), Class::Hd, None)),
            };
        }
    }
    if let Some(n) = dev.strip_prefix("sr") {
        return n
            .parse::<u32>()
            .ok()
            .map(|_| (dev.to_string(), Class::Cd, None));
    }
    for prefix in ["sd", "vd", "hd", "xvd"] {
        if let Some(letters) = head.strip_prefix(prefix)
            && !letters.is_empty()
            && letters.chars().all(|c| c.is_ascii_lowercase())
        {
            return Some((head.to_string(), Class::Hd, num));
        }
    }
    None
}

/// Parses a GRUB device name: `hd0`, `hd0,gpt2`, `hd1,msdos1`, `hd0,2`, `cd0`.
fn parse_grub(dev: &str) -> Option<(Class, u32, Option<u32>)> {
    let (class, rest) = if let Some(r) = dev.strip_prefix("hd") {
        (Class::Hd, r)
    } else if let Some(r) = dev.strip_prefix("cd") {
        (Class::Cd, r)
    } else {
        return None;
    };
    let (disk, part) = match rest.split_once(',') {
        Some((d, p)) => (d, Some(p)),
        None => (rest, None),
    };
    let disk: u32 = disk.parse().ok()?;
    let part = match part {
        None => None,
        Some(p) => {
            // Nested partitions (`msdos5,bsd1`) are matched by the first number.
            let first = p.split(',').next().unwrap_or("");
            let digits = first.trim_start_matches(|c: char| c.is_ascii_alphabetic());
            Some(digits.parse::<u32>().ok()?)
        }
    };
    Some((class, disk, part))
}

impl DeviceMap {
    /// Names every volume; `overrides[i]`, when given, is used as volume `i`'s name;
    /// `aliases[i]`, when not empty, are volume `i`'s diskfilter names (module docs).
    pub fn new(
        volumes: &[&VolumeInfo],
        overrides: &[Option<String>],
        aliases: &[Vec<String>],
    ) -> DeviceMap {
        let aliases_of = |i: usize| aliases.get(i).map(Vec::as_slice).unwrap_or_default();
        let parsed: Vec<Option<(String, Class, Option<u32>)>> = volumes
            .iter()
            .enumerate()
            .map(|(i, v)| {
                if aliases_of(i).is_empty() {
                    split_linux(&v.device)
                } else {
                    None
                }
            })
            .collect();
        let mut disks: Vec<(Class, String)> = parsed
            .iter()
            .flatten()
            .map(|(d, c, _)| (*c, d.clone()))
            .collect();
        disks.sort_by(|a, b| (a.0, a.1.len(), &a.1).cmp(&(b.0, b.1.len(), &b.1)));
        disks.dedup();
        let rank = |class: Class, disk: &str| -> u32 {
            let n = disks
                .iter()
                .filter(|(c, _)| *c == class)
                .position(|(_, d)| d == disk)
                .unwrap_or(0);
            u32::try_from(n).unwrap_or(u32::MAX)
        };
        let mut map = DeviceMap::default();
        for (i, (vol, p)) in volumes.iter().zip(&parsed).enumerate() {
            let key = p
                .as_ref()
                .map(|(disk, class, part)| (*class, rank(*class, disk), *part));
            let derived = match key {
                _ if !aliases_of(i).is_empty() => {
                    aliases_of(i).first().cloned().unwrap_or_default()
                }
                Some((Class::Hd, d, Some(part))) => format!("hd{d},gpt{part}"),
                Some((Class::Hd, d, None)) => format!("hd{d}"),
                Some((Class::Cd, d, _)) => format!("cd{d}"),
                None if !vol.device.is_empty() && !vol.device.contains(['(', ')', ',', ' ']) => {
                    vol.device.clone()
                }
                None => format!("vol{i}"),
            };
            let mut name = overrides.get(i).cloned().flatten().unwrap_or(derived);
            if map.names.contains(&name) {
                name = format!("{name}.{i}");
            }
            let key = parse_grub(&name).or(key);
            map.names.push(name);
            map.keys.push(key);
            map.aliases.push(aliases_of(i).to_vec());
        }
        map
    }

    /// GRUB name of volume `i`.
    pub fn name(&self, i: usize) -> &str {
        self.names.get(i).map(String::as_str).unwrap_or("")
    }

    /// The volume a GRUB device name refers to: by exact name, then by disk and
    /// partition number (partition-table tag ignored).
    pub fn resolve(&self, dev: &str) -> Option<usize> {
        if let Some(i) = self.names.iter().position(|n| n == dev) {
            return Some(i);
        }
        if let Some(i) = self.aliases.iter().position(|a| a.iter().any(|n| n == dev)) {
            return Some(i);
        }
        let want = parse_grub(dev)?;
        self.keys.iter().position(|k| *k == Some(want))
    }
}

/// Splits a GRUB file name into its device and path: `(hd0,gpt2)/boot` gives
/// `Some("hd0,gpt2")` and `/boot`; `/boot` gives no device. `None` when `(` has no
/// matching `)` (`grub_file_get_device_name`).
pub fn split_file_name(name: &str) -> Option<(Option<&str>, &str)> {
    match name.strip_prefix('(') {
        Some(rest) => rest.split_once(')').map(|(dev, path)| (Some(dev), path)),
        None => Some((None, name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::VolumeRole;

    fn vol(dev: &str) -> VolumeInfo {
        VolumeInfo {
            uuid: None,
            label: None,
            device: dev.into(),
            fs_type: "ext4".into(),
            role: VolumeRole::Other,
        }
    }

    #[test]
    fn names_from_linux_devices() {
        let v = [
            vol("vda1"),
            vol("vda2"),
            vol("vdb"),
            vol("nvme0n1p3"),
            vol("sr0"),
            vol("/tmp/x"),
        ];
        let refs: Vec<&VolumeInfo> = v.iter().collect();
        let m = DeviceMap::new(&refs, &[], &[]);
        let names: Vec<&str> = (0..v.len()).map(|i| m.name(i)).collect();
        assert_eq!(
            names,
            ["hd0,gpt1", "hd0,gpt2", "hd1", "hd2,gpt3", "cd0", "/tmp/x"]
        );
        assert_eq!(m.resolve("hd0,msdos2"), Some(1));
        assert_eq!(m.resolve("hd0,2"), Some(1));
        assert_eq!(m.resolve("hd1"), Some(2));
        assert_eq!(m.resolve("hd0,gpt9"), None);
        assert_eq!(m.resolve("/tmp/x"), Some(5));
        assert_eq!(m.resolve("lvm/vg-root"), None);
    }

    #[test]
    fn overrides_win() {
        let v = [vol("sda1")];
        let m = DeviceMap::new(&[&v[0]], &[Some("hd0,msdos1".into())], &[]);
        assert_eq!(m.name(0), "hd0,msdos1");
        assert_eq!(m.resolve("hd0,gpt1"), Some(0));
    }

    #[test]
    fn diskfilter_aliases_name_and_resolve_without_taking_a_disk_number() {
        // A 1.2 array and an LV whose Linux names would otherwise sort among the disks.
        let v = [vol("md/0"), vol("vda1"), vol("debian--vg-root"), vol("vdb")];
        let refs: Vec<&VolumeInfo> = v.iter().collect();
        let aliases = [
            vec![
                "md/0".to_string(),
                "mduuid/a1a1a1a1000000000000000000000012".into(),
            ],
            vec![],
            vec![
                "lvm/debian--vg-root".to_string(),
                "lvmid/AAAA-bbbb/CCCC-dddd".into(),
            ],
        ];
        let m = DeviceMap::new(&refs, &[], &aliases);
        let names: Vec<&str> = (0..v.len()).map(|i| m.name(i)).collect();
        assert_eq!(names, ["md/0", "hd0,gpt1", "lvm/debian--vg-root", "hd1"]);
        assert_eq!(
            m.resolve("mduuid/a1a1a1a1000000000000000000000012"),
            Some(0)
        );
        assert_eq!(m.resolve("md/0"), Some(0));
        assert_eq!(m.resolve("lvmid/AAAA-bbbb/CCCC-dddd"), Some(2));
        assert_eq!(m.resolve("lvm/debian--vg-root"), Some(2));
        // GRUB matches names exactly: no single-dash spelling, no other case.
        assert_eq!(m.resolve("lvm/debian-vg-root"), None);
        assert_eq!(m.resolve("mduuid/A1A1A1A1000000000000000000000012"), None);
        assert_eq!(m.resolve("hd0,1"), Some(1));
    }

    #[test]
    fn file_names() {
        assert_eq!(
            split_file_name("(hd0,gpt2)/boot/x"),
            Some((Some("hd0,gpt2"), "/boot/x"))
        );
        assert_eq!(split_file_name("/x"), Some((None, "/x")));
        assert_eq!(split_file_name("(hd0/x"), None);
    }
}
