// Browser tests of Clew's web UI: the real binary on ephemeral ports, traces sent by the
// real OpenTelemetry JS SDK over OTLP/HTTP, and Debian's Chromium driven by playwright-core.
// Screenshots are kept under target/ui-artifacts/.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { SpanKind, SpanStatusCode, context, trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { chromium } from "playwright-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(root, "target");
const CLEW_BIN = process.env.CLEW_BIN ?? path.join(targetDir, "debug/clew");
const ARTIFACTS = path.join(root, "target/ui-artifacts");
// Every listener Clew opens (shared with the integration tests), all moved to 127.0.0.1:0.
const LISTEN_KEYS = JSON.parse(readFileSync(path.join(root, "tests/listen-keys.json"), "utf8")).keys;
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  // Any host but Clew's loopback address resolves to nothing: a stray request fails loudly.
  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
];

/** Polls `fn` until it returns a truthy value; fails after `timeoutMs`. */
async function waitFor(fn, what, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let clew;
let dataDir;
let base;
let addrs;
let browser;
let checkout; // the trace id of the known topology
let big; // the trace id of the 10,000-span trace
let orphan; // a trace whose root's parent is missing

function startClew() {
  dataDir = mkdtempSync(path.join(tmpdir(), "clew-ui-"));
  const ready = path.join(dataDir, "ready.json");
  const args = ["all-in-one", "--ready-file", ready, "--set", `data_dir=${path.join(dataDir, "data")}`];
  for (const key of LISTEN_KEYS) args.push("--set", `${key}=127.0.0.1:0`);
  const proc = spawn(CLEW_BIN, args, { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  proc.stdout.on("data", (d) => (log += d));
  proc.stderr.on("data", (d) => (log += d));
  proc.on("exit", (code) => {
    if (code !== null && code !== 0) console.error(`clew exited with ${code}:\n${log}`);
  });
  return { proc, ready, log: () => log };
}

/** One tracer per service, as each service would have its own SDK. */
function providers(endpoint, services) {
  const out = {};
  for (const name of services) {
    out[name] = new BasicTracerProvider({
      resource: resourceFromAttributes({ "service.name": name, "service.version": "1.2.3" }),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: endpoint }), { maxExportBatchSize: 1000, maxQueueSize: 20_000 })],
    });
  }
  return out;
}

/**
 * Returns the root's trace and span ids.
 *
 * frontend GET /checkout
 * ├─ frontend POST /api/orders (client)
 * │  └─ orders POST /api/orders (server)
 * │     ├─ orders INSERT orders (client, error, event "retry")
 * │     └─ payments charge (server)
 * └─ frontend render
 */
async function sendCheckout(endpoint) {
  const p = providers(endpoint, ["frontend", "orders", "payments"]);
  const tracer = (s) => p[s].getTracer("clew-ui-test");
  const under = (span) => trace.setSpan(context.active(), span);
  const t0 = Date.now() - 2_000;
  const at = (ms) => new Date(t0 + ms);
  const root = tracer("frontend").startSpan("GET /checkout", { kind: SpanKind.SERVER, startTime: at(0), attributes: { "http.route": "/checkout" } });
  const call = tracer("frontend").startSpan("POST /api/orders", { kind: SpanKind.CLIENT, startTime: at(10) }, under(root));
  const handle = tracer("orders").startSpan("POST /api/orders", { kind: SpanKind.SERVER, startTime: at(12) }, under(call));
  const insert = tracer("orders").startSpan(
    "INSERT orders",
    { kind: SpanKind.CLIENT, startTime: at(15), attributes: { "db.system": "postgresql", "db.statement": "INSERT INTO orders VALUES ($1)" } },
    under(handle),
  );
  insert.addEvent("retry", { attempt: 2 }, at(20));
  insert.setStatus({ code: SpanStatusCode.ERROR, message: "deadlock detected" });
  insert.end(at(40));
  const charge = tracer("payments").startSpan("charge", { kind: SpanKind.SERVER, startTime: at(45), attributes: { "payment.amount": 42.5 } }, under(handle));
  charge.end(at(80));
  handle.end(at(90));
  call.end(at(92));
  const render = tracer("frontend").startSpan("render", { startTime: at(95) }, under(root));
  render.end(at(120));
  root.end(at(125));
  for (const provider of Object.values(p)) await provider.shutdown();
  const { traceId, spanId } = root.spanContext();
  return { traceId, spanId };
}

/**
 * A trace whose only span names a parent that never arrives (Clew warns about it) and links
 * to the checkout trace's root.
 */
async function sendOrphan(endpoint, linked) {
  const p = providers(endpoint, ["worker"]);
  const remote = trace.setSpanContext(context.active(), {
    traceId: "5b8efff798038103d269b633813fc60c",
    spanId: "00000000000000ff",
    traceFlags: 1,
    isRemote: true,
  });
  const span = p.worker
    .getTracer("clew-ui-test")
    .startSpan("consume", { kind: SpanKind.CONSUMER, links: [{ context: { ...linked, traceFlags: 1 } }] }, remote);
  span.end();
  await p.worker.shutdown();
  return span.spanContext().traceId;
}

/** A trace of 10,000 spans: a root with 99 children of 100 children each. */
async function sendBig(endpoint) {
  const p = providers(endpoint, ["bulk"]);
  const tracer = p.bulk.getTracer("clew-ui-test");
  const t0 = Date.now() - 60_000;
  const root = tracer.startSpan("batch job", { startTime: new Date(t0) });
  for (let i = 0; i < 99; i++) {
    const step = tracer.startSpan(`step ${i}`, { startTime: new Date(t0 + i * 10) }, trace.setSpan(context.active(), root));
    for (let j = 0; j < 100; j++) {
      tracer.startSpan(`item ${i}.${j}`, { startTime: new Date(t0 + i * 10 + j / 10) }, trace.setSpan(context.active(), step)).end(new Date(t0 + i * 10 + 1 + j / 10));
    }
    step.end(new Date(t0 + i * 10 + 9));
  }
  root.end(new Date(t0 + 1_000));
  await p.bulk.shutdown();
  return root.spanContext().traceId;
}

async function spansOf(id) {
  const res = await fetch(`${base}/api/v3/traces/${id}`);
  if (!res.ok) return 0;
  const body = await res.json();
  return body.result.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)).length;
}

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  clew = startClew();
  await waitFor(async () => existsSync(clew.ready) && statSync(clew.ready).size > 0, "clew to be ready");
  addrs = JSON.parse(readFileSync(clew.ready, "utf8"));
  base = `http://${addrs.query}`;
  const endpoint = `http://${addrs.otlp_http}/v1/traces`;
  const checkoutRoot = await sendCheckout(endpoint);
  checkout = checkoutRoot.traceId;
  big = await sendBig(endpoint);
  orphan = await sendOrphan(endpoint, checkoutRoot);
  await waitFor(async () => (await spansOf(checkout)) === 6, "the checkout trace");
  await waitFor(async () => (await spansOf(orphan)) === 1, "the orphan trace");
  await waitFor(async () => (await spansOf(big)) === 10_000, "the 10,000-span trace", 60_000);
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  clew?.proc.kill("SIGTERM");
  await new Promise((r) => (clew?.proc.exitCode !== null ? r() : clew.proc.on("exit", r)));
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** A page that fails the test on any script error or any request to another host. */
async function newPage() {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("request", (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith("data:")) problems.push(`request to another host: ${r.url()}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`${r.status()} for ${r.url()}`);
  });
  return { page, problems };
}

test("search finds the trace, shows its summary and a scatter point, and the URL holds the query", async () => {
  const { page, problems } = await newPage();
  await page.goto(`${base}/search`);
  await page.selectOption("select[name=service]", "frontend");
  await page.click("button[type=submit]");
  const row = page.locator(`.trace-row[data-trace-id="${checkout}"]`);
  await row.waitFor();
  const text = await row.innerText();
  assert.match(text, /frontend: GET \/checkout/);
  assert.match(text, /6 spans/);
  assert.match(text, /1 error\b/);
  assert.match(text, /orders \(2\)/);
  assert.equal(await page.locator(".trace-row").count(), 1, "only the frontend's trace");
  assert.ok(await page.locator(".scatter canvas").count(), "the scatter plot is drawn");
  assert.match(page.url(), /\/search\?service=frontend$/);
  await page.screenshot({ path: path.join(ARTIFACTS, "search.png") });

  // The shared URL reproduces the search on a fresh load.
  await page.goto(`${base}/search?service=payments&sort=errors`);
  await page.locator(`.trace-row[data-trace-id="${checkout}"]`).waitFor();
  assert.equal(await page.locator("select[name=service]").inputValue(), "payments");
  assert.equal(await page.locator("select[name=sort]").inputValue(), "errors");

  // A point of the scatter plot opens its trace (one trace: any point of the plot is it).
  const over = page.locator(".scatter .u-over");
  const box = await over.boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  await page.waitForURL(`${base}/trace/${checkout}`);
  assert.deepEqual(problems, []);
  await page.close();
});

test("a TraceQL syntax error is shown with a caret under its column", async () => {
  const { page } = await newPage();
  await page.goto(`${base}/search?traceql=${encodeURIComponent("{ .a = }")}`);
  const error = page.locator(".query-error");
  await error.waitFor();
  assert.match(await error.innerText(), /line 1, column 8/);
  assert.equal(await error.locator(".caret").innerText(), "{ .a = }\n       ^");
  await page.screenshot({ path: path.join(ARTIFACTS, "traceql-error.png") });
  await page.close();
});

test("the trace page shows the tree, collapses, finds spans and details a span", async () => {
  const { page, problems } = await newPage();
  await page.goto(`${base}/search?service=frontend`);
  await page.locator(`.trace-row[data-trace-id="${checkout}"] a`).click();
  await page.waitForURL(`${base}/trace/${checkout}`);
  await page.locator(".span-row").first().waitFor();
  const header = await page.locator(".trace-header").innerText();
  assert.match(header, /frontend: GET \/checkout/);
  assert.match(header, /Services\s*3/);
  assert.match(header, /Depth\s*4/);
  assert.match(header, /Spans\s*6/);
  assert.match(header, /Errors\s*1/);
  const names = await page.locator(".span-row .name").allInnerTexts();
  assert.deepEqual(names, ["GET /checkout", "POST /api/orders", "POST /api/orders", "INSERT orders", "charge", "render"]);
  assert.equal(await page.locator(".span-row.error").count(), 1);

  // The critical path: every span of this sequential trace is on it, in 11 sections (the
  // root 3, the client call 2, the orders handler 3, insert, charge and render 1 each).
  assert.equal(await page.locator(".span-row .critical").count(), 11);
  assert.equal(await page.locator(".span-row", { hasText: "render" }).locator(".critical").count(), 1);
  await page.locator("input[name=critical]").uncheck();
  assert.equal(await page.locator(".span-row .critical").count(), 0);
  await page.locator("input[name=critical]").check();
  assert.equal(await page.locator(".span-row.error .name").innerText(), "INSERT orders");

  // Collapse the client call: its subtree (3 spans) disappears, and comes back.
  const call = page.locator(".span-row").nth(1);
  await call.locator("button.toggle").click();
  assert.equal(await page.locator(".span-row").count(), 3);
  assert.match(await call.locator(".hidden-count").innerText(), /3/);
  assert.equal(await call.locator(".error-below").count(), 1, "the hidden error shows on the collapsed row");
  await call.locator("button.toggle").click();
  assert.equal(await page.locator(".span-row").count(), 6);

  // The insert's "retry" event is marked on its bar.
  assert.equal(await page.locator(".span-row", { hasText: "INSERT orders" }).locator(".event-mark").count(), 1);
  assert.equal(await page.locator(".warnings").count(), 0, "a whole trace has nothing to warn about");

  // Find in the trace highlights matches.
  await page.fill("input[name=find]", "postgres");
  assert.equal(await page.locator(".span-row.match").count(), 1);
  assert.match(await page.locator(".match-count").innerText(), /1 match/);
  await page.fill("input[name=find]", "");

  // Details of the failed insert: attributes, resource, status, event.
  await page.locator(".span-row", { hasText: "INSERT orders" }).click();
  const details = page.locator(".span-details");
  await details.waitFor();
  const d = await details.innerText();
  assert.match(d, /orders: INSERT orders/);
  assert.match(d, /error: deadlock detected/);
  assert.match(d, /Critical path\s+25\.0ms/, "the whole insert is on the critical path");
  assert.match(d, /db\.system\s+postgresql/);
  assert.match(d, /service\.version\s+1\.2\.3/);
  assert.match(d, /Events \(1\)/i);
  assert.match(d, /Scope\s+clew-ui-test/);
  assert.match(d, /retry/);
  assert.match(d, /attempt\s+2/);
  await page.screenshot({ path: path.join(ARTIFACTS, "trace.png") });
  assert.deepEqual(problems, []);
  await page.close();
});

test("/trace/{id} deep links work on reload, and the header box looks ids up", async () => {
  const { page, problems } = await newPage();
  await page.goto(`${base}/trace/${checkout}`);
  await page.locator(".span-row").first().waitFor();
  await page.reload();
  await page.locator(".span-row").first().waitFor();
  assert.equal(await page.locator(".span-row").count(), 6);

  await page.goto(`${base}/search`);
  await page.fill("input[name=trace-id]", checkout.toUpperCase());
  await page.press("input[name=trace-id]", "Enter");
  await page.waitForURL(`${base}/trace/${checkout}`);
  await page.locator(".span-row").first().waitFor();
  assert.deepEqual(problems, []);

  // An unknown id says so rather than showing an empty page.
  await page.goto(`${base}/trace/${"f".repeat(32)}`);
  await page.locator(".query-error").waitFor();
  assert.match(await page.locator(".query-error").innerText(), /not found/);
  await page.close();
});

test("a trace of 10,000 spans renders only the rows in view and scrolls to the end", async () => {
  const { page, problems } = await newPage();
  await page.goto(`${base}/trace/${big}`);
  await page.locator(".span-row").first().waitFor();
  assert.match(await page.locator(".trace-header").innerText(), /Spans\s*10000/);
  const inDom = await page.locator(".span-row").count();
  assert.ok(inDom > 10 && inDom < 200, `${inDom} rows in the DOM`);
  await page.locator(".rows").evaluate((el) => (el.scrollTop = el.scrollHeight));
  await page.locator(".span-row", { hasText: "item 98.99" }).waitFor();
  // Collapsing the root hides everything else at once.
  await page.locator(".rows").evaluate((el) => (el.scrollTop = 0));
  await page.locator(".span-row").first().locator("button.toggle").click();
  assert.equal(await page.locator(".span-row").count(), 1);
  await page.screenshot({ path: path.join(ARTIFACTS, "big-trace.png") });
  assert.deepEqual(problems, []);
  await page.close();
});

test("a span whose parent is missing is marked, and the trace's warnings are listed", async () => {
  const { page, problems } = await newPage();
  await page.goto(`${base}/trace/${orphan}`);
  const row = page.locator(".span-row").first();
  await row.waitFor();
  assert.equal(await row.locator(".orphan-mark").count(), 1);
  assert.equal(await row.locator(".warning-mark").count(), 1);
  const warnings = page.locator(".warnings");
  assert.match(await warnings.innerText(), /1 warning/);
  await warnings.locator("summary").click();
  assert.match(await warnings.innerText(), /has parent 00000000000000ff that is not in the trace/);
  await row.click();
  assert.match(await page.locator(".span-details").innerText(), /not in the trace/);
  await page.screenshot({ path: path.join(ARTIFACTS, "orphan.png") });
  // Its link leads to the linked trace.
  await page.locator(".span-details .links a").click();
  await page.waitForURL(`${base}/trace/${checkout}`);
  await page.locator(".span-row").first().waitFor();
  assert.deepEqual(problems, []);
  await page.close();
});
