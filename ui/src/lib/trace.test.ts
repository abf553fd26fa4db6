import { describe, expect, it } from "vitest";
import { buildTree, matchSpans, parseTrace, traceStats, visibleRows, warningsBySpan, type Span } from "./trace";

// A trace in Jaeger api_v3's JSON: two services, an error, an orphan.
const DOC = {
  result: {
    resourceSpans: [
      {
        resource: { attributes: [{ key: "service.name", value: { stringValue: "frontend" } }] },
        scopeSpans: [
          {
            scope: { name: "lib", version: "1.0" },
            spans: [
              span("a", "", "GET /", 1000n, 9000n, { kind: 2 }),
              span("b", "a", "call backend", 2000n, 7000n, { kind: 3 }),
              span("x", "missing", "late arrival", 500n, 600n, {}),
            ],
          },
        ],
      },
      {
        resource: { attributes: [{ key: "service.name", value: { stringValue: "backend" } }] },
        scopeSpans: [
          {
            scope: {},
            spans: [
              span("c", "b", "SELECT", 3000n, 5000n, {
                status: { code: 2, message: "timeout" },
                attributes: [
                  { key: "db.rows", value: { intValue: "12" } },
                  { key: "big", value: { intValue: "9223372036854775807" } },
                  { key: "tags", value: { arrayValue: { values: [{ stringValue: "x" }, { boolValue: true }] } } },
                ],
              }),
              span("d", "b", "cache", 2500n, 2600n, {}),
            ],
          },
        ],
      },
    ],
  },
};

function span(id: string, parent: string, name: string, start: bigint, end: bigint, extra: object) {
  return {
    traceId: "0af7651916cd43dd8448eb211c80319c",
    spanId: id,
    parentSpanId: parent || undefined,
    name,
    startTimeUnixNano: (1_700_000_000_000_000_000n + start).toString(),
    endTimeUnixNano: (1_700_000_000_000_000_000n + end).toString(),
    ...extra,
  };
}

describe("parseTrace", () => {
  const t = parseTrace(DOC);
  it("reads every span with its service, kind, status and typed attributes", () => {
    expect(t.spans.map((s) => s.spanId)).toEqual(["x", "a", "b", "d", "c"]);
    const c = t.spans.find((s) => s.spanId === "c")!;
    expect(c.service).toBe("backend");
    expect(c.status).toEqual({ code: "error", message: "timeout" });
    expect(c.durationNs).toBe(2000);
    expect(c.attributes).toEqual([
      { key: "db.rows", value: 12 },
      { key: "big", value: "9223372036854775807" },
      { key: "tags", value: ["x", true] },
    ]);
    expect(t.spans.find((s) => s.spanId === "a")!.kind).toBe("server");
    expect(t.spans.find((s) => s.spanId === "a")!.scope).toEqual({ name: "lib", version: "1.0", attributes: [] });
  });
  it("keeps nanosecond precision in times", () => {
    expect(t.startNs).toBe(1_700_000_000_000_000_500n);
    expect(Number(t.endNs - t.startNs)).toBe(8500);
  });
  it("survives junk without throwing", () => {
    expect(parseTrace(null).spans).toEqual([]);
    expect(parseTrace({ resourceSpans: [{ scopeSpans: [{ spans: [{ startTimeUnixNano: -1 }] }] }] }).spans[0].service).toBe(
      "unknown_service",
    );
  });
});

describe("buildTree", () => {
  const t = parseTrace(DOC);
  const tree = buildTree(t.spans);
  it("nests children by start and marks orphans as roots", () => {
    expect(tree.roots.map((r) => [r.span.spanId, r.orphan])).toEqual([
      ["x", true],
      ["a", false],
    ]);
    const b = tree.byId.get("b")!;
    expect(b.children.map((c) => c.span.spanId)).toEqual(["d", "c"]);
    expect(b.depth).toBe(1);
    expect(tree.byId.get("c")!.depth).toBe(2);
    expect(tree.maxDepth).toBe(2);
    expect(tree.byId.get("a")!.size).toBe(4);
    expect(tree.byId.get("a")!.errorBelow).toBe(true);
    expect(tree.byId.get("d")!.errorBelow).toBe(false);
  });
  it("breaks parent cycles and self-parents instead of looping", () => {
    const mk = (id: string, parent: string): Span => ({ ...t.spans[0], spanId: id, parentSpanId: parent });
    const cyc = buildTree([mk("p", "q"), mk("q", "p"), mk("r", "q"), mk("s", "s")]);
    const all = visibleRows(cyc, new Set()).map((n) => n.span.spanId).sort();
    expect(all).toEqual(["p", "q", "r", "s"]);
  });
  it("handles a chain deeper than the call stack", () => {
    const deep: Span[] = [];
    for (let i = 0; i < 20000; i++) deep.push({ ...t.spans[0], spanId: `s${i}`, parentSpanId: i ? `s${i - 1}` : "" });
    const d = buildTree(deep);
    expect(d.maxDepth).toBe(19999);
    expect(visibleRows(d, new Set()).length).toBe(20000);
  });
});

describe("visibleRows", () => {
  const tree = buildTree(parseTrace(DOC).spans);
  it("lists depth first and hides collapsed subtrees", () => {
    expect(visibleRows(tree, new Set()).map((n) => n.span.spanId)).toEqual(["x", "a", "b", "d", "c"]);
    expect(visibleRows(tree, new Set(["b"])).map((n) => n.span.spanId)).toEqual(["x", "a", "b"]);
  });
});

describe("traceStats and matchSpans", () => {
  const t = parseTrace(DOC);
  const tree = buildTree(t.spans);
  it("summarises the trace as the header shows it", () => {
    const s = traceStats(t, tree);
    expect(s.rootService).toBe("frontend");
    expect(s.rootName).toBe("GET /");
    expect(s.services).toEqual(["backend", "frontend"]);
    expect(s.depth).toBe(3);
    expect(s.spanCount).toBe(5);
    expect(s.errorCount).toBe(1);
    expect(s.durationNs).toBe(8500);
  });
  it("finds spans by name, service and attributes, ignoring case", () => {
    expect([...matchSpans(t, "select")]).toEqual(["c"]);
    expect([...matchSpans(t, "BACKEND")].sort()).toEqual(["b", "c", "d"]);
    expect([...matchSpans(t, "db.rows")]).toEqual(["c"]);
    expect(matchSpans(t, "  ").size).toBe(0);
  });
});

describe("warningsBySpan", () => {
  it("files each warning under the first span id it names", () => {
    const t = parseTrace({
      ...DOC.result,
      warnings: [
        "clock skew adjustment: span 00000000000000aa shifted by 1500µs to fit its parent 00000000000000bb",
        "span 00000000000000cc has parent 0000000000000099 that is not in the trace",
        "something without an id",
        7,
      ],
    });
    expect(t.warnings.length).toBe(3);
    const by = warningsBySpan(t);
    expect([...by.keys()]).toEqual(["00000000000000aa", "00000000000000cc"]);
  });
});
