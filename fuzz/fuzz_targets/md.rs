//! md RAID superblocks: arbitrary bytes as a superblock of every format (0.90, 1.0,
//! 1.1, 1.2) on a member whose length comes from the input, as a whole member probed
//! in every place a superblock may be, and the members found resolved into an array.
//! Nothing may panic, hang or allocate without bound.
#![no_main]

use leapboot::devices::stack::md;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let len = data
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .unwrap_or(0);
    let sb = data.get(8..).unwrap_or_default();
    let mut found = Vec::new();
    for m in md::Metadata::ALL {
        if let Ok(Some(s)) = md::parse(sb, m, len) {
            found.push(s);
        }
    }
    let member_len = u64::try_from(data.len()).unwrap_or(0);
    let read = |at: u64, buf: &mut [u8]| -> std::io::Result<()> {
        let start = usize::try_from(at).map_err(std::io::Error::other)?;
        let src = start
            .checked_add(buf.len())
            .and_then(|end| data.get(start..end))
            .ok_or_else(|| std::io::Error::other("past the end"))?;
        buf.copy_from_slice(src);
        Ok(())
    };
    if let Ok(Ok(Some(s))) = md::probe(member_len, read) {
        let _ = s.device_name();
        found.push(s);
    }
    let refs: Vec<&md::Superblock> = found.iter().collect();
    let _ = md::resolve(&refs);
});
