//! Helpers shared by the GRUB tests: volumes from MemFs or from host folders, and a
//! one-line rendering of what a scan found.

#![allow(dead_code)]

use leapboot_menus::grub::{self, GrubScan};
use leapboot_menus::{Diagnostic, MemFs, VolumeInfo, VolumeRole, VolumeView};
use std::path::Path;

/// A volume description.
pub fn vol(device: &str, uuid: &str, label: Option<&str>) -> VolumeInfo {
    VolumeInfo {
        uuid: Some(uuid.to_string()),
        label: label.map(str::to_string),
        device: device.to_string(),
        fs_type: "ext4".into(),
        role: VolumeRole::Other,
    }
}

/// Runs the GRUB scan of volume `index`.
pub fn scan_vols(
    vols: &[(VolumeInfo, MemFs)],
    index: usize,
) -> (Option<GrubScan>, Vec<Diagnostic>) {
    let views: Vec<VolumeView<'_>> = vols
        .iter()
        .map(|(i, f)| VolumeView { info: i, fs: f })
        .collect();
    let mut diags = Vec::new();
    let s = grub::scan(&views, index, &mut diags);
    (s, diags)
}

/// One volume `vda1` (UUID `1111-2222`) holding `files`.
pub fn one(files: &[(&str, &str)]) -> Vec<(VolumeInfo, MemFs)> {
    let mut fs = MemFs::new();
    for (p, d) in files {
        fs.insert(p, d.as_bytes().to_vec());
    }
    vec![(vol("vda1", "1111-2222", Some("BOOT")), fs)]
}

/// Scans a single volume whose `/boot/grub/grub.cfg` is `cfg`, plus `files`.
pub fn run(cfg: &str, files: &[(&str, &str)]) -> (GrubScan, Vec<Diagnostic>) {
    let mut all = vec![("/boot/grub/grub.cfg", cfg)];
    all.extend_from_slice(files);
    let vols = one(&all);
    let (s, d) = scan_vols(&vols, 0);
    (s.expect("a config"), d)
}

/// Loads a host folder into a MemFs (files only, at most 1 MiB each).
pub fn load_dir(root: &Path) -> MemFs {
    let mut fs = MemFs::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(data) = std::fs::read(&p) {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                fs.insert(&format!("/{rel}"), data);
            }
        }
    }
    fs
}

/// A readable listing of a scan, for test output.
pub fn render(s: &GrubScan) -> String {
    let mut out = String::new();
    for (i, e) in s.entries.iter().enumerate() {
        let mark = if s.default == Some(i) { "*" } else { " " };
        out.push_str(&format!(
            "{mark}[{i}] {}\n      id={} kernel={}:{} initrds={:?}\n      cmdline={:?}\n      problem={:?}\n",
            e.path.as_deref().unwrap_or(""),
            e.id,
            e.volume.device,
            e.kernel,
            e.initrds,
            e.cmdline,
            e.problem
        ));
    }
    out.push_str(&format!(
        "default={:?} ($default={:?}) attempts={:?} timeout={:?}\n",
        s.default, s.default_value, s.attempts, s.timeout
    ));
    for w in &s.env_writes {
        out.push_str(&format!("config save_env {} {:?}\n", w.path, w.changes));
    }
    out
}
