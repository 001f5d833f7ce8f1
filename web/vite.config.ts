import { defineConfig } from 'vite';

// The console is served by the gatehouse binary from --web-dir: index.html at "/",
// the bundle under "/assets/". Routing is by URL hash, so no server fallback is needed.
export default defineConfig({
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: false },
  server: {
    // `npm run dev` proxies the API to a locally running `gatehouse serve`.
    proxy: {
      '/v1': 'http://127.0.0.1:8080',
      '/v2': 'http://127.0.0.1:8080',
      '/healthz': 'http://127.0.0.1:8080',
    },
  },
});
