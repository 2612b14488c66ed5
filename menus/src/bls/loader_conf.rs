//! `loader/loader.conf` (systemd-boot's `loader.conf(5)`): the keys a kexec loader
//! can honour: `default`, `timeout`, `editor`. Others are accepted and ignored.

use crate::diag::{Diagnostic, Severity};

/// How long the menu waits, from `timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// Seconds before the default boots.
    Seconds(u32),
    /// `menu-force`: wait for a key.
    MenuForce,
    /// `menu-hidden`: boot at once unless a key is pressed.
    MenuHidden,
    /// `menu-disabled`: boot at once.
    MenuDisabled,
}

/// The parsed file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoaderConf {
    /// `default` glob over entry ids, or `@saved` and friends.
    pub default: Option<String>,
    /// `timeout`.
    pub timeout: Option<Timeout>,
    /// `editor`.
    pub editor: Option<bool>,
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "y" | "true" | "t" | "on" => Some(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Some(false),
        _ => None,
    }
}

/// Parses the text of `file`.
pub fn parse(file: &str, text: &str, diags: &mut Vec<Diagnostic>) -> LoaderConf {
    let mut c = LoaderConf::default();
    for (n, raw) in text.lines().enumerate() {
        let line_no = u32::try_from(n + 1).unwrap_or(u32::MAX);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.len() > crate::MAX_LINE_BYTES {
            continue;
        }
        let (key, value) = match line.split_once(|c: char| c == ' ' || c == '\t') {
            Some((k, v)) => (k, v.trim()),
            None => (line, ""),
        };
        let mut bad = |what: &str| {
            diags.push(Diagnostic::new(Severity::Warning, file, line_no, format!("{key}: {what} '{value}'")));
        };
        match key {
            "default" => c.default = Some(value.to_string()),
            "timeout" => {
                c.timeout = match value {
                    "menu-force" => Some(Timeout::MenuForce),
                    "menu-hidden" => Some(Timeout::MenuHidden),
                    "menu-disabled" => Some(Timeout::MenuDisabled),
                    v => match v.parse::<u32>() {
                        Ok(s) => Some(Timeout::Seconds(s)),
                        Err(_) => {
                            bad("invalid timeout");
                            c.timeout
                        }
                    },
                }
            }
            "editor" => match parse_bool(value) {
                Some(b) => c.editor = Some(b),
                None => bad("invalid boolean"),
            },
            _ => {}
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let mut d = Vec::new();
        let c = parse("l", "#timeout 3\ndefault fedora-*\ntimeout menu-force\neditor no\nconsole-mode keep\n", &mut d);
        assert_eq!(c.default.as_deref(), Some("fedora-*"));
        assert_eq!(c.timeout, Some(Timeout::MenuForce));
        assert_eq!(c.editor, Some(false));
        assert!(d.is_empty());
    }
}
