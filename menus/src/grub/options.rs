//! Option parsing for GRUB's extended commands, after `grub_arg_parse`
//! (`grub-core/lib/arg.c`).
//!
//! Rules that configs meet in practice:
//! - `--name=value` and `--name value`; the separate form takes the next argument
//!   only when it does not start with `-`;
//! - a short option with a value takes the next argument whatever it is;
//! - `--` ends the options; a lone `-` is an argument;
//! - commands that accept dashes (`menuentry`, `submenu`) keep unknown options as
//!   arguments; other commands fail on them;
//! - an option that needs a value and has none fails the whole command
//!   (`missing mandatory option`).

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

/// Whether an option takes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// A flag.
    Nothing,
    /// A value is required.
    Value,
    /// A value may follow (`GRUB_ARG_OPTION_OPTIONAL`).
    OptionalValue,
}

/// One option a command knows.
#[derive(Debug, Clone, Copy)]
pub struct OptSpec {
    /// Long name without `--`.
    pub long: &'static str,
    /// Short letter, if any.
    pub short: Option<char>,
    /// Whether it takes a value.
    pub takes: Takes,
}

/// Parsed options and arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Options seen, in order: index into the spec list and the value.
    pub opts: Vec<(usize, Option<String>)>,
    /// Arguments that are not options.
    pub args: Vec<String>,
    /// Options that needed a value and had none (only with `lenient`).
    pub missing: Vec<&'static str>,
}

impl Parsed {
    /// True when option `i` was given.
    pub fn has(&self, i: usize) -> bool {
        self.opts.iter().any(|(k, _)| *k == i)
    }

    /// The last value given for option `i`.
    pub fn value(&self, i: usize) -> Option<&str> {
        self.opts
            .iter()
            .rev()
            .find(|(k, _)| *k == i)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Every value given for option `i`, in order.
    pub fn values(&self, i: usize) -> Vec<&str> {
        self.opts
            .iter()
            .filter(|(k, _)| *k == i)
            .filter_map(|(_, v)| v.as_deref())
            .collect()
    }
}

fn is_help(s: &str) -> bool {
    s == "help" || s == "usage"
}

/// Parses `argv` against `specs`. `accept_dash` keeps unknown options as arguments
/// (`GRUB_COMMAND_ACCEPT_DASH`); `lenient` records a missing mandatory value in
/// [`Parsed::missing`] instead of failing.
pub fn parse(
    specs: &[OptSpec],
    argv: &[String],
    accept_dash: bool,
    lenient: bool,
) -> Result<Parsed, String> {
    let mut out = Parsed::default();
    let mut i = 0usize;
    let find_short = |c: char| specs.iter().position(|s| s.short == Some(c));
    while let Some(arg) = argv.get(i) {
        i = i.saturating_add(1);
        if !arg.starts_with('-') || arg.len() == 1 {
            out.args.push(arg.clone());
            continue;
        }
        let (spec_index, mut value) = if let Some(long) = arg.strip_prefix("--") {
            if long.is_empty() {
                out.args
                    .extend(argv.get(i..).unwrap_or(&[]).iter().cloned());
                break;
            }
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let Some(k) = specs.iter().position(|s| s.long == name) else {
                if accept_dash {
                    out.args.push(arg.clone());
                    continue;
                }
                if is_help(name) {
                    return Err(format!("`--{name}` only prints help"));
                }
                return Err(format!("unknown argument `{arg}`"));
            };
            let mut value = inline;
            let takes = specs.get(k).map(|s| s.takes).unwrap_or(Takes::Nothing);
            if value.is_none()
                && takes != Takes::Nothing
                && let Some(next) = argv.get(i).filter(|n| !n.starts_with('-'))
            {
                value = Some(next.clone());
                i = i.saturating_add(1);
            }
            (k, value)
        } else {
            let letters: Vec<char> = arg.chars().skip(1).collect();
            if accept_dash && letters.iter().any(|&c| find_short(c).is_none()) {
                if letters.iter().all(|&c| c == 'h' || c == 'u') {
                    return Err(format!("`{arg}` only prints help"));
                }
                out.args.push(arg.clone());
                continue;
            }
            let mut last = None;
            for (n, &c) in letters.iter().enumerate() {
                let Some(k) = find_short(c) else {
                    if c == 'h' || c == 'u' {
                        return Err(format!("`-{c}` only prints help"));
                    }
                    return Err(format!("unknown argument `-{c}`"));
                };
                let takes = specs.get(k).map(|s| s.takes).unwrap_or(Takes::Nothing);
                if n.saturating_add(1) < letters.len() {
                    if takes == Takes::Value {
                        return Err(format!(
                            "missing mandatory option for `{}`",
                            specs.get(k).map_or("", |s| s.long)
                        ));
                    }
                    out.opts.push((k, None));
                } else {
                    last = Some(k);
                }
            }
            let Some(k) = last else { continue };
            let takes = specs.get(k).map(|s| s.takes).unwrap_or(Takes::Nothing);
            let mut value = None;
            if takes != Takes::Nothing
                && let Some(next) = argv.get(i)
                && (takes == Takes::Value || next.len() < 2 || !next.starts_with('-'))
            {
                value = Some(next.clone());
                i = i.saturating_add(1);
            }
            (k, value)
        };
        let spec = specs.get(spec_index).copied().unwrap_or(OptSpec {
            long: "",
            short: None,
            takes: Takes::Nothing,
        });
        match spec.takes {
            Takes::Nothing if value.is_some() => {
                return Err(format!(
                    "a value was given to `--{}`, which takes none",
                    spec.long
                ));
            }
            Takes::Value if value.is_none() => {
                if !lenient {
                    return Err(format!("missing mandatory option for `{}`", spec.long));
                }
                out.missing.push(spec.long);
                value = None;
            }
            _ => {}
        }
        out.opts.push((spec_index, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEARCH: [OptSpec; 3] = [
        OptSpec {
            long: "fs-uuid",
            short: Some('u'),
            takes: Takes::Nothing,
        },
        OptSpec {
            long: "set",
            short: Some('s'),
            takes: Takes::OptionalValue,
        },
        OptSpec {
            long: "hint",
            short: Some('h'),
            takes: Takes::Value,
        },
    ];

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn long_forms() {
        let p = parse(
            &SEARCH,
            &v(&["--fs-uuid", "--set=root", "--hint", "hd0,1", "X"]),
            false,
            false,
        )
        .unwrap();
        assert!(p.has(0));
        assert_eq!(p.value(1), Some("root"));
        assert_eq!(p.value(2), Some("hd0,1"));
        assert_eq!(p.args, ["X"]);
    }

    #[test]
    fn optional_value_takes_next_plain_word() {
        // `search --set X` takes X as the variable name, as GRUB does.
        let p = parse(&SEARCH, &v(&["-u", "--set", "X"]), false, false).unwrap();
        assert_eq!(p.value(1), Some("X"));
        assert!(p.args.is_empty());
        let p = parse(&SEARCH, &v(&["--set", "-u", "X"]), false, false).unwrap();
        assert_eq!(p.value(1), None);
        assert_eq!(p.args, ["X"]);
    }

    #[test]
    fn unknown_and_help() {
        assert!(parse(&SEARCH, &v(&["--bogus"]), false, false).is_err());
        let p = parse(&SEARCH, &v(&["--bogus", "-x"]), true, false).unwrap();
        assert_eq!(p.args, ["--bogus", "-x"]);
        assert!(parse(&[], &v(&["--help"]), false, false).is_err());
    }

    #[test]
    fn missing_value() {
        let specs = [OptSpec {
            long: "users",
            short: None,
            takes: Takes::Value,
        }];
        assert!(parse(&specs, &v(&["--users", "--id"]), true, false).is_err());
        let p = parse(&specs, &v(&["--users", "--id", "x"]), true, true).unwrap();
        assert_eq!(p.missing, ["users"]);
        assert_eq!(p.args, ["--id", "x"]);
    }

    #[test]
    fn double_dash() {
        let p = parse(&SEARCH, &v(&["--", "--set"]), false, false).unwrap();
        assert_eq!(p.args, ["--set"]);
    }
}
