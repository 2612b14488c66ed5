//! Type #1 entry files (Boot Loader Specification, "Type #1 Boot Loader
//! Specification Entries"): `key value` lines, `#` comments, `options` and `initrd`
//! repeatable. Unknown keys are reported and skipped, as systemd does.

use crate::diag::{Diagnostic, Severity};
use crate::fs::normalize;

/// The keys of one entry file, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryFile {
    /// `title`.
    pub title: Option<String>,
    /// `version`.
    pub version: Option<String>,
    /// `machine-id`.
    pub machine_id: Option<String>,
    /// `sort-key`.
    pub sort_key: Option<String>,
    /// `linux`, normalised.
    pub linux: Option<String>,
    /// `efi`, normalised.
    pub efi: Option<String>,
    /// Every `initrd`, in order, normalised.
    pub initrds: Vec<String>,
    /// Every `options` line, in order.
    pub options: Vec<String>,
    /// `devicetree`, normalised.
    pub devicetree: Option<String>,
    /// Every `devicetree-overlay` path.
    pub devicetree_overlays: Vec<String>,
    /// `architecture`, lowercase.
    pub architecture: Option<String>,
}

impl EntryFile {
    /// The command line: every `options` line joined by one space.
    pub fn cmdline(&self) -> String {
        self.options.join(" ")
    }
}

/// Parses the text of `file`; problems go to `diags` with their line numbers.
pub fn parse(file: &str, text: &str, diags: &mut Vec<Diagnostic>) -> EntryFile {
    let mut e = EntryFile::default();
    for (n, raw) in text.lines().enumerate() {
        let line_no = u32::try_from(n + 1).unwrap_or(u32::MAX);
        if raw.len() > crate::MAX_LINE_BYTES {
            diags.push(Diagnostic::new(
                Severity::Warning,
                file,
                line_no,
                format!("line of {} bytes is longer than {}, skipped", raw.len(), crate::MAX_LINE_BYTES),
            ));
            continue;
        }
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once(|c: char| c == ' ' || c == '\t') {
            Some((k, v)) => (k, v.trim()),
            None => (line, ""),
        };
        if value.is_empty() {
            diags.push(Diagnostic::new(Severity::Warning, file, line_no, format!("key '{key}' has no value")));
            continue;
        }
        let mut path = |what: &str| -> Option<String> {
            let p = normalize(value);
            if p.is_none() {
                diags.push(Diagnostic::new(
                    Severity::Warning,
                    file,
                    line_no,
                    format!("{what} path '{value}' is not a valid path within the volume"),
                ));
            }
            p
        };
        match key {
            "title" => e.title = Some(value.to_string()),
            "version" => e.version = Some(value.to_string()),
            "machine-id" => e.machine_id = Some(value.to_string()),
            "sort-key" => e.sort_key = Some(value.to_string()),
            "linux" => e.linux = path("linux"),
            "efi" => e.efi = path("efi"),
            "initrd" => {
                if let Some(p) = path("initrd") {
                    e.initrds.push(p);
                }
            }
            "options" => e.options.push(value.to_string()),
            "devicetree" => e.devicetree = path("devicetree"),
            "devicetree-overlay" => {
                for p in value.split_whitespace() {
                    if let Some(p) = normalize(p) {
                        e.devicetree_overlays.push(p);
                    }
                }
            }
            "architecture" => e.architecture = Some(value.to_ascii_lowercase()),
            other => diags.push(Diagnostic::new(
                Severity::Info,
                file,
                line_no,
                format!("unknown key '{other}' ignored"),
            )),
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_keep_order() {
        let mut d = Vec::new();
        let e = parse(
            "/loader/entries/a.conf",
            "title  T\n# c\noptions root=/dev/vda2 ro\ninitrd /a\ninitrd /b\noptions quiet\nlinux /vmlinuz\nfoo bar\n",
            &mut d,
        );
        assert_eq!(e.title.as_deref(), Some("T"));
        assert_eq!(e.initrds, ["/a", "/b"]);
        assert_eq!(e.cmdline(), "root=/dev/vda2 ro quiet");
        assert_eq!(e.linux.as_deref(), Some("/vmlinuz"));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].line, 8);
        assert!(d[0].message.contains("foo"));
    }

    #[test]
    fn tabs_and_relative_paths() {
        let mut d = Vec::new();
        let e = parse("f", "linux\tvmlinuz-6\ninitrd ../x\n", &mut d);
        assert_eq!(e.linux.as_deref(), Some("/vmlinuz-6"));
        assert!(e.initrds.is_empty());
        assert_eq!(d.len(), 1);
    }
}
