//! Debian's `/etc/default/kexec`, the settings of kexec-tools' `kexec-load` script,
//! honoured when the file is present:
//!
//! - `LOAD_KEXEC=false`: the unit (`leapboot load --on-reboot`) loads nothing, so a
//!   reboot goes through firmware; `leapboot reboot` and a plain `leapboot load` are
//!   asked for by hand and go ahead, saying so.
//! - `KERNEL_IMAGE`, `INITRD`: that kernel and initrd instead of the boot loader's next
//!   entry, unless `--entry` or `--latest` is given, or `USE_GRUB_CONFIG=true` (then
//!   kexec-tools itself reads the GRUB config, which is what leapboot does anyway).
//!   kexec-tools ships `KERNEL_IMAGE="/vmlinuz"` (the newest installed kernel), which
//!   is the very guess leapboot exists to avoid, so that value counts as unset.
//! - `APPEND`: the whole command line (kexec-tools passes it as `--append`; when it is
//!   empty kexec-tools reuses `/proc/cmdline`, as leapboot does for `KERNEL_IMAGE`),
//!   unless `--reuse-cmdline` is given.
//!
//! The file is a shell fragment; only plain `KEY=value` lines are read (quotes
//! removed, `#` comments skipped, `export` allowed). Anything cleverer (variable
//! expansion, command substitution) is reported, not run.

/// kexec-tools' shipped `KERNEL_IMAGE`.
pub const SHIPPED_KERNEL_IMAGE: &str = "/vmlinuz";

/// Where the file lives.
pub const PATH: &str = "/etc/default/kexec";

/// The settings leapboot reads from the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KexecDefaults {
    /// `LOAD_KEXEC`.
    pub load_kexec: Option<bool>,
    /// `KERNEL_IMAGE`.
    pub kernel_image: Option<String>,
    /// `INITRD`.
    pub initrd: Option<String>,
    /// `APPEND`.
    pub append: Option<String>,
    /// `USE_GRUB_CONFIG`.
    pub use_grub_config: Option<bool>,
    /// Lines that could not be read, with their line numbers.
    pub problems: Vec<String>,
}

fn shell_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "y" => Some(true),
        "false" | "no" | "0" | "n" => Some(false),
        _ => None,
    }
}

/// A shell word's value: `"..."` or `'...'` removed, an unquoted `#` starting a comment.
fn unquote(v: &str) -> Result<String, &'static str> {
    let v = v.trim();
    if let Some(rest) = v.strip_prefix('"') {
        let end = rest.find('"').ok_or("unterminated \"")?;
        let inner = rest.get(..end).unwrap_or("");
        if inner.contains('$') || inner.contains('`') {
            return Err("expansions are not read");
        }
        return Ok(inner.to_string());
    }
    if let Some(rest) = v.strip_prefix('\'') {
        let end = rest.find('\'').ok_or("unterminated '")?;
        return Ok(rest.get(..end).unwrap_or("").to_string());
    }
    let word = v.split(['#', ' ', '\t']).next().unwrap_or("");
    if word.contains('$') || word.contains('`') {
        return Err("expansions are not read");
    }
    Ok(word.to_string())
}

/// Parses the file's text.
pub fn parse(text: &str) -> KexecDefaults {
    let mut d = KexecDefaults::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            d.problems
                .push(format!("{PATH}:{}: not KEY=value, ignored", n + 1));
            continue;
        };
        let value = match unquote(value) {
            Ok(v) => v,
            Err(why) => {
                d.problems
                    .push(format!("{PATH}:{}: {key}: {why}, ignored", n + 1));
                continue;
            }
        };
        let flag = |v: &str, d: &mut KexecDefaults| {
            let b = shell_bool(v);
            if b.is_none() {
                d.problems.push(format!(
                    "{PATH}:{}: {key}={v} is not true or false, ignored",
                    n + 1
                ));
            }
            b
        };
        match key.trim() {
            "LOAD_KEXEC" => d.load_kexec = flag(&value, &mut d),
            "USE_GRUB_CONFIG" => d.use_grub_config = flag(&value, &mut d),
            "KERNEL_IMAGE" => d.kernel_image = Some(value),
            "INITRD" => d.initrd = Some(value),
            "APPEND" => d.append = Some(value),
            _ => {}
        }
    }
    d
}

impl KexecDefaults {
    /// False only for `LOAD_KEXEC=false`.
    pub fn load_allowed(&self) -> bool {
        self.load_kexec != Some(false)
    }

    /// The kernel and initrd that replace the boot loader's choice, when the file sets
    /// one (see the module docs for when it does).
    pub fn kernel_override(&self) -> Option<(&str, Option<&str>)> {
        let k = self.kernel_image.as_deref().filter(|k| !k.is_empty())?;
        if k == SHIPPED_KERNEL_IMAGE || self.use_grub_config == Some(true) {
            return None;
        }
        Some((k, self.initrd.as_deref().filter(|i| !i.is_empty())))
    }

    /// The command line that replaces the entry's, when `APPEND` is set.
    pub fn cmdline(&self) -> Option<&str> {
        self.append.as_deref().filter(|a| !a.trim().is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kexec-tools' shipped file (Debian 12): nothing changes leapboot's choice.
    const SHIPPED: &str = r#"# Defaults for kexec initscript
# sourced by /etc/init.d/kexec and /etc/init.d/kexec-load

# Load a kexec kernel (true/false)
LOAD_KEXEC=true

# Kernel and initrd image
KERNEL_IMAGE="/vmlinuz"
INITRD="/initrd.img"

# If empty, use current /proc/cmdline
APPEND=""

# Load the default kernel from grub config (true/false)
USE_GRUB_CONFIG=false
"#;

    #[test]
    fn the_shipped_file_changes_nothing() {
        let d = parse(SHIPPED);
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        assert!(d.load_allowed());
        assert_eq!(d.kernel_image.as_deref(), Some("/vmlinuz"));
        assert_eq!(d.kernel_override(), None);
        assert_eq!(d.cmdline(), None);
    }

    #[test]
    fn load_kexec_false_and_overrides() {
        let d = parse(
            "LOAD_KEXEC=false\nKERNEL_IMAGE=/boot/vmlinuz-6.1.0-9-amd64 # pinned\nINITRD='/boot/initrd.img-6.1.0-9-amd64'\nexport APPEND=\"root=/dev/vda2 ro quiet\"\n",
        );
        assert!(!d.load_allowed());
        assert_eq!(
            d.kernel_override(),
            Some((
                "/boot/vmlinuz-6.1.0-9-amd64",
                Some("/boot/initrd.img-6.1.0-9-amd64")
            ))
        );
        assert_eq!(d.cmdline(), Some("root=/dev/vda2 ro quiet"));
        // USE_GRUB_CONFIG=true: the GRUB config decides, as it does for leapboot.
        let d = parse("KERNEL_IMAGE=/boot/vmlinuz-x\nUSE_GRUB_CONFIG=yes\n");
        assert_eq!(d.kernel_override(), None);
    }

    #[test]
    fn what_is_not_read_is_reported() {
        let d = parse(
            "LOAD_KEXEC=maybe\nKERNEL_IMAGE=\"$(ls /boot/vmlinuz-* | tail -1)\"\nif true; then\nAPPEND=\"unterminated\n",
        );
        assert_eq!(d.load_kexec, None);
        assert_eq!(d.kernel_image, None);
        assert_eq!(d.append, None);
        assert_eq!(d.problems.len(), 4, "{:?}", d.problems);
        assert!(
            d.problems[0].contains(":1: LOAD_KEXEC=maybe"),
            "{:?}",
            d.problems
        );
    }
}
