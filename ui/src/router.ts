// A history-API router for the two pages: paths are real URLs (`/trace/{id}` survives a
// reload because the binary answers every non-API path with index.html).

import { useEffect, useState } from "preact/hooks";

export type Route = { page: "search"; params: URLSearchParams } | { page: "trace"; id: string } | { page: "missing" };

export function parseRoute(pathname: string, search: string): Route {
  const trace = /^\/trace\/([0-9a-fA-F]{1,32})\/?$/.exec(pathname);
  if (trace) return { page: "trace", id: trace[1].toLowerCase() };
  if (pathname === "/" || pathname === "/search" || pathname === "/search/") {
    return { page: "search", params: new URLSearchParams(search) };
  }
  return { page: "missing" };
}

const listeners = new Set<() => void>();

export function navigate(url: string, replace = false): void {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  listeners.forEach((l) => l());
}

export function useRoute(): Route {
  const read = () => parseRoute(location.pathname, location.search);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const update = () => setRoute(read());
    listeners.add(update);
    addEventListener("popstate", update);
    return () => {
      listeners.delete(update);
      removeEventListener("popstate", update);
    };
  }, []);
  return route;
}

/** A link that navigates without reloading (and still opens in a new tab on ctrl-click). */
export function onLinkClick(e: MouseEvent, url: string): void {
  if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(url);
}
