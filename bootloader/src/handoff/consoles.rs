//! The consoles a debug boot makes visible, read from the running system: the `console`
//! setting or `/sys/class/tty/console/active`, options from `/proc/cmdline`, serial port
//! registers from `/sys/class/tty/ttySN/{port,iomem_base,io_type}`, and a port's speed
//! from its termios. The pure part is [`ConsoleEnv::from_cmdline`].

use super::cmdline::{ConsoleEnv, ConsoleUse, Uart};
use crate::settings::Settings;

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn parse_hex(s: &str) -> Option<u64> {
    u64::from_str_radix(
        s.trim().trim_start_matches("0x").trim_start_matches("0X"),
        16,
    )
    .ok()
}

/// A serial port's speed from its termios (when no `console=` option names one).
fn tty_speed(name: &str) -> Option<u32> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(format!("/dev/{name}"))
        .ok()?;
    // The speed bits of c_cflag (what cfgetospeed returns; that function has no
    // static glibc symbol to link against).
    let speed = crate::sys::tty::get_termios(&f)?.c_cflag & libc::CBAUD;
    Some(match speed {
        libc::B9600 => 9600,
        libc::B19200 => 19200,
        libc::B38400 => 38400,
        libc::B57600 => 57600,
        libc::B115200 => 115200,
        libc::B230400 => 230400,
        libc::B460800 => 460800,
        libc::B921600 => 921600,
        libc::B1500000 => 1500000,
        _ => return None,
    })
}

impl ConsoleEnv {
    /// Reads leapboot's consoles (the `console` setting, else
    /// `/sys/class/tty/console/active`), their options from `/proc/cmdline`, and serial
    /// port addresses from `/sys/class/tty`.
    pub fn probe(settings: &Settings) -> ConsoleEnv {
        let firmware = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
        let names: Vec<String> = match settings.console.as_deref() {
            Some(n) if !n.is_empty() => n.to_vec(),
            _ => read_trim("/sys/class/tty/console/active")
                .map(|s| s.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
        };
        let sys = |name: &str, attr: &str| read_trim(&format!("/sys/class/tty/{name}/{attr}"));
        let uart = |name: &str| -> Option<Uart> {
            let io_type: u32 = sys(name, "io_type")?.parse().ok()?;
            let (access, addr) = match io_type {
                0 => ("io", parse_hex(&sys(name, "port")?)?),
                2 => ("mmio", parse_hex(&sys(name, "iomem_base")?)?),
                3 => ("mmio32", parse_hex(&sys(name, "iomem_base")?)?),
                6 => ("mmio32be", parse_hex(&sys(name, "iomem_base")?)?),
                7 => ("mmio16", parse_hex(&sys(name, "iomem_base")?)?),
                _ => return None,
            };
            (addr != 0).then_some(Uart { access, addr })
        };
        let consoles = names
            .iter()
            .map(|n| ConsoleUse {
                name: n.clone(),
                options: None,
                uart: if n.starts_with("ttyS") { uart(n) } else { None },
            })
            .collect();
        let mut env = ConsoleEnv::from_cmdline(&firmware, consoles);
        for c in &mut env.consoles {
            if c.options.is_none() && c.name.starts_with("ttyS") {
                c.options = tty_speed(&c.name).map(|s| s.to_string());
            }
        }
        env
    }
}
