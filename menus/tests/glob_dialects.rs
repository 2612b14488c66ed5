//! The two glob dialects of `leapboot_menus::glob`, case by case, in the spirit of
//! systemd's `TEST(efi_fnmatch)` (`src/test/test-efi-string.c`): one row per rule, with
//! the result of each dialect, checked against libc's `fnmatch(3)` (flags 0 for
//! systemd-boot's `efi_fnmatch`, `FNM_CASEFOLD` for the id glob). Where a dialect
//! differs from `fnmatch` on purpose the row says so, and the test checks that libc
//! really gives the other answer, so the table of differences in the module docs
//! stays true.

use leapboot_menus::glob::{Dialect, efi_fnmatch, id_glob, matches};
use std::ffi::CString;

/// One dialect's expected answer on a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum R {
    /// Matches, as `fnmatch` does.
    Y,
    /// Does not match, as `fnmatch` does not.
    N,
    /// Matches where `fnmatch` does not (a documented difference).
    Yx,
    /// Does not match where `fnmatch` does (a documented difference).
    Nx,
}
use R::{N, Nx, Y, Yx};

impl R {
    fn matches(self) -> bool {
        matches!(self, Y | Yx)
    }
    fn libc_matches(self) -> bool {
        matches!(self, Y | Nx)
    }
}

/// (rule, pattern, text, efi_fnmatch, id_glob)
const ROWS: &[(&str, &str, &str, R, R)] = &[
    // Literals.
    ("empty matches empty", "", "", Y, Y),
    ("empty matches nothing else", "", "a", N, N),
    ("literal", "abc", "abc", Y, Y),
    ("literal is the whole text", "abc", "abcd", N, N),
    ("literal needs all of itself", "abc", "ab", N, N),
    // Case.
    (
        "case is kept by efi_fnmatch, folded by the id glob",
        "aBc",
        "abc",
        N,
        Y,
    ),
    ("folded both ways", "DEBIAN-*", "debian-6.1.conf", N, Y),
    ("only ASCII is folded", "\u{c9}", "\u{e9}", N, N),
    ("ranges are folded with the rest", "[A-C]", "b", N, Y),
    // `?`.
    ("? is one character", "a?c", "abc", Y, Y),
    ("? is not zero characters", "a?c", "ac", N, N),
    ("? needs a character", "?", "", N, N),
    ("? matches metacharacters", "???", "?.9", Y, Y),
    // `*`.
    ("* matches nothing", "*", "", Y, Y),
    ("* matches anything", "*", "anything", Y, Y),
    ("stars in a row are one", "***", "", Y, Y),
    ("trailing *", "a*", "a", Y, Y),
    ("leading *", "*a", "ba", Y, Y),
    ("middle stars", "a*b*c", "axbyc", Y, Y),
    ("middle stars need the last part", "a*b*c", "axby", N, N),
    (
        "last part at the end",
        "start*end",
        "startendstartend",
        Y,
        Y,
    ),
    ("last part not at the end", "start*end", "startenddne", N, N),
    ("suffix glob", "*.conf", "arch.conf", Y, Y),
    (
        "several stars",
        "debian-*-*-*.*",
        "debian-jessie-2018-06-17-kernel-image-5.10.0-16-amd64.efi",
        Y,
        Y,
    ),
    ("no FNM_PATHNAME: / is ordinary", "*/*", "a/b", Y, Y),
    (
        "no FNM_PERIOD: a leading . is ordinary",
        "*",
        ".hidden",
        Y,
        Y,
    ),
    // Escapes.
    ("escaped *", "\\*", "*", Y, Y),
    ("escaped * is not a wildcard", "\\*", "a", N, N),
    ("escaped ordinary characters", "\\a\\[", "a[", Y, Y),
    ("trailing \\ never matches", "abc\\", "abc\\", N, N),
    (
        "trailing \\ never matches, either way",
        "abc\\",
        "abc",
        N,
        N,
    ),
    // Sets.
    ("set member", "[abc]", "b", Y, Y),
    ("set non-member", "[abc]", "z", N, N),
    ("range", "[a-c]", "b", Y, Y),
    ("outside the range", "[a-c]", "d", N, N),
    ("] first is a member", "[]a]", "]", Y, Y),
    ("] first starts a range", "[]-a]", "_", Y, Y),
    ("- first is a member", "[-a]", "-", Y, Y),
    ("- last is a member", "[a-]", "-", Y, Y),
    (
        "ranges do not chain: - after a range is a member",
        "[a-c-f]",
        "-",
        Y,
        Y,
    ),
    ("ranges do not chain: no range c-f", "[a-c-f]", "e", N, N),
    ("a range starting at -", "[--0]", ".", Y, Y),
    ("* in a set is a member", "[*]", "*", Y, Y),
    ("* in a set is not a wildcard", "a[*]b", "axb", N, N),
    ("? in a set is a member", "[?]", "x", N, N),
    ("sets, stars and ? together", "?a*b[.-0]c", "/a/b/c", Y, Y),
    // Negation.
    ("[! is not negation in efi_fnmatch", "[!a]", "b", Nx, Y),
    ("[! makes ! a member in efi_fnmatch", "[!a]", "a", Yx, N),
    ("[^ is not negation in efi_fnmatch", "[^a]", "b", Nx, Y),
    ("[^ makes ^ a member in efi_fnmatch", "[^a]", "a", Yx, N),
    ("[!] closes at its ] in efi_fnmatch", "[!]a]", "!a]", Yx, N),
    ("negated set with ] first", "[!]a]", "]", N, N),
    // `\` in sets.
    ("\\ escapes ] in an efi_fnmatch set", "[a\\]]", "]", Y, Nx),
    ("\\ is a member of an id glob set", "[a\\]]", "\\]", N, Yx),
    (
        "escaped - is not a range in efi_fnmatch",
        "[a\\-z]",
        "b",
        N,
        Yx,
    ),
    // Unterminated sets.
    ("unterminated set", "[abc", "a", N, N),
    (
        "unterminated [ never matches in efi_fnmatch, is literal in the id glob",
        "[abc",
        "[abc",
        Nx,
        Y,
    ),
    ("unterminated [ at the end", "v[", "v[", Nx, Y),
    // Reversed ranges.
    (
        "reversed range keeps its start in efi_fnmatch",
        "[c-a]",
        "c",
        Yx,
        N,
    ),
    ("reversed range is empty inside", "[c-a]", "b", N, N),
    // Character classes are not supported.
    ("[[:alpha:]] is not a class", "[[:alpha:]]", "x", Nx, Nx),
    ("[[:alpha:]] is a set and a ]", "[[:alpha:]]", "a]", Yx, Yx),
    // Characters, not bytes (libc in the C locale counts bytes).
    ("? is one character, not one byte", "?", "\u{e9}", Yx, Yx),
    ("non-ASCII literals", "\u{e9}*", "\u{e9}a", Y, Y),
    // Many stars, no match: no backtracking blow-up.
    (
        "many stars",
        "a*b*c*d*e*f*g*h*i*j*k*l*m*n*o*p*q*r*s*t*u*v*w*x*y*z*",
        "aaaabbbbccccddddeeeeffffgggghhhhiiiijjjjkkkkllllmmmmnnnnooooppppqqqqrrrrssssttttuuuuvvvvwwwwxxxxyyyy",
        N,
        N,
    ),
];

/// libc's `fnmatch(3)`.
// fnmatch(3) is only reachable through FFI; both strings are valid NUL-terminated
// C strings for the length of the call.
#[allow(unsafe_code)]
fn libc_fnmatch(pattern: &str, text: &str, flags: libc::c_int) -> bool {
    let (Ok(p), Ok(t)) = (CString::new(pattern), CString::new(text)) else {
        return false;
    };
    // SAFETY: `p` and `t` outlive the call and are NUL-terminated.
    unsafe { libc::fnmatch(p.as_ptr(), t.as_ptr(), flags) == 0 }
}

#[test]
fn dialect_table() {
    let mut failures = Vec::new();
    for &(rule, p, t, efi, id) in ROWS {
        let checks = [
            ("efi_fnmatch", efi_fnmatch(p, t), efi, libc_fnmatch(p, t, 0)),
            (
                "id_glob",
                id_glob(p, t),
                id,
                libc_fnmatch(p, t, libc::FNM_CASEFOLD),
            ),
        ];
        for (name, got, want, libc) in checks {
            if got != want.matches() {
                failures.push(format!(
                    "{name}({p:?}, {t:?}) = {got}, want {want:?}: {rule}"
                ));
            }
            if libc != want.libc_matches() {
                failures.push(format!(
                    "fnmatch({p:?}, {t:?}) for {name} = {libc}, the table says {want:?}: {rule}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The named functions are the dialects of `matches`.
#[test]
fn functions_are_their_dialects() {
    for &(_, p, t, _, _) in ROWS {
        assert_eq!(matches(Dialect::EfiFnmatch, p, t), efi_fnmatch(p, t));
        assert_eq!(matches(Dialect::IdGlob, p, t), id_glob(p, t));
    }
}
