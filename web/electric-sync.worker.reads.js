/*
 * electric-sync.worker.reads.js — the reads of the tabs (a classic script, one of the worker's
 * parts: see electric-sync.worker.js): one-shot queries (QUERY) and the live-query registry
 * (LIVE / UNLIVE -> ROWS).
 *
 *   {type:'LIVE', id, sql, params}    a tab subscribes; `id` is the tab's own
 *   {type:'UNLIVE', id}               it unsubscribes
 *   {type:'ROWS', live: id, rows}     a result (the first one, then one per relevant commit)
 *   {type:'ROWS', live: id, error: {code, message}}   the statement cannot run: dropped
 *
 * Invariants
 *  - A statement on the table of a defined shape that does not exist yet (ESYNC_EPENDING: before
 *    the shape's first commit, after a reset or a version wipe, while the engine is being
 *    rebuilt) never fails: it waits for the next durable commit and runs again. Any other error
 *    (a table that is no shape's, a write, a syntax error) is answered at once.
 *  - One live query per distinct (sql, params), whatever the number of tabs and subscriptions
 *    that share it: it runs once when first subscribed, then once per durable commit group in
 *    which a DATA_CHANGE touched a shape the statement reads (engine.queryTables), and only
 *    then; every subscriber gets each result. A new subscriber of a running query gets the last
 *    result at once, without a run.
 *  - After a SCHEMA_RESET every live query waits for its tables and runs once they are back; its
 *    subscribers see no empty intermediate result.
 *  - Results go out after the DATA_CHANGE of the same commit (afterCommit is called once the
 *    commit's events were broadcast), and never hold a row of a commit that is not durable: while
 *    the engine holds later commits than the durable one, the runs wait for the last of them.
 *  - A forgotten tab's subscriptions are removed; a query without subscribers is dropped.
 */
(function (g) {
  'use strict';
  const isPending = (e) => !!e && e.codeName === 'ESYNC_EPENDING';
  const errorInfo = (e) => ({ code: (e && (e.codeName || e.name)) || 'Error', message: String((e && e.message) || e) });

  class Reads {
    // opts: {replica (Replica), tabs (Tabs), clock() (ms, fractional: performance.now), log}
    constructor(opts) {
      this.replica = opts.replica;
      this.tabs = opts.tabs;
      this.clock = opts.clock;
      this.log = opts.log;
      this.live = new Map();    // key -> {key, sql, params, subs: Set<sub>, shapes: Set|null, rows, state}
      this.byClient = new Map(); // client id -> Map<live id, sub>
      this.closed = false;
      this.undurable = 0;        // ingest commits whose afterCommit has not come yet
      this.deferred = new Set(); // shapes changed by durable commits whose runs wait (afterCommit)
      this.newCommit();
      // Counters (STATS): first runs, and the re-runs that commits caused, with their time.
      this.counters = { firstRuns: 0, firstRunMs: 0, reruns: 0, rerunMs: 0, rerunCommits: 0, commits: 0, deferred: 0, waits: 0 };
    }

    // The promise the next durable commit (or reset, or close) resolves.
    newCommit() {
      this.commit = new Promise((r) => { this.commitDone = r; });
    }

    wake() {
      const done = this.commitDone;
      this.newCommit();
      done();
    }

    // ---- one-shot queries ----------------------------------------------------------------------

    async query(sql, params) {
      for (let misses = 0; ;) {
        const engine = await this.replica.whenOpen();
        if (!engine) throw new Error('the replica is closed');
        const next = this.commit;
        this.replica.M.MemVfs.missing(); // forget an older miss
        try {
          return engine.query(sql, params || null);
        } catch (e) {
          const page = this.replica.pageWait(misses);
          if (page) { // a page the lazy open has not read yet: once it is there
            misses++;
            await page;
            continue;
          }
          if (!isPending(e)) throw e;
        }
        this.counters.waits++;
        await next;
        if (this.closed) throw new Error('the replica is closed');
      }
    }

    // ---- live queries --------------------------------------------------------------------------

    subscribe(c, id, sql, params) {
      if (typeof sql !== 'string') return this.tabs.send(c, { type: 'ROWS', live: id, error: { code: 'ESYNC_EINVAL', message: 'LIVE: sql must be a string' } });
      params = params || null;
      const key = JSON.stringify([sql, params]);
      let q = this.live.get(key);
      if (!q) {
        q = { key, sql, params, subs: new Set(), shapes: null, rows: undefined, state: 'new' };
        this.live.set(key, q);
      }
      let mine = this.byClient.get(c.id);
      if (!mine) this.byClient.set(c.id, (mine = new Map()));
      if (mine.has(id)) this.unsubscribe(c, id);
      const sub = { c, id, q };
      q.subs.add(sub);
      mine.set(id, sub);
      if (q.state === 'ok') this.send(sub, q.rows);
      else if (q.state === 'new' && this.undurable > 0) q.state = 'pending'; // see afterCommit
      else if (q.state === 'new') this.run(q, false);
      // 'pending': the next commit runs it for every subscriber.
    }

    unsubscribe(c, id) {
      const mine = this.byClient.get(c.id);
      const sub = mine && mine.get(id);
      if (!sub) return;
      mine.delete(id);
      if (!mine.size) this.byClient.delete(c.id);
      this.drop(sub);
    }

    drop(sub) {
      const q = sub.q;
      q.subs.delete(sub);
      if (!q.subs.size && this.live.get(q.key) === q) this.live.delete(q.key);
    }

    // A tab that went away.
    forget(c) {
      const mine = this.byClient.get(c.id);
      if (!mine) return;
      this.byClient.delete(c.id);
      for (const sub of mine.values()) this.drop(sub);
    }

    send(sub, rows) {
      this.tabs.send(sub.c, { type: 'ROWS', live: sub.id, rows });
    }

    // Runs q and sends its rows to every subscriber; returns false when it has to wait.
    run(q, rerun) {
      const engine = this.replica.engine;
      if (!engine) {
        // The replica is being rebuilt (a version wipe) or opened: run once it is open, without
        // waiting for a commit that a quiet database may never make.
        q.state = 'pending';
        this.replica.whenOpen().then((open) => {
          if (open && q.state === 'pending' && this.live.get(q.key) === q) this.run(q, rerun);
        });
        return false;
      }
      const t0 = this.clock();
      this.replica.M.MemVfs.missing(); // forget an older miss
      try {
        if (!q.shapes) q.shapes = new Set(engine.queryTables(q.sql).map((t) => t.shape));
        q.rows = engine.query(q.sql, q.params);
        q.state = 'ok';
        q.misses = 0;
        for (const sub of q.subs) this.send(sub, q.rows);
        return true;
      } catch (e) {
        const page = this.replica.pageWait(q.misses || 0);
        if (page) { // a page the lazy open has not read yet: run again once it is there
          q.misses = (q.misses || 0) + 1;
          q.state = 'pending';
          page.then(() => {
            if (q.state === 'pending' && this.live.get(q.key) === q) this.run(q, rerun);
          }, (err) => this.log('live query: loading the replica', err));
          return false;
        }
        if (isPending(e)) {
          q.state = 'pending';
          q.shapes = null;
          return false;
        }
        // Nothing a commit can fix: tell the subscribers and drop the query.
        const error = errorInfo(e);
        this.live.delete(q.key);
        for (const sub of q.subs) {
          this.tabs.send(sub.c, { type: 'ROWS', live: sub.id, error });
          const mine = this.byClient.get(sub.c.id);
          if (mine) mine.delete(sub.id);
        }
        q.subs.clear();
        return false;
      } finally {
        const ms = this.clock() - t0;
        if (rerun) { this.counters.reruns++; this.counters.rerunMs += ms; } else { this.counters.firstRuns++; this.counters.firstRunMs += ms; }
      }
    }

    // ---- what the sync loop tells ----------------------------------------------------------------

    // The engine committed an ingest; afterCommit follows once it is durable and broadcast.
    committed() {
      this.undurable++;
    }

    // A durable commit group whose events were broadcast. Re-runs the live queries that read a
    // shape a DATA_CHANGE of it touched, runs the waiting ones, and wakes the waiting QUERYs.
    // While the engine holds later commits that are not durable yet (their rows are in the
    // replica in memory), the runs wait for the last of them, which calls this again.
    afterCommit(events) {
      this.counters.commits++;
      if (this.undurable > 0) this.undurable--;
      const changed = this.deferred;
      for (const ev of events) if (ev.type === 'DATA_CHANGE') changed.add(ev.shapeName);
      if (this.undurable > 0) {
        this.counters.deferred++;
        this.wake();
        return;
      }
      this.deferred = new Set();
      let ran = false;
      for (const q of [...this.live.values()]) {
        if (q.state === 'pending' || q.state === 'new' || (q.shapes && [...q.shapes].some((s) => changed.has(s)))) {
          this.run(q, true);
          ran = true;
        }
      }
      if (ran) this.counters.rerunCommits++;
      this.wake();
    }

    // A SCHEMA_RESET was broadcast (the replica was wiped): every live query waits for its
    // tables again (it runs now, and at each commit until they are back).
    afterReset() {
      this.deferred = new Set();
      for (const q of [...this.live.values()]) {
        q.shapes = null;
        q.state = 'pending';
        this.run(q, true);
      }
      this.wake();
    }

    close() {
      this.closed = true;
      this.wake();
    }

    stats() {
      let subs = 0;
      for (const q of this.live.values()) subs += q.subs.size;
      return { ...this.counters, busyWaits: this.replica.busyWaits, queries: this.live.size, subscriptions: subs };
    }
  }

  const ns = (g.ElectricSyncWorker = g.ElectricSyncWorker || {});
  ns.Reads = Reads;
})(typeof self !== 'undefined' ? self : globalThis);
