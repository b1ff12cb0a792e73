//! Compile-time checks of `#[derive(BatchOutput)]`: one case a file under `tests/ui/`, each with
//! the `.stderr` it must produce. Regenerate snapshots with `TRYBUILD=overwrite`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
