//! `clew search 'TRACEQL'`: runs a TraceQL search through the query port's Tempo search API
//! (`/api/search`) and prints the matching traces as a table, then the command that shows
//! the next page when there is one. A query the server rejects prints the server's message,
//! which points at the offending token, and exits non-zero.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use clew_model::DurationNanos;
use serde_json::Value;

use super::{blocks, http, waterfall};

const DEFAULT_SERVER: &str = "http://localhost:16686";

#[derive(Args)]
pub struct SearchArgs {
    /// TraceQL query, e.g. '{ resource.service.name = "api" && duration > 200ms }'.
    #[arg(default_value = "{ }")]
    pub query: String,
    /// Base URL of Clew's query API.
    #[arg(long, env = "CLEW_SERVER", default_value = DEFAULT_SERVER)]
    pub server: String,
    /// Tenant (X-Scope-OrgID).
    #[arg(long, default_value = clew_model::TenantId::DEFAULT)]
    pub tenant: String,
    /// Most traces per page (the server's default is 20).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Only traces overlapping [start, end], in Unix seconds.
    #[arg(long, conflicts_with = "since")]
    pub start: Option<u64>,
    /// End of the range in Unix seconds (default: now, when --start or --since is given).
    #[arg(long)]
    pub end: Option<u64>,
    /// Only traces of the last DURATION: 90s, 30m, 1h, 2d, 1h30m.
    #[arg(long)]
    pub since: Option<String>,
    /// Result order.
    #[arg(long, value_enum)]
    pub order: Option<Order>,
    /// Continue after a previous page (the token `next page:` printed).
    #[arg(long)]
    pub cursor: Option<String>,
    /// Print the server's JSON answer as it came.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Order {
    /// Latest trace start first.
    Newest,
    /// Longest trace first.
    Longest,
}

impl Order {
    fn as_str(self) -> &'static str {
        match self {
            Order::Newest => "newest",
            Order::Longest => "longest",
        }
    }
}

pub fn run(args: SearchArgs) -> anyhow::Result<()> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let range = time_range(&args, now)?;
    let url = search_url(&args, range);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, body) = rt.block_on(http::get(
        &url,
        &[
            ("Accept", "application/json"),
            ("X-Scope-OrgID", &args.tenant),
        ],
    ))?;
    let text = String::from_utf8_lossy(&body);
    match status {
        200 => {}
        // Tempo-style 400s are plain text meant for people (a TraceQL error with a caret).
        400 => bail!("{}", text.trim_end()),
        other => bail!("{url} answered {other}: {}", text.trim()),
    }
    if args.json {
        println!("{}", text.trim_end());
        return Ok(());
    }
    let answer: Value = serde_json::from_slice(&body).context("decoding the search answer")?;
    print!("{}", table(&rows(&answer)));
    if let Some(cursor) = answer.get("nextCursor").and_then(Value::as_str) {
        let env_server = std::env::var("CLEW_SERVER").ok();
        println!(
            "next page: {}",
            next_page_command(&args, range, cursor, env_server.as_deref())
        );
    }
    Ok(())
}

/// The absolute range the search covers, in Unix seconds, so every page of one listing
/// covers the same traces; `None` for no range.
fn time_range(args: &SearchArgs, now: u64) -> anyhow::Result<Option<(u64, u64)>> {
    let end = args.end.unwrap_or(now);
    let start = match (&args.since, args.start) {
        (Some(since), _) => Some(end.saturating_sub(parse_since(since)?)),
        (None, Some(start)) => Some(start),
        (None, None) if args.end.is_some() => bail!("--end needs --start or --since"),
        (None, None) => None,
    };
    match start {
        Some(start) if start >= end => {
            bail!("the range is empty: start {start} is not before end {end}")
        }
        Some(start) => Ok(Some((start, end))),
        None => Ok(None),
    }
}

/// `90s`, `30m`, `1h`, `2d`, `1h30m` as seconds.
pub(crate) fn parse_since(text: &str) -> anyhow::Result<u64> {
    let invalid = || anyhow::anyhow!("--since {text:?}: expected a duration like 30m, 1h or 2d");
    let mut total: u64 = 0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(invalid)?;
        let (number, tail) = rest.split_at(digits);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let n: u64 = number.parse().map_err(|_| invalid())?;
        let scale = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            _ => return Err(invalid()),
        };
        total = n
            .checked_mul(scale)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(invalid)?;
        rest = tail;
    }
    Ok(total)
}

fn search_url(args: &SearchArgs, range: Option<(u64, u64)>) -> String {
    let mut params: Vec<(&str, String)> = vec![("q", args.query.clone())];
    if let Some(limit) = args.limit {
        params.push(("limit", limit.to_string()));
    }
    if let Some((start, end)) = range {
        params.push(("start", start.to_string()));
        params.push(("end", end.to_string()));
    }
    if let Some(order) = args.order {
        params.push(("order", order.as_str().to_owned()));
    }
    if let Some(cursor) = &args.cursor {
        params.push(("cursor", cursor.clone()));
    }
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect();
    format!(
        "{}/api/search?{}",
        args.server.trim_end_matches('/'),
        query.join("&")
    )
}

/// Percent-encodes everything but RFC 3986's unreserved characters; hand-written since the
/// binary has no URL crate and this is its only use.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The command that shows the next page: the same query and range, plus the cursor
/// (`--server` only when neither the default nor `CLEW_SERVER` gives it).
fn next_page_command(
    args: &SearchArgs,
    range: Option<(u64, u64)>,
    cursor: &str,
    env_server: Option<&str>,
) -> String {
    let mut parts = vec!["clew search".to_owned(), shell_quote(&args.query)];
    if args.server != DEFAULT_SERVER && env_server != Some(args.server.as_str()) {
        parts.push(format!("--server {}", shell_quote(&args.server)));
    }
    if args.tenant != clew_model::TenantId::DEFAULT {
        parts.push(format!("--tenant {}", shell_quote(&args.tenant)));
    }
    if let Some(limit) = args.limit {
        parts.push(format!("--limit {limit}"));
    }
    if let Some((start, end)) = range {
        parts.push(format!("--start {start} --end {end}"));
    }
    if let Some(order) = args.order {
        parts.push(format!("--order {}", order.as_str()));
    }
    parts.push(format!("--cursor {}", shell_quote(cursor)));
    parts.join(" ")
}

/// A word a POSIX shell reads back as `s`.
fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// One line of the table.
#[derive(Debug, PartialEq)]
struct Row {
    trace_id: String,
    /// Nanoseconds since the epoch.
    start: u64,
    duration_ms: u64,
    root_service: String,
    root_name: String,
    spans: u64,
    errors: u64,
    matched: u64,
}

/// The rows of a Tempo search answer (`traces[]`, see `docs/api-shapes.md`).
fn rows(answer: &Value) -> Vec<Row> {
    let str_of = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    let num = |v: &Value, key: &str| v.get(key).and_then(Value::as_u64).unwrap_or(0);
    let traces = answer.get("traces").and_then(Value::as_array);
    traces
        .into_iter()
        .flatten()
        .map(|t| {
            let stats = t.get("serviceStats").and_then(Value::as_object);
            let (spans, errors) = stats.into_iter().flatten().fold((0, 0), |(s, e), (_, st)| {
                (s + num(st, "spanCount"), e + num(st, "errorCount"))
            });
            let sets: Vec<&Value> = match t.get("spanSets").and_then(Value::as_array) {
                Some(sets) => sets.iter().collect(),
                None => t.get("spanSet").into_iter().collect(),
            };
            Row {
                trace_id: str_of(t, "traceID"),
                start: str_of(t, "startTimeUnixNano").parse().unwrap_or(0),
                duration_ms: num(t, "durationMs"),
                root_service: str_of(t, "rootServiceName"),
                root_name: str_of(t, "rootTraceName"),
                spans,
                errors,
                matched: sets.iter().map(|s| num(s, "matched")).sum(),
            }
        })
        .collect()
}

/// `YYYY-MM-DD HH:MM:SS.mmm` UTC.
fn utc(nanos: u64) -> String {
    let secs = i64::try_from(nanos / 1_000_000_000).unwrap_or(i64::MAX);
    format!(
        "{}.{:03}",
        blocks::time_fmt(secs),
        nanos % 1_000_000_000 / 1_000_000
    )
}

fn table(rows: &[Row]) -> String {
    if rows.is_empty() {
        return "no traces found\n".to_owned();
    }
    let header = [
        "TRACE ID",
        "START (UTC)",
        "DURATION",
        "ROOT SERVICE",
        "ROOT NAME",
        "SPANS",
        "ERRORS",
        "MATCHED",
    ];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            [
                r.trace_id.clone(),
                utc(r.start),
                if r.duration_ms == 0 {
                    "<1ms".to_owned()
                } else {
                    waterfall::format_duration(DurationNanos(
                        r.duration_ms.saturating_mul(1_000_000),
                    ))
                },
                r.root_service.clone(),
                r.root_name.clone(),
                r.spans.to_string(),
                r.errors.to_string(),
                r.matched.to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // Durations and counts right-aligned, text left-aligned; no trailing spaces.
    let right = [false, false, true, false, false, true, true, true];
    let line = |cells: &[String]| -> String {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i > 0 {
                out.push_str("  ");
            }
            if right[i] {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(&header.map(str::to_owned));
    for row in &cells {
        out.push_str(&line(row));
    }
    out.push_str(&format!(
        "{} trace{}\n",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use serde_json::json;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SearchArgs,
    }

    fn args(argv: &[&str]) -> SearchArgs {
        let mut full = vec!["clew-search"];
        full.extend_from_slice(argv);
        Cli::try_parse_from(full).unwrap().args
    }

    const T0: u64 = 1_700_000_000_000_000_000;

    fn answer() -> Value {
        json!({
            "traces": [
                {
                    "traceID": "0102030405060708090a0b0c0d0e0f10",
                    "rootServiceName": "backend",
                    "rootTraceName": "consume",
                    "startTimeUnixNano": (T0 + 20_000_000).to_string(),
                    "durationMs": 1250,
                    "spanSets": [{"matched": 1}, {"matched": 2}],
                    "serviceStats": {"backend": {"spanCount": 1}},
                },
                {
                    "traceID": "0000000000000000123456789abcdef0",
                    "rootServiceName": "<root span not yet received>",
                    "startTimeUnixNano": T0.to_string(),
                    "spanSet": {"matched": 1},
                    "serviceStats": {
                        "backend": {"spanCount": 1, "errorCount": 1},
                        "frontend": {"spanCount": 2},
                    },
                },
            ],
            "metrics": {"totalJobs": 1},
            "nextCursor": "n1",
        })
    }

    #[test]
    fn table_lists_each_trace_with_counts() {
        let rows = rows(&answer());
        assert_eq!(
            rows[1],
            Row {
                trace_id: "0000000000000000123456789abcdef0".into(),
                start: T0,
                duration_ms: 0,
                root_service: "<root span not yet received>".into(),
                root_name: String::new(),
                spans: 3,
                errors: 1,
                matched: 1,
            }
        );
        let want = "\
TRACE ID                          START (UTC)              DURATION  ROOT SERVICE                  ROOT NAME  SPANS  ERRORS  MATCHED
0102030405060708090a0b0c0d0e0f10  2023-11-14 22:13:20.020     1.25s  backend                       consume        1       0        3
0000000000000000123456789abcdef0  2023-11-14 22:13:20.000      <1ms  <root span not yet received>                 3       1        1
2 traces
";
        assert_eq!(table(&rows), want);
        assert_eq!(table(&[]), "no traces found\n");
        assert!(table(&rows[..1]).ends_with("\n1 trace\n"));
    }

    #[test]
    fn url_and_next_page_keep_the_query_and_range() {
        let a = args(&[
            r#"{ name = "it's" }"#,
            "--since",
            "1h",
            "--limit",
            "5",
            "--order",
            "longest",
            "--tenant",
            "team-b",
        ]);
        let range = time_range(&a, 10_000).unwrap();
        assert_eq!(range, Some((6_400, 10_000)));
        assert_eq!(
            search_url(&a, range),
            "http://localhost:16686/api/search?q=%7B%20name%20%3D%20%22it%27s%22%20%7D\
             &limit=5&start=6400&end=10000&order=longest"
        );
        assert_eq!(
            next_page_command(&a, range, "n00ff-0000-abc", None),
            r#"clew search '{ name = "it'\''s" }' --tenant team-b --limit 5 --start 6400 --end 10000 --order longest --cursor n00ff-0000-abc"#
        );
        let b = args(&["--server", "http://h:1/", "--cursor", "d1-2-3"]);
        assert_eq!(
            next_page_command(&b, None, "d4-5-6", None),
            "clew search '{ }' --server http://h:1/ --cursor d4-5-6"
        );
        assert_eq!(
            next_page_command(&b, None, "d4-5-6", Some("http://h:1/")),
            "clew search '{ }' --cursor d4-5-6",
            "a server from CLEW_SERVER is not repeated"
        );
        assert_eq!(
            search_url(&b, time_range(&b, 10_000).unwrap()),
            "http://h:1/api/search?q=%7B%20%7D&cursor=d1-2-3"
        );
    }

    #[test]
    fn ranges_and_durations() {
        assert_eq!(parse_since("90s").unwrap(), 90);
        assert_eq!(parse_since("1h30m").unwrap(), 5_400);
        assert_eq!(parse_since("2d").unwrap(), 172_800);
        for bad in ["", "h", "1", "1x", "1.5h", "-1h", "99999999999999999999d"] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
        let a = args(&["--start", "100", "--end", "200"]);
        assert_eq!(time_range(&a, 10_000).unwrap(), Some((100, 200)));
        let a = args(&["--start", "100"]);
        assert_eq!(time_range(&a, 10_000).unwrap(), Some((100, 10_000)));
        assert!(time_range(&args(&["--end", "100"]), 10_000).is_err());
        assert!(time_range(&args(&["--start", "300", "--end", "200"]), 10_000).is_err());
        assert_eq!(time_range(&args(&[]), 10_000).unwrap(), None);
        assert!(Cli::try_parse_from(["x", "--start", "1", "--since", "1h"]).is_err());
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("plain-token_1.2"), "plain-token_1.2");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
