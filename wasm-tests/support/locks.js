// A small in-process stand-in for the Web Locks API (node has no navigator.locks): exclusive
// locks granted in request order, ifAvailable, and query(). One LockManager is one "browser
// origin"; the worker, the tabs and a second worker of a test share it.
export class LockManager {
  constructor() {
    this.held = new Map();    // name -> {id}
    this.queues = new Map();  // name -> [{grant}]
    this.seq = 0;
  }

  request(name, opts, cb) {
    if (typeof opts === 'function') { cb = opts; opts = {}; }
    opts = opts || {};
    return new Promise((resolve, reject) => {
      const run = () => {
        const lock = { name, mode: 'exclusive', id: ++this.seq };
        this.held.set(name, lock);
        let result;
        try { result = Promise.resolve(cb(lock)); } catch (e) { result = Promise.reject(e); }
        result.then((v) => { this.release(name, lock); resolve(v); }, (e) => { this.release(name, lock); reject(e); });
      };
      if (!this.held.has(name)) return run();
      if (opts.ifAvailable) {
        Promise.resolve().then(() => cb(null)).then(resolve, reject);
        return;
      }
      if (opts.signal) {
        opts.signal.addEventListener('abort', () => {
          const q = this.queues.get(name) || [];
          const i = q.indexOf(entry);
          if (i >= 0) { q.splice(i, 1); reject(new DOMException('aborted', 'AbortError')); }
        });
      }
      const entry = { run };
      if (!this.queues.has(name)) this.queues.set(name, []);
      this.queues.get(name).push(entry);
    });
  }

  release(name, lock) {
    if (this.held.get(name) !== lock) return;
    this.held.delete(name);
    const q = this.queues.get(name);
    if (q && q.length) setImmediate(() => { if (!this.held.has(name) && q.length) q.shift().run(); });
  }

  async query() {
    return { held: [...this.held.values()].map((l) => ({ name: l.name, mode: l.mode })),
      pending: [...this.queues.entries()].flatMap(([name, q]) => q.map(() => ({ name, mode: 'exclusive' }))) };
  }
}
