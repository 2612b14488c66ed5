//! The GRUB environment block (`grubenv`), as `grub-core/lib/envblk.c` reads and
//! edits it: a signature line `# GRUB Environment Block`, then `name=value` lines
//! (value escapes: `\\` for a backslash, a backslash before a newline), then `#`
//! padding up to the block's size (1024 bytes as `grub-editenv` creates it).
//!
//! GRUB's `save_env` rewrites the block in place through the file's disk sectors, so
//! the size never changes: a variable that is changed keeps its place, a new one goes
//! after the last, a removed one closes up and the space becomes `#` padding. These
//! functions do exactly that on a byte buffer; the bootloader writes the buffer back
//! over the same sectors. Lines that start with `#` (comments, padding) are skipped
//! when reading and kept when editing.

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

use crate::entry::{Source, VolumeRef};

/// The first line of every environment block.
pub const SIGNATURE: &[u8] = b"# GRUB Environment Block\n";

/// Size of a block as `grub-editenv create` writes it.
pub const DEFAULT_SIZE: usize = 1024;

/// Why a block cannot be read or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrubenvError {
    /// The file does not start with the signature line.
    #[error("not a GRUB environment block: it does not start with `# GRUB Environment Block`")]
    BadSignature,
    /// The block's structure is damaged (no newline before the padding, a line that
    /// runs past the end).
    #[error("damaged GRUB environment block: {0}")]
    Broken(&'static str),
    /// The change does not fit in the block's padding (`environment block too small`).
    #[error("GRUB environment block of {size} bytes has no room to set `{name}`")]
    TooSmall {
        /// Variable being set.
        name: String,
        /// Size of the block.
        size: usize,
    },
    /// The name cannot be stored (empty, starts with `#`, contains `=` or a newline).
    #[error("variable name `{0}` cannot be stored in a GRUB environment block")]
    BadName(String),
}

/// One change to make in a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvChange {
    /// Set (add or replace) a variable.
    Set(String, String),
    /// Remove a variable (`save_env` of an unset variable).
    Unset(String),
}

/// A `save_env` that GRUB would perform: which file, which changes, from where.
/// Applying it is all-or-nothing, as GRUB writes nothing when a change does not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvWrite {
    /// Volume holding the environment file.
    pub volume: VolumeRef,
    /// Path of the environment file within that volume.
    pub path: String,
    /// Changes, in order.
    pub changes: Vec<EnvChange>,
    /// The `save_env` command that asked for them.
    pub source: Source,
}

/// An environment block held in memory, always the size it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvBlock {
    buf: Vec<u8>,
}

/// Index just past the line that contains `p` (`find_next_line`): backslash pairs are
/// skipped, so an escaped newline does not end a line.
fn find_next_line(buf: &[u8], mut p: usize) -> usize {
    let pend = buf.len();
    while p < pend {
        match buf.get(p) {
            Some(b'\\') => p = p.saturating_add(2),
            Some(b'\n') => break,
            _ => p = p.saturating_add(1),
        }
    }
    p.saturating_add(1)
}

fn escaped(value: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    for &b in value.as_bytes() {
        if b == b'\\' || b == b'\n' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

fn check_name(name: &str) -> Result<(), GrubenvError> {
    if name.is_empty() || name.starts_with('#') || name.contains(['=', '\n']) {
        return Err(GrubenvError::BadName(name.to_string()));
    }
    Ok(())
}

impl EnvBlock {
    /// A fresh block of `size` bytes: the signature and `#` padding.
    pub fn new(size: usize) -> EnvBlock {
        let mut buf = SIGNATURE.to_vec();
        buf.resize(size.max(SIGNATURE.len().saturating_add(1)), b'#');
        EnvBlock { buf }
    }

    /// Reads a block (`grub_envblk_open`): it must start with the signature line.
    pub fn parse(bytes: &[u8]) -> Result<EnvBlock, GrubenvError> {
        if bytes.len() <= SIGNATURE.len() || !bytes.starts_with(SIGNATURE) {
            return Err(GrubenvError::BadSignature);
        }
        Ok(EnvBlock {
            buf: bytes.to_vec(),
        })
    }

    /// The block's bytes, for writing back in place.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The variables in file order (`grub_envblk_iterate`). Reading stops at a
    /// damaged line, as GRUB's does.
    pub fn vars(&self) -> Vec<(String, String)> {
        let buf = &self.buf;
        let pend = buf.len();
        let mut out = Vec::new();
        let mut p = SIGNATURE.len();
        while p < pend {
            if buf.get(p) != Some(&b'#') {
                let name_start = p;
                while p < pend && buf.get(p) != Some(&b'=') {
                    p = p.saturating_add(1);
                }
                if p >= pend {
                    return out;
                }
                let name_end = p;
                p = p.saturating_add(1);
                let value_start = p;
                while p < pend {
                    match buf.get(p) {
                        Some(b'\n') => break,
                        Some(b'\\') => p = p.saturating_add(2),
                        _ => p = p.saturating_add(1),
                    }
                }
                if p >= pend {
                    return out;
                }
                let mut value = Vec::new();
                let mut q = value_start;
                while q < p {
                    match buf.get(q) {
                        Some(b'\\') => {
                            if let Some(&c) = buf.get(q.saturating_add(1)) {
                                value.push(c);
                            }
                            q = q.saturating_add(2);
                        }
                        Some(&c) => {
                            value.push(c);
                            q = q.saturating_add(1);
                        }
                        None => break,
                    }
                }
                let name = String::from_utf8_lossy(buf.get(name_start..name_end).unwrap_or(&[]))
                    .into_owned();
                out.push((name, String::from_utf8_lossy(&value).into_owned()));
            }
            p = find_next_line(buf, p);
        }
        out
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<String> {
        self.vars()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// Finds the first line `name=...`; returns the offset of its value.
    fn find(&self, name: &str, limit: usize) -> Option<usize> {
        let nl = name.len();
        let mut p = SIGNATURE.len();
        while p.saturating_add(nl).saturating_add(1) < limit {
            let end = p.saturating_add(nl);
            if self.buf.get(p..end) == Some(name.as_bytes()) && self.buf.get(end) == Some(&b'=') {
                return Some(end.saturating_add(1));
            }
            p = find_next_line(&self.buf, p);
        }
        None
    }

    /// Length of the (escaped) value starting at `p`, up to its newline.
    fn value_len(&self, p: usize) -> Result<usize, GrubenvError> {
        let pend = self.buf.len();
        let mut len = 0usize;
        while p.saturating_add(len) < pend && self.buf.get(p.saturating_add(len)) != Some(&b'\n') {
            len = len.saturating_add(if self.buf.get(p.saturating_add(len)) == Some(&b'\\') {
                2
            } else {
                1
            });
        }
        if p.saturating_add(len) >= pend {
            return Err(GrubenvError::Broken(
                "a value runs past the end of the block",
            ));
        }
        Ok(len)
    }

    /// Sets `name` to `value` in place (`grub_envblk_set`).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), GrubenvError> {
        check_name(name)?;
        let val = escaped(value);
        let vl = val.len();
        let pend = self.buf.len();
        let too_small = || GrubenvError::TooSmall {
            name: name.to_string(),
            size: pend,
        };
        // Free space: the run of `#` at the end, after the last newline.
        let mut space = pend;
        while space > SIGNATURE.len() && self.buf.get(space.saturating_sub(1)) == Some(&b'#') {
            space = space.saturating_sub(1);
        }
        if self.buf.get(space.saturating_sub(1)) != Some(&b'\n') {
            return Err(GrubenvError::Broken("no newline before the padding"));
        }
        let free = pend.saturating_sub(space);
        let p = match self.find(name, space) {
            Some(p) => {
                let len = self.value_len(p)?;
                if vl > len {
                    if vl.saturating_sub(len) > free {
                        return Err(too_small());
                    }
                    // Move the rest forward; padding at the end is consumed.
                    let to = p.saturating_add(vl);
                    let count = pend.saturating_sub(to);
                    self.buf.copy_within(
                        p.saturating_add(len)..p.saturating_add(len).saturating_add(count),
                        to,
                    );
                } else if vl < len {
                    let gap = len.saturating_sub(vl);
                    self.buf
                        .copy_within(p.saturating_add(len)..pend, p.saturating_add(vl));
                    let fill = space.saturating_sub(gap);
                    for b in self.buf.get_mut(fill..pend).unwrap_or(&mut []) {
                        *b = b'#';
                    }
                }
                p
            }
            None => {
                let need = name.len().saturating_add(vl).saturating_add(2);
                if need > free {
                    return Err(too_small());
                }
                let end = space.saturating_add(name.len());
                if let Some(dst) = self.buf.get_mut(space..end) {
                    dst.copy_from_slice(name.as_bytes());
                }
                if let Some(b) = self.buf.get_mut(end) {
                    *b = b'=';
                }
                end.saturating_add(1)
            }
        };
        let end = p.saturating_add(vl);
        match self.buf.get_mut(p..end) {
            Some(dst) => dst.copy_from_slice(&val),
            None => return Err(too_small()),
        }
        match self.buf.get_mut(end) {
            Some(b) => *b = b'\n',
            None => return Err(too_small()),
        }
        Ok(())
    }

    /// Removes `name` in place (`grub_envblk_delete`); nothing happens when it is not
    /// set.
    pub fn unset(&mut self, name: &str) {
        let pend = self.buf.len();
        let Some(value) = self.find(name, pend) else {
            return;
        };
        let start = value.saturating_sub(name.len()).saturating_sub(1);
        let Ok(vlen) = self.value_len(value) else {
            return;
        };
        let len = name
            .len()
            .saturating_add(1)
            .saturating_add(vlen)
            .saturating_add(1);
        let from = start.saturating_add(len);
        if from > pend {
            return;
        }
        self.buf.copy_within(from..pend, start);
        for b in self
            .buf
            .get_mut(pend.saturating_sub(len)..pend)
            .unwrap_or(&mut [])
        {
            *b = b'#';
        }
    }

    /// Applies changes in order; on the first that fails nothing is changed.
    pub fn apply(&mut self, changes: &[EnvChange]) -> Result<(), GrubenvError> {
        let mut copy = self.clone();
        for c in changes {
            match c {
                EnvChange::Set(n, v) => copy.set(n, v)?,
                EnvChange::Unset(n) => copy.unset(n),
            }
        }
        *self = copy;
        Ok(())
    }
}

/// Reads `bytes` as a block, applies `changes`, and returns the new contents, the
/// same size as `bytes`: what the bootloader writes back for one [`EnvWrite`].
pub fn apply(bytes: &[u8], changes: &[EnvChange]) -> Result<Vec<u8>, GrubenvError> {
    let mut blk = EnvBlock::parse(bytes)?;
    blk.apply(changes)?;
    Ok(blk.buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(body: &str) -> Vec<u8> {
        let mut b = SIGNATURE.to_vec();
        b.extend_from_slice(body.as_bytes());
        b.resize(DEFAULT_SIZE, b'#');
        b
    }

    #[test]
    fn reads_vars_and_skips_comments() {
        let b = EnvBlock::parse(&block("saved_entry=a\n#comment\nx=1\\\\2\n")).unwrap();
        assert_eq!(
            b.vars(),
            [
                ("saved_entry".into(), "a".into()),
                ("x".into(), "1\\2".into())
            ]
        );
    }

    #[test]
    fn rejects_bad_signature() {
        assert_eq!(
            EnvBlock::parse(b"# GRUB Env\nx=1\n"),
            Err(GrubenvError::BadSignature)
        );
    }

    #[test]
    fn set_in_place_keeps_size_and_order() {
        let mut b = EnvBlock::parse(&block("a=1\nb=2\n")).unwrap();
        b.set("a", "longer value").unwrap();
        b.set("c", "3").unwrap();
        b.set("b", "").unwrap();
        assert_eq!(b.as_bytes().len(), DEFAULT_SIZE);
        assert_eq!(b.as_bytes(), block("a=longer value\nb=\nc=3\n").as_slice());
        b.set("a", "x").unwrap();
        assert_eq!(b.as_bytes(), block("a=x\nb=\nc=3\n").as_slice());
    }

    #[test]
    fn unset_closes_up() {
        let mut b = EnvBlock::parse(&block("a=1\nb=2\nc=3\n")).unwrap();
        b.unset("b");
        b.unset("zzz");
        assert_eq!(b.as_bytes(), block("a=1\nc=3\n").as_slice());
    }

    #[test]
    fn escapes_round_trip() {
        let mut b = EnvBlock::new(DEFAULT_SIZE);
        b.set("v", "line1\nback\\slash").unwrap();
        assert_eq!(b.get("v").as_deref(), Some("line1\nback\\slash"));
    }

    #[test]
    fn too_small_changes_nothing() {
        let mut b = EnvBlock::new(40);
        let before = b.clone();
        let err = b.apply(&[
            EnvChange::Set("a".into(), "1".into()),
            EnvChange::Set("b".into(), "x".repeat(40)),
        ]);
        assert!(matches!(err, Err(GrubenvError::TooSmall { .. })));
        assert_eq!(b, before);
    }

    #[test]
    fn full_block_exactly() {
        // 25 bytes of signature + "a=1\n" = 29 bytes: no padding left.
        let mut b = EnvBlock::new(29);
        b.set("a", "1").unwrap();
        assert_eq!(b.as_bytes(), b"# GRUB Environment Block\na=1\n");
        b.set("a", "").unwrap();
        assert_eq!(b.as_bytes(), b"# GRUB Environment Block\na=\n#");
        assert!(b.set("bb", "1").is_err());
    }
}
