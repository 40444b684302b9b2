//! UI tests of the Rust-facing registration API: a hand-written registration that breaks a rule of
//! `Extension::check` must fail to compile with that rule's message, and a valid one must compile,
//! register and be found in the registry.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
