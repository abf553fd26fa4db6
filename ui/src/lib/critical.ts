// The critical path: the parts of spans that, one after another, make up the root span's
// duration. It is computed here, in the manner of the Jaeger UI's critical path: from the
// root's end, walk back into the child that finished last; at that child's start, go
// back to its parent and take the child that finished last before then; what no child
// covers is the span's own time on the path.

import type { SpanNode, SpanTree } from "./trace";

export interface Section {
  spanId: string;
  startNs: bigint;
  endNs: bigint;
}

/** Sections of the critical path from the trace's root, latest first. */
export function criticalPath(tree: SpanTree): Section[] {
  const root = tree.roots.find((r) => !r.orphan) ?? tree.roots[0];
  if (!root) return [];
  const out: Section[] = [];
  const visited = new Set<SpanNode>([root]);
  // The ancestors of `node` on the way down: where to return once `node` is done.
  const up: SpanNode[] = [];
  let node = root;
  let bound = root.span.endNs;
  // Each step descends into an unvisited child or returns to a parent: at most 2n steps.
  for (;;) {
    const child = lastFinishingChild(node, bound, visited);
    if (child) {
      const childEnd = clippedEnd(child, node);
      if (childEnd < bound) out.push({ spanId: node.span.spanId, startNs: childEnd, endNs: bound });
      visited.add(child);
      up.push(node);
      node = child;
      bound = childEnd;
      continue;
    }
    const start = node.span.startNs;
    if (start < bound) out.push({ spanId: node.span.spanId, startNs: start, endNs: bound });
    const parent = up.pop();
    if (!parent) break;
    // Back in the parent, at the time the child started (within the parent's bounds).
    bound = start > parent.span.startNs ? start : parent.span.startNs;
    node = parent;
  }
  return out;
}

/** A child's end, clipped to its parent's end (children that outlive the parent). */
function clippedEnd(child: SpanNode, parent: SpanNode): bigint {
  return child.span.endNs < parent.span.endNs ? child.span.endNs : parent.span.endNs;
}

/** The unvisited child that ended last by `bound`; children starting after the parent's end don't count. */
function lastFinishingChild(node: SpanNode, bound: bigint, visited: Set<SpanNode>): SpanNode | undefined {
  let best: SpanNode | undefined;
  let bestEnd = -1n;
  for (const c of node.children) {
    if (visited.has(c) || c.span.startNs >= node.span.endNs) continue;
    const end = clippedEnd(c, node);
    if (end <= bound && end > bestEnd) {
      best = c;
      bestEnd = end;
    }
  }
  return best;
}

/** The sections of each span on the path, by span id. */
export function sectionsBySpan(sections: Section[]): Map<string, Section[]> {
  const out = new Map<string, Section[]>();
  for (const s of sections) out.set(s.spanId, [...(out.get(s.spanId) ?? []), s]);
  return out;
}

/** Nanoseconds the sections cover. */
export function sectionsTime(sections: Section[]): number {
  return sections.reduce((sum, s) => sum + Number(s.endNs - s.startNs), 0);
}
