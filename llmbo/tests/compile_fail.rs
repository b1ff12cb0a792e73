//! The lifecycle and builder refuse, at compile time and with a message naming the step to
//! take, every call made out of order. Regenerate with `TRYBUILD=overwrite`.

#[test]
fn lifecycle_steps_out_of_order_do_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
