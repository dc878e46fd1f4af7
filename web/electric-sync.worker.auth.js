/*
 * electric-sync.worker.auth.js — the credentials of the shape requests (a classic script, one of
 * the worker's parts: see electric-sync.worker.js): the values of the tabs' `headers` and
 * `params` options.
 *
 *   HELLO's auth: null | {dynamic: false, headers, params} | {dynamic: true}
 *   worker -> tab  {type:'AUTH_REQUEST'}                         evaluate your options now
 *   tab -> worker  {type:'AUTH', headers, params} | {type:'AUTH', error}      the answer
 *                  {type:'AUTH', id, force: true, headers?, params?}         refreshAuth()
 *
 * Invariants
 *  - `values` is null until some tab supplied values; then {headers, params} (plain objects of
 *    strings), the latest any tab supplied. `version` counts the changes: a supply equal to the
 *    current values changes nothing, except a forced one (refreshAuth), which always counts.
 *  - A shape refused with 401/403 (engine action 'auth') resumes only with values newer than the
 *    ones its refused request carried (Sync.awaitAuth), so the same bad values are not retried
 *    in a loop; meanwhile the tabs that have functions are asked again, with backoff.
 *  - Requests go out without waiting for values only while no tab with `dynamic` options is
 *    known: the first request of a worker whose tabs have functions waits for their answer.
 */
(function (g) {
  'use strict';
  const ASK_MIN_GAP_MS = 200; // AUTH_REQUESTs closer than this are one

  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  const clean = (v) => {
    const out = {};
    if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) if (x !== undefined && x !== null) out[k] = String(x);
    return out;
  };

  class Auth {
    // opts: {tabs (Tabs), now, log, onChange()}
    constructor(opts) {
      this.tabs = opts.tabs;
      this.now = opts.now;
      this.log = opts.log;
      this.onChange = opts.onChange || (() => {});
      this.values = null;
      this.version = 0;
      this.providers = new Set(); // clients whose options include a function
      this.lastAsk = -Infinity;
      this.lastError = null;
    }

    // Values must be awaited before a request (a tab has functions, none answered yet).
    get needed() {
      return this.values === null && this.providers.size > 0;
    }

    hello(c, auth) {
      if (!auth || typeof auth !== 'object') return;
      if (auth.dynamic) {
        this.providers.add(c);
        if (this.values === null) this.tabs.send(c, { type: 'AUTH_REQUEST' });
      } else {
        this.supply({ headers: auth.headers, params: auth.params }, false);
      }
    }

    // An AUTH message of a tab.
    receive(c, msg) {
      if (msg.error) {
        this.lastError = msg.error;
        this.log('headers/params of a tab failed', msg.error.message);
        return;
      }
      if ('headers' in msg || 'params' in msg) this.supply({ headers: msg.headers, params: msg.params }, !!msg.force);
      else if (msg.force) this.bump();
    }

    supply(v, force) {
      const next = { headers: clean(v.headers), params: clean(v.params) };
      if (!force && this.values && same(next, this.values)) return;
      this.values = next;
      this.bump();
    }

    bump() {
      this.version++;
      this.lastError = null;
      this.onChange();
    }

    // Asks every tab that has functions for fresh values.
    ask() {
      const t = this.now();
      if (t - this.lastAsk < ASK_MIN_GAP_MS) return;
      this.lastAsk = t;
      for (const c of this.providers) this.tabs.send(c, { type: 'AUTH_REQUEST' });
    }

    forget(c) {
      this.providers.delete(c);
    }

    // The URL and the fetch headers of a shape request.
    apply(url) {
      const v = this.values;
      if (!v) return { url, headers: undefined };
      let u = url;
      const extra = Object.entries(v.params).map(([k, x]) => `${encodeURIComponent(k)}=${encodeURIComponent(x)}`).join('&');
      if (extra) u += (u.includes('?') ? '&' : '?') + extra;
      return { url: u, headers: Object.keys(v.headers).length ? { ...v.headers } : undefined };
    }
  }

  const ns = (g.ElectricSyncWorker = g.ElectricSyncWorker || {});
  ns.Auth = Auth;
})(typeof self !== 'undefined' ? self : globalThis);
