//! Tempo's streaming gRPC querier (`tempopb.StreamingQuerier`) on the query port, beside the
//! HTTP routes: Grafana's Tempo data source dials gRPC on the host and port of its Tempo URL
//! (the URL's path is ignored) and runs TraceQL searches through `Search`; tempo-cli uses the
//! tag RPCs too.
//!
//! Each RPC answers one stream: Clew's search is not sharded into jobs, so there are no diffs
//! to stream before the final answer. The answer is split into packets of at most
//! [`MAX_PACKET_BYTES`] as Tempo's frontend splits its own (Grafana's Go client refuses
//! messages over 4 MiB), each packet carrying the metrics. Grafana appends the traces of every
//! packet (keeping the first copy of a trace id), shows the last packet's metrics, and takes
//! the end of the stream as "done". Errors are statuses before any packet: invalid arguments
//! (tenant, TraceQL, ranges, limits, tag names) are `INVALID_ARGUMENT` with Tempo's message,
//! store failures `INTERNAL`; TraceQL metrics are `UNIMPLEMENTED`.
//!
//! Tempo's rules (limits, validation messages, tag scopes, lenient tag queries, the mapping
//! of results into `tempopb` messages) are `tempo_common`'s, shared with the HTTP API; this
//! module reads the request messages and streams the answers.
//!
//! The tenant is the `x-scope-orgid` metadata entry (gRPC's lowercase form of `X-Scope-OrgID`,
//! which Grafana sends from the data source's custom headers), validated as on HTTP.
//!
//! Sources: tempo `pkg/tempopb/tempo.proto`; `modules/frontend/search_handlers.go`,
//! `tag_handlers.go`, `pipeline/collector_grpc.go` (diffs, final answer, packets),
//! `combiner/search.go` and `search_tag_values.go`; `pkg/api/http.go` and `search_tags.go`
//! (validation messages); `pkg/traceql/engine.go` (`asTraceSearchMetadata`, `AsAnyValue`);
//! `pkg/traceql/lenient_extract.go` (tag queries that fail to parse filter nothing). Grafana
//! `pkg/tsdb/tempo/grpc.go`, `search_stream.go`, `metrics_stream.go`.

use axum::Router;
use axum::http::HeaderMap;
use clew_model::{DurationNanos, TenantId};
use clew_query::search::{FieldValue, TagNames, TagRef, TagScope};
use clew_query::{Querier, QueryError};
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::server::NamedService as _;
use tonic::{Request, Response, Status};

use crate::params;
use crate::tempo_common::{
    self, InvalidRequest, ScopeParam, SearchBounds, TagParams, TraceIdForm, proto,
};

use proto::tempopb as pb;
use proto::tempopb::streaming_querier_server::{StreamingQuerier, StreamingQuerierServer};

/// Target size of one streamed message (Tempo's `max_grpc_streaming_packet_size` default).
/// A packet holds at least one entry, so a single larger entry still goes out whole.
pub(crate) const MAX_PACKET_BYTES: usize = 1024 * 1024;

/// The gRPC service at `/tempopb.StreamingQuerier/*`, to merge into the query router.
///
/// Routed by path alone (not through `tonic::service::Routes`, whose catch-all fallback
/// would answer every unknown HTTP path with a gRPC status instead of a 404).
pub(crate) fn router(querier: Querier) -> Router {
    let service = StreamingQuerierServer::new(TempoStreaming { querier })
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);
    let path = format!(
        "/{}/{{*method}}",
        StreamingQuerierServer::<TempoStreaming>::NAME
    );
    Router::new().route_service(&path, service)
}

struct TempoStreaming {
    querier: Querier,
}

/// One finished answer, already split into packets.
type Packets<T> = futures::stream::Iter<std::vec::IntoIter<Result<T, Status>>>;

fn packets<T>(messages: Vec<T>) -> Response<Packets<T>> {
    Response::new(futures::stream::iter(
        messages.into_iter().map(Ok).collect::<Vec<_>>(),
    ))
}

#[tonic::async_trait]
impl StreamingQuerier for TempoStreaming {
    type SearchStream = Packets<pb::SearchResponse>;
    type SearchTagsStream = Packets<pb::SearchTagsResponse>;
    type SearchTagsV2Stream = Packets<pb::SearchTagsV2Response>;
    type SearchTagValuesStream = Packets<pb::SearchTagValuesResponse>;
    type SearchTagValuesV2Stream = Packets<pb::SearchTagValuesV2Response>;
    type MetricsQueryRangeStream = Packets<pb::QueryRangeResponse>;
    type MetricsQueryInstantStream = Packets<pb::QueryInstantResponse>;

    async fn search(
        &self,
        request: Request<pb::SearchRequest>,
    ) -> Result<Response<Self::SearchStream>, Status> {
        let tenant = tenant(&request)?;
        let engine_request = search_request(request.get_ref()).map_err(invalid)?;
        let result = self
            .querier
            .search_traceql(&tenant, &engine_request)
            .await
            .map_err(internal)?;
        if let Some(reason) = &result.partial {
            tracing::debug!(
                tenant = tenant.as_str(),
                reason,
                "tempo grpc search stopped early"
            );
        }
        let pb::SearchResponse { traces, metrics } =
            tempo_common::search_response(&result, TraceIdForm::Trimmed);
        let base = pb::SearchResponse {
            traces: Vec::new(),
            metrics: metrics.clone(),
        }
        .encoded_len();
        let messages = split(traces, base, |t| field_len(t.encoded_len()))
            .into_iter()
            .map(|traces| pb::SearchResponse {
                traces,
                metrics: metrics.clone(),
            })
            .collect();
        Ok(packets(messages))
    }

    async fn search_tags(
        &self,
        request: Request<pb::SearchTagsRequest>,
    ) -> Result<Response<Self::SearchTagsStream>, Status> {
        let tenant = tenant(&request)?;
        let p = tag_params(request.get_ref())?;
        let names = tempo_common::v1_tag_names(&self.tag_names(&tenant, &p).await?, p.scope);
        let metrics = metadata_metrics();
        let base = pb::SearchTagsResponse {
            tag_names: Vec::new(),
            metrics: Some(metrics.clone()),
        }
        .encoded_len();
        let messages = split(names, base, |n| field_len(n.len()))
            .into_iter()
            .map(|tag_names| pb::SearchTagsResponse {
                tag_names,
                metrics: Some(metrics.clone()),
            })
            .collect();
        Ok(packets(messages))
    }

    async fn search_tags_v2(
        &self,
        request: Request<pb::SearchTagsRequest>,
    ) -> Result<Response<Self::SearchTagsV2Stream>, Status> {
        let tenant = tenant(&request)?;
        let p = tag_params(request.get_ref())?;
        let scopes = tempo_common::v2_tag_scopes(self.tag_names(&tenant, &p).await?);
        // One entry per (scope, name) so that a scope too big for one packet continues in
        // the next under the same name, as Tempo splits it.
        let entries: Vec<(TagScope, String)> = scopes
            .into_iter()
            .flat_map(|(scope, names)| names.into_iter().map(move |n| (scope, n)))
            .collect();
        let metrics = metadata_metrics();
        let base = pb::SearchTagsV2Response {
            scopes: Vec::new(),
            metrics: Some(metrics.clone()),
        }
        .encoded_len();
        // A scope's own overhead (its name and framing) is counted with each name: a
        // slight overestimate that keeps packets under the target.
        let messages = split(entries, base, |(s, n)| {
            field_len(n.len()) + field_len(field_len(s.name().len()) + field_len(n.len()))
        })
        .into_iter()
        .map(|entries| pb::SearchTagsV2Response {
            scopes: group_scopes(entries),
            metrics: Some(metrics.clone()),
        })
        .collect();
        Ok(packets(messages))
    }

    async fn search_tag_values(
        &self,
        request: Request<pb::SearchTagValuesRequest>,
    ) -> Result<Response<Self::SearchTagValuesStream>, Status> {
        let tenant = tenant(&request)?;
        let req = request.get_ref();
        // The v1 API names attributes without a scope (`service.name`).
        let tag = tempo_common::v1_tag(&req.tag_name).map_err(invalid)?;
        let found = self.tag_values(&tenant, req, tag).await?;
        let values = tempo_common::v1_tag_values(&req.tag_name, &found);
        let metrics = metadata_metrics();
        let base = pb::SearchTagValuesResponse {
            tag_values: Vec::new(),
            metrics: Some(metrics.clone()),
        }
        .encoded_len();
        let messages = split(values, base, |v| field_len(v.len()))
            .into_iter()
            .map(|tag_values| pb::SearchTagValuesResponse {
                tag_values,
                metrics: Some(metrics.clone()),
            })
            .collect();
        Ok(packets(messages))
    }

    async fn search_tag_values_v2(
        &self,
        request: Request<pb::SearchTagValuesRequest>,
    ) -> Result<Response<Self::SearchTagValuesV2Stream>, Status> {
        let tenant = tenant(&request)?;
        let req = request.get_ref();
        let tag = tempo_common::v2_tag(&req.tag_name).map_err(invalid)?;
        let values = tempo_common::v2_tag_values(&self.tag_values(&tenant, req, tag).await?);
        let metrics = metadata_metrics();
        let base = pb::SearchTagValuesV2Response {
            tag_values: Vec::new(),
            metrics: Some(metrics.clone()),
        }
        .encoded_len();
        let messages = split(values, base, |v| field_len(v.encoded_len()))
            .into_iter()
            .map(|tag_values| pb::SearchTagValuesV2Response {
                tag_values,
                metrics: Some(metrics.clone()),
            })
            .collect();
        Ok(packets(messages))
    }

    async fn metrics_query_range(
        &self,
        _request: Request<pb::QueryRangeRequest>,
    ) -> Result<Response<Self::MetricsQueryRangeStream>, Status> {
        Err(metrics_unimplemented())
    }

    async fn metrics_query_instant(
        &self,
        _request: Request<pb::QueryInstantRequest>,
    ) -> Result<Response<Self::MetricsQueryInstantStream>, Status> {
        Err(metrics_unimplemented())
    }
}

impl TempoStreaming {
    async fn tag_names(&self, tenant: &TenantId, p: &TagParams) -> Result<TagNames, Status> {
        let Some(request) = p.tags_request() else {
            return Ok(TagNames::default());
        };
        self.querier
            .tag_names(tenant, &request)
            .await
            .map_err(internal)
    }

    async fn tag_values(
        &self,
        tenant: &TenantId,
        req: &pb::SearchTagValuesRequest,
        tag: TagRef,
    ) -> Result<Vec<FieldValue>, Status> {
        // Tag values have no scope parameter.
        let p = TagParams::new(
            ScopeParam::All,
            &req.query,
            req.start,
            req.end,
            req.max_tag_values,
        );
        self.querier
            .tag_values(tenant, &p.values_request(tag))
            .await
            .map_err(internal)
    }
}

fn tag_params(req: &pb::SearchTagsRequest) -> Result<TagParams, Status> {
    let scope = ScopeParam::parse(&req.scope).map_err(invalid)?;
    Ok(TagParams::new(
        scope,
        &req.query,
        req.start,
        req.end,
        req.max_tags_per_scope,
    ))
}

fn metrics_unimplemented() -> Status {
    Status::unimplemented(
        "TraceQL metrics (MetricsQueryRange, MetricsQueryInstant) are not supported by Clew",
    )
}

/// The tenant of a call, from its `x-scope-orgid` metadata, validated as the HTTP header is.
fn tenant<T>(request: &Request<T>) -> Result<TenantId, Status> {
    // gRPC metadata is HTTP/2 headers; reading them as a `HeaderMap` keeps one validation.
    let headers: HeaderMap = request.metadata().clone().into_headers();
    params::tenant(&headers).map_err(Status::invalid_argument)
}

/// Tempo's refusals are `INVALID_ARGUMENT` with Tempo's message.
fn invalid(e: InvalidRequest) -> Status {
    Status::invalid_argument(e.to_string())
}

fn internal(e: QueryError) -> Status {
    tracing::error!(error = %e, "tempo grpc query failed");
    Status::internal(e.to_string())
}

/// A search from its message. Unset fields are zero on the wire, so 0 means "default"
/// everywhere (also for `SpansPerSpanSet`, which Tempo's engine then reads as 3).
fn search_request(
    req: &pb::SearchRequest,
) -> Result<clew_query::search::SearchRequest, InvalidRequest> {
    let text = req.query.trim();
    let query = if text.is_empty() {
        // Tempo's old tag search: translated to TraceQL as the HTTP `tags` parameter is.
        let mut tags: Vec<(String, String)> = req
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        tags.sort();
        tempo_common::legacy_tags_query(&tags)?
    } else {
        tempo_common::parse_traceql(text)?
    };
    let millis = |ms: u32| (ms != 0).then(|| DurationNanos(u64::from(ms) * 1_000_000));
    let bounds = SearchBounds {
        start: req.start,
        end: req.end,
        min_duration: millis(req.min_duration_ms),
        max_duration: millis(req.max_duration_ms),
        limit: req.limit,
        spans_per_spanset: (req.spans_per_span_set != 0).then_some(req.spans_per_span_set),
    };
    tempo_common::search_request(query, &bounds)
}

/// Consecutive entries of one scope become one `SearchTagsV2Scope`.
fn group_scopes(entries: Vec<(TagScope, String)>) -> Vec<pb::SearchTagsV2Scope> {
    let mut out: Vec<pb::SearchTagsV2Scope> = Vec::new();
    for (scope, name) in entries {
        match out.last_mut() {
            Some(last) if last.name == scope.name() => last.tags.push(name),
            _ => out.push(pb::SearchTagsV2Scope {
                name: scope.name().to_owned(),
                tags: vec![name],
            }),
        }
    }
    out
}

/// Clew reads no backend per job; one "job" that is complete lets Grafana's progress read 100%.
fn metadata_metrics() -> pb::MetadataMetrics {
    pb::MetadataMetrics {
        total_jobs: 1,
        completed_jobs: 1,
        ..pb::MetadataMetrics::default()
    }
}

/// Bytes a length-delimited field of `len` bytes takes in its parent (one-byte tag).
fn field_len(len: usize) -> usize {
    1 + prost::length_delimiter_len(len) + len
}

/// Splits `items` into packets of at most [`MAX_PACKET_BYTES`] (counting `base`, the packet
/// without items), each with at least one item; always at least one packet.
fn split<T>(items: Vec<T>, base: usize, size: impl Fn(&T) -> usize) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = vec![Vec::new()];
    let mut used = base;
    for item in items {
        let n = size(&item);
        if let Some(current) = out.last_mut()
            && (current.is_empty() || used + n <= MAX_PACKET_BYTES)
        {
            current.push(item);
            used += n;
        } else {
            out.push(vec![item]);
            used = base + n;
        }
    }
    out
}

#[cfg(test)]
mod tests;
