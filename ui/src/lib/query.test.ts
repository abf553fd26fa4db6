import { describe, expect, it } from "vitest";
import {
  DEFAULT_FORM,
  buildTraceQL,
  errorPosition,
  formFromParams,
  formToParams,
  parseSearch,
  parseTags,
  sortRows,
} from "./query";

describe("buildTraceQL", () => {
  it("turns the form into one spanset", () => {
    const q = buildTraceQL({
      ...DEFAULT_FORM,
      service: "api",
      operation: 'GET "/x"',
      tags: 'http.status_code=500 error=true region="eu west"',
    });
    expect(q).toEqual({
      query:
        '{ resource.service.name = "api" && name = "GET \\"/x\\"" && ' +
        '(.http.status_code = 500 || .http.status_code = "500") && status = error && .region = "eu west" }',
    });
  });
  it("matches everything when empty and prefers the TraceQL box", () => {
    expect(buildTraceQL(DEFAULT_FORM)).toEqual({ query: "{ }" });
    expect(buildTraceQL({ ...DEFAULT_FORM, service: "x", traceql: " { kind = server } " })).toEqual({
      query: "{ kind = server }",
    });
  });
  it("refuses malformed tags with a readable reason", () => {
    const q = buildTraceQL({ ...DEFAULT_FORM, tags: "a=1 junk" });
    expect("error" in q && q.error).toContain('"junk"');
  });
});

describe("parseTags", () => {
  it("reads quoted values with escapes", () => {
    expect(parseTags('a=1 b="x \\"y\\"" c=')).toEqual({
      pairs: [
        ["a", "1"],
        ["b", 'x "y"'],
        ["c", ""],
      ],
    });
  });
});

describe("form in the URL", () => {
  it("round-trips and leaves defaults out", () => {
    const form = { ...DEFAULT_FORM, service: "api", sort: "errors" as const };
    const p = formToParams(form);
    expect(p.toString()).toBe("service=api&sort=errors");
    expect(formFromParams(p)).toEqual(form);
    expect(formFromParams(new URLSearchParams("sort=bogus")).sort).toBe("newest");
  });
});

describe("parseSearch and sortRows", () => {
  const doc = {
    traces: [
      {
        traceID: "aa",
        rootServiceName: "api",
        rootTraceName: "GET /",
        startTimeUnixNano: "1700000000000000000",
        durationMs: 12,
        serviceStats: { api: { spanCount: 3 }, db: { spanCount: 2, errorCount: 1 } },
        spanSets: [{ matched: 2 }],
      },
      { traceID: "bb", startTimeUnixNano: "1700000001000000000", durationMs: 5, serviceStats: { api: { spanCount: 9 } } },
    ],
    nextCursor: "c1",
  };
  const { rows, nextCursor } = parseSearch(doc);
  it("reads Tempo's summaries with counts from serviceStats", () => {
    expect(nextCursor).toBe("c1");
    expect(rows[0]).toMatchObject({ traceId: "aa", spanCount: 5, errorCount: 1, matched: 2, durationMs: 12 });
    expect(rows[0].services.map((s) => s.name)).toEqual(["api", "db"]);
    expect(rows[1]).toMatchObject({ rootService: "", spanCount: 9, errorCount: 0 });
  });
  it("sorts by each order, largest first", () => {
    expect(sortRows(rows, "newest").map((r) => r.traceId)).toEqual(["bb", "aa"]);
    expect(sortRows(rows, "longest").map((r) => r.traceId)).toEqual(["aa", "bb"]);
    expect(sortRows(rows, "spans").map((r) => r.traceId)).toEqual(["bb", "aa"]);
    expect(sortRows(rows, "errors").map((r) => r.traceId)).toEqual(["aa", "bb"]);
  });
});

describe("errorPosition", () => {
  it("finds line and column in the engine's messages", () => {
    expect(errorPosition("parse error at line 2, column 10: expected a value")).toEqual({ line: 2, column: 10 });
    expect(errorPosition("search failed")).toBeNull();
  });
});
