// Stable colours per service: the same service keeps its colour across pages and reloads.

const PALETTE = [
  "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2",
  "#edc948", "#9c755f", "#ff9da7", "#86bcb6", "#8cd17d",
  "#a0cbe8", "#ffbe7d", "#d4a6c8", "#bab0ac", "#499894",
];

export function serviceColor(service: string): string {
  // FNV-1a: small and well spread for short strings.
  let h = 0x811c9dc5;
  for (let i = 0; i < service.length; i++) {
    h ^= service.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return PALETTE[h % PALETTE.length];
}
