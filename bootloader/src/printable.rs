//! Text from disks made safe for terminals: titles, ids, paths and command lines come
//! from files anyone can write, and a raw `ESC ]0;...BEL` retitles a terminal,
//! `ESC [2J` clears it, CR and BS overwrite what was printed before, and a newline
//! forges a log line of its own. Every line leapboot prints to a terminal, console or
//! log goes through [`printable`], which shows such characters as escapes instead of
//! sending them; `--json` output is exact (JSON escapes control characters itself).
//!
//! Escaped: the C0 controls and DEL (`\n`, `\r`, `\t`, `\0`, else `\xHH`), the C1
//! controls (`\u{9b}`: a CSI on terminals that read 8-bit controls), and the Unicode
//! bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069), which reorder
//! what is shown without being seen. Backslashes stay as they are: kernel command lines
//! carry them (`initrd=\EFI\x.img`).

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is shown as an escape (module docs).
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every control, bidi-override and bidi-isolate character written as a
/// visible escape; borrowed unchanged when there is none.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len().saturating_add(8));
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if u32::from(c) < 0x80 && needs_escape(c) => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Prints one line on standard output, made [`printable`].
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => { println!("{}", $crate::printable::printable(&format!($($arg)*))) };
}

/// Prints one line on standard error, made [`printable`].
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { eprintln!("{}", $crate::printable::printable(&format!($($arg)*))) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_become_visible() {
        assert_eq!(printable("Debian 12"), "Debian 12");
        assert!(matches!(printable("plain"), Cow::Borrowed(_)));
        assert_eq!(
            printable("\u{1b}]0;owned\u{7}\u{1b}[2Jx"),
            "\\x1b]0;owned\\x07\\x1b[2Jx"
        );
        assert_eq!(printable("a\rb\u{8}c\n"), "a\\rb\\x08c\\n");
        assert_eq!(printable("t\tz\0\u{7f}"), "t\\tz\\0\\x7f");
        assert_eq!(printable("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(printable("abc\u{202e}fdp.exe"), "abc\\u{202e}fdp.exe");
        assert_eq!(printable(r"initrd=\EFI\x.img é"), r"initrd=\EFI\x.img é");
    }
}
