//! Named data-set profiles shared by `clew gen` (on the wire) and `clew bench-store` (straight
//! into the store), so both measure the same spans. `default` is `clew gen`'s original call
//! tree (in `topology.rs`); this file holds the two others:
//! - `clickhouse`: the shape of Jaeger's ClickHouse storage benchmark (10-span traces, 11
//!   string attributes per span drawn uniformly from 97 keys and 1,000 values, random ids,
//!   20 services of 10 operations), as `clew-store`'s bytes-per-span test uses;
//! - `high-cardinality`: a production-like shop: an API gateway calling gRPC services that
//!   call databases, caches, a payment provider and Kafka, with OpenTelemetry semantic
//!   convention attributes, high-cardinality ids in URLs, statements and user ids, a few
//!   errors, and trace sizes from 1 to about 100 spans.

use clap::ValueEnum;
use clew_model::{
    AnyValue, KeyValue, Resource, Span, SpanId, SpanKind, Status, StatusCode, TraceId, UnixNanos,
};

use super::topology::Rng;

/// A named data set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// `clew gen`'s own call tree; `--services`, `--spans-per-trace` and `--attributes` shape it.
    #[default]
    Default,
    /// Jaeger's ClickHouse benchmark shape: 10-span traces, 11 attributes from 97 keys and
    /// 1,000 values, 20 services (fixed shape: the shaping flags do not apply).
    Clickhouse,
    /// Production-like HTTP/gRPC/DB traces with high-cardinality ids (fixed shape).
    HighCardinality,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Default => "default",
            Profile::Clickhouse => "clickhouse",
            Profile::HighCardinality => "high-cardinality",
        }
    }
}

fn kv(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue::new(key, AnyValue::String(value.into()))
}

fn kv_int(key: &str, value: i64) -> KeyValue {
    KeyValue::new(key, AnyValue::Int(value))
}

fn trace_id(rng: &mut Rng) -> TraceId {
    TraceId::from_u64_pair(rng.next_u64(), rng.next_u64())
}

fn span(
    trace_id: TraceId,
    parent: Option<SpanId>,
    span_id: SpanId,
    name: &str,
    kind: SpanKind,
) -> Span {
    Span {
        trace_id,
        span_id,
        parent_span_id: parent,
        flags: 1,
        name: name.to_owned(),
        kind,
        ..Span::default()
    }
}

/// The ClickHouse benchmark shape (see the module docs).
pub struct Clickhouse {
    keys: Vec<String>,
    values: Vec<String>,
    /// Operation names per service.
    names: Vec<Vec<String>>,
}

impl Clickhouse {
    pub const SERVICES: usize = 20;
    pub const SPANS_PER_TRACE: usize = 10;
    pub const ATTRIBUTES: usize = 11;
    pub const KEYS: usize = 97;
    pub const VALUES: usize = 1_000;

    pub fn new() -> Self {
        Self {
            keys: (0..Self::KEYS).map(|i| format!("key-{i}")).collect(),
            values: (0..Self::VALUES).map(|i| format!("value-{i}")).collect(),
            names: (0..Self::SERVICES)
                .map(|s| (0..10).map(|o| format!("op-{s}-{o}")).collect())
                .collect(),
        }
    }

    pub fn resources() -> Vec<Resource> {
        (0..Self::SERVICES)
            .map(|i| Resource {
                attributes: vec![
                    kv("service.name", format!("service-{i}")),
                    kv("host.name", format!("host-{}", i % 7)),
                ],
                dropped_attributes_count: 0,
            })
            .collect()
    }

    /// One 10-span trace: the root first, each other span under a random earlier one, on
    /// a random service; starts within 100 ms of the root's, durations 10 µs to 100 ms, so
    /// every span ends by `now`.
    pub fn trace(&self, rng: &mut Rng, now: UnixNanos) -> Vec<(usize, Span)> {
        let trace_id = trace_id(rng);
        let trace_start = now.0.saturating_sub(200_000_000);
        let mut out: Vec<(usize, Span)> = Vec::with_capacity(Self::SPANS_PER_TRACE);
        for k in 0..Self::SPANS_PER_TRACE {
            let parent = (k > 0).then(|| out[rng.below(k)].1.span_id);
            let service = rng.below(Self::SERVICES);
            let start = trace_start
                + if k == 0 {
                    0
                } else {
                    rng.below(100_000_000) as u64
                };
            let duration = 10_000 + rng.below(100_000_000) as u64;
            let name = &self.names[service][rng.below(10)];
            let kind = SpanKind::from_i32(1 + rng.below(3) as i32);
            let mut s = span(
                trace_id,
                parent,
                SpanId::from_u64(rng.next_u64()),
                name,
                kind,
            );
            s.start = UnixNanos(start);
            s.end = UnixNanos(start + duration);
            s.attributes = (0..Self::ATTRIBUTES)
                .map(|_| {
                    KeyValue::new(
                        self.keys[rng.below(Self::KEYS)].clone(),
                        AnyValue::String(self.values[rng.below(Self::VALUES)].clone()),
                    )
                })
                .collect();
            if rng.below(20) == 0 {
                s.status = Status {
                    code: StatusCode::Error,
                    message: "boom".into(),
                };
            }
            out.push((service, s));
        }
        out
    }
}

// ---- high-cardinality -------------------------------------------------------------------

/// Services of the shop; the index is the service number used in the call plans below.
const HC_SERVICES: &[&str] = &[
    "api-gateway",
    "user-service",
    "catalog-service",
    "cart-service",
    "order-service",
    "payment-service",
    "inventory-service",
    "search-service",
    "notification-service",
    "recommendation-service",
    "shipping-service",
];
const GATEWAY: usize = 0;
const USER: usize = 1;
const CATALOG: usize = 2;
const CART: usize = 3;
const ORDER: usize = 4;
const PAYMENT: usize = 5;
const INVENTORY: usize = 6;
const SEARCH: usize = 7;
const NOTIFICATION: usize = 8;
const RECOMMENDATION: usize = 9;
const SHIPPING: usize = 10;

/// Instances (pods) per service: each is its own resource.
pub const HC_INSTANCES: usize = 3;

/// Users in the population `user.id` is drawn from (skewed: some users are far more active).
const USERS: u64 = 5_000_000;
const PRODUCTS: u64 = 2_000_000;

/// One step a handler takes.
#[derive(Clone, Copy)]
enum Step {
    /// A gRPC call to `(service, method)`, repeated `min..=max` times in parallel.
    Rpc(usize, &'static str, u8, u8),
    /// A SQL statement on the service's database; `{}` takes a high-cardinality id.
    Sql(&'static str, &'static str),
    /// A Redis command; `{}` takes an id. Misses (30%) run the following `Sql` step,
    /// hits skip it.
    Cache(&'static str),
    /// An internal span.
    Internal(&'static str),
    /// An HTTPS call to an external provider.
    External(&'static str),
    /// A Kafka publish.
    Publish(&'static str),
}

/// (service, gRPC method) → steps.
fn handler(service: usize, method: &str) -> &'static [Step] {
    use Step::*;
    match (service, method) {
        (USER, "GetUser") => &[
            Cache("GET user:{}"),
            Sql(
                "SELECT",
                "SELECT id, email, name, tier FROM users WHERE id = {}",
            ),
        ],
        (CATALOG, "GetProduct") => &[
            Cache("GET product:{}"),
            Sql(
                "SELECT",
                "SELECT id, title, price_cents, stock FROM products WHERE id = {}",
            ),
        ],
        (CATALOG, "ListProducts") => &[Sql(
            "SELECT",
            "SELECT id, title, price_cents FROM products WHERE category_id = {} ORDER BY rank LIMIT 20",
        )],
        (CART, "GetCart") => &[Cache("HGETALL cart:{}")],
        (CART, "AddItem") => &[Rpc(CATALOG, "GetProduct", 1, 1), Cache("HSET cart:{}")],
        (ORDER, "CreateOrder") => &[
            Rpc(USER, "GetUser", 1, 1),
            Rpc(CART, "GetCart", 1, 1),
            Rpc(INVENTORY, "Reserve", 1, 6),
            Rpc(PAYMENT, "Charge", 1, 1),
            Sql(
                "INSERT",
                "INSERT INTO orders (id, user_id, total_cents) VALUES ({}, $1, $2)",
            ),
            Publish("order-events"),
        ],
        (ORDER, "ListOrders") => &[Sql(
            "SELECT",
            "SELECT id, created_at, total_cents FROM orders WHERE user_id = {} ORDER BY created_at DESC LIMIT 20",
        )],
        (PAYMENT, "Charge") => &[
            Internal("fraud.score"),
            External("api.payments.example.com"),
            Sql(
                "INSERT",
                "INSERT INTO payments (id, order_id, status) VALUES ({}, $1, 'captured')",
            ),
        ],
        (INVENTORY, "Reserve") => &[Sql(
            "UPDATE",
            "UPDATE stock SET reserved = reserved + 1 WHERE product_id = {}",
        )],
        (SEARCH, "Search") => &[Internal("query.parse"), Rpc(CATALOG, "GetProduct", 1, 20)],
        (NOTIFICATION, "SendEmail") => &[Internal("template.render")],
        (RECOMMENDATION, "Recommend") => {
            &[Rpc(CATALOG, "ListProducts", 1, 1), Internal("model.score")]
        }
        (SHIPPING, "Quote") => &[Sql(
            "SELECT",
            "SELECT carrier, price_cents FROM rates WHERE zone = {} AND weight_class = $1",
        )],
        _ => &[],
    }
}

/// Gateway routes: (weight, method, route, downstream calls).
const ROUTES: &[(u32, &str, &str, &[Step])] = &[
    (
        30,
        "GET",
        "/api/v1/products/{productId}",
        &[
            Step::Rpc(CATALOG, "GetProduct", 1, 1),
            Step::Rpc(RECOMMENDATION, "Recommend", 1, 1),
        ],
    ),
    (
        20,
        "GET",
        "/api/v1/search",
        &[Step::Rpc(SEARCH, "Search", 1, 1)],
    ),
    (
        10,
        "GET",
        "/api/v1/users/{userId}/orders",
        &[
            Step::Rpc(USER, "GetUser", 1, 1),
            Step::Rpc(ORDER, "ListOrders", 1, 1),
        ],
    ),
    (
        12,
        "POST",
        "/api/v1/cart/items",
        &[Step::Rpc(CART, "AddItem", 1, 1)],
    ),
    (
        10,
        "GET",
        "/api/v1/cart",
        &[
            Step::Rpc(CART, "GetCart", 1, 1),
            Step::Rpc(SHIPPING, "Quote", 1, 1),
        ],
    ),
    (
        5,
        "POST",
        "/api/v1/orders",
        &[
            Step::Rpc(ORDER, "CreateOrder", 1, 1),
            Step::Rpc(NOTIFICATION, "SendEmail", 1, 1),
        ],
    ),
    (8, "GET", "/healthz", &[]),
];

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "shop-android/4.12.0 okhttp/4.12.0",
    "shop-ios/4.11.2 CFNetwork/1494.0.7",
    "curl/8.5.0",
];

const SEARCH_TERMS: &[&str] = &[
    "shoes",
    "red+dress",
    "laptop",
    "usb-c+cable",
    "coffee",
    "headphones",
    "desk+lamp",
    "tent",
    "yoga+mat",
    "phone+case",
    "backpack",
    "watch",
];

/// The production-like shop (see the module docs).
pub struct HighCardinality {
    route_weights: u32,
}

/// Spans of one trace under construction, with relative times (made absolute at the end).
struct Builder<'a> {
    rng: &'a mut Rng,
    trace_id: TraceId,
    spans: Vec<(usize, Span)>,
    /// The instance each service runs on in this trace (one pod serves the whole request).
    instance: [usize; HC_SERVICES.len()],
    user: u64,
}

impl HighCardinality {
    pub fn new() -> Self {
        Self {
            route_weights: ROUTES.iter().map(|r| r.0).sum(),
        }
    }

    /// One resource per service instance; resource index = service * instances + instance.
    pub fn resources() -> Vec<Resource> {
        let mut out = Vec::with_capacity(HC_SERVICES.len() * HC_INSTANCES);
        for (s, name) in HC_SERVICES.iter().enumerate() {
            for i in 0..HC_INSTANCES {
                // Pod names carry a replica-set hash, as Kubernetes names them.
                let pod = format!(
                    "{name}-{:08x}-{i}",
                    (s as u32 + 1).wrapping_mul(0x9E37_79B9)
                );
                out.push(Resource {
                    attributes: vec![
                        kv("service.name", *name),
                        kv("service.namespace", "shop"),
                        kv("service.version", format!("1.{}.{}", s % 4, i)),
                        kv("service.instance.id", pod.clone()),
                        kv("k8s.pod.name", pod),
                        kv("k8s.namespace.name", "shop-prod"),
                        kv("host.name", format!("ip-10-0-{}-{}", s % 4, 10 + i)),
                        kv("deployment.environment.name", "production"),
                        kv("telemetry.sdk.name", "opentelemetry"),
                        kv(
                            "telemetry.sdk.language",
                            if s % 2 == 0 { "go" } else { "java" },
                        ),
                    ],
                    dropped_attributes_count: 0,
                });
            }
        }
        out
    }

    /// One request through the gateway; spans end by `now`.
    pub fn trace(&self, rng: &mut Rng, now: UnixNanos) -> Vec<(usize, Span)> {
        let mut pick = rng.below(self.route_weights as usize) as u32;
        let route = ROUTES
            .iter()
            .find(|r| {
                if pick < r.0 {
                    true
                } else {
                    pick -= r.0;
                    false
                }
            })
            .unwrap_or(&ROUTES[0]);
        let (_, method, template, steps) = *route;
        let mut instance = [0usize; HC_SERVICES.len()];
        for i in &mut instance {
            *i = rng.below(HC_INSTANCES);
        }
        // Activity is skewed: squaring a uniform number favours low user numbers.
        let user = 1 + (rng.unit().powi(2) * USERS as f64) as u64;
        let trace_id = trace_id(rng);
        let mut b = Builder {
            rng,
            trace_id,
            spans: Vec::with_capacity(16),
            instance,
            user,
        };
        let root = b.push(
            GATEWAY,
            None,
            &format!("{method} {template}"),
            SpanKind::Server,
        );
        let root_id = b.spans[root].1.span_id;
        let mut cursor = b.self_time(0.3);
        cursor = b.run_steps(GATEWAY, root_id, steps, cursor);
        let end = cursor + b.self_time(0.2);
        b.set_times(root, 0, end);

        let (path, query) = match template {
            "/api/v1/products/{productId}" => (
                format!("/api/v1/products/{}", 1 + b.rng.below(PRODUCTS as usize)),
                format!("?ref={}", ["home", "search", "email", "ad"][b.rng.below(4)]),
            ),
            "/api/v1/search" => (
                "/api/v1/search".to_owned(),
                format!(
                    "?q={}&page={}&session_id={:016x}",
                    SEARCH_TERMS[b.rng.below(SEARCH_TERMS.len())],
                    1 + b.rng.below(5),
                    b.rng.next_u64()
                ),
            ),
            "/api/v1/users/{userId}/orders" => (
                format!("/api/v1/users/{user}/orders"),
                format!("?page={}", 1 + b.rng.below(3)),
            ),
            other => (other.to_owned(), String::new()),
        };
        // 4xx are the client's doing (no error status on a server span); 5xx are errors.
        let roll = b.rng.below(1000);
        let failed_below = b
            .spans
            .iter()
            .any(|(_, s)| s.status.code == StatusCode::Error);
        let status = if failed_below && b.rng.chance(0.7) || roll < 5 {
            if b.rng.chance(0.5) { 500 } else { 503 }
        } else if roll < 35 {
            [400, 401, 404, 429][b.rng.below(4)]
        } else if method == "POST" {
            201
        } else {
            200
        };
        let client_ip = format!(
            "{}.{}.{}.{}",
            1 + b.rng.below(223),
            b.rng.below(256),
            b.rng.below(256),
            1 + b.rng.below(254)
        );
        let ua = USER_AGENTS[b.rng.below(USER_AGENTS.len())];
        let root_span = &mut b.spans[root].1;
        root_span.attributes = vec![
            kv("http.request.method", method),
            kv("http.route", template),
            kv("url.full", format!("https://shop.example.com{path}{query}")),
            kv("url.scheme", "https"),
            kv_int("http.response.status_code", status),
            kv("server.address", "shop.example.com"),
            kv("client.address", client_ip),
            kv("user_agent.original", ua),
            kv("user.id", format!("{user}")),
            kv("network.protocol.version", "2"),
        ];
        if status >= 500 {
            root_span.status = Status {
                code: StatusCode::Error,
                message: String::new(),
            };
        }
        let Builder { spans, .. } = b;
        let shift = now.0.saturating_sub(end);
        spans
            .into_iter()
            .map(|(r, mut s)| {
                s.start = UnixNanos(s.start.0 + shift);
                s.end = UnixNanos(s.end.0 + shift);
                (r, s)
            })
            .collect()
    }
}

impl Builder<'_> {
    /// Pushes a span of `service` (times set later); returns its index.
    fn push(
        &mut self,
        service: usize,
        parent: Option<SpanId>,
        name: &str,
        kind: SpanKind,
    ) -> usize {
        let resource = service * HC_INSTANCES + self.instance[service];
        let s = span(
            self.trace_id,
            parent,
            SpanId::from_u64(self.rng.next_u64()),
            name,
            kind,
        );
        self.spans.push((resource, s));
        self.spans.len() - 1
    }

    fn set_times(&mut self, i: usize, start: u64, end: u64) {
        self.spans[i].1.start = UnixNanos(start);
        self.spans[i].1.end = UnixNanos(end.max(start));
    }

    /// Log-normal duration in nanoseconds around `median_ms`: latency is long-tailed.
    fn lognormal(&mut self, median_ms: f64, sigma: f64) -> u64 {
        // Box-Muller; `unit()` may be 0, which `ln` cannot take.
        let u1 = self.rng.unit().max(1e-12);
        let u2 = self.rng.unit();
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        (median_ms * 1e6 * (sigma * z).exp()).min(30e9) as u64
    }

    fn self_time(&mut self, median_ms: f64) -> u64 {
        self.lognormal(median_ms, 0.6)
    }

    fn error(&mut self, p: f64, message: &str) -> Status {
        if self.rng.chance(p) {
            Status {
                code: StatusCode::Error,
                message: message.to_owned(),
            }
        } else {
            Status::default()
        }
    }

    /// Runs `steps` of `service` from time `cursor` under `parent`; returns when the last
    /// ends. Repeated calls run in parallel (fan-out); steps run one after another.
    fn run_steps(
        &mut self,
        service: usize,
        parent: SpanId,
        steps: &[Step],
        mut cursor: u64,
    ) -> u64 {
        let mut skip_sql = false;
        for step in steps {
            cursor += self.lognormal(0.05, 0.5);
            match *step {
                Step::Rpc(callee, method, min, max) => {
                    let n = min as usize + self.rng.below((max - min) as usize + 1);
                    let mut end = cursor;
                    for _ in 0..n {
                        let start = cursor + self.lognormal(0.02, 0.5);
                        end = end.max(self.rpc(service, parent, callee, method, start));
                    }
                    cursor = end;
                }
                Step::Sql(operation, template) => {
                    if std::mem::take(&mut skip_sql) {
                        continue;
                    }
                    cursor = self.sql(service, parent, operation, template, cursor);
                }
                Step::Cache(template) => {
                    let i = self.push(
                        service,
                        Some(parent),
                        template_op(template),
                        SpanKind::Client,
                    );
                    let id = self.entity_id(template);
                    let d = self.lognormal(0.4, 0.5);
                    self.set_times(i, cursor, cursor + d);
                    self.spans[i].1.attributes = vec![
                        kv("db.system", "redis"),
                        kv("db.operation", template_op(template)),
                        kv("db.statement", template.replace("{}", &id)),
                        kv("server.address", "redis-main.shop.svc.cluster.local"),
                        kv_int("server.port", 6379),
                        kv("peer.service", "redis"),
                    ];
                    skip_sql = self.rng.chance(0.7);
                    cursor += d;
                }
                Step::Internal(name) => {
                    let i = self.push(service, Some(parent), name, SpanKind::Internal);
                    let d = self.lognormal(1.0, 0.8);
                    self.set_times(i, cursor, cursor + d);
                    self.spans[i].1.attributes = vec![kv("code.function", name.replace('.', "_"))];
                    cursor += d;
                }
                Step::External(host) => {
                    let i = self.push(service, Some(parent), "POST", SpanKind::Client);
                    let d = self.lognormal(120.0, 0.7);
                    self.set_times(i, cursor, cursor + d);
                    let status = self.error(0.01, "payment provider unavailable");
                    let code = if status.code == StatusCode::Error {
                        502
                    } else {
                        200
                    };
                    let charge = self.rng.next_u64();
                    let s = &mut self.spans[i].1;
                    s.attributes = vec![
                        kv("http.request.method", "POST"),
                        kv(
                            "url.full",
                            format!("https://{host}/v1/charges/ch_{charge:016x}/capture"),
                        ),
                        kv_int("http.response.status_code", code),
                        kv("server.address", host),
                        kv_int("server.port", 443),
                        kv("peer.service", "payments-provider"),
                    ];
                    s.status = status;
                    cursor += d;
                }
                Step::Publish(topic) => {
                    let i = self.push(
                        service,
                        Some(parent),
                        &format!("{topic} publish"),
                        SpanKind::Producer,
                    );
                    let d = self.lognormal(2.0, 0.6);
                    self.set_times(i, cursor, cursor + d);
                    let key = self.rng.next_u64();
                    self.spans[i].1.attributes = vec![
                        kv("messaging.system", "kafka"),
                        kv("messaging.operation.type", "send"),
                        kv("messaging.destination.name", topic),
                        kv("messaging.kafka.message.key", format!("{key:016x}")),
                        kv("peer.service", "kafka"),
                    ];
                    cursor += d;
                }
            }
        }
        cursor
    }

    /// A client span in `caller` and the server span in `callee`; returns the client's end.
    fn rpc(
        &mut self,
        caller: usize,
        parent: SpanId,
        callee: usize,
        method: &str,
        start: u64,
    ) -> u64 {
        let rpc_service = format!(
            "shop.{}.v1.{}",
            HC_SERVICES[callee].trim_end_matches("-service"),
            grpc_service_name(callee)
        );
        let name = format!("{rpc_service}/{method}");
        let client = self.push(caller, Some(parent), &name, SpanKind::Client);
        let client_id = self.spans[client].1.span_id;
        let server = self.push(callee, Some(client_id), &name, SpanKind::Server);
        let server_id = self.spans[server].1.span_id;
        let net = self.lognormal(0.3, 0.5);
        let server_start = start + net;
        let mut cursor = server_start + self.self_time(0.2);
        cursor = self.run_steps(callee, server_id, handler(callee, method), cursor);
        let server_end = cursor + self.self_time(0.2);
        let client_end = server_end + self.lognormal(0.3, 0.5);
        self.set_times(server, server_start, server_end);
        self.set_times(client, start, client_end);
        let failed = self.spans[client + 1..]
            .iter()
            .any(|(_, s)| s.status.code == StatusCode::Error)
            || self.rng.chance(0.002);
        let (grpc_code, status) = if failed {
            (
                13,
                Status {
                    code: StatusCode::Error,
                    message: "internal error".into(),
                },
            )
        } else {
            (0, Status::default())
        };
        let peer = HC_SERVICES[callee];
        let entity = match callee {
            USER => Some(("app.user.id", format!("{}", self.user))),
            CATALOG => Some((
                "app.product.id",
                format!("{}", 1 + self.rng.below(PRODUCTS as usize)),
            )),
            ORDER => Some(("app.order.id", format!("{:x}", self.rng.next_u64()))),
            _ => None,
        };
        let s = &mut self.spans[client].1;
        s.attributes = vec![
            kv("rpc.system", "grpc"),
            kv("rpc.service", rpc_service.clone()),
            kv("rpc.method", method),
            kv("peer.service", peer),
            kv("server.address", format!("{peer}.shop.svc.cluster.local")),
            kv_int("server.port", 50051),
            kv_int("rpc.grpc.status_code", grpc_code),
        ];
        s.status = status.clone();
        let s = &mut self.spans[server].1;
        s.attributes = vec![
            kv("rpc.system", "grpc"),
            kv("rpc.service", rpc_service),
            kv("rpc.method", method),
            kv_int("rpc.grpc.status_code", grpc_code),
        ];
        if let Some((k, v)) = entity {
            s.attributes.push(kv(k, v));
        }
        s.status = status;
        client_end
    }

    fn sql(
        &mut self,
        service: usize,
        parent: SpanId,
        operation: &str,
        template: &str,
        cursor: u64,
    ) -> u64 {
        let table = template
            .split_whitespace()
            .skip_while(|w| !matches!(*w, "FROM" | "INTO" | "UPDATE"))
            .nth(1)
            .or_else(|| template.split_whitespace().nth(1))
            .unwrap_or("t");
        let name = format!("{operation} shop.{table}");
        let i = self.push(service, Some(parent), &name, SpanKind::Client);
        let d = self.lognormal(if operation == "SELECT" { 2.0 } else { 4.0 }, 0.9);
        self.set_times(i, cursor, cursor + d);
        let id = self.entity_id(template);
        let (system, host, port) = if service.is_multiple_of(3) {
            ("mysql", "mysql-main.shop.internal", 3306)
        } else {
            ("postgresql", "pg-main.shop.internal", 5432)
        };
        let status = self.error(0.003, "deadlock detected");
        let s = &mut self.spans[i].1;
        s.attributes = vec![
            kv("db.system", system),
            kv("db.name", "shop"),
            kv("db.operation", operation),
            kv("db.sql.table", table),
            kv("db.statement", template.replace("{}", &id)),
            kv("server.address", host),
            kv_int("server.port", port),
            kv("peer.service", format!("{system}-main")),
        ];
        s.status = status;
        cursor + d
    }

    /// A fresh id for a statement: users from the skewed population, else uniform.
    fn entity_id(&mut self, template: &str) -> String {
        if template.contains("user") {
            format!("{}", self.user)
        } else if template.contains("product") {
            format!("{}", 1 + self.rng.below(PRODUCTS as usize))
        } else {
            format!("{}", self.rng.next_u64() >> 20)
        }
    }
}

/// "GET user:{}" → "GET".
fn template_op(template: &str) -> &str {
    template.split_whitespace().next().unwrap_or(template)
}

fn grpc_service_name(service: usize) -> &'static str {
    match service {
        USER => "UserService",
        CATALOG => "CatalogService",
        CART => "CartService",
        ORDER => "OrderService",
        PAYMENT => "PaymentService",
        INVENTORY => "InventoryService",
        SEARCH => "SearchService",
        NOTIFICATION => "NotificationService",
        RECOMMENDATION => "RecommendationService",
        SHIPPING => "ShippingService",
        _ => "Gateway",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;
    use crate::r#gen::topology::{Generator, Shape};

    const NOW: UnixNanos = UnixNanos(1_800_000_000_000_000_000);

    fn generator(profile: Profile, seed: u64) -> Generator {
        Generator::with_profile(
            profile,
            Shape {
                services: 5,
                spans_per_trace: 10,
                attributes: 11,
                error_rate: 0.05,
            },
            seed,
        )
    }

    /// Checks what every profile's trace must be: one root, unique span ids, parents inside
    /// the trace, times ending by `now`, resource indexes in range.
    fn check_tree(spans: &[(usize, Span)], resources: usize) {
        let trace_id = spans[0].1.trace_id;
        assert!(!trace_id.is_zero());
        let ids: HashSet<SpanId> = spans.iter().map(|(_, s)| s.span_id).collect();
        assert_eq!(ids.len(), spans.len(), "span ids are unique");
        let roots = spans
            .iter()
            .filter(|(_, s)| s.parent_span_id.is_none())
            .count();
        assert_eq!(roots, 1);
        for (r, s) in spans {
            assert!(*r < resources);
            assert_eq!(s.trace_id, trace_id);
            assert!(!s.span_id.is_zero());
            assert!(s.start <= s.end && s.end <= NOW, "{s:?}");
            if let Some(p) = s.parent_span_id {
                assert!(ids.contains(&p), "parent in the trace");
            }
        }
    }

    fn all_spans(profile: Profile, seed: u64, traces: usize) -> Vec<Vec<(usize, Span)>> {
        let mut g = generator(profile, seed);
        (0..traces).map(|_| g.trace(NOW)).collect()
    }

    #[test]
    fn profiles_are_deterministic_per_seed() {
        for profile in [
            Profile::Default,
            Profile::Clickhouse,
            Profile::HighCardinality,
        ] {
            let a = all_spans(profile, 9, 50);
            assert_eq!(a, all_spans(profile, 9, 50), "{profile:?}");
            assert_ne!(a, all_spans(profile, 10, 50), "{profile:?}");
            // Batches are cut from the same stream.
            let mut g1 = generator(profile, 9);
            let mut g2 = generator(profile, 9);
            assert_eq!(g1.batch(777, NOW), g2.batch(777, NOW));
        }
    }

    #[test]
    fn clickhouse_traces_have_the_benchmark_shape() {
        let traces = all_spans(Profile::Clickhouse, 1, 2_000);
        let (mut keys, mut values, mut services, mut names) = (
            HashSet::new(),
            HashSet::new(),
            HashSet::new(),
            HashSet::new(),
        );
        let mut errors = 0;
        for t in &traces {
            assert_eq!(t.len(), Clickhouse::SPANS_PER_TRACE);
            check_tree(t, Clickhouse::SERVICES);
            for (r, s) in t {
                assert_eq!(s.attributes.len(), Clickhouse::ATTRIBUTES);
                for kv in &s.attributes {
                    keys.insert(kv.key.clone());
                    let AnyValue::String(v) = &kv.value else {
                        panic!("string attributes only: {kv:?}");
                    };
                    values.insert(v.clone());
                }
                services.insert(*r);
                names.insert(s.name.clone());
                errors += usize::from(s.status.code == StatusCode::Error);
            }
        }
        // 220,000 draws from 97 keys and 1,000 values cover both spaces, and no more.
        assert_eq!(keys.len(), Clickhouse::KEYS);
        assert_eq!(values.len(), Clickhouse::VALUES);
        assert_eq!(services.len(), Clickhouse::SERVICES);
        assert_eq!(names.len(), Clickhouse::SERVICES * 10);
        assert!(
            (500..=1_500).contains(&errors),
            "{errors} errors in 20000 spans"
        );
        assert_eq!(Clickhouse::resources().len(), Clickhouse::SERVICES);
    }

    #[test]
    fn high_cardinality_traces_look_like_production() {
        let traces = all_spans(Profile::HighCardinality, 1, 3_000);
        let resources = HighCardinality::resources().len();
        let mut sizes: Vec<usize> = Vec::new();
        let mut values: HashMap<String, HashSet<String>> = HashMap::new();
        let mut error_spans = 0;
        let mut spans = 0;
        for t in &traces {
            check_tree(t, resources);
            sizes.push(t.len());
            let root = &t[0].1;
            assert!(root.parent_span_id.is_none());
            assert_eq!(root.kind, SpanKind::Server);
            assert!(root.attribute("http.route").is_some());
            assert!(root.attribute("user.id").is_some());
            for (_, s) in t {
                spans += 1;
                error_spans += usize::from(s.status.code == StatusCode::Error);
                assert!(!s.attributes.is_empty(), "{}", s.name);
                for kv in &s.attributes {
                    let v = match &kv.value {
                        AnyValue::String(v) => v.clone(),
                        AnyValue::Int(i) => i.to_string(),
                        other => panic!("unexpected value {other:?}"),
                    };
                    values.entry(kv.key.clone()).or_default().insert(v);
                }
            }
        }
        // Trace sizes vary from a lone health check to wide fan-outs.
        sizes.sort_unstable();
        assert_eq!(sizes[0], 1);
        assert!(*sizes.last().unwrap() >= 40, "largest trace {sizes:?}");
        let distinct: HashSet<usize> = sizes.iter().copied().collect();
        assert!(distinct.len() >= 15, "{distinct:?}");
        // The semantic-convention keys are all there.
        for key in [
            "http.request.method",
            "http.route",
            "url.full",
            "http.response.status_code",
            "user.id",
            "db.system",
            "db.statement",
            "rpc.method",
            "peer.service",
        ] {
            assert!(values.contains_key(key), "{key} missing");
        }
        // High cardinality where production has it, low where it does not.
        let n = |k: &str| values[k].len();
        assert!(n("url.full") > 1_500, "{}", n("url.full"));
        assert!(n("user.id") > 2_000, "{}", n("user.id"));
        assert!(n("db.statement") > 5_000, "{}", n("db.statement"));
        assert!(n("http.route") <= 7);
        assert!(n("http.request.method") <= 2);
        assert!(n("db.system") <= 3);
        // A few errors, not many.
        let share = error_spans as f64 / spans as f64;
        assert!(share > 0.001 && share < 0.05, "error share {share}");
    }

    #[test]
    fn profile_batches_hold_the_requested_spans() {
        for profile in [Profile::Clickhouse, Profile::HighCardinality] {
            let mut g = generator(profile, 4);
            for size in [1, 500, 33] {
                assert_eq!(g.batch(size, NOW).span_count(), size);
                let b = g.service_batch(size, NOW);
                assert_eq!(b.span_count(), size);
                assert_eq!(b.resource_spans.len(), 1);
            }
            assert!(g.service_names().len() > 5);
        }
    }
}
