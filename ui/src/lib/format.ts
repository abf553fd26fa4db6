// Durations and times as people read them in a trace view.

const UNITS: Array<[number, string]> = [
  [1e9, "s"],
  [1e6, "ms"],
  [1e3, "µs"],
];

/** A duration in nanoseconds with three significant digits: `812ns`, `12.3µs`, `1.50s`, `2m 5s`. */
export function formatDuration(ns: number): string {
  if (!Number.isFinite(ns)) return "–";
  const sign = ns < 0 ? "-" : "";
  const abs = Math.abs(ns);
  if (abs >= 60e9) {
    const totalSeconds = Math.round(abs / 1e9);
    const h = Math.floor(totalSeconds / 3600);
    const m = Math.floor((totalSeconds % 3600) / 60);
    const s = totalSeconds % 60;
    return sign + (h > 0 ? `${h}h ${m}m` : `${m}m ${s}s`);
  }
  for (const [scale, unit] of UNITS) {
    if (abs >= scale) return sign + significant(abs / scale) + unit;
  }
  return `${sign}${Math.round(abs)}ns`;
}

function significant(v: number): string {
  // 3 significant digits, trailing zeros kept for a steady column width (1.50ms).
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

const GO_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Parses Go/TraceQL durations (`200ms`, `1.5s`, `1h30m`) into nanoseconds; null if invalid. */
export function parseDuration(text: string): number | null {
  const s = text.trim();
  if (s === "") return null;
  const re = /(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let at = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    total += parseFloat(m[1]) * GO_UNITS[m[2]];
    at = re.lastIndex;
  }
  return at === s.length && at > 0 ? total : null;
}

/** Nanoseconds since the epoch as a local date and time with milliseconds. */
export function formatTimestamp(unixNanos: bigint): string {
  const ms = Number(unixNanos / 1_000_000n);
  const d = new Date(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
  );
}

/** "3 minutes ago" style age of a time, from `nowMs`. */
export function formatAge(unixNanos: bigint, nowMs: number): string {
  const seconds = Math.max(0, Math.round((nowMs - Number(unixNanos / 1_000_000n)) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86400)}d ago`;
}

/** A duration known to whole milliseconds (Tempo's `durationMs`), without false precision. */
export function formatMillis(ms: number): string {
  if (!Number.isFinite(ms)) return "–";
  if (ms < 1) return "<1ms";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  return formatDuration(ms * 1e6);
}
