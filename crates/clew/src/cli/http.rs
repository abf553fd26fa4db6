//! A minimal HTTP/1 GET and POST for the terminal client and `clew gen`, on hyper's client
//! (already in the dependency tree through tonic), so the binary needs no second HTTP stack.

use anyhow::{Context, bail};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A pooled client for repeated POSTs: reusing it keeps connections alive between requests.
pub type PostClient = Client<HttpConnector, Full<Bytes>>;

pub fn post_client() -> PostClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// POSTs `body` to `uri` with the given headers; returns the status and the answer's body.
pub async fn post(
    client: &PostClient,
    uri: &hyper::Uri,
    headers: &[(&str, &str)],
    body: Bytes,
) -> anyhow::Result<(u16, Bytes)> {
    let mut req = hyper::Request::post(uri.clone());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Full::new(body))?)
        .await
        .with_context(|| format!("posting to {uri}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .with_context(|| format!("reading the answer from {uri}"))?
        .to_bytes();
    Ok((status, body))
}

/// GETs `url` with the given headers; returns the status and the body.
pub async fn get(url: &str, headers: &[(&str, &str)]) -> anyhow::Result<(u16, Bytes)> {
    let uri: hyper::Uri = url
        .parse()
        .with_context(|| format!("invalid URL {url:?}"))?;
    if uri.scheme_str() != Some("http") {
        bail!("only http:// servers are supported, got {url}");
    }
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut req = hyper::Request::get(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Empty::new())?)
        .await
        .with_context(|| format!("requesting {url}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .with_context(|| format!("reading the answer from {url}"))?
        .to_bytes();
    Ok((status, body))
}
