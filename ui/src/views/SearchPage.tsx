import { useEffect, useMemo, useState } from "preact/hooks";
import * as api from "../lib/api";
import { serviceColor } from "../lib/colors";
import { formatAge, formatMillis, formatTimestamp, parseDuration } from "../lib/format";
import {
  buildTraceQL,
  errorPosition,
  formFromParams,
  formToParams,
  sortRows,
  type SearchForm,
  type SortOrder,
  type TraceRow,
} from "../lib/query";
import { navigate, onLinkClick } from "../router";
import { Scatter } from "./Scatter";

const LOOKBACKS: [string, string][] = [
  ["5m", "Last 5 minutes"],
  ["15m", "Last 15 minutes"],
  ["1h", "Last hour"],
  ["6h", "Last 6 hours"],
  ["24h", "Last 24 hours"],
  ["48h", "Last 2 days"],
  ["168h", "Last 7 days"],
  ["custom", "Custom range"],
];

type Results =
  | { state: "idle" }
  | { state: "loading" }
  | { state: "error"; message: string; query: string }
  | {
      state: "done";
      rows: TraceRow[];
      partial: string;
      query: string;
      at: number;
      window: { startSeconds: number; endSeconds: number };
    };

export function SearchPage({ params }: { params: URLSearchParams }) {
  const submitted = useMemo(() => formFromParams(params), [params.toString()]);
  const [form, setForm] = useState<SearchForm>(submitted);
  const [services, setServices] = useState<string[]>([]);
  const [operations, setOperations] = useState<string[]>([]);
  const [results, setResults] = useState<Results>({ state: "idle" });

  useEffect(() => setForm(submitted), [submitted]);

  useEffect(() => {
    const ctl = new AbortController();
    api.services(ctl.signal).then(setServices, () => setServices([]));
    return () => ctl.abort();
  }, []);

  useEffect(() => {
    setOperations([]);
    if (!form.service) return;
    const ctl = new AbortController();
    api.operations(form.service, ctl.signal).then(setOperations, () => setOperations([]));
    return () => ctl.abort();
  }, [form.service]);

  // The URL is the search: run it whenever the URL changes (and on first load).
  useEffect(() => {
    const built = buildTraceQL(submitted);
    if ("error" in built) {
      setResults({ state: "error", message: built.error, query: "" });
      return;
    }
    const range = timeRange(submitted);
    if ("error" in range) {
      setResults({ state: "error", message: range.error, query: built.query });
      return;
    }
    for (const [label, value] of [
      ["Min duration", submitted.minDuration],
      ["Max duration", submitted.maxDuration],
    ]) {
      if (value && parseDuration(value) === null) {
        setResults({ state: "error", message: `${label}: "${value}" is not a duration like 100ms or 1.5s`, query: "" });
        return;
      }
    }
    const ctl = new AbortController();
    setResults({ state: "loading" });
    api
      .search(
        {
          q: built.query,
          ...range,
          minDuration: submitted.minDuration,
          maxDuration: submitted.maxDuration,
          limit: Math.max(1, Math.min(1000, Number(submitted.limit) || 20)),
          order: submitted.sort === "longest" ? "longest" : "newest",
        },
        ctl.signal,
      )
      .then(
        (r) =>
          setResults({
            state: "done",
            rows: r.rows,
            partial: r.partial,
            query: built.query,
            at: Date.now(),
            window: range,
          }),
        (e: Error) => {
          if (e.name !== "AbortError") setResults({ state: "error", message: e.message, query: built.query });
        },
      );
    return () => ctl.abort();
  }, [submitted]);

  const set = (k: keyof SearchForm) => (e: Event) =>
    setForm({ ...form, [k]: (e.target as HTMLInputElement | HTMLSelectElement).value });
  const submit = (e: Event) => {
    e.preventDefault();
    const qs = formToParams(form).toString();
    navigate(`/search${qs ? `?${qs}` : ""}`);
  };
  const resort = (sort: SortOrder) => {
    const qs = formToParams({ ...submitted, sort }).toString();
    navigate(`/search${qs ? `?${qs}` : ""}`, true);
  };

  const rows = results.state === "done" ? sortRows(results.rows, submitted.sort) : [];
  return (
    <div class="search-page">
      <form class="search-form" onSubmit={submit} aria-label="Search traces">
        <label>
          Service
          <select name="service" value={form.service} onChange={(e) => setForm({ ...form, service: (e.target as HTMLSelectElement).value, operation: "" })}>
            <option value="">All services</option>
            {services.map((s) => (
              <option value={s}>{s}</option>
            ))}
            {form.service && !services.includes(form.service) && <option value={form.service}>{form.service}</option>}
          </select>
        </label>
        <label>
          Operation
          <select name="operation" value={form.operation} onChange={set("operation")}>
            <option value="">All operations</option>
            {operations.map((o) => (
              <option value={o}>{o}</option>
            ))}
            {form.operation && !operations.includes(form.operation) && (
              <option value={form.operation}>{form.operation}</option>
            )}
          </select>
        </label>
        <label>
          Tags
          <input name="tags" placeholder='http.status_code=500 error=true' value={form.tags} onInput={set("tags")} />
        </label>
        <div class="pair">
          <label>
            Min duration
            <input name="minDuration" placeholder="e.g. 100ms" value={form.minDuration} onInput={set("minDuration")} />
          </label>
          <label>
            Max duration
            <input name="maxDuration" placeholder="e.g. 1.5s" value={form.maxDuration} onInput={set("maxDuration")} />
          </label>
        </div>
        <label>
          Lookback
          <select name="lookback" value={form.lookback} onChange={set("lookback")}>
            {LOOKBACKS.map(([v, label]) => (
              <option value={v}>{label}</option>
            ))}
          </select>
        </label>
        {form.lookback === "custom" && (
          <div class="pair">
            <label>
              From
              <input type="datetime-local" step="1" name="start" value={form.start} onInput={set("start")} />
            </label>
            <label>
              To
              <input type="datetime-local" step="1" name="end" value={form.end} onInput={set("end")} />
            </label>
          </div>
        )}
        <label>
          Limit
          <input name="limit" type="number" min="1" max="1000" value={form.limit} onInput={set("limit")} />
        </label>
        <label>
          TraceQL
          <textarea
            name="traceql"
            rows={3}
            spellcheck={false}
            placeholder='{ resource.service.name = "api" && duration > 200ms }'
            value={form.traceql}
            onInput={set("traceql")}
          />
        </label>
        <button type="submit">Find traces</button>
      </form>
      <section class="results" aria-live="polite">
        <ResultsView results={results} rows={rows} sort={submitted.sort} onSort={resort} />
      </section>
    </div>
  );
}

/** The submitted time range in Unix seconds, or why it is invalid. */
function timeRange(form: SearchForm): { startSeconds: number; endSeconds: number } | { error: string } {
  if (form.lookback === "custom") {
    const start = Date.parse(form.start);
    const end = form.end ? Date.parse(form.end) : Date.now();
    if (Number.isNaN(start) || Number.isNaN(end)) return { error: "Custom range: give a start (and optionally an end) time" };
    if (end < start) return { error: "Custom range: the end is before the start" };
    return { startSeconds: Math.floor(start / 1000), endSeconds: Math.ceil(end / 1000) };
  }
  const ns = parseDuration(form.lookback) ?? 3600e9;
  const end = Date.now();
  return { startSeconds: Math.floor((end - ns / 1e6) / 1000), endSeconds: Math.ceil(end / 1000) };
}

function ResultsView({
  results,
  rows,
  sort,
  onSort,
}: {
  results: Results;
  rows: TraceRow[];
  sort: SortOrder;
  onSort: (s: SortOrder) => void;
}) {
  if (results.state === "idle" || results.state === "loading") return <p class="notice">Searching…</p>;
  if (results.state === "error") return <QueryError message={results.message} query={results.query} />;
  const now = results.at;
  return (
    <>
      <Scatter rows={rows} window={results.window} onPick={(id) => navigate(`/trace/${id}`)} />
      <div class="results-bar">
        <span class="count">
          {rows.length} trace{rows.length === 1 ? "" : "s"}
        </span>
        {results.partial && <span class="warning">Partial: {results.partial}</span>}
        <label>
          Sort
          <select name="sort" value={sort} onChange={(e) => onSort((e.target as HTMLSelectElement).value as SortOrder)}>
            <option value="newest">Most recent</option>
            <option value="longest">Longest first</option>
            <option value="spans">Most spans</option>
            <option value="errors">Most errors</option>
          </select>
        </label>
      </div>
      {rows.length === 0 ? (
        <p class="notice">No traces match. Widen the time range or remove a filter.</p>
      ) : (
        <ol class="trace-list">
          {rows.map((r) => (
            <li class="trace-row" data-trace-id={r.traceId}>
              <a href={`/trace/${r.traceId}`} onClick={(e) => onLinkClick(e, `/trace/${r.traceId}`)}>
                <div class="title">
                  <span class="root">
                    {r.rootService || "(root not received)"}: {r.rootName}
                  </span>
                  <span class="duration">{formatMillis(r.durationMs)}</span>
                </div>
                <div class="meta">
                  <span>{plural(r.spanCount, "span")}</span>
                  {r.errorCount > 0 && <span class="errors">{plural(r.errorCount, "error")}</span>}
                  <span class="services">
                    {r.services.map((s) => (
                      <span class="service-tag" style={{ borderColor: serviceColor(s.name) }}>
                        {s.name} ({s.spans})
                      </span>
                    ))}
                  </span>
                  <span class="when" title={formatTimestamp(r.startNs)}>
                    {formatTimestamp(r.startNs)} · {formatAge(r.startNs, now)}
                  </span>
                  <span class="trace-id">{r.traceId.slice(0, 8)}</span>
                </div>
              </a>
            </li>
          ))}
        </ol>
      )}
    </>
  );
}

/** A query error with a caret under the column it names, when it names one. */
function QueryError({ message, query }: { message: string; query: string }) {
  const pos = errorPosition(message);
  const line = pos ? query.split("\n")[pos.line - 1] : undefined;
  return (
    <div class="query-error" role="alert">
      <strong>Search failed</strong>
      <p>{message}</p>
      {pos && line !== undefined && (
        <pre class="caret">
          {line}
          {"\n"}
          {" ".repeat(Math.max(0, pos.column - 1))}^
        </pre>
      )}
    </div>
  );
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}
