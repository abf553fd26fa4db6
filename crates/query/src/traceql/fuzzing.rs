//! Entry point for the `traceql_parse` fuzz target (`fuzz/`) and its regression test: the
//! TraceQL parser on arbitrary input. Hidden from the docs and not a stable API.

/// Checks, for any input: no panic; an error points inside the query (its line exists, its
/// column is at most one past the line's end) and renders; an accepted query prints to a
/// canonical form that parses back to the same tree and prints the same again.
pub fn parse(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    match super::parse(src) {
        Err(e) => {
            let line = src.split('\n').nth(e.line.saturating_sub(1));
            assert!(line.is_some(), "error line {} outside {src:?}", e.line);
            let len = line.map_or(0, |l| l.chars().count());
            assert!(
                e.column >= 1 && e.column <= len + 1,
                "error column {} outside line of {len} characters in {src:?}",
                e.column
            );
            assert!(e.render(src).contains('^'));
        }
        Ok(q) => {
            let printed = q.to_string();
            let again = super::parse(&printed)
                .unwrap_or_else(|e| panic!("{src:?} printed as {printed:?}, which fails: {e}"));
            assert_eq!(
                again, q,
                "{src:?} printed as {printed:?} reads back differently"
            );
            assert_eq!(again.to_string(), printed, "printing {src:?} is not stable");
            let _ = q.fields();
            let _ = q.needs_structure();
        }
    }
}
