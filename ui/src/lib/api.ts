// Calls to Clew's own HTTP APIs (same origin: the binary serves the UI and the APIs).

import { parseSearch, type TraceRow } from "./query";
import { parseTrace, type Trace } from "./trace";

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

async function getJson(path: string, signal?: AbortSignal): Promise<unknown> {
  const res = await fetch(path, { signal, headers: { Accept: "application/json" } });
  const text = await res.text();
  if (!res.ok) {
    // Jaeger v3 and Tempo answer errors as JSON or plain text; show what the server said.
    let message = text.trim();
    try {
      const body = JSON.parse(text) as { error?: { message?: string } | string; message?: string };
      message = (typeof body.error === "object" ? body.error?.message : body.error) ?? body.message ?? message;
    } catch {
      // plain text
    }
    throw new ApiError(message || `${res.status} ${res.statusText}`, res.status);
  }
  return JSON.parse(text);
}

export async function services(signal?: AbortSignal): Promise<string[]> {
  const body = (await getJson("/api/v3/services", signal)) as { services?: string[] };
  return [...(body.services ?? [])].sort();
}

export async function operations(service: string, signal?: AbortSignal): Promise<string[]> {
  const body = (await getJson(`/api/v3/operations?service=${encodeURIComponent(service)}`, signal)) as {
    operations?: { name: string }[];
  };
  return [...new Set((body.operations ?? []).map((o) => o.name))].sort();
}

export interface SearchParams {
  q: string;
  startSeconds?: number;
  endSeconds?: number;
  minDuration?: string;
  maxDuration?: string;
  limit: number;
  order: "newest" | "longest";
}

export async function search(
  p: SearchParams,
  signal?: AbortSignal,
): Promise<{ rows: TraceRow[]; nextCursor: string; partial: string }> {
  const qs = new URLSearchParams({ q: p.q, limit: String(p.limit), spss: "3", order: p.order });
  if (p.startSeconds !== undefined) qs.set("start", String(p.startSeconds));
  if (p.endSeconds !== undefined) qs.set("end", String(p.endSeconds));
  if (p.minDuration) qs.set("minDuration", p.minDuration);
  if (p.maxDuration) qs.set("maxDuration", p.maxDuration);
  return parseSearch(await getJson(`/api/search?${qs}`, signal));
}

/** A trace by id from Clew's own API: OTLP JSON plus the assembly's warnings. */
export async function trace(id: string, signal?: AbortSignal): Promise<Trace> {
  return parseTrace(await getJson(`/api/clew/traces/${encodeURIComponent(id)}`, signal));
}
