//! Sending one export request over OTLP/gRPC or OTLP/HTTP protobuf, and classifying the
//! answer. No retries: a refusal is what the generator measures, not something to hide.

use std::time::Duration;

use anyhow::Context;
use clew_model::otlp::proto::collector::trace::v1::trace_service_client::TraceServiceClient;
use clew_model::otlp::proto::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use hyper::body::Bytes;
use prost::Message;
use tonic::transport::{Channel, Endpoint};

use crate::cli::http;

use super::Protocol;

/// How one request ended.
#[derive(Debug)]
pub struct Answer {
    pub acknowledged: u64,
    /// Spans not acknowledged, with the reason ("partial", "grpc ResourceExhausted", "http 429").
    pub refused: Option<(String, u64)>,
}

impl Answer {
    fn from_response(spans: u64, response: &ExportTraceServiceResponse) -> Self {
        let rejected = response
            .partial_success
            .as_ref()
            .map_or(0, |p| u64::try_from(p.rejected_spans).unwrap_or(0))
            .min(spans);
        Answer {
            acknowledged: spans - rejected,
            refused: (rejected > 0).then(|| ("partial".to_owned(), rejected)),
        }
    }

    fn refused(spans: u64, reason: String) -> Self {
        Answer {
            acknowledged: 0,
            refused: Some((reason, spans)),
        }
    }
}

/// A connected sender; cheap to clone (clones share connections).
#[derive(Clone)]
pub enum Sender {
    Grpc {
        client: TraceServiceClient<Channel>,
        tenant: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
    },
    Http {
        client: http::PostClient,
        uri: hyper::Uri,
        tenant: Option<String>,
    },
}

impl Sender {
    pub async fn connect(
        protocol: Protocol,
        endpoint: &str,
        tenant: Option<&str>,
    ) -> anyhow::Result<Self> {
        match protocol {
            Protocol::OtlpGrpc => {
                let channel = Endpoint::from_shared(endpoint.to_owned())
                    .with_context(|| format!("invalid endpoint {endpoint:?}"))?
                    .connect_timeout(Duration::from_secs(5))
                    .tcp_nodelay(true)
                    .connect()
                    .await
                    .with_context(|| format!("connecting to {endpoint}"))?;
                let tenant = tenant
                    .map(|t| t.parse().with_context(|| format!("invalid tenant {t:?}")))
                    .transpose()?;
                let client = TraceServiceClient::new(channel)
                    .max_decoding_message_size(64 << 20)
                    .max_encoding_message_size(usize::MAX);
                Ok(Sender::Grpc { client, tenant })
            }
            Protocol::OtlpHttp => {
                // Like the OTLP exporters: the endpoint is the base URL, the path is fixed.
                let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
                let uri: hyper::Uri = url
                    .parse()
                    .with_context(|| format!("invalid endpoint {endpoint:?}"))?;
                if uri.scheme_str() != Some("http") {
                    anyhow::bail!("only http:// endpoints are supported, got {endpoint}");
                }
                Ok(Sender::Http {
                    client: http::post_client(),
                    uri,
                    tenant: tenant.map(str::to_owned),
                })
            }
        }
    }

    pub async fn send(&self, request: ExportTraceServiceRequest, spans: u64) -> Answer {
        match self {
            Sender::Grpc { client, tenant } => {
                let mut req = tonic::Request::new(request);
                if let Some(t) = tenant {
                    req.metadata_mut().insert("x-scope-orgid", t.clone());
                }
                match client.clone().export(req).await {
                    Ok(resp) => Answer::from_response(spans, resp.get_ref()),
                    Err(status) => Answer::refused(spans, format!("grpc {:?}", status.code())),
                }
            }
            Sender::Http {
                client,
                uri,
                tenant,
            } => {
                let body = Bytes::from(request.encode_to_vec());
                let mut headers = vec![("content-type", "application/x-protobuf")];
                if let Some(t) = tenant {
                    headers.push(("x-scope-orgid", t));
                }
                match http::post(client, uri, &headers, body).await {
                    Ok((200, body)) => match ExportTraceServiceResponse::decode(body) {
                        Ok(resp) => Answer::from_response(spans, &resp),
                        // The spans were accepted even if the answer is unreadable.
                        Err(_) => Answer {
                            acknowledged: spans,
                            refused: None,
                        },
                    },
                    Ok((status, _)) => Answer::refused(spans, format!("http {status}")),
                    Err(_) => Answer::refused(spans, "http connection error".to_owned()),
                }
            }
        }
    }
}
