import { describe, expect, it } from "vitest";
import { criticalPath, sectionsBySpan, sectionsTime } from "./critical";
import { buildTree, type Span } from "./trace";

function span(id: string, parent: string, start: number, end: number): Span {
  return {
    traceId: "t",
    spanId: id,
    parentSpanId: parent,
    name: id,
    kind: "internal",
    service: "s",
    startNs: BigInt(start),
    endNs: BigInt(end),
    durationNs: end - start,
    status: { code: "unset", message: "" },
    attributes: [],
    resource: [],
    scope: { name: "", version: "", attributes: [] },
    events: [],
    links: [],
  };
}

const sections = (spans: Span[]) =>
  criticalPath(buildTree(spans)).map((s) => [s.spanId, Number(s.startNs), Number(s.endNs)]);

describe("criticalPath", () => {
  it("walks back through the last-finishing children", () => {
    expect(sections([span("root", "", 0, 100), span("a", "root", 10, 40), span("b", "root", 50, 90)])).toEqual([
      ["root", 90, 100],
      ["b", 50, 90],
      ["root", 40, 50],
      ["a", 10, 40],
      ["root", 0, 10],
    ]);
  });
  it("takes only the later of two concurrent children, and descends", () => {
    const spans = [
      span("root", "", 0, 100),
      span("fast", "root", 10, 30),
      span("slow", "root", 10, 80),
      span("db", "slow", 20, 70),
    ];
    expect(sections(spans)).toEqual([
      ["root", 80, 100],
      ["slow", 70, 80],
      ["db", 20, 70],
      ["slow", 10, 20],
      ["root", 0, 10],
    ]);
    const path = criticalPath(buildTree(spans));
    expect(sectionsTime(path)).toBe(100);
    const bySpan = sectionsBySpan(path);
    expect(bySpan.has("fast")).toBe(false);
    expect(sectionsTime(bySpan.get("slow") ?? [])).toBe(20);
  });
  it("clips children that outlive their parent and ignores ones that start after it", () => {
    expect(sections([span("root", "", 0, 50), span("async", "root", 40, 90), span("late", "root", 60, 70)])).toEqual([
      ["async", 40, 50],
      ["root", 0, 40],
    ]);
  });
  it("ends on zero-length children and empty traces", () => {
    expect(sections([span("root", "", 0, 10), span("z", "root", 5, 5)])).toEqual([
      ["root", 5, 10],
      ["root", 0, 5],
    ]);
    expect(criticalPath(buildTree([]))).toEqual([]);
  });
});
