import { defineConfig } from "vite";

// The console is embedded in the `vigil` binary (crates/server/src/console.rs) from `dist/`,
// which is committed so that `cargo run -- serve` needs no Node.js.
export default defineConfig({
  base: "/",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
    sourcemap: false,
    rollupOptions: {
      output: {
        // One named chunk for the charting library, shared by hunting and workbooks.
        manualChunks: (id) => (id.includes("node_modules/echarts") || id.includes("node_modules/zrender") ? "echarts" : undefined),
      },
    },
  },
});
