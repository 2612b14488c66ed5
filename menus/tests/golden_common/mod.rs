//! Golden files for the corpus tests: a small JSON writer whose output is the same on
//! every run and machine (keys in the order written, two-space indentation, an array or
//! object of scalars on one line when it fits in 100 columns, a final newline), and the
//! comparison of a produced document with its file under a golden folder, with a
//! readable line diff on mismatch.
//!
//! With `LEAPBOOT_BLESS=1` in the environment the files are written instead, and files
//! that belong to no case are removed; `docs/testing.md` describes the workflow.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The environment variable that rewrites the golden files instead of comparing.
pub const BLESS: &str = "LEAPBOOT_BLESS";

/// A JSON value with object keys kept in the order they were written.
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(&'static str, Json)>),
}

/// A string.
pub fn s(v: &str) -> Json {
    Json::Str(v.to_string())
}

/// A string, or `null`.
pub fn opt_s(v: Option<&str>) -> Json {
    v.map_or(Json::Null, s)
}

/// An integer.
pub fn int(v: impl TryInto<i64>) -> Json {
    // OK: every count and index here is far below i64::MAX.
    Json::Int(v.try_into().unwrap_or(i64::MAX))
}

/// An integer, or `null`.
pub fn opt_int(v: Option<usize>) -> Json {
    v.map_or(Json::Null, int)
}

/// An array of strings.
pub fn strs(v: &[String]) -> Json {
    Json::Arr(v.iter().map(|x| s(x)).collect())
}

/// An array of integers.
pub fn ints(v: &[usize]) -> Json {
    Json::Arr(v.iter().map(|&x| int(x)).collect())
}

impl Json {
    fn is_scalar(&self) -> bool {
        !matches!(self, Json::Arr(_) | Json::Obj(_))
    }

    /// Pretty-printed, two spaces per level, ending with a newline. An array or
    /// object of scalars that fits in 100 columns is written on one line.
    pub fn pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0, 0);
        out.push('\n');
        out
    }

    fn write(&self, out: &mut String, indent: usize, used: usize) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(n) => out.push_str(&n.to_string()),
            Json::Str(v) => write_str(out, v),
            Json::Arr(items) if items.is_empty() => out.push_str("[]"),
            Json::Obj(fields) if fields.is_empty() => out.push_str("{}"),
            Json::Arr(items) => {
                if let Some(line) = self.one_line()
                    && used.saturating_add(line.len()) <= 100
                {
                    out.push_str(&line);
                    return;
                }
                out.push_str("[\n");
                for (i, item) in items.iter().enumerate() {
                    pad(out, indent + 1);
                    item.write(out, indent + 1, 2 * (indent + 1));
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push(']');
            }
            Json::Obj(fields) => {
                if let Some(line) = self.one_line()
                    && used.saturating_add(line.len()) <= 100
                {
                    out.push_str(&line);
                    return;
                }
                out.push_str("{\n");
                for (i, (k, v)) in fields.iter().enumerate() {
                    pad(out, indent + 1);
                    let start = out.len();
                    write_str(out, k);
                    out.push_str(": ");
                    let used = 2 * (indent + 1) + (out.len() - start);
                    v.write(out, indent + 1, used);
                    out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push('}');
            }
        }
    }

    /// The one-line form of an array or object whose members are all scalars.
    fn one_line(&self) -> Option<String> {
        let mut out = String::new();
        match self {
            Json::Arr(items) if items.iter().all(Json::is_scalar) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write(&mut out, 0, 0);
                }
                out.push(']');
            }
            Json::Obj(fields) if fields.iter().all(|(_, v)| v.is_scalar()) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_str(&mut out, k);
                    out.push_str(": ");
                    v.write(&mut out, 0, 0);
                }
                out.push('}');
            }
            _ => return None,
        }
        Some(out)
    }
}

fn pad(out: &mut String, indent: usize) {
    for _ in 0..indent {
        out.push_str("  ");
    }
}

/// A JSON string: `"` and `\` escaped, control characters as `\n`, `\t` or `\u00XX`.
fn write_str(out: &mut String, v: &str) {
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// True when the golden files are to be rewritten (`LEAPBOOT_BLESS` set, not `0`).
pub fn blessing() -> bool {
    std::env::var(BLESS).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The golden files of one test under `dir`, one `<name>.json` per case (a name may
/// hold `/`: its file is in a subfolder). Collects every mismatch, then [`Golden::finish`]
/// fails once, naming each case.
pub struct Golden {
    dir: PathBuf,
    /// The command that regenerates the files, for the failure message.
    command: &'static str,
    bless: bool,
    names: Vec<String>,
    failures: Vec<String>,
}

impl Golden {
    /// Golden files under `dir`, regenerated by `command`.
    pub fn new(dir: PathBuf, command: &'static str) -> Golden {
        Golden {
            dir,
            command,
            bless: blessing(),
            names: Vec::new(),
            failures: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// Compares `produced` with the golden file of `name` (or, blessing, writes it).
    pub fn check(&mut self, name: &str, produced: &str) {
        self.names.push(name.to_string());
        let path = self.path(name);
        if self.bless {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            }
            if std::fs::read_to_string(&path).ok().as_deref() != Some(produced) {
                std::fs::write(&path, produced)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                println!("  wrote {}", path.display());
            }
            return;
        }
        match std::fs::read_to_string(&path) {
            Ok(expected) if expected == produced => {}
            Ok(expected) => self.failures.push(format!(
                "case `{name}` differs from its golden file {} (- golden, + produced):\n{}",
                path.display(),
                line_diff(&expected, produced)
            )),
            Err(e) => self.failures.push(format!(
                "case `{name}`: golden file {} cannot be read: {e}",
                path.display()
            )),
        }
    }

    /// Fails, listing every mismatch, when any case differed or a golden file belongs
    /// to no case (blessing: removes such files).
    pub fn finish(mut self) {
        let mut on_disk = Vec::new();
        json_files(&self.dir, "", &mut on_disk);
        on_disk.sort();
        for stale in on_disk.iter().filter(|n| !self.names.contains(n)) {
            let path = self.path(stale);
            if self.bless {
                std::fs::remove_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                println!("  removed {} (no such case)", path.display());
            } else {
                self.failures.push(format!(
                    "golden file {} belongs to no case (remove it, or bless)",
                    path.display()
                ));
            }
        }
        assert!(
            self.failures.is_empty(),
            "\n{}\n{} problem(s) with the golden files of {} cases. If the change is intended, \
             regenerate them and review the diff:\n  {}\n",
            self.failures.join("\n"),
            self.failures.len(),
            self.names.len(),
            self.command
        );
    }
}

/// Every `.json` file under `dir`, as names relative to it without `.json`.
fn json_files(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let p = e.path();
        if p.is_dir() {
            json_files(&p, &format!("{prefix}{name}/"), out);
        } else if let Some(stem) = name.strip_suffix(".json") {
            out.push(format!("{prefix}{stem}"));
        }
    }
}

/// A line diff of `old` (golden) and `new` (produced): the differing lines with three
/// lines of context, each hunk headed by its line numbers and where it is ([`where_in`]).
pub fn line_diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // Common prefix and suffix first; the longest common subsequence of the rest.
    let pre = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suf = a[pre..]
        .iter()
        .rev()
        .zip(b[pre..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[pre..a.len() - suf], &b[pre..b.len() - suf]);
    let (n, m) = (am.len(), bm.len());
    let mut lcs = vec![0u32; (n + 1) * (m + 1)];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i * (m + 1) + j] = if am[i] == bm[j] {
                lcs[(i + 1) * (m + 1) + j + 1] + 1
            } else {
                lcs[(i + 1) * (m + 1) + j].max(lcs[i * (m + 1) + j + 1])
            };
        }
    }
    // (tag, golden line number, produced line number, text), 1-based.
    let mut ops: Vec<(char, usize, usize, &str)> = Vec::new();
    for (k, line) in a[..pre].iter().enumerate() {
        ops.push((' ', k + 1, k + 1, line));
    }
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && am[i] == bm[j] {
            ops.push((' ', pre + i + 1, pre + j + 1, am[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[(i + 1) * (m + 1) + j] >= lcs[i * (m + 1) + j + 1]) {
            // A removed line before an added one, as `diff -u` shows a changed line.
            ops.push(('-', pre + i + 1, pre + j + 1, am[i]));
            i += 1;
        } else {
            ops.push(('+', pre + i + 1, pre + j + 1, bm[j]));
            j += 1;
        }
    }
    for k in 0..suf {
        ops.push((' ', pre + n + k + 1, pre + m + k + 1, a[pre + n + k]));
    }

    const CONTEXT: usize = 3;
    const MAX_LINES: usize = 120;
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != ' ').collect();
    let mut out = String::new();
    let mut shown = 0usize;
    let mut k = 0usize;
    while k < changed.len() {
        let start = changed[k].saturating_sub(CONTEXT);
        let mut end = changed[k] + CONTEXT;
        while k + 1 < changed.len() && changed[k + 1] <= end + CONTEXT {
            k += 1;
            end = changed[k] + CONTEXT;
        }
        let end = end.min(ops.len() - 1);
        // Where the hunk is: the nearest `"index": N` (an entry) or top-level key above it.
        let entry = where_in(&a[..ops[start].1.saturating_sub(1).min(a.len())]);
        out.push_str(&format!(
            "@@ golden line {}, produced line {}{entry} @@\n",
            ops[start].1, ops[start].2
        ));
        for op in &ops[start..=end] {
            if shown == MAX_LINES {
                out.push_str("... (diff cut here)\n");
                return out;
            }
            out.push_str(&format!("{}{}\n", op.0, op.3));
            shown += 1;
        }
        k += 1;
    }
    out
}

/// Where the line after `above` is in a pretty-printed document: `, in entry N` after
/// an `"index": N` member, `, in "key"` after a top-level key, else nothing.
fn where_in(above: &[&str]) -> String {
    for l in above.iter().rev() {
        if let Some(n) = l.trim().strip_prefix("\"index\": ") {
            return format!(", in entry {}", n.trim_end_matches(','));
        }
        if let Some(key) = l.strip_prefix("  \"")
            && let Some((key, _)) = key.split_once('"')
        {
            return format!(", in \"{key}\"");
        }
    }
    String::new()
}
