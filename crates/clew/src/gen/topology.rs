//! Synthetic traces for `clew gen`: a call tree of server, client and internal spans across
//! a few services, with bounded attribute values, built cheaply enough that the generator
//! is not what a benchmark measures.

use super::profiles::{Clickhouse, HighCardinality, Profile};
use clew_model::{
    AnyValue, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanId, SpanKind, Status,
    StatusCode, TraceBatch, TraceId, UnixNanos,
};

/// xorshift64*: a few instructions per number, ample for load shapes (not for secrets).
/// Its state is never zero, so neither is any output, which keeps ids valid by construction.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // splitmix64 spreads nearby seeds (e.g. timestamps) over the whole state space.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1
    }

    /// Uniform in `0..n` (`n` > 0), from the high bits: `next_u64` sets the lowest bit (ids
    /// must not be zero), so the low bits would give only odd numbers for an even `n`.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() >> 11) % n.max(1) as u64) as usize
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

const SERVICE_NAMES: &[&str] = &[
    "frontend",
    "checkout",
    "cart",
    "payment",
    "inventory",
    "shipping",
    "user",
    "recommendation",
    "search",
    "email",
];

const ROUTES: &[&str] = &[
    "GET /api/items",
    "GET /api/items/{id}",
    "POST /api/orders",
    "GET /api/cart",
    "PUT /api/cart",
    "POST /api/pay",
    "GET /api/users/{id}",
    "GET /health",
];

const INTERNAL_OPS: &[&str] = &[
    "db.query SELECT",
    "db.query UPDATE",
    "cache.get",
    "cache.set",
    "serialize",
    "render",
];

/// Attribute keys with their bounded value sets; spans take keys in this order.
fn attribute_pool() -> Vec<(String, Vec<AnyValue>)> {
    let strs = |vs: &[&str]| {
        vs.iter()
            .map(|v| AnyValue::String((*v).to_owned()))
            .collect()
    };
    let ints = |vs: &[i64]| vs.iter().map(|v| AnyValue::Int(*v)).collect();
    vec![
        (
            "http.request.method".into(),
            strs(&["GET", "POST", "PUT", "DELETE"]),
        ),
        (
            "http.response.status_code".into(),
            ints(&[200, 201, 204, 400, 404, 500, 503]),
        ),
        (
            "server.address".into(),
            strs(&["10.0.0.1", "10.0.0.2", "10.0.1.7", "10.0.2.9"]),
        ),
        ("server.port".into(), ints(&[80, 443, 8080, 9090])),
        ("network.protocol.version".into(), strs(&["1.1", "2"])),
        (
            "user_agent.original".into(),
            strs(&["curl/8.5", "Mozilla/5.0", "okhttp/4.12"]),
        ),
        ("customer.tier".into(), strs(&["free", "pro", "enterprise"])),
        (
            "region".into(),
            strs(&["eu-west-1", "us-east-1", "ap-south-1"]),
        ),
        ("feature.flag".into(), strs(&["on", "off"])),
        ("retry.count".into(), ints(&[0, 1, 2])),
        ("db.system".into(), strs(&["postgresql", "redis", "mysql"])),
        ("messaging.system".into(), strs(&["kafka", "nats"])),
        (
            "cache.hit".into(),
            vec![AnyValue::Bool(true), AnyValue::Bool(false)],
        ),
        ("payload.bytes".into(), ints(&[128, 512, 2048, 16384])),
    ]
}

/// What a generated trace looks like.
#[derive(Clone, Debug)]
pub struct Shape {
    pub services: usize,
    pub spans_per_trace: usize,
    pub attributes: usize,
    /// Share of spans marked with an error status.
    pub error_rate: f64,
}

/// Produces traces and packs spans into per-service batches.
pub struct Generator {
    rng: Rng,
    source: Source,
    shape: Shape,
    resources: Vec<Resource>,
    scope: Scope,
    pool: Vec<(String, Vec<AnyValue>)>,
    /// Spans generated but not yet handed out, with their service index: a trace may
    /// straddle two batches, as it does when a real SDK flushes.
    pending: Vec<(usize, Span)>,
    /// The same for [`Generator::service_batch`], one queue per service.
    pending_by_service: Vec<Vec<Span>>,
}

/// Where traces come from: the default call tree or a named profile.
enum Source {
    Default,
    Clickhouse(Clickhouse),
    HighCardinality(HighCardinality),
}

impl Generator {
    /// The default profile, shaped by `shape`.
    #[cfg(test)]
    pub fn new(shape: Shape, seed: u64) -> Self {
        Self::with_profile(Profile::Default, shape, seed)
    }

    /// A named profile; only [`Profile::Default`] takes its shape from `shape` (the others
    /// are fixed data sets, see [`super::profiles`]).
    pub fn with_profile(profile: Profile, shape: Shape, seed: u64) -> Self {
        let mut g = Self::default_profile(shape, seed);
        let (source, resources) = match profile {
            Profile::Default => return g,
            Profile::Clickhouse => (
                Source::Clickhouse(Clickhouse::new()),
                Clickhouse::resources(),
            ),
            Profile::HighCardinality => (
                Source::HighCardinality(HighCardinality::new()),
                HighCardinality::resources(),
            ),
        };
        g.source = source;
        g.pending_by_service = vec![Vec::new(); resources.len()];
        g.shape.services = resources.len();
        g.resources = resources;
        g
    }

    fn default_profile(shape: Shape, seed: u64) -> Self {
        let services = shape.services.max(1);
        let resources = (0..services)
            .map(|i| Resource {
                attributes: vec![
                    KeyValue::new("service.name", AnyValue::String(service_name(i))),
                    KeyValue::new(
                        "service.instance.id",
                        AnyValue::String(format!("{}-0", service_name(i))),
                    ),
                    KeyValue::new("host.name", AnyValue::String(format!("node-{}", i % 3))),
                    KeyValue::new("telemetry.sdk.language", AnyValue::String("rust".into())),
                ],
                dropped_attributes_count: 0,
            })
            .collect();
        let mut pool = attribute_pool();
        // More attributes than the pool holds: extra generic keys keep the count exact.
        let extra = shape.attributes.saturating_sub(pool.len());
        for i in 0..extra {
            pool.push((
                format!("attr.{i}"),
                (0..8).map(|v| AnyValue::String(format!("v{v}"))).collect(),
            ));
        }
        Self {
            rng: Rng::new(seed),
            source: Source::Default,
            shape: Shape { services, ..shape },
            resources,
            scope: Scope {
                name: "clew-gen".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                ..Scope::default()
            },
            pool,
            pending: Vec::new(),
            pending_by_service: vec![Vec::new(); services],
        }
    }

    /// One trace of the profile, each span with its resource index; spans end by `now`.
    pub fn trace(&mut self, now: UnixNanos) -> Vec<(usize, Span)> {
        match &self.source {
            Source::Default => self.default_trace(now),
            Source::Clickhouse(c) => c.trace(&mut self.rng, now),
            Source::HighCardinality(h) => h.trace(&mut self.rng, now),
        }
    }

    /// One trace of exactly `spans_per_trace` spans (at least one), each with its service index.
    fn default_trace(&mut self, now: UnixNanos) -> Vec<(usize, Span)> {
        let n = self.shape.spans_per_trace.max(1);
        let trace_id = TraceId(u128_bytes(self.rng.next_u64(), self.rng.next_u64()));
        let mut spans: Vec<(usize, Span)> = Vec::with_capacity(n);
        // Root: a server span on the first service, 1 ms to ~500 ms, ending just now.
        let root_ns = 1_000_000 + (self.rng.unit().powi(3) * 500_000_000.0) as u64;
        let root = self.span(
            trace_id,
            None,
            SpanKind::Server,
            0,
            now.0.saturating_sub(root_ns),
            now.0,
        );
        spans.push((0, root));
        while spans.len() < n {
            // Parents are server or internal spans: a client span has exactly one child,
            // the server span it called.
            let p = loop {
                let i = self.rng.below(spans.len());
                if spans[i].1.kind != SpanKind::Client {
                    break i;
                }
            };
            let (svc, parent) = (&spans[p].0, &spans[p].1);
            let (svc, pid, ps, pe) = (*svc, parent.span_id, parent.start.0, parent.end.0);
            let start = ps + (self.rng.unit() * 0.5 * (pe - ps) as f64) as u64;
            let end = start + (self.rng.unit() * (pe - start) as f64) as u64;
            let remote = self.shape.services > 1 && n - spans.len() >= 2 && self.rng.chance(0.7);
            if remote {
                let callee =
                    (svc + 1 + self.rng.below(self.shape.services - 1)) % self.shape.services;
                let client = self.span(trace_id, Some(pid), SpanKind::Client, callee, start, end);
                // The server side starts a little after and ends a little before (network).
                let net = (end - start) / 20;
                let mut server = self.span(
                    trace_id,
                    Some(client.span_id),
                    SpanKind::Server,
                    callee,
                    start + net,
                    end - net,
                );
                // Both sides of a call carry the callee's operation, as HTTP/gRPC instrumentation does.
                server.name.clone_from(&client.name);
                spans.push((svc, client));
                spans.push((callee, server));
            } else {
                let internal = self.span(trace_id, Some(pid), SpanKind::Internal, svc, start, end);
                spans.push((svc, internal));
            }
        }
        spans
    }

    /// The next `n` spans as one batch grouped by service (traces are generated as needed).
    pub fn batch(&mut self, n: usize, now: UnixNanos) -> TraceBatch {
        while self.pending.len() < n {
            let t = self.trace(now);
            self.pending.extend(t);
        }
        let rest = self.pending.split_off(n);
        let taken = std::mem::replace(&mut self.pending, rest);
        let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); self.resources.len()];
        for (svc, span) in taken {
            by_service[svc].push(span);
        }
        TraceBatch {
            resource_spans: by_service
                .into_iter()
                .zip(&self.resources)
                .filter(|(spans, _)| !spans.is_empty())
                .map(|(spans, resource)| ResourceSpans {
                    resource: resource.clone(),
                    schema_url: String::new(),
                    scope_spans: vec![ScopeSpans {
                        scope: self.scope.clone(),
                        schema_url: String::new(),
                        spans,
                    }],
                })
                .collect(),
        }
    }

    /// The next `n` spans of one service, as one batch with a single resource: what a
    /// Jaeger client sends, since each client reports for its own process. The service with
    /// the most spans waiting goes first, so every service's backlog stays under about `n`
    /// plus one trace.
    pub fn service_batch(&mut self, n: usize, now: UnixNanos) -> TraceBatch {
        let n = n.max(1);
        let svc = loop {
            let fullest = (0..self.pending_by_service.len())
                .max_by_key(|&i| self.pending_by_service[i].len())
                .unwrap_or(0);
            if self.pending_by_service[fullest].len() >= n {
                break fullest;
            }
            for (svc, span) in self.trace(now) {
                self.pending_by_service[svc].push(span);
            }
        };
        let spans: Vec<Span> = self.pending_by_service[svc].drain(..n).collect();
        TraceBatch {
            resource_spans: vec![ResourceSpans {
                resource: self.resources[svc].clone(),
                schema_url: String::new(),
                scope_spans: vec![ScopeSpans {
                    scope: self.scope.clone(),
                    schema_url: String::new(),
                    spans,
                }],
            }],
        }
    }

    /// Distinct service names, in resource order.
    pub fn service_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for r in &self.resources {
            let name = r.service_name();
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
        names
    }

    fn span(
        &mut self,
        trace_id: TraceId,
        parent: Option<SpanId>,
        kind: SpanKind,
        service: usize,
        start: u64,
        end: u64,
    ) -> Span {
        let name = match kind {
            SpanKind::Internal => INTERNAL_OPS[self.rng.below(INTERNAL_OPS.len())],
            // Routes are fixed per service so operation lists stay small, as in real systems.
            _ => ROUTES[(service * 3 + self.rng.below(3)) % ROUTES.len()],
        };
        let attributes = self.pool[..self.shape.attributes]
            .iter()
            .map(|(k, vs)| KeyValue {
                key: k.clone(),
                value: vs[self.rng.below(vs.len())].clone(),
            })
            .collect();
        let status = if self.rng.chance(self.shape.error_rate) {
            Status {
                code: StatusCode::Error,
                message: "synthetic failure".into(),
            }
        } else {
            Status::default()
        };
        Span {
            trace_id,
            span_id: SpanId(self.rng.next_u64().to_be_bytes()),
            parent_span_id: parent,
            name: name.to_owned(),
            kind,
            start: UnixNanos(start),
            end: UnixNanos(end),
            attributes,
            status,
            ..Span::default()
        }
    }
}

fn service_name(i: usize) -> String {
    match SERVICE_NAMES.get(i) {
        Some(name) => (*name).to_owned(),
        None => format!("service-{i}"),
    }
}

fn u128_bytes(hi: u64, lo: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&hi.to_be_bytes());
    out[8..].copy_from_slice(&lo.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    fn generator(services: usize, spans_per_trace: usize) -> Generator {
        Generator::new(
            Shape {
                services,
                spans_per_trace,
                attributes: 11,
                error_rate: 0.05,
            },
            42,
        )
    }

    const NOW: UnixNanos = UnixNanos(1_700_000_000_000_000_000);

    #[test]
    fn a_trace_is_a_tree_of_the_requested_size() {
        let mut g = generator(5, 10);
        for _ in 0..200 {
            let spans = g.trace(NOW);
            assert_eq!(spans.len(), 10);
            let trace_id = spans[0].1.trace_id;
            assert!(!trace_id.is_zero());
            let by_id: HashMap<SpanId, &Span> = spans.iter().map(|(_, s)| (s.span_id, s)).collect();
            assert_eq!(by_id.len(), spans.len(), "span ids are unique");
            let roots: Vec<_> = spans
                .iter()
                .filter(|(_, s)| s.parent_span_id.is_none())
                .collect();
            assert_eq!(roots.len(), 1);
            assert_eq!(roots[0].1.kind, SpanKind::Server);
            for (_, s) in &spans {
                assert_eq!(s.trace_id, trace_id);
                assert!(!s.span_id.is_zero());
                assert!(s.start <= s.end && s.end <= NOW);
                assert_eq!(s.attributes.len(), 11);
                if let Some(p) = s.parent_span_id {
                    let parent = by_id.get(&p).expect("parent is in the trace");
                    assert!(
                        parent.start <= s.start && s.end <= parent.end,
                        "child within parent"
                    );
                    if s.kind == SpanKind::Server {
                        assert_eq!(parent.kind, SpanKind::Client);
                        assert_eq!(parent.name, s.name, "both sides name the call alike");
                    }
                }
            }
        }
    }

    #[test]
    fn client_spans_call_another_service() {
        let mut g = generator(5, 50);
        let spans = g.trace(NOW);
        let service_of: HashMap<SpanId, usize> =
            spans.iter().map(|(i, s)| (s.span_id, *i)).collect();
        let mut clients = 0;
        for (svc, s) in &spans {
            if s.kind == SpanKind::Server
                && let Some(p) = s.parent_span_id
            {
                clients += 1;
                assert_ne!(service_of[&p], *svc);
            }
        }
        assert!(clients > 0);
    }

    #[test]
    fn batches_hold_exactly_the_requested_spans_grouped_by_service() {
        let mut g = generator(5, 10);
        let mut seen = HashSet::new();
        for size in [1, 7, 500, 33] {
            let batch = g.batch(size, NOW);
            assert_eq!(batch.span_count(), size);
            let services: Vec<_> = batch
                .resource_spans
                .iter()
                .map(|rs| rs.resource.service_name().to_owned())
                .collect();
            let unique: HashSet<_> = services.iter().collect();
            assert_eq!(unique.len(), services.len(), "one resource per service");
            seen.extend(services);
        }
        let expected: HashSet<String> = g.service_names().into_iter().collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn service_batches_hold_one_service_and_lose_no_span() {
        let mut g = generator(5, 10);
        let mut ids = HashSet::new();
        let mut services = HashSet::new();
        let mut handed_out = 0;
        for size in [1, 100, 7, 500, 500, 500, 33] {
            let batch = g.service_batch(size, NOW);
            assert_eq!(batch.resource_spans.len(), 1);
            assert_eq!(batch.span_count(), size);
            services.insert(batch.resource_spans[0].resource.service_name().to_owned());
            for s in batch
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans[0].spans)
            {
                assert!(ids.insert(s.span_id), "a span handed out twice");
            }
            handed_out += size;
            // Backlogs stay bounded by the batch size plus one trace.
            assert!(g.pending_by_service.iter().all(|q| q.len() < 500 + 10));
        }
        // Generated spans are either handed out or still waiting, whole traces at a time.
        let waiting: usize = g.pending_by_service.iter().map(Vec::len).sum();
        assert_eq!((handed_out + waiting) % 10, 0);
        assert!(services.len() > 1, "{services:?}");
    }

    #[test]
    fn one_service_and_one_span_still_work() {
        let mut g = generator(1, 1);
        let spans = g.trace(NOW);
        assert_eq!(spans.len(), 1);
        let mut g = generator(1, 20);
        assert!(g.trace(NOW).iter().all(|(svc, _)| *svc == 0));
    }

    #[test]
    fn errors_are_a_small_share() {
        let mut g = generator(5, 10);
        let batch = g.batch(10_000, NOW);
        let errors = batch
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .filter(|s| s.status.code == StatusCode::Error)
            .count();
        assert!(
            (300..=700).contains(&errors),
            "{errors} errors in 10000 spans"
        );
    }

    #[test]
    fn attribute_counts_beyond_the_pool_are_honoured() {
        let mut g = Generator::new(
            Shape {
                services: 2,
                spans_per_trace: 3,
                attributes: 40,
                error_rate: 0.0,
            },
            1,
        );
        assert!(g.trace(NOW).iter().all(|(_, s)| s.attributes.len() == 40));
    }
}
