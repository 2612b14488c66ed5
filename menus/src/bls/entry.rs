//! Type #1 entry files (Boot Loader Specification, "Type #1 Boot Loader Specification
//! Entries"), read as systemd-boot's `boot_entry_add_type1` (`src/boot/boot.c`) reads
//! them: `key value` lines split by `line_get_key_value`; `options` lines join with one
//! space, `initrd` lines stay in order, every other key keeps its last value. Keys
//! systemd-boot does not know are reported and skipped.
//!
//! The parser only records what the file says. What makes an entry unusable is decided
//! by [`super::scan`], as systemd-boot decides it: no `linux`/`efi`/`uki` key, two of
//! them at once ([`EntryFile::conflict`]), or another `architecture`.

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

use crate::diag::{Diagnostic, Severity};
use crate::fs::normalize;

/// Which key names the program to boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoaderKey {
    /// `linux`: a kernel image.
    Linux,
    /// `efi`: an EFI program.
    Efi,
    /// `uki`: a unified kernel image.
    Uki,
    /// `uki-url`: a unified kernel image fetched over the network.
    UkiUrl,
}

impl LoaderKey {
    /// The key as written.
    pub fn as_str(self) -> &'static str {
        match self {
            LoaderKey::Linux => "linux",
            LoaderKey::Efi => "efi",
            LoaderKey::Uki => "uki",
            LoaderKey::UkiUrl => "uki-url",
        }
    }
}

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
    /// `uki`, normalised.
    pub uki: Option<String>,
    /// `uki-url`, as written.
    pub uki_url: Option<String>,
    /// `profile`, the UKI profile number for `uki` entries.
    pub profile: Option<u32>,
    /// Every `initrd`, in order, normalised.
    pub initrds: Vec<String>,
    /// Every `options` line, in order.
    pub options: Vec<String>,
    /// `devicetree`, normalised.
    pub devicetree: Option<String>,
    /// Every `devicetree-overlay` path, in order.
    pub devicetree_overlays: Vec<String>,
    /// `architecture`, as written (compared without regard to case).
    pub architecture: Option<String>,
    /// The first key that names the program to boot (`linux`, `efi`, `uki`, `uki-url`).
    pub loader: Option<LoaderKey>,
    /// Set when a second, different program key follows the first: systemd-boot marks
    /// such an entry bad and hides it (`LOADER_BAD`).
    pub conflict: Option<(LoaderKey, LoaderKey)>,
}

impl EntryFile {
    /// The command line: every `options` line joined by one space.
    pub fn cmdline(&self) -> String {
        self.options.join(" ")
    }
}

/// The lines of a config text with their 1-based line numbers. As in systemd-boot's
/// `line_get_key_value`, a CR ends a line as LF does (a CR LF pair gives an empty line,
/// which is skipped); numbers count LF only, so they match what an editor shows.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = (u32, &str)> {
    text.split('\n').enumerate().flat_map(|(n, l)| {
        let no = u32::try_from(n.saturating_add(1)).unwrap_or(u32::MAX);
        l.split('\r').map(move |part| (no, part))
    })
}

/// Splits one line as systemd-boot's `line_get_key_value` does: strip spaces and tabs at
/// both ends; `#` starts a comment; the key runs to the first separator, the value starts
/// after the run of separators; a value that starts with `"` on a line that ends with `"`
/// loses both quotes. `None` for comments, blank lines and keys without a value.
pub(crate) fn split_line<'a>(raw: &'a str, seps: &[char]) -> Option<(&'a str, &'a str)> {
    let line = raw.trim_matches([' ', '\t']);
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (key, rest) = line.split_once(|c: char| seps.contains(&c))?;
    let value = rest.trim_start_matches(|c: char| seps.contains(&c));
    let value = match value.strip_prefix('"') {
        Some(v) if line.ends_with('"') => v.strip_suffix('"').unwrap_or(v),
        _ => value,
    };
    Some((key, value))
}

/// The `key value` lines of a file (entry files and `loader.conf` alike), with line
/// numbers; over-long lines and keys without a value are reported to `diags` and
/// left out, comments and blank lines skipped.
pub(crate) fn key_values<'t>(
    file: &str,
    text: &'t str,
    diags: &mut Vec<Diagnostic>,
) -> Vec<(u32, &'t str, &'t str)> {
    let mut out = Vec::new();
    for (line_no, raw) in lines(text) {
        if raw.len() > crate::MAX_LINE_BYTES {
            diags.push(Diagnostic::new(
                Severity::Warning,
                file,
                line_no,
                format!(
                    "line of {} bytes is longer than {}, skipped",
                    raw.len(),
                    crate::MAX_LINE_BYTES
                ),
            ));
            continue;
        }
        let Some((key, value)) = split_line(raw, &[' ', '\t']) else {
            let t = raw.trim_matches([' ', '\t']);
            if !t.is_empty() && !t.starts_with('#') {
                diags.push(Diagnostic::new(
                    Severity::Warning,
                    file,
                    line_no,
                    format!("key '{t}' has no value, skipped"),
                ));
            }
            continue;
        };
        out.push((line_no, key, value));
    }
    out
}

/// Parses the text of `file`; problems go to `diags` with their line numbers. Never
/// panics, whatever the text.
pub fn parse(file: &str, text: &str, diags: &mut Vec<Diagnostic>) -> EntryFile {
    let mut e = EntryFile::default();
    for (line_no, key, value) in key_values(file, text, diags) {
        let mut path = |what: &str| -> Option<String> {
            let p = normalize(value);
            if p.is_none() {
                diags.push(Diagnostic::new(
                    Severity::Warning,
                    file,
                    line_no,
                    format!("{what} path '{value}' is not a valid path within the volume, skipped"),
                ));
            }
            p
        };
        let program = |e: &mut EntryFile, k: LoaderKey| match e.loader {
            None => e.loader = Some(k),
            Some(first) if first != k && e.conflict.is_none() => e.conflict = Some((first, k)),
            Some(_) => {}
        };
        match key {
            "title" => e.title = Some(value.to_string()),
            "version" => e.version = Some(value.to_string()),
            "machine-id" => e.machine_id = Some(value.to_string()),
            "sort-key" => e.sort_key = Some(value.to_string()),
            "linux" => {
                program(&mut e, LoaderKey::Linux);
                e.linux = path("linux");
            }
            "efi" => {
                program(&mut e, LoaderKey::Efi);
                e.efi = path("efi");
            }
            "uki" => {
                program(&mut e, LoaderKey::Uki);
                e.uki = path("uki");
            }
            "uki-url" => {
                program(&mut e, LoaderKey::UkiUrl);
                e.uki_url = Some(value.to_string());
            }
            "profile" => match value.parse::<u32>() {
                Ok(n) if value.bytes().all(|b| b.is_ascii_digit()) => e.profile = Some(n),
                _ => diags.push(Diagnostic::new(
                    Severity::Warning,
                    file,
                    line_no,
                    format!("profile '{value}' is not a number, ignored"),
                )),
            },
            "initrd" => {
                if let Some(p) = path("initrd") {
                    e.initrds.push(p);
                }
            }
            "options" => e.options.push(value.to_string()),
            "devicetree" => e.devicetree = path("devicetree"),
            "devicetree-overlay" => {
                for p in value.split_whitespace() {
                    match normalize(p) {
                        Some(p) => e.devicetree_overlays.push(p),
                        None => diags.push(Diagnostic::new(
                            Severity::Warning,
                            file,
                            line_no,
                            format!("devicetree-overlay path '{p}' is not a valid path within the volume, skipped"),
                        )),
                    }
                }
            }
            "architecture" => e.architecture = Some(value.to_string()),
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

    fn p(text: &str) -> (EntryFile, Vec<Diagnostic>) {
        let mut d = Vec::new();
        (parse("/loader/entries/a.conf", text, &mut d), d)
    }

    /// Spec: `options` may repeat and the values are joined by one space.
    #[test]
    fn options_join_with_one_space() {
        let (e, _) = p("options root=/dev/vda2 ro\noptions quiet\noptions   splash\n");
        assert_eq!(e.cmdline(), "root=/dev/vda2 ro quiet splash");
    }

    /// Spec: `initrd` may repeat; the initrds load in the order given.
    #[test]
    fn initrds_keep_order() {
        let (e, _) = p("initrd /ucode.img\ninitrd /initrd-6.1\n");
        assert_eq!(e.initrds, ["/ucode.img", "/initrd-6.1"]);
    }

    /// Other keys: the last value wins.
    #[test]
    fn single_keys_last_wins() {
        let (e, _) = p("title A\ntitle B\nversion 1\nversion 2\n");
        assert_eq!(
            (e.title.as_deref(), e.version.as_deref()),
            (Some("B"), Some("2"))
        );
    }

    /// Every key of the spec.
    #[test]
    fn all_keys() {
        let (e, d) = p(concat!(
            "title Fedora 40\n",
            "version 6.8.5-301.fc40.x86_64\n",
            "machine-id 6a9857a393724b7a981ebb5b8495b9ea\n",
            "sort-key fedora\n",
            "linux /6a98/6.8.5/linux\n",
            "initrd /6a98/6.8.5/initrd\n",
            "options root=UUID=1 quiet\n",
            "devicetree /dtb/board.dtb\n",
            "devicetree-overlay /dtb/a.dtbo /dtb/b.dtbo\n",
            "architecture x64\n",
        ));
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(e.title.as_deref(), Some("Fedora 40"));
        assert_eq!(
            e.machine_id.as_deref(),
            Some("6a9857a393724b7a981ebb5b8495b9ea")
        );
        assert_eq!(e.sort_key.as_deref(), Some("fedora"));
        assert_eq!(e.linux.as_deref(), Some("/6a98/6.8.5/linux"));
        assert_eq!(e.devicetree.as_deref(), Some("/dtb/board.dtb"));
        assert_eq!(e.devicetree_overlays, ["/dtb/a.dtbo", "/dtb/b.dtbo"]);
        assert_eq!(e.architecture.as_deref(), Some("x64"));
        assert_eq!(e.loader, Some(LoaderKey::Linux));
        assert_eq!(e.conflict, None);
    }

    /// `line_get_key_value`: tabs separate, runs of separators collapse, both ends are
    /// trimmed, surrounding double quotes go.
    #[test]
    fn line_splitting() {
        let (e, _) = p("  title\t \t\"Quoted  Title\"  \nlinux\tvmlinuz-6\n");
        assert_eq!(e.title.as_deref(), Some("Quoted  Title"));
        assert_eq!(e.linux.as_deref(), Some("/vmlinuz-6"));
    }

    /// A quote is removed only when the line also ends with one.
    #[test]
    fn unbalanced_quotes_stay() {
        let (e, _) = p("title \"open\ntitle2 x\n");
        assert_eq!(e.title.as_deref(), Some("\"open"));
    }

    /// CR LF and lone CR end lines; line numbers count LF.
    #[test]
    fn crlf_and_line_numbers() {
        let (e, d) = p("title T\r\nbogus x\r\nlinux /k\r\n");
        assert_eq!(
            (e.title.as_deref(), e.linux.as_deref()),
            (Some("T"), Some("/k"))
        );
        assert_eq!((d.len(), d[0].line), (1, 2));
    }

    /// Comments and keys without a value.
    #[test]
    fn comments_and_empty_values() {
        let (e, d) = p("# title No\n   # also\ntitle\ntitle    \noptions\n");
        assert_eq!((e.title, e.options.len()), (None, 0));
        assert_eq!(d.len(), 3);
    }

    /// systemd `src/test/test-efi-string.c`, `TEST(line_get_key_value)`: (separators,
    /// line, key and value or nothing).
    #[test]
    fn systemd_line_get_key_value_vectors() {
        type Row<'a> = (&'a [char], &'a str, Option<(&'a str, &'a str)>);
        let rows: &[Row<'_>] = &[
            (&['='], "", None),
            (&[' ', '\t'], "\t", None),
            (&['='], "key=value", Some(("key", "value"))),
            (&['='], " \t  # comment line ", None),
            (
                &['='],
                "k-e-y=\"quoted value\"",
                Some(("k-e-y", "quoted value")),
            ),
            (&['='], "  wrong= 'quotes' ", Some(("wrong", " 'quotes'"))),
            (
                &['='],
                "odd= stripping  # with comments  ",
                Some(("odd", " stripping  # with comments")),
            ),
            (&[' ', '\t'], "this parser", Some(("this", "parser"))),
            (&[' ', '\t'], "\t\t\t# is\t", None),
            (&[' ', '\t'], "  also\tused  ", Some(("also", "used"))),
            (&[' ', '\t'], "for \"the conf\"", Some(("for", "the conf"))),
            (&[' ', '\t'], "format\t !!", Some(("format", "!!"))),
        ];
        for &(seps, line, want) in rows {
            assert_eq!(split_line(line, seps), want, "{line:?}");
        }
    }

    /// Unknown keys are reported with their line, then skipped.
    #[test]
    fn unknown_keys_reported() {
        let (_, d) = p("title T\nextra /x.cred\n");
        assert_eq!((d.len(), d[0].line, d[0].severity), (1, 2, Severity::Info));
        assert!(d[0].message.contains("extra"));
    }

    /// Relative paths are taken from the volume root; `..` is refused (systemd's
    /// `mangle_path`).
    #[test]
    fn paths_normalised() {
        let (e, d) = p("linux vmlinuz\ninitrd //a//./b\ninitrd ../x\n");
        assert_eq!(e.linux.as_deref(), Some("/vmlinuz"));
        assert_eq!(e.initrds, ["/a/b"]);
        assert_eq!(d.len(), 1);
    }

    /// Two different program keys: `LOADER_BAD` in systemd-boot.
    #[test]
    fn linux_and_efi_conflict() {
        let (e, _) = p("linux /k\nefi /e.efi\n");
        assert_eq!(e.conflict, Some((LoaderKey::Linux, LoaderKey::Efi)));
        let (e, _) = p("linux /k\nlinux /k2\n");
        assert_eq!((e.conflict, e.linux.as_deref()), (None, Some("/k2")));
    }

    /// Garbage never panics.
    #[test]
    fn garbage_never_panics() {
        let mut junk = String::new();
        for i in 0u32..3000 {
            junk.push(char::from_u32((i * 104729) % 0x2100).unwrap_or('?'));
            if i % 41 == 0 {
                junk.push_str("\r\n");
            }
            if i % 97 == 0 {
                junk.push_str("initrd ../../\noptions \"\nlinux \"\nprofile 99999999999\n");
            }
        }
        for text in [
            junk.as_str(),
            "\"",
            "title \"",
            "linux",
            "\0 \0",
            &"linux /".repeat(10000),
        ] {
            let _ = p(text);
        }
    }
}
