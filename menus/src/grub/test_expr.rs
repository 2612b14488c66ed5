//! `[ EXPRESSION ]` and `test EXPRESSION`, after `grub-core/commands/test.c`.
//!
//! GRUB reads the expression left to right: a three-word test (`a = b`, `a != b`,
//! `a < b`, numeric `-eq`...), else a two-word test (`-d -e -f -s -n -z`), else
//! `(`, `)`, `!`, `-a`, `-o`, else a lone word that is true when not empty. `-a` binds
//! tighter than `-o` because `-o` closes the running `and` group. The words `<` and
//! `>` must be quoted in a config (unquoted they are syntax errors).

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

use super::default::strtoul;
use super::interp::{ERR_NONE, ERR_TEST_FAILURE, Interp};
use crate::fs::FileKind;

/// `grub_strtosl`: a leading `-` negates; anything unreadable is 0.
fn strtosl(s: &str) -> i64 {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    let n = strtoul(digits).map(|(n, _)| n).unwrap_or(0);
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    if neg { n.saturating_neg() } else { n }
}

struct Ctx {
    and: bool,
    or: bool,
    invert: bool,
}

impl Ctx {
    fn update(&mut self, val: bool) {
        self.and = self.and && (if self.invert { !val } else { val });
        self.invert = false;
    }
}

/// Kind of the file a test names: `None` when it does not exist (or its device is
/// not a volume).
fn file_kind(it: &mut Interp<'_>, name: &str) -> Option<(FileKind, u64)> {
    let trimmed = name.trim_end_matches('/');
    // `(dev)/` names the whole device: it exists and is a directory.
    let name = if trimmed.ends_with(')') || trimmed.is_empty() {
        name
    } else {
        trimmed
    };
    let f = it.resolve_strict(name).ok()?;
    let m = it.metadata(&f)?;
    Some((m.kind, m.len))
}

fn parse(it: &mut Interp<'_>, args: &[String], argn: &mut usize) -> bool {
    let mut ctx = Ctx {
        and: true,
        or: false,
        invert: false,
    };
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    while *argn < args.len() {
        let a = *argn;
        if a.saturating_add(2) < args.len() {
            let (l, op, r) = (arg(a), arg(a.saturating_add(1)), arg(a.saturating_add(2)));
            let three = match op {
                "=" | "==" => Some(l == r),
                "!=" => Some(l != r),
                "<" => Some(l < r),
                "<=" => Some(l <= r),
                ">" => Some(l > r),
                ">=" => Some(l >= r),
                "-eq" => Some(strtosl(l) == strtosl(r)),
                "-ge" => Some(strtosl(l) >= strtosl(r)),
                "-gt" => Some(strtosl(l) > strtosl(r)),
                "-le" => Some(strtosl(l) <= strtosl(r)),
                "-lt" => Some(strtosl(l) < strtosl(r)),
                "-ne" => Some(strtosl(l) != strtosl(r)),
                "-pgt" | "-plt" => {
                    // Skip the common prefix, then back up over digits (GRUB keeps
                    // its quirk of never backing up to index 0).
                    let (lb, rb) = (l.as_bytes(), r.as_bytes());
                    let common = lb.iter().zip(rb).take_while(|(x, y)| x == y).count();
                    let mut i = common;
                    if common > 0 {
                        i = common.saturating_sub(1);
                        while i > 0 && lb.get(i).is_some_and(u8::is_ascii_digit) {
                            i = i.saturating_sub(1);
                        }
                        i = i.saturating_add(1);
                    }
                    let num = |s: &str| {
                        strtoul(s.get(i..).unwrap_or(""))
                            .map(|(n, _)| n)
                            .unwrap_or(0)
                    };
                    Some(if op == "-pgt" {
                        num(l) > num(r)
                    } else {
                        num(l) < num(r)
                    })
                }
                _ if op.starts_with("-nt") || op.starts_with("-ot") => {
                    // No modification times here: only the existence part of the rule.
                    let (e1, e2) = (file_kind(it, l).is_some(), file_kind(it, r).is_some());
                    Some(if op.starts_with("-nt") {
                        e1 && !e2
                    } else {
                        !e1 && e2
                    })
                }
                _ => None,
            };
            if let Some(v) = three {
                ctx.update(v);
                *argn = a.saturating_add(3);
                continue;
            }
        }
        if a.saturating_add(1) < args.len() {
            let (op, x) = (arg(a), arg(a.saturating_add(1)));
            let two = match op {
                "-d" => Some(matches!(file_kind(it, x), Some((FileKind::Dir, _)))),
                "-e" => Some(file_kind(it, x).is_some()),
                "-f" => Some(matches!(file_kind(it, x), Some((k, _)) if k != FileKind::Dir)),
                "-s" => Some(matches!(file_kind(it, x), Some((FileKind::File, len)) if len > 0)),
                "-n" => Some(!x.is_empty()),
                "-z" => Some(x.is_empty()),
                _ => None,
            };
            if let Some(v) = two {
                ctx.update(v);
                *argn = a.saturating_add(2);
                continue;
            }
        }
        match arg(a) {
            ")" => {
                *argn = a.saturating_add(1);
                return ctx.or || ctx.and;
            }
            "(" => {
                *argn = a.saturating_add(1);
                let v = parse(it, args, argn);
                ctx.update(v);
            }
            "!" => {
                ctx.invert = !ctx.invert;
                *argn = a.saturating_add(1);
            }
            "-a" => *argn = a.saturating_add(1),
            "-o" => {
                ctx.or = ctx.or || ctx.and;
                ctx.and = true;
                *argn = a.saturating_add(1);
            }
            s => {
                ctx.update(!s.is_empty());
                *argn = a.saturating_add(1);
            }
        }
    }
    ctx.or || ctx.and
}

/// Runs `test`/`[`: status 0 when true, `GRUB_ERR_TEST_FAILURE` when false.
pub(super) fn cmd_test(it: &mut Interp<'_>, args: &[String]) -> i32 {
    let args = match args.split_last() {
        Some((last, rest)) if last == "]" => rest,
        _ => args,
    };
    // `(` recursion is bounded by the number of words, itself bounded by the
    // argument limit; guard anyway.
    if args.iter().filter(|a| *a == "(").count() > 256 {
        return ERR_TEST_FAILURE;
    }
    let mut n = 0usize;
    if parse(it, args, &mut n) {
        ERR_NONE
    } else {
        ERR_TEST_FAILURE
    }
}
