import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import * as api from "../lib/api";
import { criticalPath, sectionsBySpan, sectionsTime, type Section } from "../lib/critical";
import { serviceColor } from "../lib/colors";
import { formatDuration, formatTimestamp } from "../lib/format";
import { barGeometry, labelStyle, ticks, timeOffset } from "../lib/layout";
import {
  attrText,
  buildTree,
  matchSpans,
  traceStats,
  visibleRows,
  warningsBySpan,
  type Attribute,
  type Span,
  type SpanNode,
  type Trace,
} from "../lib/trace";
import { onLinkClick } from "../router";

type Loaded = { state: "loading" } | { state: "error"; message: string; status: number } | { state: "done"; trace: Trace };

export function TracePage({ id }: { id: string }) {
  const [loaded, setLoaded] = useState<Loaded>({ state: "loading" });
  useEffect(() => {
    const ctl = new AbortController();
    api.trace(id, ctl.signal).then(
      (trace) => setLoaded({ state: "done", trace }),
      (e: api.ApiError) => {
        if (e.name !== "AbortError") setLoaded({ state: "error", message: e.message, status: e.status });
      },
    );
    return () => ctl.abort();
  }, [id]);
  if (loaded.state === "loading") return <p class="notice">Loading trace {id}…</p>;
  if (loaded.state === "error") {
    return (
      <div class="query-error" role="alert">
        <strong>{loaded.status === 404 ? `Trace ${id} not found` : "Could not load the trace"}</strong>
        <p>{loaded.message}</p>
      </div>
    );
  }
  return <TraceView trace={loaded.trace} />;
}

const ROW_HEIGHT = 26;

function TraceView({ trace }: { trace: Trace }) {
  const tree = useMemo(() => buildTree(trace.spans), [trace]);
  const stats = useMemo(() => traceStats(trace, tree), [trace, tree]);
  const [collapsed, setCollapsed] = useState<Set<string>>(new Set());
  const [selected, setSelected] = useState<string | null>(null);
  const [find, setFind] = useState("");
  const matches = useMemo(() => matchSpans(trace, find), [trace, find]);
  const rows = useMemo(() => visibleRows(tree, collapsed), [tree, collapsed]);
  const allRows = useMemo(() => visibleRows(tree, new Set()), [tree]);
  const warned = useMemo(() => warningsBySpan(trace), [trace]);
  const [showCritical, setShowCritical] = useState(true);
  const critical = useMemo(() => sectionsBySpan(criticalPath(tree)), [tree]);
  const total = Math.max(1, Number(trace.endNs - trace.startNs));
  const scroller = useRef<HTMLDivElement>(null);

  const toggle = (spanId: string) => {
    const next = new Set(collapsed);
    if (next.has(spanId)) next.delete(spanId);
    else next.add(spanId);
    setCollapsed(next);
  };
  const selectedSpan = selected ? tree.byId.get(selected)?.span : undefined;
  const scrollTo = (spanId: string) => {
    const i = rows.findIndex((r) => r.span.spanId === spanId);
    if (i >= 0 && scroller.current) scroller.current.scrollTop = Math.max(0, i * ROW_HEIGHT - 100);
  };
  const firstMatch = () => {
    const first = rows.find((r) => matches.has(r.span.spanId));
    if (first) {
      setSelected(first.span.spanId);
      scrollTo(first.span.spanId);
    }
  };

  return (
    <div class="trace-page">
      <header class="trace-header">
        <h1>
          <span class="swatch" style={{ background: serviceColor(stats.rootService) }} />
          {stats.rootService}: {stats.rootName}
          <span class="trace-id">{trace.traceId}</span>
        </h1>
        <dl class="stats">
          <dt>Start</dt>
          <dd>{formatTimestamp(stats.startNs)}</dd>
          <dt>Duration</dt>
          <dd>{formatDuration(stats.durationNs)}</dd>
          <dt>Services</dt>
          <dd>{stats.services.length}</dd>
          <dt>Depth</dt>
          <dd>{stats.depth}</dd>
          <dt>Spans</dt>
          <dd>{stats.spanCount}</dd>
          <dt>Errors</dt>
          <dd class={stats.errorCount ? "errors" : ""}>{stats.errorCount}</dd>
        </dl>
        <form
          class="find"
          onSubmit={(e) => {
            e.preventDefault();
            firstMatch();
          }}
        >
          <input
            name="find"
            placeholder="Find in trace…"
            aria-label="Find spans in this trace"
            value={find}
            onInput={(e) => setFind((e.target as HTMLInputElement).value)}
          />
          {find.trim() && (
            <span class="match-count">
              {matches.size} match{matches.size === 1 ? "" : "es"}
            </span>
          )}
          <label class="critical-toggle" title="The spans' parts that, one after another, make up the root's duration">
            <input
              type="checkbox"
              name="critical"
              checked={showCritical}
              onChange={(e) => setShowCritical((e.target as HTMLInputElement).checked)}
            />
            Critical path
          </label>
        </form>
      </header>
      {trace.warnings.length > 0 && (
        <details class="warnings">
          <summary>
            ⚠ {trace.warnings.length} warning{trace.warnings.length === 1 ? "" : "s"} (clock skew adjusted, missing
            parents)
          </summary>
          <ul>
            {trace.warnings.map((w) => (
              <li>{w}</li>
            ))}
          </ul>
        </details>
      )}
      <Minimap
        trace={trace}
        rows={allRows}
        total={total}
        onJump={(fraction) => {
          if (scroller.current) scroller.current.scrollTop = Math.floor(fraction * rows.length) * ROW_HEIGHT;
        }}
      />
      <div class={`trace-body${selectedSpan ? " with-details" : ""}`}>
        <Waterfall
          rows={rows}
          trace={trace}
          total={total}
          collapsed={collapsed}
          matches={matches}
          warned={warned}
          critical={showCritical ? critical : undefined}
          selected={selected}
          scroller={scroller}
          onToggle={toggle}
          onSelect={(id) => setSelected(id === selected ? null : id)}
        />
        {selectedSpan && (
          <SpanDetails
            span={selectedSpan}
            trace={trace}
            warnings={warned.get(selectedSpan.spanId) ?? []}
            criticalNs={sectionsTime(critical.get(selectedSpan.spanId) ?? [])}
            onClose={() => setSelected(null)}
          />
        )}
      </div>
    </div>
  );
}

/**
 * Every span of the trace (collapsed or not) as a thin bar: where the time goes at a
 * glance. A click scrolls the waterfall to the same height.
 */
function Minimap({
  trace,
  rows,
  total,
  onJump,
}: {
  trace: Trace;
  rows: SpanNode[];
  total: number;
  onJump: (fraction: number) => void;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = canvas.current;
    const ctx = c?.getContext("2d");
    if (!c || !ctx) return;
    const width = (c.width = c.clientWidth * devicePixelRatio);
    const height = (c.height = 48 * devicePixelRatio);
    ctx.clearRect(0, 0, width, height);
    const h = Math.max(1, height / Math.max(1, rows.length));
    rows.forEach((r, i) => {
      const x = (Number(r.span.startNs - trace.startNs) / total) * width;
      const w = Math.max(1, (r.span.durationNs / total) * width);
      ctx.fillStyle = r.span.status.code === "error" ? "#d62728" : serviceColor(r.span.service);
      ctx.fillRect(x, i * h, w, Math.max(1, h - (h > 3 ? 1 : 0)));
    });
  }, [trace, rows, total]);
  return (
    <canvas
      class="minimap"
      ref={canvas}
      aria-label="Trace minimap"
      onClick={(e) => {
        const rect = (e.target as HTMLCanvasElement).getBoundingClientRect();
        onJump((e.clientY - rect.top) / rect.height);
      }}
    />
  );
}

function Waterfall(props: {
  rows: SpanNode[];
  trace: Trace;
  total: number;
  collapsed: Set<string>;
  matches: Set<string>;
  warned: Map<string, string[]>;
  critical?: Map<string, Section[]>;
  selected: string | null;
  scroller: { current: HTMLDivElement | null };
  onToggle: (id: string) => void;
  onSelect: (id: string) => void;
}) {
  const { rows, trace, total, scroller } = props;
  const [view, setView] = useState({ top: 0, height: 800 });
  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const update = () => setView({ top: el.scrollTop, height: el.clientHeight });
    update();
    el.addEventListener("scroll", update, { passive: true });
    addEventListener("resize", update);
    return () => {
      el.removeEventListener("scroll", update);
      removeEventListener("resize", update);
    };
  }, []);
  // Virtualised: only the rows in view (and a margin) are in the DOM, so 10,000 spans scroll
  // as smoothly as 10.
  const first = Math.max(0, Math.floor(view.top / ROW_HEIGHT) - 20);
  const last = Math.min(rows.length, Math.ceil((view.top + view.height) / ROW_HEIGHT) + 20);

  return (
    <div class="waterfall">
      <div class="ruler">
        <div class="ruler-label">Service &amp; operation</div>
        <div class="ruler-track">
          {ticks(total).map((t) => (
            <span class="tick" style={{ left: `${t.fraction * 100}%` }}>
              {formatDuration(t.offsetNs)}
            </span>
          ))}
        </div>
      </div>
      <div class="rows" ref={scroller} role="tree" aria-label="Spans">
        <div style={{ height: `${rows.length * ROW_HEIGHT}px`, position: "relative" }}>
          {rows.slice(first, last).map((node, k) => {
            const s = node.span;
            const i = first + k;
            const { left, width } = barGeometry(s.startNs, s.durationNs, trace.startNs, total);
            const isCollapsed = props.collapsed.has(s.spanId);
            const classes = [
              "span-row",
              s.status.code === "error" ? "error" : "",
              props.matches.has(s.spanId) ? "match" : "",
              props.selected === s.spanId ? "selected" : "",
            ].join(" ");
            return (
              <div
                class={classes}
                role="treeitem"
                aria-expanded={node.children.length ? !isCollapsed : undefined}
                aria-selected={props.selected === s.spanId}
                data-span-id={s.spanId}
                style={{ top: `${i * ROW_HEIGHT}px`, height: `${ROW_HEIGHT}px` }}
                onClick={() => props.onSelect(s.spanId)}
              >
                <div class="label" style={{ paddingLeft: `${6 + node.depth * 14}px` }}>
                  {node.children.length > 0 ? (
                    <button
                      class="toggle"
                      aria-label={isCollapsed ? "Expand" : "Collapse"}
                      onClick={(e) => {
                        e.stopPropagation();
                        props.onToggle(s.spanId);
                      }}
                    >
                      {isCollapsed ? "▸" : "▾"}
                      {isCollapsed && <span class="hidden-count">{node.size - 1}</span>}
                      {isCollapsed && node.errorBelow && s.status.code !== "error" && (
                        <span class="error-below" title="Errors in the collapsed spans" />
                      )}
                    </button>
                  ) : (
                    <span class="toggle-space" />
                  )}
                  <span class="swatch" style={{ background: serviceColor(s.service) }} />
                  {s.status.code === "error" && <span class="error-mark" title="Error status">!</span>}
                  {node.orphan && <span class="orphan-mark" title="Its parent span is not in this trace">⤴</span>}
                  {props.warned.has(s.spanId) && (
                    <span class="warning-mark" title={props.warned.get(s.spanId)?.join("\n")}>
                      ⚠
                    </span>
                  )}
                  <span class="service">{s.service}</span>
                  <span class="name">{s.name}</span>
                </div>
                <div class="track">
                  <div
                    class="bar"
                    style={{ left: `${left}%`, width: `${width}%`, background: s.status.code === "error" ? "#d62728" : serviceColor(s.service) }}
                  />
                  {props.critical?.get(s.spanId)?.map((c) => {
                    const g = barGeometry(c.startNs, Number(c.endNs - c.startNs), trace.startNs, total);
                    return <div class="critical" style={{ left: `${g.left}%`, width: `${g.width}%` }} />;
                  })}
                  {s.events.map((e) => (
                    <span
                      class="event-mark"
                      title={`${e.name} at +${formatDuration(Number(e.timeNs - s.startNs))}`}
                      style={{ left: `${timeOffset(e.timeNs, trace.startNs, total)}%` }}
                    />
                  ))}
                  <span class="bar-label" style={labelStyle(left, width)}>
                    {formatDuration(s.durationNs)}
                  </span>
                </div>
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}

function SpanDetails({
  span,
  trace,
  warnings,
  criticalNs,
  onClose,
}: {
  span: Span;
  trace: Trace;
  warnings: string[];
  /** Time of this span on the trace's critical path. */
  criticalNs: number;
  onClose: () => void;
}) {
  const offset = Number(span.startNs - trace.startNs);
  return (
    <aside class="span-details" aria-label="Span details">
      <header>
        <h2>
          {span.service}: {span.name}
        </h2>
        <button class="close" aria-label="Close details" onClick={onClose}>
          ×
        </button>
      </header>
      <dl class="stats">
        <dt>Duration</dt>
        <dd>{formatDuration(span.durationNs)}</dd>
        <dt>Start</dt>
        <dd>+{formatDuration(offset)}</dd>
        <dt>Critical path</dt>
        <dd>{formatDuration(criticalNs)}</dd>
        <dt>Kind</dt>
        <dd>{span.kind}</dd>
        <dt>Status</dt>
        <dd class={span.status.code === "error" ? "errors" : ""}>
          {span.status.code}
          {span.status.message && `: ${span.status.message}`}
        </dd>
        <dt>Span ID</dt>
        <dd class="mono">{span.spanId}</dd>
        {span.scope.name && (
          <>
            <dt>Scope</dt>
            <dd>
              {span.scope.name}
              {span.scope.version && ` ${span.scope.version}`}
            </dd>
          </>
        )}
      </dl>
      {warnings.length > 0 && (
        <ul class="span-warnings">
          {warnings.map((w) => (
            <li>⚠ {w}</li>
          ))}
        </ul>
      )}
      <AttributeTable title="Span attributes" attrs={span.attributes} />
      <AttributeTable title="Resource" attrs={span.resource} />
      <AttributeTable title="Scope attributes" attrs={span.scope.attributes} />
      {span.events.length > 0 && (
        <section>
          <h3>Events ({span.events.length})</h3>
          <ol class="events">
            {span.events.map((e) => (
              <li>
                <span class="mono">+{formatDuration(Number(e.timeNs - span.startNs))}</span> {e.name}
                {e.attributes.length > 0 && <AttributeTable attrs={e.attributes} />}
              </li>
            ))}
          </ol>
        </section>
      )}
      {span.links.length > 0 && (
        <section>
          <h3>Links ({span.links.length})</h3>
          <ul class="links">
            {span.links.map((l) => (
              <li>
                <a href={`/trace/${l.traceId}`} onClick={(e) => onLinkClick(e, `/trace/${l.traceId}`)}>
                  {l.traceId === trace.traceId ? "this trace" : `trace ${l.traceId.slice(0, 8)}`}, span {l.spanId}
                </a>
              </li>
            ))}
          </ul>
        </section>
      )}
    </aside>
  );
}

function AttributeTable({ title, attrs }: { title?: string; attrs: Attribute[] }) {
  if (attrs.length === 0) return null;
  return (
    <section>
      {title && <h3>{title}</h3>}
      <table class="attributes">
        <tbody>
          {attrs.map((a) => (
            <tr>
              <th>{a.key}</th>
              <td>{attrText(a.value)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
