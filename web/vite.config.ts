// The console's build: web/ -> dist/console (index.html and hashed assets under assets/), served
// by src/console/static.ts. JSX is compiled for Preact by Vite's own transformer, no plugin.
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  publicDir: false,
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: '../dist/console',
    emptyOutDir: true,
    target: 'es2022',
    // No inline scripts (the page's CSP allows scripts from this origin only) and no data: URLs for assets.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
});
