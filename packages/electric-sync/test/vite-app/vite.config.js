// The test app's Vite config: the plugin at its default base; /api proxied to the shape service
// (ESYNC_BACKEND, set by the test) in dev and preview. No import of vite: the test runs Vite.
import { electricSync } from 'electric-sync/vite';

const target = process.env.ESYNC_BACKEND || 'http://127.0.0.1:3000';
const proxy = { '/api': { target, changeOrigin: true } };

export default {
  plugins: [electricSync()],
  server: { proxy },
  preview: { proxy },
  logLevel: 'warn',
};
