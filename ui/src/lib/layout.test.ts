import { describe, expect, it } from "vitest";
import { barGeometry, labelStyle, ticks, timeOffset } from "./layout";

describe("barGeometry", () => {
  it("places bars in percent of the trace", () => {
    expect(barGeometry(1_250n, 500, 1_000n, 1_000)).toEqual({ left: 25, width: 50 });
    expect(barGeometry(1_000n, 1_000, 1_000n, 1_000)).toEqual({ left: 0, width: 100 });
  });
  it("keeps zero-length spans visible and bars inside the track", () => {
    expect(barGeometry(2_000n, 0, 1_000n, 1_000)).toEqual({ left: 100, width: 0.2 });
    expect(barGeometry(1_900n, 500, 1_000n, 1_000).width).toBeCloseTo(10);
    // A span before the trace start (skew) is clamped, not drawn off the left edge.
    expect(barGeometry(500n, 100, 1_000n, 1_000).left).toBe(0);
    // A trace of zero duration does not divide by zero.
    expect(barGeometry(1_000n, 0, 1_000n, 0)).toEqual({ left: 0, width: 0.2 });
  });
  it("keeps nanosecond precision for times far from the epoch", () => {
    const start = 1_700_000_000_000_000_001n;
    expect(barGeometry(start + 1n, 1, start, 4).left).toBe(25);
  });
});

describe("timeOffset, labelStyle and ticks", () => {
  it("puts events on the axis", () => {
    expect(timeOffset(1_500n, 1_000n, 1_000)).toBe(50);
    expect(timeOffset(9_000n, 1_000n, 1_000)).toBe(100);
  });
  it("puts labels before bars that end near the right edge", () => {
    expect(labelStyle(10, 20)).toEqual({ left: "30%" });
    expect(labelStyle(60, 30)).toEqual({ right: "40%", marginRight: "4px" });
  });
  it("divides the ruler evenly", () => {
    expect(ticks(1_000)).toEqual([
      { fraction: 0, offsetNs: 0 },
      { fraction: 0.25, offsetNs: 250 },
      { fraction: 0.5, offsetNs: 500 },
      { fraction: 0.75, offsetNs: 750 },
      { fraction: 1, offsetNs: 1_000 },
    ]);
  });
});
