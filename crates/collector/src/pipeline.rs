//! The step every receiver runs once it has a decoded request: span limit, conversion to the
//! model, the sink, and the counting and logging of every outcome. Receivers only translate
//! between their wire and this module.

use std::sync::Arc;
use std::time::Duration;

use clew_model::TenantId;
use clew_model::otlp::proto::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use clew_model::otlp::{Decoded, batch_from_proto};

use crate::{CollectorMetrics, Limits, Outcome, Protocol, SinkError, SpanSink};

/// The tenant header (Tempo's and Cortex's name), lowercase as HTTP/2 and gRPC metadata carry it.
pub(crate) const TENANT_HEADER: &str = "x-scope-orgid";

/// Why a request was refused as a whole. Messages are written for the developer reading the
/// SDK's error log, so they say what to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("{0}")]
    Malformed(String),
    #[error("invalid X-Scope-OrgID header: {0}")]
    InvalidTenant(String),
    #[error("request body is larger than the limit of {limit} bytes{}", if *.decompressed { " once decompressed" } else { "" })]
    TooLarge { limit: usize, decompressed: bool },
    #[error(
        "request carries {spans} spans, more than the limit of {limit} per request: send smaller batches"
    )]
    TooManySpans { spans: u64, limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("server overloaded: retry after {} s", retry_seconds(*.retry_after))]
    Overloaded { retry_after: Duration },
    #[error("server unavailable ({reason}): retry after {} s", retry_seconds(*.retry_after))]
    Unavailable {
        reason: String,
        retry_after: Duration,
    },
    #[error("server failed to store the spans: {reason}")]
    Failed { reason: String },
}

impl Refusal {
    pub(crate) fn outcome(&self) -> Outcome {
        match self {
            Refusal::Malformed(_) => Outcome::Malformed,
            Refusal::InvalidTenant(_) => Outcome::InvalidTenant,
            Refusal::TooLarge { .. } => Outcome::TooLarge,
            Refusal::TooManySpans { .. } => Outcome::TooManySpans,
            Refusal::UnsupportedMediaType(_) => Outcome::UnsupportedMediaType,
            Refusal::NotFound(_) => Outcome::NotFound,
            Refusal::MethodNotAllowed(_) => Outcome::MethodNotAllowed,
            Refusal::Overloaded { .. } => Outcome::Overloaded,
            Refusal::Unavailable { .. } => Outcome::Unavailable,
            Refusal::Failed { .. } => Outcome::Failed,
        }
    }

    /// When the client may retry; `None` means it must not retry this request unchanged.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            Refusal::Overloaded { retry_after } | Refusal::Unavailable { retry_after, .. } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }
}

impl From<SinkError> for Refusal {
    fn from(e: SinkError) -> Self {
        match e {
            SinkError::Overloaded { retry_after } => Refusal::Overloaded { retry_after },
            SinkError::Unavailable {
                reason,
                retry_after,
            } => Refusal::Unavailable {
                reason,
                retry_after,
            },
            SinkError::Failed { reason } => Refusal::Failed { reason },
        }
    }
}

/// Whole seconds for `Retry-After` and messages: rounded up, and at least 1 so that a zero
/// hint does not invite a retry storm.
pub(crate) fn retry_seconds(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

/// The tenant a request names: absent means the default tenant; anything present must be a
/// valid tenant id (it becomes a directory name in the store).
pub(crate) fn tenant_from_header(value: Option<&[u8]>) -> Result<TenantId, Refusal> {
    let Some(raw) = value else {
        return Ok(TenantId::default());
    };
    let s = std::str::from_utf8(raw)
        .map_err(|_| Refusal::InvalidTenant("tenant id is not UTF-8".to_owned()))?;
    TenantId::new(s).map_err(|e| Refusal::InvalidTenant(e.to_string()))
}

/// What became of one request's spans once the sink took them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Accepted {
    pub(crate) received: u64,
    pub(crate) accepted: u64,
    pub(crate) rejected: u64,
    pub(crate) first_rejection: Option<String>,
}

impl Accepted {
    /// The partial-success message, when some spans were rejected.
    pub(crate) fn partial_message(&self) -> Option<String> {
        (self.rejected > 0).then(|| {
            let reason = self.first_rejection.as_deref().unwrap_or("invalid span");
            format!(
                "rejected {} of {} spans; first reason: {reason}",
                self.rejected, self.received
            )
        })
    }
}

/// What every receiver shares: the sink, the limits and the counters.
#[derive(Clone)]
pub(crate) struct Pipeline {
    sink: Arc<dyn SpanSink>,
    limits: Limits,
    metrics: CollectorMetrics,
}

impl Pipeline {
    pub(crate) fn new(sink: Arc<dyn SpanSink>, limits: Limits, metrics: CollectorMetrics) -> Self {
        Self {
            sink,
            limits,
            metrics,
        }
    }

    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    pub(crate) fn metrics(&self) -> &CollectorMetrics {
        &self.metrics
    }

    /// Validates and converts one decoded OTLP request and writes it to the sink; resolves
    /// once the sink has made the spans durable. Counts and logs the outcome.
    pub(crate) async fn export(
        &self,
        protocol: Protocol,
        tenant: TenantId,
        request: ExportTraceServiceRequest,
    ) -> Result<ExportTraceServiceResponse, Refusal> {
        let received = count_spans(&request);
        self.check_span_count(protocol, &tenant, received)?;
        let accepted = self
            .write(
                protocol,
                tenant,
                received,
                batch_from_proto(request.resource_spans),
            )
            .await?;
        Ok(ExportTraceServiceResponse {
            partial_success: accepted.partial_message().map(|error_message| {
                ExportTracePartialSuccess {
                    rejected_spans: i64::try_from(accepted.rejected).unwrap_or(i64::MAX),
                    error_message,
                }
            }),
        })
    }

    /// Refuses a request that carries more spans than the limit (counted as refused).
    /// Receivers call it as soon as they know the count, before converting anything.
    pub(crate) fn check_span_count(
        &self,
        protocol: Protocol,
        tenant: &TenantId,
        received: u64,
    ) -> Result<(), Refusal> {
        if received <= self.limits.max_spans_per_request as u64 {
            return Ok(());
        }
        let refusal = Refusal::TooManySpans {
            spans: received,
            limit: self.limits.max_spans_per_request,
        };
        self.metrics.add_spans(protocol, received, 0, received);
        Err(self.refuse(protocol, Some(tenant), refusal))
    }

    /// The protocol-independent step: writes the converted spans of one request (of
    /// `received` spans, some perhaps already rejected by the conversion) to the sink and
    /// counts the outcome. Every receiver ends here once it has a [`Decoded`] batch.
    pub(crate) async fn write(
        &self,
        protocol: Protocol,
        tenant: TenantId,
        received: u64,
        mut decoded: Decoded,
    ) -> Result<Accepted, Refusal> {
        let applied = self.limits.span.apply(&mut decoded.batch);
        if !applied.is_empty() {
            self.metrics.add_limits_applied(protocol, &applied);
        }
        let accepted = decoded.batch.span_count() as u64;
        let rejected = decoded.rejected_spans;

        // An empty request (or one whose every span was rejected) has nothing to make
        // durable; OTLP says to answer it with success, and the others agree.
        if accepted > 0
            && let Err(e) = self.sink.write(tenant.clone(), decoded.batch).await
        {
            self.metrics.add_spans(protocol, received, 0, received);
            return Err(self.refuse(protocol, Some(&tenant), e.into()));
        }

        self.metrics
            .add_spans(protocol, received, accepted, rejected);
        let result = Accepted {
            received,
            accepted,
            rejected,
            first_rejection: decoded.first_rejection,
        };
        if rejected == 0 {
            self.metrics.add_request(protocol, Outcome::Ok);
        } else {
            self.metrics.add_request(protocol, Outcome::Partial);
            tracing::debug!(
                protocol = protocol.as_str(),
                tenant = %tenant,
                rejected,
                accepted,
                error_message = result.partial_message().unwrap_or_default(),
                "partial success"
            );
        }
        Ok(result)
    }

    /// Counts and logs a refused request, then hands the refusal back for the answer.
    /// Span counters are the caller's: a request refused before decoding has no spans to count.
    pub(crate) fn refuse(
        &self,
        protocol: Protocol,
        tenant: Option<&TenantId>,
        refusal: Refusal,
    ) -> Refusal {
        self.metrics.add_request(protocol, refusal.outcome());
        let tenant = tenant.map(TenantId::as_str).unwrap_or("-");
        let (protocol, outcome) = (protocol.as_str(), refusal.outcome().as_str());
        match refusal {
            // The server's own trouble: worth an operator's attention.
            Refusal::Unavailable { .. } | Refusal::Failed { .. } => {
                tracing::warn!(protocol, tenant, outcome, error = %refusal, "export refused");
            }
            // Client mistakes and routine backpressure would flood the log at warn.
            _ => tracing::debug!(protocol, tenant, outcome, error = %refusal, "export refused"),
        }
        refusal
    }
}

fn count_spans(request: &ExportTraceServiceRequest) -> u64 {
    request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len() as u64)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_seconds_rounds_up_and_never_says_zero() {
        assert_eq!(retry_seconds(Duration::ZERO), 1);
        assert_eq!(retry_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_seconds(Duration::from_secs(2)), 2);
        assert_eq!(retry_seconds(Duration::from_millis(2500)), 3);
    }

    #[test]
    fn tenant_header_rules() {
        assert_eq!(
            tenant_from_header(None).expect("default"),
            TenantId::default()
        );
        assert_eq!(
            tenant_from_header(Some(b"team-a")).expect("valid").as_str(),
            "team-a"
        );
        assert!(matches!(
            tenant_from_header(Some(b"../etc")),
            Err(Refusal::InvalidTenant(_))
        ));
        assert!(matches!(
            tenant_from_header(Some(&[0xff, 0xfe])),
            Err(Refusal::InvalidTenant(_))
        ));
    }
}
