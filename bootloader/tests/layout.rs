//! The crates' layout, checked from their sources (issue 10):
//! - no import circles: every `crate::`, `super::` and `self::` path is resolved to the
//!   module it names; both ends are lifted to the children of their closest common
//!   module, and the edges between siblings must form no circle (a module using its
//!   own parent or child does not count: that is what a folder's `mod.rs` is for);
//! - `unsafe` appears only under `bootloader/src/sys/`, every other top-level module of
//!   `leapboot` is declared `#[forbid(unsafe_code)]`, and `leapboot-menus` forbids it
//!   crate-wide.
//!
//! Comments and string literals are skipped, so doc links and messages do not count.

// A failed check here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path inside one crate, `[]` for the crate root.
type Module = Vec<String>;

/// Every `.rs` file under `src` with its module path.
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "bin") {
                    stack.push(p);
                }
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = p.strip_prefix(src).unwrap();
            let mut m: Module = rel
                .parent()
                .unwrap()
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            if !matches!(stem.as_str(), "mod" | "lib" | "main") {
                m.push(stem.clone());
            }
            if stem != "main" {
                out.insert(m, p);
            }
        }
    }
    out
}

/// The source without comments and string/char literals (each replaced by a blank).
fn code_only(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&b, i) {
            // Raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (1..=hashes).all(|k| b.get(j + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
            out.push(' ');
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push(' ');
        } else if c == '\'' && next.is_some() && b.get(i + 2) == Some(&'\'') {
            i += 3; // 'x'
            out.push(' ');
        } else if c == '\'' && next == Some('\\') {
            i += 2;
            while i < b.len() && b[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push(' ');
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
}

/// Paths of a use tree starting at `s` (after `crate::`, `super::` or `self::`):
/// `a::b`, `a::{b, c::d}`, `{a, b}`.
fn use_tree(s: &str) -> (Vec<Vec<String>>, usize) {
    let mut paths = Vec::new();
    let mut prefix: Vec<String> = Vec::new();
    let bytes: Vec<char> = s.chars().collect();
    let mut i = 0;
    loop {
        while bytes.get(i).is_some_and(|c| c.is_whitespace()) {
            i += 1;
        }
        if bytes.get(i) == Some(&'{') {
            i += 1;
            loop {
                let rest: String = bytes[i..].iter().collect();
                let (sub, used) = use_tree(&rest);
                for p in sub {
                    let mut full = prefix.clone();
                    full.extend(p);
                    paths.push(full);
                }
                i += used;
                while bytes.get(i).is_some_and(|c| c.is_whitespace() || *c == ',') {
                    i += 1;
                }
                if bytes.get(i) == Some(&'}') || i >= bytes.len() {
                    i += 1;
                    return (paths, i);
                }
            }
        }
        let start = i;
        while bytes
            .get(i)
            .is_some_and(|c| c.is_alphanumeric() || *c == '_')
        {
            i += 1;
        }
        if i == start {
            break;
        }
        prefix.push(bytes[start..i].iter().collect());
        if bytes.get(i) == Some(&':') && bytes.get(i + 1) == Some(&':') {
            i += 2;
            continue;
        }
        break;
    }
    if !prefix.is_empty() {
        paths.push(prefix);
    }
    (paths, i)
}

/// The modules `code` (in module `at`) refers to, resolved against `known`.
fn references(
    code: &str,
    at: &Module,
    is_dir_module: bool,
    known: &BTreeSet<Module>,
) -> Vec<Module> {
    let mut out = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let text: String = chars.iter().collect();
    for kw in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(pos) = text[from..].find(kw) {
            let abs = from + pos;
            from = abs + kw.len();
            let before = text[..abs].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let (paths, _) = use_tree(&text[abs + kw.len()..]);
            for p in paths {
                let mut base: Module = match kw {
                    "crate::" => Vec::new(),
                    // In `a/b.rs` (module a::b) `super` is `a`; in `a/mod.rs` (module a)
                    // it is the crate root.
                    "super::" => {
                        let mut m = at.clone();
                        m.pop();
                        m
                    }
                    _ => at.clone(),
                };
                let _ = is_dir_module;
                let mut path = p;
                // `super::super::x`
                while path.first().is_some_and(|s| s == "super") {
                    path.remove(0);
                    base.pop();
                }
                let mut best = base.clone();
                let mut cur = base;
                for seg in path {
                    cur.push(seg);
                    if known.contains(&cur) {
                        best = cur.clone();
                    } else {
                        break;
                    }
                }
                out.push(best);
            }
        }
    }
    out
}

/// Circles among sibling modules, as lists of module names.
fn circles(src: &Path) -> Vec<String> {
    let mods = modules(src);
    let known: BTreeSet<Module> = mods.keys().cloned().collect();
    // parent -> (child -> children it uses)
    let mut edges: BTreeMap<Module, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (m, file) in &mods {
        let code = code_only(&std::fs::read_to_string(file).unwrap());
        let dir_module = file.file_stem().is_some_and(|s| s == "mod");
        for target in references(&code, m, dir_module, &known) {
            let common = m.iter().zip(&target).take_while(|(a, b)| a == b).count();
            let (Some(a), Some(b)) = (m.get(common), target.get(common)) else {
                continue; // one is the other's ancestor
            };
            edges
                .entry(m[..common].to_vec())
                .or_default()
                .entry(a.clone())
                .or_default()
                .insert(b.clone());
        }
    }
    let mut found = Vec::new();
    for (parent, g) in &edges {
        for cycle in sccs(g) {
            let at = if parent.is_empty() {
                "crate".to_string()
            } else {
                parent.join("::")
            };
            found.push(format!("in {at}: {}", cycle.join(" <-> ")));
        }
    }
    found
}

/// Strongly connected components with more than one member (Tarjan's algorithm).
fn sccs(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        on: BTreeSet<String>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit(s: &mut State<'_>, v: &str) {
        s.index.insert(v.to_string(), s.next);
        s.low.insert(v.to_string(), s.next);
        s.next += 1;
        s.stack.push(v.to_string());
        s.on.insert(v.to_string());
        let succ: Vec<String> =
            s.g.get(v)
                .map(|x| x.iter().cloned().collect())
                .unwrap_or_default();
        for w in succ {
            if !s.index.contains_key(&w) {
                visit(s, &w);
                let lw = s.low[&w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on.contains(&w) {
                let iw = s.index[&w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(&w);
                let done = w == v;
                comp.push(w);
                if done {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = State {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in g.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn no_import_circles_in_leapboot() {
    let c = circles(&workspace().join("bootloader/src"));
    assert!(c.is_empty(), "import circles:\n{}", c.join("\n"));
}

#[test]
fn no_import_circles_in_leapboot_menus() {
    let c = circles(&workspace().join("menus/src"));
    assert!(c.is_empty(), "import circles:\n{}", c.join("\n"));
}

#[test]
fn the_checker_finds_a_circle() {
    let dir = std::env::temp_dir().join(format!("leapboot-layout-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("b")).unwrap();
    std::fs::write(dir.join("lib.rs"), "mod a; mod b;").unwrap();
    std::fs::write(dir.join("a.rs"), "use crate::b::c::X; // crate::d\n").unwrap();
    std::fs::write(dir.join("b/mod.rs"), "pub mod c; use super::super::x;").unwrap();
    std::fs::write(
        dir.join("b/c.rs"),
        "pub struct X; fn f() { let _ = \"crate::a\"; crate::{a::y, b}; }",
    )
    .unwrap();
    let c = circles(&dir);
    assert_eq!(c, ["in crate: a <-> b"]);
    std::fs::write(
        dir.join("b/c.rs"),
        "pub struct X; fn f() { let _ = \"crate::a\"; }",
    )
    .unwrap();
    assert!(circles(&dir).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `unsafe` as a word in code (not in comments or strings).
fn uses_unsafe(code: &str) -> bool {
    code.match_indices("unsafe").any(|(i, _)| {
        let before = code[..i].chars().last();
        let after = code[i + 6..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

#[test]
fn unsafe_only_in_sys() {
    let src = workspace().join("bootloader/src");
    let mut offenders = Vec::new();
    for (m, file) in modules(&src) {
        if m.first().is_some_and(|s| s == "sys") {
            continue;
        }
        let code = code_only(&std::fs::read_to_string(&file).unwrap());
        // lib.rs names the lint `unsafe_code`, which is one word.
        if uses_unsafe(&code) {
            offenders.push(file.display().to_string());
        }
    }
    for (_, file) in modules(&workspace().join("menus/src")) {
        if uses_unsafe(&code_only(&std::fs::read_to_string(&file).unwrap())) {
            offenders.push(file.display().to_string());
        }
    }
    assert!(offenders.is_empty(), "unsafe outside sys/: {offenders:?}");

    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let mut prev = "";
    let mut declared = 0;
    for l in lib.lines() {
        if let Some(name) = l
            .strip_prefix("pub mod ")
            .or_else(|| l.strip_prefix("mod "))
        {
            declared += 1;
            let name = name.trim_end_matches(';');
            if name == "sys" {
                assert!(!prev.contains("forbid"), "sys must not forbid unsafe");
            } else {
                assert_eq!(
                    prev.trim(),
                    "#[forbid(unsafe_code)]",
                    "module {name} must be declared #[forbid(unsafe_code)]"
                );
            }
        }
        prev = l;
    }
    assert!(declared > 5, "lib.rs declares {declared} modules");
    let menus = std::fs::read_to_string(workspace().join("menus/src/lib.rs")).unwrap();
    assert!(menus.contains("#![forbid(unsafe_code)]"));
}
