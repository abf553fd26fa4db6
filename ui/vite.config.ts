// Built by crates/ui/build.rs (`npm run build -- --outDir …`); `npm test` runs Vitest.
import { defineConfig } from "vitest/config";

export default defineConfig({
  // Preact's JSX through esbuild alone: no framework plugin to install.
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // Everything is served by the binary itself: no CDN, no inlined fonts from elsewhere.
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  // `npx vite` for development: pages with hot reload, APIs from a Clew running locally.
  server: { proxy: { "/api": "http://localhost:16686" } },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
