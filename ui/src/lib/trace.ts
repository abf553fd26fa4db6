// A trace as the UI works with it, read from OTLP JSON (Jaeger api_v3's pdata dialect: hex
// ids, enums as numbers, 64-bit integers as strings), and the span tree the waterfall draws.

export type AttrValue = string | number | boolean | null | AttrValue[] | { [key: string]: AttrValue };

export interface Attribute {
  key: string;
  value: AttrValue;
}

export interface SpanEvent {
  timeNs: bigint;
  name: string;
  attributes: Attribute[];
}

export interface SpanLink {
  traceId: string;
  spanId: string;
  attributes: Attribute[];
}

export type SpanKind = "unspecified" | "internal" | "server" | "client" | "producer" | "consumer";
export type StatusCode = "unset" | "ok" | "error";

export interface Span {
  traceId: string;
  spanId: string;
  /** Empty for a root. */
  parentSpanId: string;
  name: string;
  kind: SpanKind;
  service: string;
  startNs: bigint;
  endNs: bigint;
  durationNs: number;
  status: { code: StatusCode; message: string };
  attributes: Attribute[];
  resource: Attribute[];
  scope: { name: string; version: string; attributes: Attribute[] };
  events: SpanEvent[];
  links: SpanLink[];
}

export interface Trace {
  traceId: string;
  spans: Span[];
  /** What Clew's assembly noticed and changed (clock-skew shifts, missing parents). */
  warnings: string[];
  /** Earliest start and latest end over all spans. */
  startNs: bigint;
  endNs: bigint;
}

const KINDS: SpanKind[] = ["unspecified", "internal", "server", "client", "producer", "consumer"];
const STATUSES: StatusCode[] = ["unset", "ok", "error"];

// The JSON is untrusted input: every field is checked, and a missing one reads as empty.
type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Json) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === "string" ? v : "");

function nanos(v: unknown): bigint {
  if (typeof v === "string" && /^\d+$/.test(v)) return BigInt(v);
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  return 0n;
}

export function anyValue(v: unknown): AttrValue {
  const o = obj(v);
  if ("stringValue" in o) return str(o.stringValue);
  if ("boolValue" in o) return o.boolValue === true;
  if ("intValue" in o) {
    const n = Number(o.intValue);
    return Number.isSafeInteger(n) ? n : String(o.intValue);
  }
  if ("doubleValue" in o) return Number(o.doubleValue);
  if ("bytesValue" in o) return str(o.bytesValue);
  if ("arrayValue" in o) return arr(obj(o.arrayValue).values).map(anyValue);
  if ("kvlistValue" in o) {
    const out: { [key: string]: AttrValue } = {};
    for (const kv of attributes(obj(o.kvlistValue).values)) out[kv.key] = kv.value;
    return out;
  }
  return null;
}

function attributes(v: unknown): Attribute[] {
  return arr(v).map((kv) => ({ key: str(obj(kv).key), value: anyValue(obj(kv).value) }));
}

/** Attribute value as shown in a table. */
export function attrText(v: AttrValue): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

/**
 * Spans of the `resourceSpans` of an OTLP JSON document (`{"result": {...}}` or bare), and
 * the `warnings` Clew's own trace API adds beside them.
 */
export function parseTrace(doc: unknown): Trace {
  const root = obj(doc);
  const data = "result" in root ? obj(root.result) : root;
  const spans: Span[] = [];
  for (const rs of arr(data.resourceSpans)) {
    const resource = attributes(obj(obj(rs).resource).attributes);
    const serviceAttr = resource.find((a) => a.key === "service.name");
    const service = typeof serviceAttr?.value === "string" ? serviceAttr.value : "unknown_service";
    for (const ss of arr(obj(rs).scopeSpans)) {
      const sc = obj(obj(ss).scope);
      const scope = { name: str(sc.name), version: str(sc.version), attributes: attributes(sc.attributes) };
      for (const raw of arr(obj(ss).spans)) {
        const s = obj(raw);
        const startNs = nanos(s.startTimeUnixNano);
        const endNs = nanos(s.endTimeUnixNano);
        const status = obj(s.status);
        spans.push({
          traceId: str(s.traceId),
          spanId: str(s.spanId),
          parentSpanId: str(s.parentSpanId),
          name: str(s.name),
          kind: KINDS[Number(s.kind ?? 0)] ?? "unspecified",
          service,
          startNs,
          endNs: endNs < startNs ? startNs : endNs,
          durationNs: endNs > startNs ? Number(endNs - startNs) : 0,
          status: { code: STATUSES[Number(status.code ?? 0)] ?? "unset", message: str(status.message) },
          attributes: attributes(s.attributes),
          resource,
          scope,
          events: arr(s.events).map((e) => ({
            timeNs: nanos(obj(e).timeUnixNano),
            name: str(obj(e).name),
            attributes: attributes(obj(e).attributes),
          })),
          links: arr(s.links).map((l) => ({
            traceId: str(obj(l).traceId),
            spanId: str(obj(l).spanId),
            attributes: attributes(obj(l).attributes),
          })),
        });
      }
    }
  }
  spans.sort((a, b) => (a.startNs < b.startNs ? -1 : a.startNs > b.startNs ? 1 : a.spanId.localeCompare(b.spanId)));
  let startNs = spans.length ? spans[0].startNs : 0n;
  let endNs = startNs;
  for (const s of spans) {
    if (s.startNs < startNs) startNs = s.startNs;
    if (s.endNs > endNs) endNs = s.endNs;
  }
  const warnings = arr(root.warnings).filter((w): w is string => typeof w === "string");
  return { traceId: spans[0]?.traceId ?? "", spans, warnings, startNs, endNs };
}

export interface SpanNode {
  span: Span;
  children: SpanNode[];
  depth: number;
  /** The parent id names a span that is not in the trace (lost or not yet arrived). */
  orphan: boolean;
  /** Spans in this subtree, itself included. */
  size: number;
  /** This span or a descendant has error status. */
  errorBelow: boolean;
}

export interface SpanTree {
  roots: SpanNode[];
  byId: Map<string, SpanNode>;
  maxDepth: number;
}

/**
 * Parent/child tree, children by start time. A span whose parent is missing becomes a root
 * marked `orphan`; so does every span on a parent cycle (bad data), so every span appears
 * exactly once and the tree has no loop.
 */
export function buildTree(spans: Span[]): SpanTree {
  const byId = new Map<string, SpanNode>();
  for (const span of spans) {
    if (!byId.has(span.spanId)) {
      byId.set(span.spanId, { span, children: [], depth: 0, orphan: false, size: 1, errorBelow: false });
    }
  }
  // Parent links, then cycles cut in one pass: walk up from each span, marking the path;
  // meeting the path again closes a cycle, whose members all become roots.
  const parentOf = new Map<SpanNode, SpanNode>();
  for (const node of byId.values()) {
    const pid = node.span.parentSpanId;
    const parent = pid ? byId.get(pid) : undefined;
    if (parent && parent !== node) parentOf.set(node, parent);
    node.orphan = pid !== "" && !parent;
  }
  const state = new Map<SpanNode, 1 | 2>(); // 1: on the current path, 2: done
  for (const start of byId.values()) {
    const path: SpanNode[] = [];
    let cur: SpanNode | undefined = start;
    while (cur && !state.has(cur)) {
      state.set(cur, 1);
      path.push(cur);
      cur = parentOf.get(cur);
    }
    if (cur && state.get(cur) === 1) {
      for (let k = path.indexOf(cur); k < path.length; k++) parentOf.delete(path[k]);
    }
    for (const n of path) state.set(n, 2);
  }
  const roots: SpanNode[] = [];
  for (const node of byId.values()) {
    const parent = parentOf.get(node);
    if (parent) parent.children.push(node);
    else roots.push(node);
  }
  const byStart = (a: SpanNode, b: SpanNode) =>
    a.span.startNs < b.span.startNs ? -1 : a.span.startNs > b.span.startNs ? 1 : 0;
  roots.sort(byStart);
  let maxDepth = 0;
  // Iterative post-order: deep traces must not overflow the stack.
  const order: SpanNode[] = [];
  const stack: SpanNode[] = [...roots];
  for (const r of roots) r.depth = 0;
  while (stack.length) {
    const n = stack.pop()!;
    order.push(n);
    n.children.sort(byStart);
    for (const c of n.children) {
      c.depth = n.depth + 1;
      maxDepth = Math.max(maxDepth, c.depth);
      stack.push(c);
    }
  }
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i];
    n.size = 1 + n.children.reduce((s, c) => s + c.size, 0);
    n.errorBelow = n.span.status.code === "error" || n.children.some((c) => c.errorBelow);
  }
  return { roots, byId, maxDepth };
}

/** Rows the waterfall shows, depth first, skipping the subtrees of collapsed spans. */
export function visibleRows(tree: SpanTree, collapsed: ReadonlySet<string>): SpanNode[] {
  const out: SpanNode[] = [];
  const stack = [...tree.roots].reverse();
  while (stack.length) {
    const n = stack.pop()!;
    out.push(n);
    if (!collapsed.has(n.span.spanId)) {
      for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]);
    }
  }
  return out;
}

export interface TraceStats {
  rootService: string;
  rootName: string;
  startNs: bigint;
  durationNs: number;
  services: string[];
  depth: number;
  spanCount: number;
  errorCount: number;
}

/** The header's figures. The root is the earliest span without a parent in the trace. */
export function traceStats(trace: Trace, tree: SpanTree): TraceStats {
  const root = tree.roots.find((r) => !r.orphan) ?? tree.roots[0];
  return {
    rootService: root?.span.service ?? "",
    rootName: root?.span.name ?? "",
    startNs: trace.startNs,
    durationNs: Number(trace.endNs - trace.startNs),
    services: [...new Set(trace.spans.map((s) => s.service))].sort(),
    depth: trace.spans.length ? tree.maxDepth + 1 : 0,
    spanCount: trace.spans.length,
    errorCount: trace.spans.filter((s) => s.status.code === "error").length,
  };
}

/** Spans whose name, service, id or any attribute key or value contains `text` (any case). */
export function matchSpans(trace: Trace, text: string): Set<string> {
  const needle = text.trim().toLowerCase();
  const out = new Set<string>();
  if (!needle) return out;
  const has = (s: string) => s.toLowerCase().includes(needle);
  for (const s of trace.spans) {
    const attrs = [...s.attributes, ...s.resource];
    if (
      has(s.name) ||
      has(s.service) ||
      s.spanId === needle ||
      attrs.some((a) => has(a.key) || has(attrText(a.value)))
    ) {
      out.add(s.spanId);
    }
  }
  return out;
}

/** Warnings per span id they name (Clew's warnings name spans by their hex id). */
export function warningsBySpan(trace: Trace): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const w of trace.warnings) {
    // The first id in a warning is the span it is about ("span X shifted … parent Y").
    const id = /\b([0-9a-f]{16})\b/.exec(w)?.[1];
    if (id) out.set(id, [...(out.get(id) ?? []), w]);
  }
  return out;
}
