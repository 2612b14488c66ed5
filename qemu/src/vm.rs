//! Running `qemu-system-x86_64` with the serial console captured.
//!
//! [`Vm::start`] spawns QEMU with `-serial stdio`: a reader thread appends
//! everything the guest prints on ttyS0 to the serial log file (and to
//! memory), and [`Vm::send`] writes to the guest's ttyS0 through QEMU's
//! stdin. Waiting is event-driven (a condition variable signalled by the
//! reader), not sleep-based; every wait has a timeout, and its error shows
//! what was expected and the last 40 lines of the serial log.
//!
//! The QEMU command line is
//!
//! ```text
//! qemu-system-x86_64 -no-user-config -nodefaults -machine q35 -accel tcg -m 1024
//!     -display none -monitor none -serial stdio -no-reboot [-bios qboot.rom]
//!     -kernel K -initrd I -append A -drive file=D,format=raw,if=virtio,... EXTRA...
//! ```
//!
//! With `-no-reboot` a guest reboot, power-off or panic (with `panic=-1` in
//! the command line, see [`default_append`]) ends QEMU, so a scenario that
//! goes wrong ends quickly instead of hanging until the timeout.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::util::{display_command, env_nonempty, io_err};
use crate::{Error, Result, VmFailure};

/// Default path of qboot (`Firmware::Qboot`).
pub const QBOOT_ROM: &str = "/usr/share/qemu/qboot.rom";
/// Number of serial-log lines shown in errors.
pub const TAIL_LINES: usize = 40;

/// Kernel command line for the VM's kernel: serial console on ttyS0, quiet
/// kernel, `panic=-1` so that a panic reboots, which `-no-reboot` turns into QEMU
/// exiting, and `no_timer_check` (under TCG on a loaded host the IO-APIC timer
/// check can fail and panic the kernel). Append scenario-specific parameters to it.
pub fn default_append() -> String {
    "console=ttyS0,115200 panic=-1 loglevel=4 no_timer_check".to_string()
}

/// Default timeout for one wait: `$LEAPBOOT_QEMU_TIMEOUT` seconds, default
/// 120 (TCG on a loaded two-core machine is slow).
pub fn default_timeout() -> Duration {
    let secs = env_nonempty("LEAPBOOT_QEMU_TIMEOUT")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(120);
    Duration::from_secs(secs)
}

/// The QEMU binary: `$LEAPBOOT_QEMU` or `qemu-system-x86_64`.
pub fn qemu_binary() -> PathBuf {
    env_nonempty("LEAPBOOT_QEMU")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("qemu-system-x86_64"))
}

/// Whether [`qemu_binary`] runs (`--version` succeeds).
pub fn qemu_available() -> bool {
    Command::new(qemu_binary())
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Test helper: true if QEMU is available. Otherwise prints a skip notice
/// naming `test` and returns false, or, with `LEAPBOOT_REQUIRE_QEMU=1`,
/// panics (failing the test) with a clear message.
///
/// ```no_run
/// if !leapboot_qemu::qemu_or_skip("boots_target") {
///     return;
/// }
/// ```
pub fn qemu_or_skip(test: &str) -> bool {
    if qemu_available() {
        return true;
    }
    let qemu = qemu_binary();
    if env_nonempty("LEAPBOOT_REQUIRE_QEMU").as_deref() == Some("1") {
        panic!(
            "{test}: {} is not available (not installed or not runnable) and \
             LEAPBOOT_REQUIRE_QEMU=1; install qemu-system-x86",
            qemu.display()
        );
    }
    eprintln!(
        "SKIPPED {test}: {} is not available (set LEAPBOOT_REQUIRE_QEMU=1 to make this a failure)",
        qemu.display()
    );
    false
}

/// How a disk is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interface {
    /// virtio-blk (`/dev/vdX`; needs `virtio_pci` + `virtio_blk`).
    Virtio,
    /// IDE on `pc` (`ata_piix`), AHCI on `q35` (`ahci`); `/dev/sdX`.
    Ide,
}

/// A disk attached to the VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskSpec {
    /// Image file.
    pub path: PathBuf,
    /// Bus.
    pub interface: Interface,
    /// Attach read-only (the guest cannot write, QEMU opens it read-only).
    /// QEMU locks images: a writable image cannot be attached twice, nor to
    /// two VMs at once; read-only attachments can share one.
    pub readonly: bool,
    /// QEMU image format; `raw` for images from [`DiskImage`](crate::DiskImage).
    pub format: String,
    /// Logical and physical block size the guest sees (virtio only): `Some(4096)`
    /// makes a 4Kn disk, for images built with
    /// [`DiskImage::sector_size`](crate::DiskImage::sector_size). `None`: QEMU's 512.
    pub block_size: Option<u32>,
}

impl DiskSpec {
    /// A raw, writable virtio disk.
    pub fn virtio(path: impl Into<PathBuf>) -> DiskSpec {
        DiskSpec {
            path: path.into(),
            interface: Interface::Virtio,
            readonly: false,
            format: "raw".to_string(),
            block_size: None,
        }
    }

    /// A raw, writable IDE/AHCI disk.
    pub fn ide(path: impl Into<PathBuf>) -> DiskSpec {
        DiskSpec {
            interface: Interface::Ide,
            ..DiskSpec::virtio(path)
        }
    }

    /// Sets read-only.
    pub fn readonly(mut self, readonly: bool) -> DiskSpec {
        self.readonly = readonly;
        self
    }

    /// Sets the logical and physical block size (virtio only; 4096 for a 4Kn disk).
    /// The disk is then attached as `-drive ...,if=none` plus
    /// `-device virtio-blk-pci,drive=...,logical_block_size=N,physical_block_size=N`.
    pub fn block_size(mut self, bytes: u32) -> DiskSpec {
        self.block_size = Some(bytes);
        self
    }
}

/// The VM's firmware, which loads `-kernel`/`-initrd` through fw_cfg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Firmware {
    /// qboot ([`QBOOT_ROM`]): minimal and fastest.
    Qboot,
    /// QEMU's default SeaBIOS.
    SeaBios,
    /// Any `-bios` image.
    Custom(PathBuf),
}

/// CPU emulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Pure emulation; works everywhere.
    Tcg,
    /// Hardware virtualization (`-cpu host`); opt-in only.
    Kvm,
}

impl Accel {
    /// `$LEAPBOOT_QEMU_ACCEL`: `tcg` (default) or `kvm`.
    pub fn from_env() -> Result<Accel> {
        match env_nonempty("LEAPBOOT_QEMU_ACCEL").as_deref() {
            None | Some("tcg") => Ok(Accel::Tcg),
            Some("kvm") => Ok(Accel::Kvm),
            Some(other) => Err(Error::Invalid(format!(
                "LEAPBOOT_QEMU_ACCEL={other:?}: expected `tcg` or `kvm`"
            ))),
        }
    }

    /// QEMU's arguments for this accelerator.
    pub(crate) fn args(self) -> &'static [&'static str] {
        match self {
            Accel::Tcg => &["-accel", "tcg"],
            Accel::Kvm => &["-accel", "kvm", "-cpu", "host"],
        }
    }
}

/// An error naming `f` unless it is an existing file.
pub(crate) fn require_file(f: &Path) -> Result<()> {
    if f.is_file() {
        return Ok(());
    }
    Err(Error::Missing(format!(
        "VM file {} does not exist",
        f.display()
    )))
}

/// `disk`'s path as QEMU's `-drive file=` takes it: UTF-8 and without `,` (which
/// `-drive` would read as the next option).
pub(crate) fn drive_path(disk: &Path) -> Result<&str> {
    disk.to_str().filter(|p| !p.contains(',')).ok_or_else(|| {
        Error::Invalid(format!(
            "disk path {} is not UTF-8 or contains ',' (QEMU's -drive cannot take it)",
            disk.display()
        ))
    })
}

/// Machine type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    /// `q35` (ICH9, AHCI): the default.
    Q35,
    /// `pc` (i440FX, PIIX IDE).
    Pc,
}

/// What to run. Build with [`VmConfig::new`] and the setters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmConfig {
    /// `-kernel`.
    pub kernel: PathBuf,
    /// `-initrd`; an empty path for none.
    pub initrd: PathBuf,
    /// `-append`.
    pub append: String,
    /// Disks, in order (the first virtio disk is `/dev/vda`, ...).
    pub disks: Vec<DiskSpec>,
    /// `-m`, in MiB.
    pub memory_mib: u32,
    /// Firmware.
    pub firmware: Firmware,
    /// CPU emulation; `None`: [`Accel::from_env`].
    pub accel: Option<Accel>,
    /// Machine type.
    pub machine: Machine,
    /// Additional QEMU arguments, appended last.
    pub extra_args: Vec<String>,
    /// Where the serial output goes (truncated at start; parents created).
    pub serial_log: PathBuf,
}

impl VmConfig {
    /// `kernel` with `initrd`, [`default_append`], no disks, 1024 MiB, qboot,
    /// q35, accel from the environment, and a serial log in the temp dir.
    pub fn new(kernel: impl Into<PathBuf>, initrd: impl Into<PathBuf>) -> VmConfig {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        VmConfig {
            kernel: kernel.into(),
            initrd: initrd.into(),
            append: default_append(),
            disks: Vec::new(),
            memory_mib: 1024,
            firmware: Firmware::Qboot,
            accel: None,
            machine: Machine::Q35,
            extra_args: Vec::new(),
            serial_log: std::env::temp_dir()
                .join(format!("leapboot-qemu-{}-{n}.log", std::process::id())),
        }
    }

    /// Replaces the kernel command line.
    pub fn append(mut self, append: impl Into<String>) -> VmConfig {
        self.append = append.into();
        self
    }

    /// Adds a disk.
    pub fn disk(mut self, disk: DiskSpec) -> VmConfig {
        self.disks.push(disk);
        self
    }

    /// Adds a raw, writable virtio disk.
    pub fn virtio_disk(self, path: impl Into<PathBuf>) -> VmConfig {
        self.disk(DiskSpec::virtio(path))
    }

    /// Adds a raw, writable IDE/AHCI disk.
    pub fn ide_disk(self, path: impl Into<PathBuf>) -> VmConfig {
        self.disk(DiskSpec::ide(path))
    }

    /// Sets the memory size.
    pub fn memory_mib(mut self, memory_mib: u32) -> VmConfig {
        self.memory_mib = memory_mib;
        self
    }

    /// Sets the firmware.
    pub fn firmware(mut self, firmware: Firmware) -> VmConfig {
        self.firmware = firmware;
        self
    }

    /// Forces an accelerator (instead of `$LEAPBOOT_QEMU_ACCEL`).
    pub fn accel(mut self, accel: Accel) -> VmConfig {
        self.accel = Some(accel);
        self
    }

    /// Sets the machine type.
    pub fn machine(mut self, machine: Machine) -> VmConfig {
        self.machine = machine;
        self
    }

    /// Appends one raw QEMU argument.
    pub fn extra_arg(mut self, arg: impl Into<String>) -> VmConfig {
        self.extra_args.push(arg.into());
        self
    }

    /// Sets the serial log path.
    pub fn serial_log(mut self, path: impl Into<PathBuf>) -> VmConfig {
        self.serial_log = path.into();
        self
    }

    /// The QEMU command this configuration runs.
    pub fn command(&self) -> Result<Command> {
        let accel = match self.accel {
            Some(a) => a,
            None => Accel::from_env()?,
        };
        let mut cmd = Command::new(qemu_binary());
        cmd.args(["-no-user-config", "-nodefaults", "-name", "leapboot-test"]);
        cmd.arg("-machine").arg(match self.machine {
            Machine::Q35 => "q35",
            Machine::Pc => "pc",
        });
        cmd.args(accel.args());
        cmd.arg("-m").arg(self.memory_mib.to_string());
        cmd.args([
            "-display",
            "none",
            "-monitor",
            "none",
            "-serial",
            "stdio",
            "-no-reboot",
        ]);
        match &self.firmware {
            Firmware::Qboot => {
                cmd.arg("-bios").arg(QBOOT_ROM);
            }
            Firmware::SeaBios => {}
            Firmware::Custom(path) => {
                cmd.arg("-bios").arg(path);
            }
        }
        cmd.arg("-kernel").arg(&self.kernel);
        if !self.initrd.as_os_str().is_empty() {
            cmd.arg("-initrd").arg(&self.initrd);
        }
        cmd.arg("-append").arg(&self.append);
        for (i, disk) in self.disks.iter().enumerate() {
            let path = drive_path(&disk.path)?;
            let mut drive = format!("file={path},format={},id=disk{i}", disk.format);
            let device = match (disk.interface, disk.block_size) {
                (Interface::Virtio, Some(bs)) => {
                    drive.push_str(",if=none");
                    Some(format!(
                        "virtio-blk-pci,drive=disk{i},logical_block_size={bs},physical_block_size={bs}"
                    ))
                }
                (Interface::Ide, Some(_)) => {
                    return Err(Error::Invalid(format!(
                        "disk {path}: a block size can only be set on a virtio disk"
                    )));
                }
                (Interface::Virtio, None) => {
                    drive.push_str(",if=virtio");
                    None
                }
                (Interface::Ide, None) => {
                    drive.push_str(",if=ide");
                    None
                }
            };
            if disk.readonly {
                drive.push_str(",readonly=on");
            }
            cmd.arg("-drive").arg(drive);
            if let Some(device) = device {
                cmd.arg("-device").arg(device);
            }
        }
        cmd.args(&self.extra_args);
        Ok(cmd)
    }

    fn check_files(&self) -> Result<()> {
        let mut files = vec![&self.kernel];
        if !self.initrd.as_os_str().is_empty() {
            files.push(&self.initrd);
        }
        files.extend(self.disks.iter().map(|d| &d.path));
        let qboot = PathBuf::from(QBOOT_ROM);
        match &self.firmware {
            Firmware::Qboot => files.push(&qboot),
            Firmware::Custom(p) => files.push(p),
            Firmware::SeaBios => {}
        }
        files.into_iter().try_for_each(|f| require_file(f))
    }
}

#[derive(Default)]
struct State {
    /// Everything the guest printed so far.
    serial: Vec<u8>,
    /// QEMU's stderr so far.
    stderr: Vec<u8>,
    /// QEMU closed its stdout (it exited).
    eof: bool,
    /// Error writing the log file, if any.
    log_error: Option<String>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running QEMU. Dropping it kills QEMU.
pub struct Vm {
    child: Child,
    stdin: Option<ChildStdin>,
    shared: Arc<Shared>,
    readers: Vec<JoinHandle<()>>,
    cursor: usize,
    log_path: PathBuf,
    command_line: String,
    started: Instant,
    status: Option<ExitStatus>,
}

/// A match found by a wait.
struct Found {
    pattern: usize,
    end: usize,
    line: String,
}

impl Vm {
    /// Starts QEMU as configured. Fails if a file is missing or QEMU cannot
    /// be started; QEMU rejecting its arguments shows up as an exit in the
    /// first wait.
    pub fn start(config: VmConfig) -> Result<Vm> {
        config.check_files()?;
        Vm::spawn(config.command()?, &config.serial_log)
    }

    /// Runs an arbitrary command as if it were QEMU with `-serial stdio`:
    /// its stdout is the serial log, its stdin takes [`Vm::send`]. For
    /// scripts that need QEMU arguments [`VmConfig`] does not cover, and for
    /// testing the harness itself.
    pub fn spawn(mut cmd: Command, serial_log: &Path) -> Result<Vm> {
        let command_line = display_command(&cmd);
        if let Some(parent) = serial_log.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(io_err("cannot create directory", parent))?;
        }
        let log = std::fs::File::create(serial_log)
            .map_err(io_err("cannot create serial log", serial_log))?;
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| Error::Spawn {
            command: command_line.clone(),
            source,
        })?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            let shared = Arc::clone(&shared);
            readers.push(std::thread::spawn(move || {
                read_serial(stdout, log, &shared)
            }));
        }
        if let Some(stderr) = child.stderr.take() {
            let shared = Arc::clone(&shared);
            readers.push(std::thread::spawn(move || read_stderr(stderr, &shared)));
        }
        Ok(Vm {
            stdin: child.stdin.take(),
            child,
            shared,
            readers,
            cursor: 0,
            log_path: serial_log.to_path_buf(),
            command_line,
            started: Instant::now(),
            status: None,
        })
    }

    /// Waits for the first serial line, after the end of the previous
    /// `wait_for`/[`wait_for_first`](Vm::wait_for_first) match, that
    /// contains `pattern`, and returns it (without line terminator). The next
    /// search starts right after this match.
    ///
    /// A matching line is returned once complete; a line that stays
    /// incomplete (a prompt waiting for input) is returned after 300 ms
    /// without output. Fails at `timeout`, or as soon as QEMU exits without
    /// having printed it; the error shows the log tail.
    pub fn wait_for(&mut self, pattern: &str, timeout: Duration) -> Result<String> {
        let found = self.wait_match(&[pattern], self.cursor, timeout)?;
        self.cursor = found.end;
        Ok(found.line)
    }

    /// Like [`wait_for`](Vm::wait_for) for whichever of `patterns` appears
    /// first; returns its index and the line.
    pub fn wait_for_first(
        &mut self,
        patterns: &[&str],
        timeout: Duration,
    ) -> Result<(usize, String)> {
        let found = self.wait_match(patterns, self.cursor, timeout)?;
        self.cursor = found.end;
        Ok((found.pattern, found.line))
    }

    /// Like [`wait_for`](Vm::wait_for) but searches the whole log from the
    /// start and does not move the cursor.
    pub fn wait_for_any(&mut self, pattern: &str, timeout: Duration) -> Result<String> {
        Ok(self.wait_match(&[pattern], 0, timeout)?.line)
    }

    /// The first line of the whole log so far that contains `pattern`.
    pub fn find_in_log(&self, pattern: &str) -> Option<String> {
        let state = self.shared.lock();
        let start = find(&state.serial, pattern.as_bytes(), 0)?;
        Some(line_at(&state.serial, start).0)
    }

    /// Everything the guest printed so far (lossy UTF-8).
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.shared.lock().serial).into_owned()
    }

    /// The serial output so far, as lines without `\r`.
    pub fn lines(&self) -> Vec<String> {
        self.log()
            .lines()
            .map(|l| l.trim_end_matches('\r').to_string())
            .collect()
    }

    /// The serial log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The QEMU command line (for reports).
    pub fn command_line(&self) -> &str {
        &self.command_line
    }

    /// Time since QEMU was started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Sends `bytes` to the guest's serial console (e.g. `b"\r"` for Enter,
    /// `b"\x1b[B"` for cursor down).
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| Error::Invalid("QEMU's stdin is closed".into()))?;
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.flush())
            .map_err(|source| Error::Io {
                action: "cannot send input to the serial console of QEMU logging to",
                path: self.log_path.clone(),
                source,
            })
    }

    /// Waits until QEMU exits by itself (guest power-off, reboot or panic
    /// under `-no-reboot`) and returns its status; the serial log is complete
    /// afterwards. Fails at `timeout`, leaving QEMU running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.try_status() {
                break status;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(self.vm_error(
                    "timed out".into(),
                    "QEMU to exit (guest power-off)".into(),
                    timeout,
                ));
            }
            // Woken early by output or EOF; the exit itself is polled.
            let state = self.shared.lock();
            let wait = (deadline - now).min(Duration::from_millis(50));
            let _ = self.shared.changed.wait_timeout(state, wait);
        };
        self.drain_readers(Duration::from_secs(5));
        Ok(status)
    }

    /// Whether QEMU is still running.
    pub fn is_running(&mut self) -> bool {
        self.try_status().is_none()
    }

    /// Kills QEMU (if running) and waits for it.
    pub fn kill(&mut self) -> Result<()> {
        if self.try_status().is_none() {
            let _ = self.child.kill();
            let status = self.child.wait().map_err(|source| Error::Io {
                action: "cannot wait for QEMU logging to",
                path: self.log_path.clone(),
                source,
            })?;
            self.status = Some(status);
        }
        self.drain_readers(Duration::from_secs(5));
        Ok(())
    }

    fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none()
            && let Ok(Some(status)) = self.child.try_wait()
        {
            self.status = Some(status);
        }
        self.status
    }

    /// Waits (bounded) for the reader threads to see EOF, so the log is
    /// complete.
    fn drain_readers(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut state = self.shared.lock();
        while !state.eof {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            state = match self.shared.changed.wait_timeout(state, deadline - now) {
                Ok((s, _)) => s,
                Err(p) => p.into_inner().0,
            };
        }
        drop(state);
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }

    fn wait_match(&mut self, patterns: &[&str], from: usize, timeout: Duration) -> Result<Found> {
        const IDLE: Duration = Duration::from_millis(300);
        let expected = describe(patterns, from == 0 && self.cursor != 0);
        let start = Instant::now();
        let deadline = start + timeout;
        let mut scanned = from;
        let mut candidate: Option<(usize, usize)> = None; // (pattern, match start)
        let mut last_len = 0;
        let mut last_change = Instant::now();
        let exited_without_match;
        {
            let mut state = self.shared.lock();
            loop {
                let len = state.serial.len();
                if len != last_len {
                    last_len = len;
                    last_change = Instant::now();
                }
                if candidate.is_none() {
                    let mut best: Option<(usize, usize)> = None;
                    for (i, p) in patterns.iter().enumerate() {
                        let search_from =
                            scanned.saturating_sub(p.len().saturating_sub(1)).max(from);
                        if let Some(pos) = find(&state.serial, p.as_bytes(), search_from)
                            && best.is_none_or(|(_, b)| pos < b)
                        {
                            best = Some((i, pos));
                        }
                    }
                    candidate = best;
                    scanned = len.max(from);
                }
                let now = Instant::now();
                if let Some((i, pos)) = candidate {
                    let (line, complete) = line_at(&state.serial, pos);
                    if complete
                        || state.eof
                        || now >= deadline
                        || now.duration_since(last_change) >= IDLE
                    {
                        return Ok(Found {
                            pattern: i,
                            end: pos + patterns[i].len(),
                            line,
                        });
                    }
                } else if state.eof {
                    exited_without_match = true;
                    break;
                } else if now >= deadline {
                    exited_without_match = false;
                    break;
                }
                let wait = if candidate.is_some() {
                    IDLE.min(deadline.saturating_duration_since(now))
                } else {
                    deadline - now
                };
                state = match self.shared.changed.wait_timeout(state, wait) {
                    Ok((s, _)) => s,
                    Err(p) => p.into_inner().0,
                };
            }
        }
        let what = if exited_without_match {
            // Collect the status for the message (QEMU closed stdout: it is
            // exiting).
            let limit = Instant::now() + Duration::from_secs(2);
            while self.try_status().is_none() && Instant::now() < limit {
                std::thread::sleep(Duration::from_millis(10));
            }
            match self.status {
                Some(status) => format!("QEMU exited ({status})"),
                None => "QEMU closed its serial output".to_string(),
            }
        } else {
            "timed out".to_string()
        };
        Err(self.vm_error(what, expected, start.elapsed()))
    }

    fn vm_error(&self, what: String, expected: String, elapsed: Duration) -> Error {
        let state = self.shared.lock();
        let text = String::from_utf8_lossy(&state.serial);
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(TAIL_LINES)..]
            .iter()
            .map(|l| l.trim_end_matches('\r'))
            .collect::<Vec<_>>()
            .join("\n");
        let stderr = String::from_utf8_lossy(&state.stderr);
        let mut qemu_stderr = String::new();
        if self.status.is_some() {
            qemu_stderr.push_str(&format!("command: {}\n", self.command_line));
        }
        if !stderr.trim().is_empty() {
            qemu_stderr.push_str(&format!("stderr:\n{}", stderr.trim_end()));
        }
        if let Some(e) = &state.log_error {
            qemu_stderr.push_str(&format!("\n(writing the serial log failed: {e})"));
        }
        Error::Vm(Box::new(VmFailure {
            what,
            expected,
            elapsed,
            log: self.log_path.clone(),
            tail: if tail.is_empty() {
                "(no serial output)".into()
            } else {
                tail
            },
            qemu_stderr,
        }))
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

fn describe(patterns: &[&str], whole_log: bool) -> String {
    let list = patterns
        .iter()
        .map(|p| format!("`{p}`"))
        .collect::<Vec<_>>()
        .join(" or ");
    format!(
        "a serial line containing {list}{}",
        if whole_log {
            " (anywhere in the log)"
        } else {
            ""
        }
    )
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > haystack.len() {
        return None;
    }
    if needle.is_empty() {
        return Some(from);
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The line containing byte `pos` (without `\r`/`\n`) and whether it is
/// terminated.
fn line_at(buf: &[u8], pos: usize) -> (String, bool) {
    let start = buf[..pos]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let (end, complete) = match buf[pos..].iter().position(|&b| b == b'\n') {
        Some(i) => (pos + i, true),
        None => (buf.len(), false),
    };
    let line = String::from_utf8_lossy(&buf[start..end]);
    (line.trim_end_matches('\r').to_string(), complete)
}

fn read_serial(mut stdout: impl Read, mut log: std::fs::File, shared: &Shared) {
    let mut buf = [0u8; 8192];
    loop {
        match stdout.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let log_result = log.write_all(&buf[..n]).and_then(|()| log.flush());
                let mut state = shared.lock();
                state.serial.extend_from_slice(&buf[..n]);
                if let Err(e) = log_result {
                    state.log_error.get_or_insert(e.to_string());
                }
                drop(state);
                shared.changed.notify_all();
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    shared.lock().eof = true;
    shared.changed.notify_all();
}

fn read_stderr(mut stderr: impl Read, shared: &Shared) {
    let mut buf = [0u8; 4096];
    loop {
        match stderr.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                shared.lock().stderr.extend_from_slice(&buf[..n]);
                shared.changed.notify_all();
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_extraction() {
        let buf = b"first\r\nsecond LINE here\r\nthird";
        let pos = find(buf, b"LINE", 0).unwrap();
        assert_eq!(line_at(buf, pos), ("second LINE here".to_string(), true));
        let pos = find(buf, b"hir", 0).unwrap();
        assert_eq!(line_at(buf, pos), ("third".to_string(), false));
        assert_eq!(find(buf, b"first", 1), None);
    }

    #[test]
    fn command_line_has_the_essentials() {
        let cfg = VmConfig::new("/k", "/i")
            .append("console=ttyS0 x=1")
            .disk(DiskSpec::virtio("/d.img").readonly(true))
            .ide_disk("/e.img")
            .accel(Accel::Tcg);
        let cmd = display_command(&cfg.command().unwrap());
        for want in [
            "-accel tcg",
            "-no-reboot",
            "-serial stdio",
            "-bios /usr/share/qemu/qboot.rom",
            "-kernel /k",
            "-initrd /i",
            "-append 'console=ttyS0 x=1'",
            "-drive file=/d.img,format=raw,id=disk0,if=virtio,readonly=on",
            "-drive file=/e.img,format=raw,id=disk1,if=ide",
        ] {
            assert!(cmd.contains(want), "{want} missing in {cmd}");
        }
    }

    #[test]
    fn a_4kn_disk_is_a_virtio_device_with_its_block_size() {
        let cfg = VmConfig::new("/k", "/i")
            .disk(DiskSpec::virtio("/4k.img").block_size(4096))
            .accel(Accel::Tcg);
        let cmd = display_command(&cfg.command().unwrap());
        for want in [
            "-drive file=/4k.img,format=raw,id=disk0,if=none",
            "-device virtio-blk-pci,drive=disk0,logical_block_size=4096,physical_block_size=4096",
        ] {
            assert!(cmd.contains(want), "{want} missing in {cmd}");
        }
        let ide = VmConfig::new("/k", "/i")
            .disk(DiskSpec::ide("/4k.img").block_size(4096))
            .accel(Accel::Tcg);
        assert!(ide.command().is_err());
    }

    fn shell(script: &str) -> Vm {
        let log = std::env::temp_dir().join(format!(
            "leapboot-vm-selftest-{}-{}.log",
            std::process::id(),
            script.len()
        ));
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script);
        Vm::spawn(cmd, &log).unwrap()
    }

    #[test]
    fn send_wait_and_exit_with_a_fake_guest() {
        let mut vm = shell(
            "echo 'boot: ready'; read x; echo \"got: $x\"; printf 'menu> '; read y; \
             echo \"chose $y\"; echo done; exit 3",
        );
        let t = Duration::from_secs(20);
        assert_eq!(vm.wait_for("ready", t).unwrap(), "boot: ready");
        vm.send(b"hello\n").unwrap();
        assert_eq!(vm.wait_for("got:", t).unwrap(), "got: hello");
        // A prompt without newline is returned once output goes quiet.
        assert_eq!(vm.wait_for("menu>", t).unwrap(), "menu> ");
        vm.send(b"2\n").unwrap();
        let (i, line) = vm.wait_for_first(&["panic", "chose"], t).unwrap();
        assert_eq!((i, line.as_str()), (1, "menu> chose 2"));
        // The cursor moved on: an earlier line is not found again ...
        let err = vm.wait_for("ready", t).unwrap_err().to_string();
        assert!(err.contains("QEMU exited (exit status: 3)"), "{err}");
        assert!(err.contains("`ready`"), "{err}");
        assert!(
            err.contains("--- last serial lines ---\nboot: ready\ngot: hello"),
            "{err}"
        );
        // ... but the whole log still has it.
        assert_eq!(vm.wait_for_any("ready", t).unwrap(), "boot: ready");
        assert_eq!(vm.find_in_log("done").as_deref(), Some("done"));
        assert_eq!(vm.wait_exit(t).unwrap().code(), Some(3));
        let file = std::fs::read_to_string(vm.log_path()).unwrap();
        assert_eq!(file, vm.log());
        assert!(file.ends_with("done\n"));
        let _ = std::fs::remove_file(vm.log_path());
    }

    #[test]
    fn timeouts_show_the_tail_and_drop_kills() {
        let mut vm = shell("for i in $(seq 1 100); do echo line $i; done; exec sleep 600");
        let err = vm
            .wait_for("never", Duration::from_millis(500))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("timed out while waiting for"), "{err}");
        assert!(
            err.contains("line 61\n") && err.contains("line 100\n"),
            "{err}"
        );
        assert!(!err.contains("line 60\n"), "{err}");
        let err = vm
            .wait_exit(Duration::from_millis(200))
            .unwrap_err()
            .to_string();
        assert!(err.contains("QEMU to exit"), "{err}");
        assert!(vm.is_running());
        let path = vm.log_path().to_path_buf();
        let started = Instant::now();
        drop(vm);
        assert!(started.elapsed() < Duration::from_secs(5));
        let _ = std::fs::remove_file(path);
    }
}
