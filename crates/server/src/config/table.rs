//! [`SETTINGS`], the one declaration of every setting, written in two parts (`limits`,
//! `operations`) and read as one table in this order.

use super::*;

mod limits;
mod operations;

pub(super) const KIB: u64 = 1024;
pub(super) const MIB: u64 = 1024 * 1024;

/// Every setting Gatehouse reads. Add a setting to `limits` or `operations`, then read it in
/// [`Settings::resolve`] (a test fails until both are done) and regenerate the docs table
/// (`gatehouse check-config --markdown`).
pub const SETTINGS: &[Setting] = &join::<{ limits::DECLARED.len() + operations::DECLARED.len() }>(
    limits::DECLARED,
    operations::DECLARED,
);

/// The declaration of `key`; every key the code asks for is declared (a test checks).
pub fn setting(key: &str) -> &'static Setting {
    SETTINGS
        .iter()
        .find(|s| s.key == key)
        .unwrap_or_else(|| panic!("setting {key:?} is not declared in SETTINGS"))
}

/// `a` then `b` in one array: the table is written in two files and read as one.
const fn join<const N: usize>(a: &[Setting], b: &[Setting]) -> [Setting; N] {
    assert!(a.len() + b.len() == N);
    let mut out = [a[0]; N];
    let mut i = 0;
    while i < a.len() {
        out[i] = a[i];
        i += 1;
    }
    while i < N {
        out[i] = b[i - a.len()];
        i += 1;
    }
    out
}
