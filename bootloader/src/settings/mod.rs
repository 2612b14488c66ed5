//! Settings (`docs/settings.md`): built-in defaults, then
//! `/etc/leapboot.toml` in the initramfs, then `leapboot.KEY=VALUE` on the firmware
//! kernel's command line; later wins. A bad value is reported and skipped, never fatal.

pub mod password;

use serde::Deserialize;

/// Path of the settings file inside the initramfs.
pub const SETTINGS_FILE: &str = "/etc/leapboot.toml";

/// The resolved settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Seconds before the default boots; 0 boots at once (headless), -1 waits.
    pub timeout: i64,
    /// Glob over entry ids overriding the configs' default.
    pub default: Option<String>,
    /// Consoles that get the menu (`ttyS0`, `tty0`); `None`: every active console.
    pub console: Option<Vec<String>>,
    /// Modules to load before scanning; `None`: those listed in the initramfs.
    pub modules: Option<Vec<String>>,
    /// How long to wait for block devices to settle, in milliseconds.
    pub device_wait_ms: u64,
    /// Appended to every booted entry's command line.
    pub append: Option<String>,
    /// Verbose log and handoff debugging parameters.
    pub debug: bool,
    /// Append `leapboot.entry=<id>` to the booted entry's command line.
    pub entry_param: bool,
    /// Locked-down mode: editing needs the password (see [`password`] and `handoff::lockdown`).
    pub lockdown: bool,
    /// GRUB PBKDF2 password string for locked-down mode.
    pub password: Option<String>,
    /// Only kernels whose signature the firmware kernel verifies are booted.
    pub require_signature: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeout: 5,
            default: None,
            console: None,
            modules: None,
            device_wait_ms: 2000,
            append: None,
            debug: false,
            entry_param: true,
            lockdown: false,
            password: None,
            require_signature: false,
        }
    }
}

/// The TOML file's shape; every key optional, unknown keys are an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    timeout: Option<i64>,
    default: Option<String>,
    console: Option<StringOrList>,
    modules: Option<StringOrList>,
    device_wait_ms: Option<u64>,
    append: Option<String>,
    debug: Option<bool>,
    entry_param: Option<bool>,
    lockdown: Option<bool>,
    password: Option<String>,
    require_signature: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    fn into_list(self) -> Vec<String> {
        match self {
            StringOrList::One(s) => split_list(&s),
            StringOrList::Many(v) => v,
        }
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "" | "1" | "yes" | "y" | "true" | "on" => Some(true),
        "0" | "no" | "n" | "false" | "off" => Some(false),
        _ => None,
    }
}

impl Settings {
    /// Applies a TOML settings file; returns the problems found (the file's other
    /// keys still apply when one is bad only if the file parses at all).
    pub fn apply_toml(&mut self, origin: &str, text: &str) -> Vec<String> {
        let f: FileSettings = match toml::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                return vec![format!(
                    "{origin}: {}",
                    e.to_string().trim_end().replace('\n', " ")
                )];
            }
        };
        let mut problems = Vec::new();
        if let Some(t) = f.timeout {
            if t < -1 {
                problems.push(format!("{origin}: timeout {t} is less than -1, ignored"));
            } else {
                self.timeout = t;
            }
        }
        if f.default.is_some() {
            self.default = f.default;
        }
        if let Some(c) = f.console {
            self.console = Some(c.into_list());
        }
        if let Some(m) = f.modules {
            self.modules = Some(m.into_list());
        }
        if let Some(w) = f.device_wait_ms {
            self.device_wait_ms = w;
        }
        if f.append.is_some() {
            self.append = f.append;
        }
        if let Some(d) = f.debug {
            self.debug = d;
        }
        if let Some(e) = f.entry_param {
            self.entry_param = e;
        }
        if let Some(l) = f.lockdown {
            self.lockdown = l;
        }
        if let Some(p) = f.password {
            if let Err(e) = password::PasswordHash::parse(&p) {
                problems.push(format!(
                    "{origin}: {e}; locked-down mode stays on and nothing can be edited"
                ));
            }
            self.password = Some(p);
            self.lockdown = true;
        }
        if let Some(r) = f.require_signature {
            self.require_signature = r;
        }
        problems
    }

    /// Applies `leapboot.KEY=VALUE` parameters from a kernel command line; returns
    /// the problems found, each naming the parameter.
    pub fn apply_cmdline(&mut self, cmdline: &str) -> Vec<String> {
        let mut problems = Vec::new();
        for param in split_cmdline(cmdline) {
            let Some(rest) = param.strip_prefix("leapboot.") else {
                continue;
            };
            let (key, value) = rest.split_once('=').unwrap_or((rest, ""));
            let mut bad = |what: &str| {
                problems.push(format!("kernel parameter leapboot.{key}={value}: {what}"))
            };
            match key {
                "timeout" => match value.parse::<i64>() {
                    Ok(t) if t >= -1 => self.timeout = t,
                    _ => bad("not a number of seconds (-1 waits)"),
                },
                "default" => self.default = Some(value.to_string()).filter(|v| !v.is_empty()),
                "console" => self.console = Some(split_list(value)),
                "modules" => self.modules = Some(split_list(value)),
                "device_wait_ms" => match value.parse::<u64>() {
                    Ok(w) => self.device_wait_ms = w,
                    Err(_) => bad("not a number of milliseconds"),
                },
                "append" => self.append = Some(value.to_string()).filter(|v| !v.is_empty()),
                "debug" => match parse_bool(value) {
                    Some(d) => self.debug = d,
                    None => bad("not a boolean"),
                },
                // Locked-down settings can be raised from the command line, never lowered.
                "lockdown" => match parse_bool(value) {
                    Some(true) => self.lockdown = true,
                    Some(false) => {
                        bad("locked-down mode can only be switched off in /etc/leapboot.toml")
                    }
                    None => bad("not a boolean"),
                },
                "require_signature" => match parse_bool(value) {
                    Some(true) => self.require_signature = true,
                    Some(false) => {
                        bad("signature enforcement can only be switched off in /etc/leapboot.toml")
                    }
                    None => bad("not a boolean"),
                },
                "entry_param" => match parse_bool(value) {
                    Some(e) => self.entry_param = e,
                    None => bad("not a boolean"),
                },
                _ => bad("unknown setting"),
            }
        }
        problems
    }
}

/// Splits a kernel command line into parameters as the kernel does: on spaces,
/// keeping double-quoted spans together and removing the quotes.
pub fn split_cmdline(cmdline: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in cmdline.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_later_wins() {
        let mut s = Settings::default();
        assert!(
            s.apply_toml(
                "t",
                "timeout = 3\nconsole = \"ttyS0,tty0\"\nmodules = [\"virtio_blk\"]\n"
            )
            .is_empty()
        );
        assert_eq!(s.timeout, 3);
        assert_eq!(
            s.console.as_deref(),
            Some(&["ttyS0".to_string(), "tty0".to_string()][..])
        );
        let p = s.apply_cmdline(
            "quiet leapboot.timeout=0 leapboot.append=\"a b\" leapboot.debug leapboot.bogus=1",
        );
        assert_eq!(s.timeout, 0);
        assert_eq!(s.append.as_deref(), Some("a b"));
        assert!(s.debug);
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("leapboot.bogus=1"));
    }

    #[test]
    fn entry_param_switch() {
        let mut s = Settings::default();
        assert!(s.entry_param);
        assert!(s.apply_toml("t", "entry_param = false\n").is_empty());
        assert!(!s.entry_param);
        assert!(s.apply_cmdline("leapboot.entry_param=1").is_empty());
        assert!(s.entry_param);
        assert!(s.apply_cmdline("leapboot.entry_param=0").is_empty());
        assert!(!s.entry_param);
        assert_eq!(s.apply_cmdline("leapboot.entry_param=maybe").len(), 1);
    }

    #[test]
    fn unknown_toml_key_is_reported() {
        let mut s = Settings::default();
        let p = s.apply_toml("/etc/leapboot.toml", "timeout = 1\nfoo = 2\n");
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("foo"), "{p:?}");
        assert_eq!(s.timeout, 5);
    }

    #[test]
    fn bad_values_keep_defaults() {
        let mut s = Settings::default();
        let p = s.apply_cmdline("leapboot.timeout=abc leapboot.device_wait_ms=-3");
        assert_eq!(p.len(), 2);
        assert_eq!(s, Settings::default());
    }

    #[test]
    fn cmdline_split_quotes() {
        assert_eq!(
            split_cmdline(" a  \"b c\"=d e=\"f g\" "),
            ["a", "b c=d", "e=f g"]
        );
    }
}
