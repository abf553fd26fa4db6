//! `clew blocks`: lists the blocks in a data directory with their metadata, read straight
//! from the files (safe beside a running server: blocks are immutable and complete only
//! once their `meta.json` exists).

use anyhow::Context;
use clew_model::UnixNanos;
use clew_store::BlockStorage;
use clew_store::block::{self, BlockMeta};
use std::path::Path;

pub fn run(data_dir: &Path, storage: &BlockStorage) -> anyhow::Result<()> {
    let tenants_dir = data_dir.join("tenants");
    if storage.is_local() && !tenants_dir.exists() {
        println!("no data in {}", data_dir.display());
        return Ok(());
    }
    let objects = storage
        .open(&tenants_dir)
        .context("opening block storage")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let tenants = rt
        .block_on(block::list_tenants(objects.as_ref()))
        .context("listing tenants")?;
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for tenant in &tenants {
        let list = rt
            .block_on(block::list_blocks(objects.as_ref(), tenant))
            .with_context(|| format!("listing blocks of tenant {tenant}"))?;
        rows.extend(list.blocks);
        problems.extend(
            list.problems
                .into_iter()
                .map(|p| format!("{tenant}/{}: {}", p.id, p.error)),
        );
        let quarantined = rt
            .block_on(block::list_quarantined(objects.as_ref(), tenant))
            .with_context(|| format!("listing quarantined blocks of tenant {tenant}"))?;
        problems.extend(quarantined.into_iter().map(|id| {
            format!("{tenant}/{id}: damaged, quarantined under {tenant}/quarantine/{id}")
        }));
        problems.extend(
            list.incomplete
                .into_iter()
                .map(|id| format!("{tenant}/{id}: incomplete (no meta.json)")),
        );
    }
    print!("{}", table(&rows));
    for p in problems {
        println!("problem: {p}");
    }
    Ok(())
}

fn time(t: UnixNanos) -> String {
    let secs = i64::try_from(t.0 / 1_000_000_000).unwrap_or(i64::MAX);
    time_fmt(secs)
}

/// `YYYY-MM-DD HH:MM:SS` UTC, from Unix seconds (civil-from-days, so no date crate is needed
/// for one column).
pub(crate) fn time_fmt(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub fn table(rows: &[BlockMeta]) -> String {
    let mut out = format!(
        "{:<16} {:<32} {:<19} {:<19} {:>10} {:>9} {:>12} {:>8}  services\n",
        "tenant", "block", "from", "to", "spans", "traces", "bytes", "B/span"
    );
    for m in rows {
        let per_span = if m.span_count == 0 {
            0.0
        } else {
            m.size_bytes as f64 / m.span_count as f64
        };
        out.push_str(&format!(
            "{:<16} {:<32} {:<19} {:<19} {:>10} {:>9} {:>12} {:>8.1}  {}\n",
            m.tenant.as_str(),
            m.id,
            time(m.start_min),
            time(m.end_max),
            m.span_count,
            m.trace_count,
            m.size_bytes,
            per_span,
            m.services.join(",")
        ));
    }
    out.push_str(&format!("{} blocks\n", rows.len()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_time() {
        assert_eq!(time_fmt(0), "1970-01-01 00:00:00");
        assert_eq!(time_fmt(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(time_fmt(951_782_400), "2000-02-29 00:00:00");
    }
}
