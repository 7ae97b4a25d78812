/**
 * Build of the dashboard client (client/ → client/dist), served by the bnlab server. `npx vite` runs
 * a dev server on :5173 that proxies the API and the socket to a bnlab server on :8787
 * (`bnlab serve --port 8787`), for working on the client with hot reload.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const clientRoot = fileURLToPath(new URL('./client', import.meta.url));

export default defineConfig({
  root: clientRoot,
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 600,
  },
  server: {
    host: '127.0.0.1',
    proxy: {
      '/api': 'http://127.0.0.1:8787',
      '/socket.io': { target: 'ws://127.0.0.1:8787', ws: true },
    },
  },
});
