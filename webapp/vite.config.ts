import path from 'node:path';
import { defineConfig } from 'vite';

// The bundle is committed (dist/) and embedded into the server binary, so the build must be
// byte-for-byte reproducible: hashed file names from content only, no timestamps, no source maps.
export default defineConfig({
  base: '/',
  resolve: {
    alias: {
      // @mattermost/commonmark uses XRegExp only for \pL classes; see src/shims/xregexp.js.
      xregexp: path.resolve(import.meta.dirname, 'src/shims/xregexp.js'),
      // A polyfill for String.prototype.repeat, which every browser has.
      'string.prototype.repeat': path.resolve(import.meta.dirname, 'src/shims/empty.js'),
    },
  },
  oxc: {
    jsx: { runtime: 'automatic', importSource: 'preact' },
  },
  // `npm run dev` serves the sources with the API of a running node (STARLING_URL, default the
  // local cluster's NGINX) behind the same origin, websocket included.
  server: {
    proxy: {
      '/api': { target: process.env.STARLING_URL ?? 'http://127.0.0.1:8080', ws: true, changeOrigin: false },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'static',
    sourcemap: false,
    target: 'es2022',
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
});
