//! `loader/loader.conf` (systemd-boot's `loader.conf(5)`), read as systemd-boot's
//! `config_defaults_load_from_file` (`src/boot/boot.c`) reads it: the keys a kexec loader
//! can honour are `default`, `timeout` and `editor`; the other keys systemd-boot knows are
//! accepted silently, unknown keys are reported. A key repeated later wins; a value that
//! does not parse is reported and leaves the earlier value in place.
//!
//! Lines are split as systemd-boot's `line_get_key_value` splits them (see
//! `bls::entry::split_line`).

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

use super::entry::key_values;
use crate::diag::{Diagnostic, Severity};

/// How long the menu waits, from `timeout` (`loader.conf(5)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// Seconds before the default boots; 0 boots at once, showing the menu only when a
    /// key is held.
    Seconds(u32),
    /// `menu-force`: show the menu and wait for a key.
    MenuForce,
    /// `menu-hidden`: boot at once unless a key is pressed (like 0).
    MenuHidden,
    /// `menu-disabled`: boot at once, never show the menu.
    MenuDisabled,
}

/// The `default` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultPattern {
    /// A glob over entry ids (`*`, `?`, `[…]`), matched without regard to ASCII case
    /// against ids that keep their `.conf`/`.efi` suffix.
    Glob(String),
    /// `@saved`: the entry booted last time (systemd-boot's `LoaderEntryLastBooted` EFI
    /// variable). leapboot has no such variable, so this selects nothing and the menu
    /// falls through to the first entry.
    Saved,
}

/// The parsed file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoaderConf {
    /// `default`, lowercased as systemd-boot lowercases it; `@saved` (any case) is the
    /// only `@` word systemd-boot accepts, others are ignored with a warning.
    pub default: Option<String>,
    /// `timeout`.
    pub timeout: Option<Timeout>,
    /// `editor`.
    pub editor: Option<bool>,
}

impl LoaderConf {
    /// The `default` key, typed.
    pub fn default_pattern(&self) -> Option<DefaultPattern> {
        let d = self.default.as_deref()?;
        Some(if d == "@saved" {
            DefaultPattern::Saved
        } else {
            DefaultPattern::Glob(d.to_string())
        })
    }
}

/// Keys systemd-boot reads that leapboot accepts without using.
const IGNORED_KEYS: &[&str] = &[
    "auto-entries",
    "auto-firmware",
    "auto-poweroff",
    "auto-reboot",
    "beep",
    "console-mode",
    "log-level",
    "preferred",
    "random-seed-mode",
    "reboot-for-bitlocker",
    "reboot-on-error",
    "secure-boot-enroll",
    "secure-boot-enroll-action",
    "secure-boot-enroll-timeout-sec",
];

/// systemd-boot's `parse_boolean`: these exact words, nothing else.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "yes" | "y" | "true" | "t" | "on" => Some(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Some(false),
        _ => None,
    }
}

/// systemd-boot's `config_timeout_sec_from_string`: the three words, or decimal digits
/// only (no sign, no spaces) up to the 32-bit limit.
pub fn parse_timeout(v: &str) -> Option<Timeout> {
    match v {
        "menu-force" => Some(Timeout::MenuForce),
        "menu-hidden" => Some(Timeout::MenuHidden),
        "menu-disabled" => Some(Timeout::MenuDisabled),
        _ if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
            let digits = v.trim_start_matches('0');
            if digits.len() > 10 {
                return None;
            }
            if digits.is_empty() {
                return Some(Timeout::Seconds(0));
            }
            digits.parse::<u32>().ok().map(Timeout::Seconds)
        }
        _ => None,
    }
}

/// Parses the text of `file`; problems go to `diags` with their line numbers. Never
/// panics, whatever the text.
pub fn parse(file: &str, text: &str, diags: &mut Vec<Diagnostic>) -> LoaderConf {
    let mut c = LoaderConf::default();
    for (line_no, key, value) in key_values(file, text, diags) {
        let mut bad = |what: &str| {
            diags.push(Diagnostic::new(
                Severity::Warning,
                file,
                line_no,
                format!("{key}: {what} '{value}', ignored"),
            ));
        };
        match key {
            "default" => {
                if value.starts_with('@') && !value.eq_ignore_ascii_case("@saved") {
                    bad("unsupported special entry identifier");
                } else {
                    c.default = Some(value.to_ascii_lowercase());
                }
            }
            "timeout" => match parse_timeout(value) {
                Some(t) => c.timeout = Some(t),
                None => bad("invalid timeout"),
            },
            "editor" => match parse_bool(value) {
                Some(b) => c.editor = Some(b),
                None => bad("invalid boolean"),
            },
            k if IGNORED_KEYS.contains(&k) => {}
            other => diags.push(Diagnostic::new(
                Severity::Info,
                file,
                line_no,
                format!("unknown key '{other}' ignored"),
            )),
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> (LoaderConf, Vec<Diagnostic>) {
        let mut d = Vec::new();
        (parse("/loader/loader.conf", text, &mut d), d)
    }

    #[test]
    fn keys_and_comments() {
        let (c, d) =
            p("#timeout 3\ndefault fedora-*\ntimeout menu-force\neditor no\nconsole-mode keep\n");
        assert_eq!(c.default.as_deref(), Some("fedora-*"));
        assert_eq!(c.timeout, Some(Timeout::MenuForce));
        assert_eq!(c.editor, Some(false));
        assert!(d.is_empty(), "{d:?}");
    }

    /// `default` is lowercased, as systemd-boot's `config_load_defaults` does.
    #[test]
    fn default_is_lowercased() {
        assert_eq!(
            p("default Fedora-*.CONF\n").0.default.as_deref(),
            Some("fedora-*.conf")
        );
    }

    /// The last `default` line wins.
    #[test]
    fn last_default_wins() {
        assert_eq!(p("default a\ndefault b\n").0.default.as_deref(), Some("b"));
    }

    /// `@saved` in any case is kept; other `@` words are ignored with a warning and do not
    /// replace an earlier value.
    #[test]
    fn special_identifiers() {
        let (c, _) = p("default @SAVED\n");
        assert_eq!(c.default_pattern(), Some(DefaultPattern::Saved));
        let (c, d) = p("default a*\ndefault @oneshot\n");
        assert_eq!(c.default_pattern(), Some(DefaultPattern::Glob("a*".into())));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].line, 2);
    }

    /// `timeout`: seconds, the three words, and what is refused.
    #[test]
    fn timeout_values() {
        let rows: &[(&str, Option<Timeout>)] = &[
            ("0", Some(Timeout::Seconds(0))),
            ("5", Some(Timeout::Seconds(5))),
            ("007", Some(Timeout::Seconds(7))),
            ("4294967295", Some(Timeout::Seconds(u32::MAX))),
            ("4294967296", None),
            ("menu-force", Some(Timeout::MenuForce)),
            ("menu-hidden", Some(Timeout::MenuHidden)),
            ("menu-disabled", Some(Timeout::MenuDisabled)),
            ("-1", None),
            ("+3", None),
            ("3s", None),
            ("Menu-Force", None),
        ];
        for &(v, want) in rows {
            assert_eq!(parse_timeout(v), want, "{v:?}");
        }
    }

    /// An invalid timeout keeps the earlier one and says which line.
    #[test]
    fn invalid_timeout_keeps_previous() {
        let (c, d) = p("timeout 3\ntimeout soon\n");
        assert_eq!(c.timeout, Some(Timeout::Seconds(3)));
        assert_eq!((d.len(), d[0].line), (1, 2));
        assert!(d[0].message.contains("soon"));
    }

    /// `editor` takes systemd-boot's boolean words only.
    #[test]
    fn editor_booleans() {
        for (v, want) in [
            ("yes", Some(true)),
            ("on", Some(true)),
            ("0", Some(false)),
            ("off", Some(false)),
            ("YES", None),
            ("maybe", None),
        ] {
            assert_eq!(p(&format!("editor {v}\n")).0.editor, want, "{v}");
        }
    }

    /// Tabs separate, quotes around a value are removed, CR LF line ends work.
    #[test]
    fn separators_quotes_crlf() {
        let (c, _) = p("default\t\"debian-*\"\r\ntimeout  4 \r\n");
        assert_eq!(c.default.as_deref(), Some("debian-*"));
        assert_eq!(c.timeout, Some(Timeout::Seconds(4)));
    }

    /// A key without a value is skipped with a warning.
    #[test]
    fn key_without_value() {
        let (c, d) = p("default\n");
        assert_eq!(c.default, None);
        assert_eq!(d.len(), 1);
    }

    /// Unknown keys are reported, not fatal.
    #[test]
    fn unknown_key_reported() {
        let (_, d) = p("frobnicate yes\n");
        assert_eq!(d.len(), 1);
        assert!(d[0].message.contains("frobnicate"));
    }

    /// Garbage never panics.
    #[test]
    fn garbage_never_panics() {
        let mut junk = String::new();
        for i in 0u32..2000 {
            junk.push(char::from_u32((i * 7919) % 0x3000).unwrap_or('x'));
            if i % 37 == 0 {
                junk.push('\n');
            }
        }
        for text in [
            junk.as_str(),
            "\0\0\0",
            "default",
            "\"",
            "default \"",
            "timeout \"\"",
            "\r\r\n\n",
            &"x".repeat(crate::MAX_LINE_BYTES + 1),
        ] {
            let _ = p(text);
        }
    }
}
