import { describe, expect, it } from "vitest";
import { formatAge, formatDuration, formatMillis, parseDuration } from "./format";

describe("formatDuration", () => {
  it("picks the unit and keeps three significant digits", () => {
    expect(formatDuration(0)).toBe("0ns");
    expect(formatDuration(812)).toBe("812ns");
    expect(formatDuration(12_345)).toBe("12.3µs");
    expect(formatDuration(1_500_000)).toBe("1.50ms");
    expect(formatDuration(999_400_000)).toBe("999ms");
    expect(formatDuration(1_500_000_000)).toBe("1.50s");
    expect(formatDuration(125e9)).toBe("2m 5s");
    expect(formatDuration(3_725e9)).toBe("1h 2m");
  });
  it("keeps the sign of negative offsets and rejects non-numbers", () => {
    expect(formatDuration(-2_000)).toBe("-2.00µs");
    expect(formatDuration(Number.NaN)).toBe("–");
  });
});

describe("parseDuration", () => {
  it("reads Go and TraceQL durations", () => {
    expect(parseDuration("200ms")).toBe(200e6);
    expect(parseDuration("1.5s")).toBe(1.5e9);
    expect(parseDuration("1h30m")).toBe(5400e9);
    expect(parseDuration(" 10us ")).toBe(10e3);
    expect(parseDuration("7ns")).toBe(7);
  });
  it("refuses anything else", () => {
    expect(parseDuration("")).toBeNull();
    expect(parseDuration("10")).toBeNull();
    expect(parseDuration("10 ms")).toBeNull();
    expect(parseDuration("1s junk")).toBeNull();
    expect(parseDuration("ms")).toBeNull();
  });
});

describe("formatAge", () => {
  it("rounds to the largest whole unit", () => {
    const now = 1_700_000_000_000;
    const ago = (ms: number) => BigInt(now - ms) * 1_000_000n;
    expect(formatAge(ago(5_000), now)).toBe("5s ago");
    expect(formatAge(ago(125_000), now)).toBe("2m ago");
    expect(formatAge(ago(7_200_000), now)).toBe("2h ago");
    expect(formatAge(ago(3 * 86_400_000), now)).toBe("3d ago");
  });
});

describe("formatMillis", () => {
  it("shows whole milliseconds as they are", () => {
    expect(formatMillis(0)).toBe("<1ms");
    expect(formatMillis(5)).toBe("5ms");
    expect(formatMillis(999)).toBe("999ms");
    expect(formatMillis(1500)).toBe("1.50s");
  });
});
