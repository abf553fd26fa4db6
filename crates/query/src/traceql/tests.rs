//! Tests for the TraceQL front end: golden tables of valid queries (with their canonical
//! form) and invalid ones (with line, column and message), rendering, fields, and
//! property tests (print/parse round trip on generated trees; no panic on any input).

use proptest::prelude::*;

use super::*;

/// Valid queries (from Tempo's docs and Grafana's editor) and their canonical form.
const VALID: &[(&str, &str)] = &[
    ("{}", "{ }"),
    ("{ }", "{ }"),
    (
        r#"{ resource.service.name = "frontend" && span.http.status_code >= 500 }"#,
        r#"{ resource.service.name = "frontend" && span.http.status_code >= 500 }"#,
    ),
    (
        r#"{ .http.method = "GET" } >> { status = error }"#,
        r#"{ .http.method = "GET" } >> { status = error }"#,
    ),
    (
        "{ duration > 1.5s } | count() > 2",
        "{ duration > 1.5s } | count() > 2",
    ),
    ("{ } | select(span.http.url)", "{ } | select(span.http.url)"),
    (r#"{ span:name = "GET /" }"#, r#"{ name = "GET /" }"#),
    (
        r#"{ trace:rootService = "api" }"#,
        r#"{ rootServiceName = "api" }"#,
    ),
    (
        r#"{ rootServiceName = "api" }"#,
        r#"{ rootServiceName = "api" }"#,
    ),
    (
        r#"{ trace:rootName = "GET /" }"#,
        r#"{ rootName = "GET /" }"#,
    ),
    ("{ trace:duration > 2s }", "{ traceDuration > 2s }"),
    ("{ traceDuration>2s }", "{ traceDuration > 2s }"),
    ("{ span:duration > 200ms }", "{ duration > 200ms }"),
    ("{ span:status = error }", "{ status = error }"),
    ("{ span:kind = client }", "{ kind = client }"),
    (
        r#"{ span:statusMessage = "boom" }"#,
        r#"{ statusMessage = "boom" }"#,
    ),
    (
        r#"{ event:name = "exception" }"#,
        r#"{ event:name = "exception" }"#,
    ),
    (
        r#"{ event.name = "exception" }"#,
        r#"{ event:name = "exception" }"#,
    ),
    (r#"{ event."name" = "x" }"#, r#"{ event."name" = "x" }"#),
    (
        r#"{ link:traceID = "f1f1" }"#,
        r#"{ link:traceID = "f1f1" }"#,
    ),
    (
        r#"{ link.traceID = "f1f1" }"#,
        r#"{ link:traceID = "f1f1" }"#,
    ),
    (r#"{ link:spanID = "f1" }"#, r#"{ link:spanID = "f1" }"#),
    (r#"{ span:id = "61626364" }"#, r#"{ span:id = "61626364" }"#),
    (r#"{ trace:id = "abc" }"#, r#"{ trace:id = "abc" }"#),
    (
        "{ event:timeSinceStart > 1s }",
        "{ event:timeSinceStart > 1s }",
    ),
    (
        r#"{ instrumentation:name = "grpc" }"#,
        r#"{ instrumentation:name = "grpc" }"#,
    ),
    (
        r#"{ instrumentation.foo = "bar" }"#,
        r#"{ instrumentation.foo = "bar" }"#,
    ),
    (r#"{ link.foo = "bar" }"#, r#"{ link.foo = "bar" }"#),
    (
        "{ span.http.status_code>=200 }",
        "{ span.http.status_code >= 200 }",
    ),
    (
        "{span.http.status_code>=200&&span.http.status_code<300}",
        "{ span.http.status_code >= 200 && span.http.status_code < 300 }",
    ),
    (r#"{ span."foo bar" = "x" }"#, r#"{ span."foo bar" = "x" }"#),
    (
        r#"{ resource."service.name" = "x" }"#,
        r#"{ resource.service.name = "x" }"#,
    ),
    (
        r#"{ span.foo."bar baz" = 1 }"#,
        r#"{ span."foo.bar baz" = 1 }"#,
    ),
    (
        r#"{ .k8s/pod-name:x = "a" }"#,
        r#"{ .k8s/pod-name:x = "a" }"#,
    ),
    (
        r#"{ .a = "tab\there \"q\" \\ \u00e9" }"#,
        r#"{ .a = "tab\there \"q\" \\ é" }"#,
    ),
    ("{ .a = `raw \\d+ \"x\"` }", r#"{ .a = "raw \\d+ \"x\"" }"#),
    (r#"{ .a =~ "GET.*" }"#, r#"{ .a =~ "GET.*" }"#),
    (r#"{ name !~ "^/health" }"#, r#"{ name !~ "^/health" }"#),
    (r#"{ .名前 = "日本語" }"#, r#"{ .名前 = "日本語" }"#),
    (
        r#"{ resource.service.name = "café ☕" }"#,
        r#"{ resource.service.name = "café ☕" }"#,
    ),
    (
        "{ .a = -5 && .b = -1.5 && .c = 1e3 }",
        "{ .a = -5 && .b = -1.5 && .c = 1000.0 }",
    ),
    ("{ .a = 3.0 }", "{ .a = 3.0 }"),
    (
        "{ .a = true || .b = false || .c = nil }",
        "{ .a = true || .b = false || .c = nil }",
    ),
    ("{ duration > 1h30m }", "{ duration > 1h30m }"),
    ("{ duration > 90m }", "{ duration > 1h30m }"),
    ("{ duration < 1500us }", "{ duration < 1.5ms }"),
    ("{ duration < 1500µs }", "{ duration < 1.5ms }"),
    ("{ duration >= 10ns }", "{ duration >= 10ns }"),
    ("{ duration > 0.5s }", "{ duration > 500ms }"),
    ("{ duration > 1d }", "{ duration > 24h }"),
    ("{ duration > 1 }", "{ duration > 1 }"),
    (
        "{ status = ok } && { status != unset }",
        "{ status = ok } && { status != unset }",
    ),
    (
        "{ kind = server } > { kind = client } ~ { kind = producer }",
        "{ kind = server } > { kind = client } ~ { kind = producer }",
    ),
    (
        "{ kind = internal } < { kind = consumer } << { kind = unspecified }",
        "{ kind = internal } < { kind = consumer } << { kind = unspecified }",
    ),
    (
        "{ .a } !> { .b } !>> { .c } !< { .d } !<< { .e } !~ { .f }",
        "{ .a } !> { .b } !>> { .c } !< { .d } !<< { .e } !~ { .f }",
    ),
    (
        "{ .a } &> { .b } &>> { .c } &< { .d } &<< { .e } &~ { .f }",
        "{ .a } &> { .b } &>> { .c } &< { .d } &<< { .e } &~ { .f }",
    ),
    // Structural operators bind tighter than && and ||, which share a level (as in Tempo).
    ("{ .a } && { .b } >> { .c }", "{ .a } && { .b } >> { .c }"),
    (
        "({ .a } && { .b }) >> { .c }",
        "({ .a } && { .b }) >> { .c }",
    ),
    ("{ .a } || { .b } && { .c }", "{ .a } || { .b } && { .c }"),
    (
        "{ .a } || ({ .b } && { .c })",
        "{ .a } || ({ .b } && { .c })",
    ),
    ("{ .a || .b && .c }", "{ .a || .b && .c }"),
    ("{ .a || (.b && .c) }", "{ .a || (.b && .c) }"),
    ("{ ((.a)) }", "{ .a }"),
    ("{ !.a }", "{ !.a }"),
    ("{ !(.a = 1 && .b) }", "{ !(.a = 1 && .b) }"),
    ("{ -.a = 2 }", "{ -.a = 2 }"),
    ("{ -(2) = .a }", "{ -(2) = .a }"),
    (
        r#"{ !("test" != .c || ((true && .b) || 3 < .a)) }"#,
        r#"{ !("test" != .c || (true && .b || 3 < .a)) }"#,
    ),
    ("{ true }", "{ true }"),
    ("{ .a } | count() > 2", "{ .a } | count() > 2"),
    ("{ } | avg(duration) > 1s", "{ } | avg(duration) > 1s"),
    (
        "{ } | max(span.http.response_size) >= 1.5",
        "{ } | max(span.http.response_size) >= 1.5",
    ),
    (
        "{ } | min(duration) < 10ms | sum(.bytes) != 0",
        "{ } | min(duration) < 10ms | sum(.bytes) != 0",
    ),
    (
        "{ } | by(resource.service.name) | count() > 1",
        "{ } | by(resource.service.name) | count() > 1",
    ),
    (
        "{ } | by(resource.service.name) | coalesce()",
        "{ } | by(resource.service.name) | coalesce()",
    ),
    (
        "{ } | select(span.http.url, duration, span:name)",
        "{ } | select(span.http.url, duration, name)",
    ),
    ("{} | select(.a,.b,.c)", "{ } | select(.a, .b, .c)"),
    ("select(.a)", "select(.a)"),
    ("by(.a) | { true }", "by(.a) | { true }"),
    ("avg(.field) > 1", "avg(.field) > 1"),
    (
        "max(duration) > 3s | { status = error || .http.status = 500 }",
        "max(duration) > 3s | { status = error || .http.status = 500 }",
    ),
    ("{ .a } | { .b }", "{ .a } | { .b }"),
    ("count() = 1 | { true }", "count() = 1 | { true }"),
    (
        "({ true } | count() > 1 | { false }) >> ({ true } | count() > 1)",
        "({ true } | count() > 1 | { false }) >> ({ true } | count() > 1)",
    ),
    (
        "({ .a } | count() > 1) && { .b }",
        "({ .a } | count() > 1) && { .b }",
    ),
    ("{ childCount > 2 }", "{ childCount > 2 }"),
    ("{ nestedSetLeft > 3 }", "{ nestedSetLeft > 3 }"),
    ("{ .a = 1 }\n|\ncount() > 1", "{ .a = 1 } | count() > 1"),
    (
        "{ .a = -9223372036854775808 }",
        "{ .a = -9223372036854775808 }",
    ),
    ("{ .a = .5 }", "{ .a = 0.5 }"),
];

#[test]
fn valid_queries_parse_to_their_canonical_form() {
    assert!(VALID.len() >= 40);
    for (query, canonical) in VALID {
        let parsed = parse(query).unwrap_or_else(|e| panic!("{query}:\n{}", e.render(query)));
        assert_eq!(&parsed.to_string(), canonical, "canonical form of {query}");
        let again =
            parse(canonical).unwrap_or_else(|e| panic!("{canonical}:\n{}", e.render(canonical)));
        assert_eq!(again, parsed, "{canonical} reads back as {query}");
    }
}

/// Invalid queries: the exact line, column and message.
const INVALID: &[(&str, usize, usize, &str)] = &[
    (
        "{ name = }",
        1,
        10,
        "parse error at line 1, column 10: expected a value after `=`, found `}`",
    ),
    (
        "{ name =}",
        1,
        9,
        "parse error at line 1, column 9: expected a value after `=`, found `}`",
    ),
    (
        "",
        1,
        1,
        "parse error at line 1, column 1: expected a spanset filter `{ … }`, found the end of the query",
    ),
    (
        "true",
        1,
        1,
        "parse error at line 1, column 1: expected a spanset filter `{ … }`, found `true`",
    ),
    (
        "[ true ]",
        1,
        1,
        "parse error at line 1, column 1: unexpected character `[`",
    ),
    (
        "( true )",
        1,
        3,
        "parse error at line 1, column 3: expected a spanset filter `{ … }` after `(`, found `true`",
    ),
    (
        "{ . }",
        1,
        3,
        "parse error at line 1, column 3: expected an attribute name after `.`",
    ),
    (
        "{ < }",
        1,
        3,
        "parse error at line 1, column 3: expected a value after `{`, found `<`",
    ),
    (
        "{ .a < 3",
        1,
        9,
        "parse error at line 1, column 9: expected `}` to close the `{` at line 1, column 1, found the end of the query",
    ),
    (
        "{ (.a < 3 }",
        1,
        11,
        "parse error at line 1, column 11: expected `)` to close the `(` at line 1, column 3, found `}`",
    ),
    (
        "{ attribute = 4 }",
        1,
        3,
        "parse error at line 1, column 3: unknown identifier `attribute`; attributes are written `.attribute`, `span.attribute` or `resource.attribute`",
    ),
    (
        "{ http.method = 4 }",
        1,
        3,
        "parse error at line 1, column 3: unknown identifier `http.method`; attributes are written `.http.method`, `span.http.method` or `resource.http.method`",
    ),
    (
        "{ .attribute == 4 }",
        1,
        14,
        "parse error at line 1, column 14: `==` is not an operator; use `=`",
    ),
    (
        "{ span. }",
        1,
        3,
        "parse error at line 1, column 3: expected an attribute name after `span.`",
    ),
    (
        "{ true } + { true }",
        1,
        10,
        "parse error at line 1, column 10: `+` cannot combine spansets; use `&&`, `||`, `>`, `>>`, `<`, `<<` or `~`",
    ),
    (
        "{ true } = { true }",
        1,
        10,
        "parse error at line 1, column 10: `=` cannot combine spansets; use `&&`, `||`, `>`, `>>`, `<`, `<<` or `~`",
    ),
    (
        "{ true } | count()",
        1,
        19,
        "parse error at line 1, column 19: expected a comparison (`=`, `!=`, `<`, `<=`, `>`, `>=`) after `)`, found the end of the query",
    ),
    (
        "{ true } | count = 1",
        1,
        18,
        "parse error at line 1, column 18: expected `(` after `count`, found `=`",
    ),
    (
        "{ true } | max() = 1",
        1,
        16,
        "parse error at line 1, column 16: `max` needs an argument, such as `max(duration)`",
    ),
    (
        "{ true } | notAnAggregate() = 1",
        1,
        12,
        "parse error at line 1, column 12: expected a pipeline stage after `|`, found `notAnAggregate`",
    ),
    (
        "coalesce() | { true }",
        1,
        1,
        "parse error at line 1, column 1: `coalesce()` cannot start a pipeline; it follows `by(…)`",
    ),
    (
        "select()",
        1,
        8,
        "parse error at line 1, column 8: expected an attribute or intrinsic after `(`, found `)`",
    ),
    (
        "select(.a",
        1,
        10,
        "parse error at line 1, column 10: expected `)` to close the `(` at line 1, column 7, found the end of the query",
    ),
    (
        "{ .a = \"abc }",
        1,
        8,
        "parse error at line 1, column 8: unterminated string",
    ),
    (
        "{ .a = 5min }",
        1,
        8,
        "parse error at line 1, column 8: invalid number `5min`",
    ),
    (
        "{ .a = 5xs }",
        1,
        8,
        "parse error at line 1, column 8: invalid number `5xs`",
    ),
    (
        "{ .a = 99999999999999999999 }",
        1,
        8,
        "parse error at line 1, column 8: integer `99999999999999999999` is out of range",
    ),
    (
        "{ .a = 1 } & { .b }",
        1,
        12,
        "parse error at line 1, column 12: unexpected `&`; did you mean `&&`?",
    ),
    (
        "{ trace:status = error }",
        1,
        3,
        "parse error at line 1, column 3: unknown intrinsic `trace:status`",
    ),
    (
        "{ span:rootName = \"bar\" }",
        1,
        3,
        "parse error at line 1, column 3: unknown intrinsic `span:rootName`",
    ),
    (
        "{ .a + 1 = 2 }",
        1,
        6,
        "parse error at line 1, column 6: arithmetic (`+`) is not supported",
    ),
    (
        "{ } | rate()",
        1,
        7,
        "parse error at line 1, column 7: metrics function `rate` is not supported",
    ),
    (
        "{ .a = 1 }\n| { name = }",
        2,
        12,
        "parse error at line 2, column 12: expected a value after `=`, found `}`",
    ),
    (
        "{ .日本 = 1 && }",
        1,
        14,
        "parse error at line 1, column 14: expected a value after `&&`, found `}`",
    ),
    (
        "{ .a = \"\\q\" }",
        1,
        9,
        "parse error at line 1, column 9: invalid escape sequence",
    ),
    (
        "{ parent.a = 1 }",
        1,
        3,
        "parse error at line 1, column 3: `parent.` attributes are not supported",
    ),
    (
        "{ .a } { .b }",
        1,
        8,
        "parse error at line 1, column 8: expected `|` or the end of the query, found `{`",
    ),
    // Type errors.
    (
        "{ duration > \"1s\" }",
        1,
        14,
        "type error at line 1, column 14: cannot compare `duration` (a duration) with the string \"1s\"",
    ),
    (
        "{ status = server }",
        1,
        12,
        "type error at line 1, column 12: cannot compare `status` (a status (ok, error or unset)) with the span kind server",
    ),
    (
        "{ kind = ok }",
        1,
        10,
        "type error at line 1, column 10: cannot compare `kind` (a span kind (unspecified, internal, server, client, producer or consumer)) with the status ok",
    ),
    (
        "{ duration =~ \"1.*\" }",
        1,
        3,
        "type error at line 1, column 3: `=~` needs strings, found `duration` (a duration)",
    ),
    (
        "{ .a =~ 5 }",
        1,
        9,
        "type error at line 1, column 9: `=~` needs strings, found the integer 5",
    ),
    (
        "{ span.foo =~ \"[\" }",
        1,
        15,
        "type error at line 1, column 15: invalid regular expression: unclosed character class",
    ),
    (
        "{ status > ok }",
        1,
        3,
        "type error at line 1, column 3: `>` needs numbers, durations or strings, found `status` (a status (ok, error or unset)); use `=` or `!=`",
    ),
    (
        "{ status }",
        1,
        3,
        "type error at line 1, column 3: a spanset filter needs a condition, found `status` (a status (ok, error or unset))",
    ),
    (
        "{ 1 }",
        1,
        3,
        "type error at line 1, column 3: a spanset filter needs a condition, found the integer 1",
    ),
    (
        "{ } | avg(name) > 1",
        1,
        11,
        "type error at line 1, column 11: `avg` needs a number or a duration, found `name` (a string)",
    ),
    (
        "max(status) = ok",
        1,
        15,
        "parse error at line 1, column 15: expected a number, a duration or an aggregate such as `count()` after `=`, found `ok`",
    ),
    (
        "{ } | max(status) > 1",
        1,
        11,
        "type error at line 1, column 11: `max` needs a number or a duration, found `status` (a status (ok, error or unset))",
    ),
    (
        "sum(3) = 2",
        1,
        5,
        "type error at line 1, column 5: `sum` needs an attribute or intrinsic, found the integer 3",
    ),
    (
        "{ true } | by(1)",
        1,
        15,
        "type error at line 1, column 15: `by` needs an attribute or intrinsic, found the integer 1",
    ),
    (
        "{ .a && 1 }",
        1,
        9,
        "type error at line 1, column 9: `&&` needs conditions on both sides, found the integer 1",
    ),
    (
        "{ !name = \"foo\" }",
        1,
        4,
        "type error at line 1, column 4: `!` needs a condition, found `name` (a string)",
    ),
    (
        "{ -true }",
        1,
        4,
        "type error at line 1, column 4: `-` needs a number or a duration, found the boolean true",
    ),
    (
        "{ rootServiceName = 1 }",
        1,
        21,
        "type error at line 1, column 21: cannot compare `rootServiceName` (a string) with the integer 1",
    ),
    (
        "{ .a = 1 } >> { name = \"日本\" && duration = \"x\" }",
        1,
        43,
        "type error at line 1, column 43: cannot compare `duration` (a duration) with the string \"x\"",
    ),
    (
        "3 = 2",
        1,
        1,
        "type error at line 1, column 1: a pipeline comparison needs an aggregate such as `count()`, found `3`",
    ),
];

#[test]
fn invalid_queries_point_at_the_offending_token() {
    assert!(INVALID.len() >= 25);
    for (query, line, column, message) in INVALID {
        let err = parse(query).expect_err(query);
        assert_eq!(
            (err.line, err.column, err.to_string().as_str()),
            (*line, *column, *message),
            "{query}\n{}",
            err.render(query)
        );
    }
}

#[test]
fn render_puts_a_caret_under_the_token() {
    let q = "{ name = }";
    assert_eq!(
        parse(q).unwrap_err().render(q),
        "parse error at line 1, column 10: expected a value after `=`, found `}`\n{ name = }\n         ^"
    );
    let q = "{ .a = 1 }\n| { duration > \"slow\" }";
    assert_eq!(
        parse(q).unwrap_err().render(q),
        "type error at line 2, column 16: cannot compare `duration` (a duration) with the string \"slow\"\n\
         | { duration > \"slow\" }\n               ^^^^^^"
    );
    // Columns count characters, so the caret lands under `}` after multi-byte text.
    let q = "{ .名前 = }";
    let err = parse(q).unwrap_err();
    assert_eq!((err.line, err.column), (1, 9));
    assert!(err.render(q).ends_with("{ .名前 = }\n        ^"));
    // A tab stays a tab before the caret.
    let q = "\t{ name = }";
    assert!(
        parse(q)
            .unwrap_err()
            .render(q)
            .ends_with("\n\t{ name = }\n\t         ^")
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let q = format!("{{ {}.a{} }}", "(".repeat(10_000), ")".repeat(10_000));
    let err = parse(&q).unwrap_err();
    assert!(err.message.contains("nests too deeply"), "{err}");
    let q = format!("{{ {}.a }}", "!".repeat(10_000));
    assert!(parse(&q).unwrap_err().message.contains("nests too deeply"));
    let q = format!("{}{{ }}{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(parse(&q).unwrap_err().message.contains("nests too deeply"));
    // Long flat chains are fine up to the depth bound, and an error beyond it.
    let ok = vec![".a = 1"; 300].join(" || ");
    parse(&format!("{{ {ok} }}")).unwrap();
    let long = vec![".a = 1"; 5_000].join(" || ");
    assert!(
        parse(&format!("{{ {long} }}"))
            .unwrap_err()
            .message
            .contains("too long")
    );
    let spansets = vec!["{ .a }"; 5_000].join(" && ");
    assert!(parse(&spansets).unwrap_err().message.contains("too long"));
}

#[test]
fn fields_lists_what_the_query_reads() {
    let q = parse(
        "{ resource.service.name = \"api\" && span:duration > 1s } >> { .x = 1 || status = error } \
         | by(span.http.route) | avg(duration) > 1s | select(span.http.url)",
    )
    .unwrap();
    let fields: Vec<String> = q.fields().iter().map(ToString::to_string).collect();
    assert_eq!(
        fields,
        [
            ".x",
            "span.http.route",
            "span.http.url",
            "resource.service.name",
            "status",
            "duration"
        ]
    );
    assert!(q.needs_structure());
    assert!(!parse("{ .a } && { .b }").unwrap().needs_structure());
    assert!(parse("{ }").unwrap().fields().is_empty());
}

#[test]
fn every_intrinsic_spelling_parses_and_prints_canonically() {
    for i in Intrinsic::all() {
        for spelling in i.spellings() {
            let q = parse(&format!("{{ {spelling} != nil }}")).unwrap();
            assert_eq!(q.to_string(), format!("{{ {} != nil }}", i.canonical()));
        }
    }
}

#[test]
fn parse_syntax_keeps_ill_typed_queries() {
    assert!(parse("{ status = server }").is_err());
    assert_eq!(
        parse_syntax("{ status = server }").unwrap().to_string(),
        "{ status = server }"
    );
}

// ---- property tests ----

fn attribute() -> impl Strategy<Value = Attribute> {
    let scope = prop_oneof![
        Just(Scope::None),
        Just(Scope::Span),
        Just(Scope::Resource),
        Just(Scope::Event),
        Just(Scope::Link),
        Just(Scope::Instrumentation),
    ];
    let name = prop_oneof![
        "[a-z][a-z0-9_.]{0,12}",
        "[a-zA-Z0-9 ./:\"\\\\{}=!-]{1,10}",
        "\\PC{1,6}",
    ];
    (scope, name).prop_map(|(scope, name)| Attribute { scope, name })
}

fn field(kind: ExprKind) -> FieldExpr {
    FieldExpr::new(kind)
}

fn value() -> impl Strategy<Value = Static> {
    prop_oneof![
        "\\PC{0,8}".prop_map(Static::Str),
        "[\\t\\n\"\\\\a-z]{0,6}".prop_map(Static::Str),
        any::<i64>().prop_map(Static::Int),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Static::Float),
        any::<i64>().prop_map(Static::Duration),
        (0i64..100_000_000_000).prop_map(Static::Duration),
        any::<bool>().prop_map(Static::Bool),
        Just(Static::Nil),
    ]
}

/// Well-typed conditions: attributes compared with any value, intrinsics with values of
/// their type, combined with `&&`, `||` and `!`.
fn condition() -> impl Strategy<Value = FieldExpr> {
    let cmp = prop_oneof![
        Just(BinaryOp::Eq),
        Just(BinaryOp::Neq),
        Just(BinaryOp::Lt),
        Just(BinaryOp::Lte),
        Just(BinaryOp::Gt),
        Just(BinaryOp::Gte),
    ];
    let attr_cmp = (attribute(), cmp.clone(), value()).prop_map(|(a, op, v)| {
        let op = if matches!(v, Static::Bool(_) | Static::Nil) {
            BinaryOp::Eq
        } else {
            op
        };
        field(ExprKind::Binary {
            op,
            lhs: Box::new(field(ExprKind::Attribute(a))),
            rhs: Box::new(field(ExprKind::Static(v))),
        })
    });
    let regex = (attribute(), "[a-z.]{0,4}(\\.\\*)?", any::<bool>()).prop_map(|(a, re, neg)| {
        field(ExprKind::Binary {
            op: if neg { BinaryOp::NotRe } else { BinaryOp::Re },
            lhs: Box::new(field(ExprKind::Attribute(a))),
            rhs: Box::new(field(ExprKind::Static(Static::Str(re)))),
        })
    });
    let intrinsic_cmp = (
        prop::sample::select(Intrinsic::all().collect::<Vec<_>>()),
        value(),
        0usize..6,
        0usize..3,
    )
        .prop_map(|(i, v, kw, op)| {
            let v = match i.ty() {
                IntrinsicType::Str => match v {
                    Static::Str(s) => Static::Str(s),
                    other => Static::Str(other.to_string()),
                },
                IntrinsicType::Int => Static::Int(kw as i64 - 3),
                IntrinsicType::Duration => match v {
                    Static::Duration(d) => Static::Duration(d),
                    _ => Static::Duration(kw as i64 * 1_500_000),
                },
                IntrinsicType::Status => {
                    Static::Status([Status::Ok, Status::Error, Status::Unset][kw % 3])
                }
                IntrinsicType::Kind => Static::Kind(
                    [
                        Kind::Unspecified,
                        Kind::Internal,
                        Kind::Server,
                        Kind::Client,
                        Kind::Producer,
                        Kind::Consumer,
                    ][kw],
                ),
            };
            let op = if matches!(i.ty(), IntrinsicType::Status | IntrinsicType::Kind) {
                [BinaryOp::Eq, BinaryOp::Neq][op % 2]
            } else {
                [BinaryOp::Eq, BinaryOp::Gt, BinaryOp::Lte][op]
            };
            field(ExprKind::Binary {
                op,
                lhs: Box::new(field(ExprKind::Intrinsic(i))),
                rhs: Box::new(field(ExprKind::Static(v))),
            })
        });
    let neg = attribute().prop_map(|a| {
        field(ExprKind::Binary {
            op: BinaryOp::Gt,
            lhs: Box::new(field(ExprKind::Unary {
                op: UnaryOp::Neg,
                expr: Box::new(field(ExprKind::Attribute(a))),
            })),
            rhs: Box::new(field(ExprKind::Static(Static::Int(0)))),
        })
    });
    let leaf = prop_oneof![
        attr_cmp,
        regex,
        intrinsic_cmp,
        neg,
        attribute().prop_map(|a| field(ExprKind::Attribute(a))),
        any::<bool>().prop_map(|b| field(ExprKind::Static(Static::Bool(b)))),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone(), any::<bool>()).prop_map(|(l, r, and)| field(
                ExprKind::Binary {
                    op: if and { BinaryOp::And } else { BinaryOp::Or },
                    lhs: Box::new(l),
                    rhs: Box::new(r),
                }
            )),
            inner.prop_map(|e| field(ExprKind::Unary {
                op: UnaryOp::Not,
                expr: Box::new(e)
            })),
        ]
    })
}

fn spanset() -> impl Strategy<Value = SpansetExpr> {
    let filter = prop::option::of(condition()).prop_map(|expr| {
        SpansetExpr::Filter(Filter {
            expr,
            span: Span::default(),
        })
    });
    let ops = vec![
        SpansetOp::And,
        SpansetOp::Or,
        SpansetOp::Child,
        SpansetOp::Parent,
        SpansetOp::Descendant,
        SpansetOp::Ancestor,
        SpansetOp::Sibling,
        SpansetOp::NotChild,
        SpansetOp::NotParent,
        SpansetOp::NotDescendant,
        SpansetOp::NotAncestor,
        SpansetOp::NotSibling,
        SpansetOp::UnionChild,
        SpansetOp::UnionParent,
        SpansetOp::UnionDescendant,
        SpansetOp::UnionAncestor,
        SpansetOp::UnionSibling,
    ];
    filter.prop_recursive(3, 12, 2, move |inner| {
        prop_oneof![
            (
                inner.clone(),
                inner.clone(),
                prop::sample::select(ops.clone())
            )
                .prop_map(|(l, r, op)| SpansetExpr::Op {
                    op,
                    lhs: Box::new(l),
                    rhs: Box::new(r)
                }),
            (inner, scalar_filter()).prop_map(|(s, f)| SpansetExpr::Pipeline(Box::new(Pipeline {
                stages: vec![Stage::Spanset(s), Stage::ScalarFilter(f)]
            }))),
        ]
    })
}

fn scalar_filter() -> impl Strategy<Value = ScalarFilter> {
    let func = prop_oneof![
        Just(AggregateFn::Count),
        Just(AggregateFn::Avg),
        Just(AggregateFn::Min),
        Just(AggregateFn::Max),
        Just(AggregateFn::Sum),
    ];
    let arg = prop_oneof![
        attribute().prop_map(|a| field(ExprKind::Attribute(a))),
        Just(field(ExprKind::Intrinsic(Intrinsic::Duration))),
        Just(field(ExprKind::Intrinsic(Intrinsic::ChildCount))),
    ];
    let number = prop_oneof![
        any::<i64>().prop_map(Static::Int),
        any::<i64>().prop_map(Static::Duration),
        (-1e6f64..1e6).prop_map(Static::Float),
    ];
    let cmp = prop_oneof![
        Just(CmpOp::Eq),
        Just(CmpOp::Neq),
        Just(CmpOp::Lt),
        Just(CmpOp::Lte),
        Just(CmpOp::Gt),
        Just(CmpOp::Gte),
    ];
    (func, arg, cmp, number, any::<bool>()).prop_map(|(func, arg, op, n, swap)| {
        let agg = ScalarExpr::Aggregate(Aggregate {
            func,
            arg: (func != AggregateFn::Count).then_some(arg),
            span: Span::default(),
        });
        let n = ScalarExpr::Static(n, Span::default());
        let (lhs, rhs) = if swap { (n, agg) } else { (agg, n) };
        ScalarFilter { lhs, op, rhs }
    })
}

fn query() -> impl Strategy<Value = Query> {
    let stage = prop_oneof![
        4 => spanset().prop_map(Stage::Spanset),
        2 => scalar_filter().prop_map(Stage::ScalarFilter),
        1 => attribute().prop_map(|a| Stage::By(field(ExprKind::Attribute(a)))),
        1 => prop::collection::vec(attribute(), 1..3).prop_map(|v| Stage::Select(
            v.into_iter().map(|a| field(ExprKind::Attribute(a))).collect()
        )),
        1 => Just(Stage::Coalesce),
    ];
    (spanset(), prop::collection::vec(stage, 0..3)).prop_map(|(first, rest)| {
        let mut stages = vec![Stage::Spanset(first)];
        stages.extend(rest);
        Query {
            pipeline: Pipeline { stages },
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn printed_queries_parse_back_to_the_same_tree(q in query()) {
        let printed = q.to_string();
        let parsed = parse(&printed).map_err(|e| TestCaseError::fail(e.render(&printed)))?;
        prop_assert_eq!(&parsed, &q, "printed as {}", printed);
        prop_assert_eq!(parsed.to_string(), printed);
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,64}") {
        fuzzing::parse(s.as_bytes());
    }

    #[test]
    fn traceql_like_text_never_panics(
        s in "[{}()|&!=~<>.,\" a-z0-9:_-]{0,48}|\\{ (span|resource|\\.)[a-z.]{1,8} ?(=|!=|>|=~) ?(\"[a-z]*\"|[0-9.]+(ms|s|h)?|ok|error|server) \\}( \\| (count|avg)\\([a-z.]*\\) [<>=] [0-9]+)?"
    ) {
        fuzzing::parse(s.as_bytes());
    }
}
