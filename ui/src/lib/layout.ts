// Where things go on the waterfall's time axis, in percent of the trace's duration.

/** A bar's left edge and width; a span of zero length still gets a visible sliver. */
export function barGeometry(
  startNs: bigint,
  durationNs: number,
  traceStartNs: bigint,
  traceDurationNs: number,
): { left: number; width: number } {
  const total = Math.max(1, traceDurationNs);
  const left = clamp((Number(startNs - traceStartNs) / total) * 100, 0, 100);
  const width = clamp((durationNs / total) * 100, 0.2, 100 - left);
  return { left, width: Math.max(width, 0.2) };
}

/** A point in time (an event) on the same axis. */
export function timeOffset(timeNs: bigint, traceStartNs: bigint, traceDurationNs: number): number {
  return clamp((Number(timeNs - traceStartNs) / Math.max(1, traceDurationNs)) * 100, 0, 100);
}

/**
 * Where a bar's duration label goes: after the bar, or before it when the bar ends near the
 * right edge (the label would run off the track).
 */
export function labelStyle(left: number, width: number): Record<string, string> {
  return left + width > 80 ? { right: `${100 - left}%`, marginRight: "4px" } : { left: `${left + width}%` };
}

/** Ruler ticks: fractions of the trace with their offsets in nanoseconds. */
export function ticks(traceDurationNs: number, count = 4): { fraction: number; offsetNs: number }[] {
  return Array.from({ length: count + 1 }, (_, i) => ({
    fraction: i / count,
    offsetNs: (traceDurationNs * i) / count,
  }));
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
