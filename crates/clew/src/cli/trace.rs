//! `clew trace ID`: fetches one trace (Tempo's protobuf trace-by-id endpoint) and prints
//! it as a waterfall.

use anyhow::{Context, bail};
use clap::Args;
use clew_model::{TraceId, otlp};
use clew_query::Trace;

use super::{http, waterfall};

#[derive(Args)]
pub struct TraceArgs {
    /// Trace id in hex (16 or 32 digits).
    pub id: String,
    /// Base URL of Clew's query API.
    #[arg(long, env = "CLEW_SERVER", default_value = "http://localhost:16686")]
    pub server: String,
    /// Tenant (X-Scope-OrgID).
    #[arg(long, default_value = clew_model::TenantId::DEFAULT)]
    pub tenant: String,
    /// Width of the terminal in columns.
    #[arg(long, env = "COLUMNS", default_value_t = 120)]
    pub width: usize,
}

pub fn run(args: TraceArgs) -> anyhow::Result<()> {
    let id = TraceId::from_hex(&args.id).with_context(|| format!("trace id {:?}", args.id))?;
    let url = format!(
        "{}/api/traces/{}",
        args.server.trim_end_matches('/'),
        id.to_hex()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, body) = rt.block_on(http::get(
        &url,
        &[
            ("Accept", "application/protobuf"),
            ("X-Scope-OrgID", &args.tenant),
        ],
    ))?;
    match status {
        200 => {}
        404 => bail!("trace {id} not found"),
        other => bail!(
            "{url} answered {other}: {}",
            String::from_utf8_lossy(&body).trim()
        ),
    }
    let decoded = otlp::decode_traces_data(&body).context("decoding the trace")?;
    let trace = Trace::assemble(id, decoded.batch.into_records());
    print!("{}", waterfall::render(&trace, args.width));
    Ok(())
}
