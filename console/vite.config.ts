/// <reference types="vitest/config" />
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [react()],
  // Served from the root of its own port by tools/console_server.py (SPA fallback to index.html).
  base: '/',
  build: { outDir: 'dist', chunkSizeWarningLimit: 1500 },
  // `npm run dev`: the same origin's /graphql goes to a running gateway, as the console server does.
  server: { proxy: { '/graphql': process.env.CDP_GATEWAY || 'http://127.0.0.1:4000' } },
  test: {
    environment: 'jsdom',
    globals: true,
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/setup-tests.ts'],
  },
});
