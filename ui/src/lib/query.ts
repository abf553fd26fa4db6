// The search form as a TraceQL query, and Tempo's search answer as result rows.

export interface SearchForm {
  service: string;
  operation: string;
  /** Jaeger's logfmt tags: `http.status_code=500 error=true`. */
  tags: string;
  minDuration: string;
  maxDuration: string;
  /** `1h`, `15m`… or `custom` with `start`/`end` (datetime-local strings). */
  lookback: string;
  start: string;
  end: string;
  limit: string;
  /** Free TraceQL; when set, the fields above except time, durations and limit are ignored. */
  traceql: string;
  sort: SortOrder;
}

export type SortOrder = "newest" | "longest" | "spans" | "errors";

export const DEFAULT_FORM: SearchForm = {
  service: "",
  operation: "",
  tags: "",
  minDuration: "",
  maxDuration: "",
  lookback: "1h",
  start: "",
  end: "",
  limit: "20",
  traceql: "",
  sort: "newest",
};

const FORM_KEYS = Object.keys(DEFAULT_FORM) as (keyof SearchForm)[];

/** The form in the page's URL, so that a search can be shared; defaults are left out. */
export function formToParams(form: SearchForm): URLSearchParams {
  const p = new URLSearchParams();
  for (const k of FORM_KEYS) if (form[k] !== DEFAULT_FORM[k]) p.set(k, form[k]);
  return p;
}

export function formFromParams(p: URLSearchParams): SearchForm {
  const form: SearchForm = { ...DEFAULT_FORM };
  for (const k of FORM_KEYS) {
    const v = p.get(k);
    if (v !== null) (form as unknown as Record<string, string>)[k] = v;
  }
  if (!["newest", "longest", "spans", "errors"].includes(form.sort)) form.sort = "newest";
  return form;
}

/** A TraceQL string literal. */
export function quote(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** Splits logfmt (`a=1 b="x y"`) into pairs; null with the offending text when malformed. */
export function parseTags(text: string): { pairs: [string, string][] } | { error: string } {
  const pairs: [string, string][] = [];
  const re = /\s*([^\s=]+)=("((?:[^"\\]|\\.)*)"|[^\s"]*)\s*/y;
  let at = 0;
  const s = text.trim();
  while (at < s.length) {
    re.lastIndex = at;
    const m = re.exec(s);
    if (!m) return { error: `cannot read tags at "${s.slice(at)}": write key=value or key="a value"` };
    pairs.push([m[1], m[3] !== undefined ? m[3].replace(/\\(.)/g, "$1") : m[2]]);
    at = re.lastIndex;
  }
  return { pairs };
}

/** The form's filters as one TraceQL spanset, or the TraceQL box's text when it has some. */
export function buildTraceQL(form: SearchForm): { query: string } | { error: string } {
  if (form.traceql.trim()) return { query: form.traceql.trim() };
  const conditions: string[] = [];
  if (form.service) conditions.push(`resource.service.name = ${quote(form.service)}`);
  if (form.operation) conditions.push(`name = ${quote(form.operation)}`);
  const tags = parseTags(form.tags);
  if ("error" in tags) return tags;
  for (const [k, v] of tags.pairs) {
    if (k === "error" && v === "true") conditions.push("status = error");
    else if (/^-?\d+(\.\d+)?$/.test(v)) conditions.push(`(.${k} = ${v} || .${k} = ${quote(v)})`);
    else if (v === "true" || v === "false") conditions.push(`(.${k} = ${v} || .${k} = ${quote(v)})`);
    else conditions.push(`.${k} = ${quote(v)}`);
  }
  return { query: conditions.length ? `{ ${conditions.join(" && ")} }` : "{ }" };
}

/** One search result row, from Tempo's `TraceSearchMetadata`. */
export interface TraceRow {
  traceId: string;
  rootService: string;
  rootName: string;
  startNs: bigint;
  durationMs: number;
  spanCount: number;
  errorCount: number;
  services: { name: string; spans: number; errors: number }[];
  matched: number;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Json) : {});

export function parseSearch(doc: unknown): { rows: TraceRow[]; nextCursor: string; partial: string } {
  const root = obj(doc);
  const traces = Array.isArray(root.traces) ? root.traces : [];
  const rows = traces.map((raw): TraceRow => {
    const t = obj(raw);
    const stats = obj(t.serviceStats);
    const services = Object.keys(stats)
      .sort()
      .map((name) => ({
        name,
        spans: Number(obj(stats[name]).spanCount ?? 0),
        errors: Number(obj(stats[name]).errorCount ?? 0),
      }));
    const sets = Array.isArray(t.spanSets) ? t.spanSets : t.spanSet ? [t.spanSet] : [];
    return {
      traceId: String(t.traceID ?? ""),
      rootService: String(t.rootServiceName ?? ""),
      rootName: String(t.rootTraceName ?? ""),
      startNs: /^\d+$/.test(String(t.startTimeUnixNano)) ? BigInt(String(t.startTimeUnixNano)) : 0n,
      durationMs: Number(t.durationMs ?? 0),
      spanCount: services.reduce((n, s) => n + s.spans, 0),
      errorCount: services.reduce((n, s) => n + s.errors, 0),
      services,
      matched: sets.reduce((n: number, s) => n + Number(obj(s).matched ?? 0), 0),
    };
  });
  return { rows, nextCursor: String(root.nextCursor ?? ""), partial: String(root.partial ?? "") };
}

/** Sorts rows for display; the server already returns newest or longest first. */
export function sortRows(rows: TraceRow[], order: SortOrder): TraceRow[] {
  const key: Record<SortOrder, (r: TraceRow) => number | bigint> = {
    newest: (r) => r.startNs,
    longest: (r) => r.durationMs,
    spans: (r) => r.spanCount,
    errors: (r) => r.errorCount,
  };
  const k = key[order];
  return [...rows].sort((a, b) => {
    const x = k(a);
    const y = k(b);
    return x < y ? 1 : x > y ? -1 : a.traceId.localeCompare(b.traceId);
  });
}

/** Where a TraceQL error message points (`… at line 1, column 7: …`), both 1-based. */
export function errorPosition(message: string): { line: number; column: number } | null {
  const m = /line (\d+), column (\d+)/.exec(message);
  return m ? { line: Number(m[1]), column: Number(m[2]) } : null;
}
