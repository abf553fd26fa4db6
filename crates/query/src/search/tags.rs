//! Tag names and values for autocompletion: which attributes spans carry, per scope, and
//! which values one attribute or intrinsic takes, optionally among spans a query matches.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use clew_model::{KeyValue, SpanRecord, UnixNanos};
use clew_store::scan::{SpanParts, SpanScan};

use super::FieldValue;
use super::eval::{Evaluator, TraceView, reads_scope, scope_choices};
use super::plan::{Plan, parts_of};
use crate::traceql::{
    self, Attribute, ExprKind, FieldExpr, Intrinsic, Query, Scope, SpansetExpr, Stage,
};

/// Scopes as Tempo's `/api/v2/search/tags` groups them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TagScope {
    Span,
    Resource,
    Event,
    Link,
    Instrumentation,
    Intrinsic,
}

impl TagScope {
    pub const ALL: [TagScope; 6] = [
        TagScope::Span,
        TagScope::Resource,
        TagScope::Event,
        TagScope::Link,
        TagScope::Instrumentation,
        TagScope::Intrinsic,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TagScope::Span => "span",
            TagScope::Resource => "resource",
            TagScope::Event => "event",
            TagScope::Link => "link",
            TagScope::Instrumentation => "instrumentation",
            TagScope::Intrinsic => "intrinsic",
        }
    }

    /// `span`, `resource`, `event`, `link`, `instrumentation`, `intrinsic`; `None` otherwise.
    pub fn parse(s: &str) -> Option<TagScope> {
        TagScope::ALL.into_iter().find(|t| t.name() == s)
    }
}

/// Most names per scope and values per tag a listing returns when the caller gives no limit.
pub const DEFAULT_TAG_LIMIT: usize = 1_000;

/// A tag-name listing.
#[derive(Clone, Debug, Default)]
pub struct TagsRequest {
    /// Only this scope; all scopes when `None`.
    pub scope: Option<TagScope>,
    /// Only tags of spans this query matches (Tempo's `q`).
    pub query: Option<Query>,
    /// Sources that hold spans in `[start, end]`; the newest hour of data when both unset.
    pub start: Option<UnixNanos>,
    pub end: Option<UnixNanos>,
    /// Most names per scope; 0 means [`DEFAULT_TAG_LIMIT`].
    pub limit: usize,
}

/// Tag names per scope, each list sorted; scopes in [`TagScope::ALL`] order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagNames {
    pub scopes: Vec<(TagScope, Vec<String>)>,
}

impl TagNames {
    /// The names of one scope (empty when it has none).
    pub fn of(&self, scope: TagScope) -> &[String] {
        self.scopes
            .iter()
            .find(|(s, _)| *s == scope)
            .map_or(&[], |(_, names)| names.as_slice())
    }
}

/// What a tag-values listing is about: an attribute (scoped or not) or an intrinsic.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TagRef {
    Attribute(Attribute),
    Intrinsic(Intrinsic),
}

impl TagRef {
    /// A TraceQL field as `/api/v2/search/tag/{tag}/values` takes it: `resource.service.name`,
    /// `span.http.method`, `.foo`, `name`, `status`, `span:kind`…; `None` when it is none.
    pub fn parse(tag: &str) -> Option<TagRef> {
        let query = traceql::parse_syntax(&format!("{{ {tag} != nil }}")).ok()?;
        let [Stage::Spanset(SpansetExpr::Filter(filter))] = query.pipeline.stages.as_slice() else {
            return None;
        };
        let ExprKind::Binary { lhs, .. } = &filter.expr.as_ref()?.kind else {
            return None;
        };
        match &lhs.kind {
            ExprKind::Attribute(a) => Some(TagRef::Attribute(a.clone())),
            ExprKind::Intrinsic(i) => Some(TagRef::Intrinsic(*i)),
            _ => None,
        }
    }

    /// A plain attribute name as Tempo's v1 API takes it (`service.name`): unscoped.
    pub fn unscoped(name: &str) -> TagRef {
        TagRef::Attribute(Attribute {
            scope: Scope::None,
            name: name.to_owned(),
        })
    }
}

/// A tag-values listing.
#[derive(Clone, Debug)]
pub struct TagValuesRequest {
    pub tag: TagRef,
    /// Only values on spans this query matches.
    pub query: Option<Query>,
    /// As in [`TagsRequest`].
    pub start: Option<UnixNanos>,
    pub end: Option<UnixNanos>,
    /// Most values; 0 means [`DEFAULT_TAG_LIMIT`].
    pub limit: usize,
}

impl TagValuesRequest {
    pub fn new(tag: TagRef) -> Self {
        Self {
            tag,
            query: None,
            start: None,
            end: None,
            limit: 0,
        }
    }
}

/// Compressed bytes of blocks a listing reads at most when the caller gives no time range:
/// the newest data, as Tempo answers from its ingesters.
const UNBOUNDED_SCAN_BYTES: u64 = 64 << 20;

/// The sources a listing reads: the head, then blocks newest first within the range (or
/// up to [`UNBOUNDED_SCAN_BYTES`] without one), until `done` says enough was found.
async fn scan_for_tags(
    store: &clew_store::Store,
    tenant: &clew_model::TenantId,
    start: Option<UnixNanos>,
    end: Option<UnixNanos>,
    scan: &SpanScan,
    done: &(dyn Fn() -> bool + Sync),
) -> Result<(), crate::QueryError> {
    if let Some(head) = store.head_source(tenant) {
        store.scan(tenant, &head, scan).await?;
    }
    let unbounded = start.is_none() && end.is_none();
    let mut bytes = 0u64;
    for block in store.block_sources_of(tenant) {
        if done() || (unbounded && bytes >= UNBOUNDED_SCAN_BYTES) {
            break;
        }
        if block.overlaps(start, end) {
            let (_, stats) = store.scan(tenant, &block, scan).await?;
            bytes += stats.bytes;
        }
    }
    Ok(())
}

/// The matcher's view of an optional `q`: whether a span counts (it meets one of the
/// query's span-local filters; every span when the query has none).
fn span_filter(query: Option<&Query>) -> Arc<dyn Fn(&SpanRecord) -> bool + Send + Sync> {
    match query {
        None => Arc::new(|_: &SpanRecord| true),
        Some(q) => {
            let plan = Plan::new(q);
            let scan = plan.scan(q);
            let any_leaf = plan.need != super::plan::Need::True;
            Arc::new(move |rec: &SpanRecord| !any_leaf || (scan.matcher)(rec) != 0)
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(super) async fn names(
    store: &clew_store::Store,
    tenant: &clew_model::TenantId,
    request: &TagsRequest,
) -> Result<TagNames, crate::QueryError> {
    let limit = if request.limit == 0 {
        DEFAULT_TAG_LIMIT
    } else {
        request.limit
    };
    let wanted = |s: TagScope| request.scope.is_none_or(|w| w == s);
    let found: Arc<Mutex<BTreeMap<TagScope, BTreeSet<String>>>> = Arc::default();
    let counts = {
        let found = Arc::clone(&found);
        let filter = span_filter(request.query.as_ref());
        let scopes: Vec<TagScope> = TagScope::ALL.into_iter().filter(|s| wanted(*s)).collect();
        move |rec: &SpanRecord| {
            if !filter(rec) {
                return 0;
            }
            let mut found = lock(&found);
            let mut add = |scope: TagScope, attrs: &[KeyValue]| {
                if !scopes.contains(&scope) {
                    return;
                }
                let set = found.entry(scope).or_default();
                for kv in attrs {
                    if set.len() >= limit {
                        break;
                    }
                    if !set.contains(&kv.key) {
                        set.insert(kv.key.clone());
                    }
                }
            };
            add(TagScope::Span, &rec.span.attributes);
            add(TagScope::Resource, &rec.resource.attributes);
            for e in &rec.span.events {
                add(TagScope::Event, &e.attributes);
            }
            for l in &rec.span.links {
                add(TagScope::Link, &l.attributes);
            }
            add(TagScope::Instrumentation, &rec.scope.attributes);
            0
        }
    };
    let mut parts = SpanParts {
        attributes: wanted(TagScope::Span),
        resource: wanted(TagScope::Resource),
        events: wanted(TagScope::Event),
        links: wanted(TagScope::Link),
        scope: wanted(TagScope::Instrumentation),
        ..SpanParts::default()
    };
    if let Some(q) = &request.query {
        parts = parts.union(Plan::new(q).parts());
    }
    let scan = SpanScan {
        parts,
        hints: Vec::new(),
        matcher: Arc::new(counts),
        exact: None,
    };
    if parts != SpanParts::default() {
        scan_for_tags(store, tenant, request.start, request.end, &scan, &|| false).await?;
    }
    let found = std::mem::take(&mut *lock(&found));
    let mut scopes = Vec::new();
    for scope in TagScope::ALL.into_iter().filter(|s| wanted(*s)) {
        let names: Vec<String> = if scope == TagScope::Intrinsic {
            intrinsic_names()
        } else {
            found
                .get(&scope)
                .map(|set| set.iter().cloned().collect())
                .unwrap_or_default()
        };
        if !names.is_empty() {
            scopes.push((scope, names));
        }
    }
    Ok(TagNames { scopes })
}

/// The intrinsics Tempo lists under the `intrinsic` scope, in its spelling.
fn intrinsic_names() -> Vec<String> {
    let mut names: Vec<String> = [
        "duration",
        "event:name",
        "event:timeSinceStart",
        "instrumentation:name",
        "instrumentation:version",
        "kind",
        "link:spanID",
        "link:traceID",
        "name",
        "rootName",
        "rootServiceName",
        "span:duration",
        "span:id",
        "span:kind",
        "span:name",
        "span:parentID",
        "span:status",
        "span:statusMessage",
        "status",
        "statusMessage",
        "trace:duration",
        "trace:id",
        "trace:rootName",
        "trace:rootService",
        "traceDuration",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    names.sort();
    names
}

pub(super) async fn values(
    store: &clew_store::Store,
    tenant: &clew_model::TenantId,
    request: &TagValuesRequest,
) -> Result<Vec<FieldValue>, crate::QueryError> {
    let limit = if request.limit == 0 {
        DEFAULT_TAG_LIMIT
    } else {
        request.limit
    };
    // As Tempo: status and kind list their keywords; durations are not listed.
    if let TagRef::Intrinsic(i) = &request.tag {
        use clew_model::{SpanKind, StatusCode};
        match i {
            Intrinsic::Status => {
                return Ok([StatusCode::Error, StatusCode::Ok, StatusCode::Unset]
                    .into_iter()
                    .map(FieldValue::Status)
                    .collect());
            }
            Intrinsic::Kind => {
                return Ok([
                    SpanKind::Client,
                    SpanKind::Consumer,
                    SpanKind::Internal,
                    SpanKind::Producer,
                    SpanKind::Server,
                    SpanKind::Unspecified,
                ]
                .into_iter()
                .map(FieldValue::Kind)
                .collect());
            }
            Intrinsic::Duration
            | Intrinsic::TraceDuration
            | Intrinsic::EventTimeSinceStart
            | Intrinsic::NestedSetLeft
            | Intrinsic::NestedSetRight
            | Intrinsic::NestedSetParent => return Ok(Vec::new()),
            _ => {}
        }
    }
    let expr = FieldExpr::new(match &request.tag {
        TagRef::Attribute(a) => ExprKind::Attribute(a.clone()),
        TagRef::Intrinsic(i) => ExprKind::Intrinsic(*i),
    });
    let mut parts = SpanParts::default();
    parts_of(&expr, &mut parts);
    if let Some(q) = &request.query {
        parts = parts.union(Plan::new(q).parts());
    }
    let found: Arc<Mutex<BTreeMap<(&'static str, String), FieldValue>>> = Arc::default();
    let matcher = {
        let found = Arc::clone(&found);
        let filter = span_filter(request.query.as_ref());
        let eval = Evaluator::plain();
        let reads_events = reads_scope(&expr, Scope::Event);
        let reads_links = reads_scope(&expr, Scope::Link);
        move |rec: &SpanRecord| {
            if !filter(rec) {
                return 0;
            }
            let view = TraceView::single(rec);
            let links = scope_choices(reads_links, rec.span.links.len());
            let mut found = lock(&found);
            for ev in scope_choices(reads_events, rec.span.events.len()) {
                for ln in links.clone() {
                    if found.len() >= limit {
                        return 0;
                    }
                    let v = eval.value(&expr, &view, 0, ev, ln);
                    if v != FieldValue::Nil {
                        found.entry((v.type_name(), v.to_text())).or_insert(v);
                    }
                }
            }
            0
        }
    };
    let scan = SpanScan {
        parts,
        hints: Vec::new(),
        matcher: Arc::new(matcher),
        exact: None,
    };
    let full = {
        let found = Arc::clone(&found);
        move || lock(&found).len() >= limit
    };
    scan_for_tags(store, tenant, request.start, request.end, &scan, &full).await?;
    let found = std::mem::take(&mut *lock(&found));
    Ok(found.into_values().collect())
}
