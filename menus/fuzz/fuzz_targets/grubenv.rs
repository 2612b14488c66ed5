//! Arbitrary bytes as a grubenv block: parse, list, edit. Edits never change the
//! block's size and leave something that still parses as a block.
#![no_main]

use leapboot_menus::grub::grubenv::{EnvBlock, EnvChange, apply};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(blk) = EnvBlock::parse(data) else {
        return;
    };
    let vars = blk.vars();
    let mut changes = vec![EnvChange::Set("next_entry".into(), String::new())];
    if let Some((name, value)) = vars.first() {
        changes.push(EnvChange::Set(name.clone(), format!("{value}\\x\n")));
        changes.push(EnvChange::Unset(name.clone()));
    }
    changes.push(EnvChange::Set("saved_entry".into(), "a>b".into()));
    if let Ok(out) = apply(data, &changes) {
        assert_eq!(out.len(), data.len());
        let back = EnvBlock::parse(&out).expect("still a block");
        let _ = back.vars();
    }
});
