//! Small shared helpers: running tools with context, file locks, temp dirs,
//! a stable hash.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Error, Result};

/// Builds an [`Error::Io`] for `path`.
pub(crate) fn io_err(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

/// Renders a command line for error messages (program and arguments, quoted
/// when they contain anything but plain characters).
pub(crate) fn display_command(cmd: &Command) -> String {
    let mut parts = vec![quote(cmd.get_program())];
    parts.extend(cmd.get_args().map(quote));
    parts.join(" ")
}

fn quote(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Runs `cmd` to completion with stdin closed, capturing its output; a
/// non-zero exit becomes [`Error::Command`] carrying its stderr.
pub(crate) fn run(cmd: &mut Command) -> Result<Output> {
    let output = run_unchecked(cmd)?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(command_failed(cmd, &output))
    }
}

/// Like [`run`] but returns the output whatever the exit status.
pub(crate) fn run_unchecked(cmd: &mut Command) -> Result<Output> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.output().map_err(|source| Error::Spawn {
        command: display_command(cmd),
        source,
    })
}

/// Runs `cmd` with `input` on its stdin, capturing its output; a non-zero
/// exit becomes [`Error::Command`].
pub(crate) fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Result<Output> {
    let output = run_with_stdin_unchecked(cmd, input)?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(command_failed(cmd, &output))
    }
}

/// Like [`run_with_stdin`] but returns the output whatever the exit status.
pub(crate) fn run_with_stdin_unchecked(cmd: &mut Command, input: &[u8]) -> Result<Output> {
    use std::io::Write;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| Error::Spawn {
        command: display_command(cmd),
        source,
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        // Written from a thread so that a tool producing much output before
        // reading all its input cannot deadlock; a tool that exits early
        // closes the pipe, and its exit status tells why.
        let input = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let output = child.wait_with_output();
        let _ = writer.join();
        return output.map_err(|source| Error::Spawn {
            command: display_command(cmd),
            source,
        });
    }
    child.wait_with_output().map_err(|source| Error::Spawn {
        command: display_command(cmd),
        source,
    })
}

/// The [`Error::Command`] for a failed `cmd`.
pub(crate) fn command_failed(cmd: &Command, output: &Output) -> Error {
    let mut stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if stderr.trim().is_empty() {
        stderr = String::from_utf8_lossy(&output.stdout).into_owned();
    }
    Error::Command {
        command: display_command(cmd),
        status: output.status.to_string(),
        stderr,
    }
}

/// An exclusive `flock(2)` lock on a file, released on drop.
pub(crate) struct FileLock {
    _file: File,
}

impl FileLock {
    /// Opens (creating it if needed) and locks `path`, waiting for other
    /// holders in this or other processes.
    pub(crate) fn acquire(path: &Path) -> Result<FileLock> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_err("cannot create directory", parent))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(io_err("cannot open lock file", path))?;
        loop {
            // SAFETY: flock on a file descriptor we own.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                break;
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(io_err("cannot lock", path)(err));
            }
        }
        Ok(FileLock { _file: file })
    }
}

/// A directory removed (recursively) on drop.
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh directory `<parent>/.<prefix>-<pid>-<n>`.
    pub(crate) fn new_in(parent: &Path, prefix: &str) -> Result<TempDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        std::fs::create_dir_all(parent).map_err(io_err("cannot create directory", parent))?;
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = parent.join(format!(".{prefix}-{}-{n}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err("cannot create directory", path)(e)),
            }
        }
    }

    /// The directory's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// FNV-1a, 64 bit: a stable (release- and platform-independent) hash.
#[derive(Clone, Copy)]
pub(crate) struct Fnv64(u64);

impl Fnv64 {
    pub(crate) fn new() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Hashes a length-prefixed field so that concatenations cannot collide.
    pub(crate) fn field(&mut self, bytes: &[u8]) {
        self.update(&(bytes.len() as u64).to_le_bytes());
        self.update(bytes);
    }

    pub(crate) fn finish(self) -> u64 {
        self.0
    }
}

/// SplitMix64 step: turns a seed into well-spread pseudo-random words.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Timestamp used for files in built images: `SOURCE_DATE_EPOCH` if set,
/// otherwise a fixed date (2023-11-14), so that images are reproducible.
pub(crate) fn source_date_epoch() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1_700_000_000)
}

/// Reads an environment variable, treating unset and empty alike.
pub(crate) fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
