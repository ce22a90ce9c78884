import { defineConfig, type PluginOption } from 'vite';
import react from '@vitejs/plugin-react';

// `npm run dev -w ui` proxies the API and websocket to an agent started with
// `hopscope start --port 7070`; the production build is served by the agent itself.
export default defineConfig({
  // NOTE: @vitejs/plugin-react resolves the root's newer vite (pulled in by vitest) for its
  // types; the plugin works with this vite 7 at runtime, only the declared types differ.
  plugins: [react() as unknown as PluginOption],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 3000,
    rollupOptions: {
      // zod's sources carry explanatory comments next to their @__PURE__ marks; Rollup drops
      // them and says so four times per build, in every `npm start` a user runs. Nothing to do
      // about it here; other warnings still show.
      onwarn(warning, warn) {
        if (warning.code === 'INVALID_ANNOTATION' && warning.id?.includes('/node_modules/')) return;
        warn(warning);
      },
    },
  },
  // The stream worker (src/api/stream.worker.ts) is an ES module like the page.
  worker: { format: 'es' },
  server: {
    proxy: {
      '/api': 'http://127.0.0.1:7070',
      '/ws': { target: 'ws://127.0.0.1:7070', ws: true },
    },
  },
});
