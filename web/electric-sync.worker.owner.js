/*
 * electric-sync.worker.owner.js — ownership of a replica (a classic script, one of the worker's
 * parts: see electric-sync.worker.js): the Web Lock `sqlite-owner:<dbName>` and the hand-over
 * from an older SharedWorker to a newer one.
 *
 * Invariants
 *  - Only the holder of `sqlite-owner:<dbName>` writes that replica's IndexedDB database, and
 *    what it reads is current: a worker reads the replica while its lock request is answered,
 *    and keeps that read only when the lock was free at the request (acquire() says so; a worker
 *    that held it had created all its transactions before releasing it, and IndexedDB orders a
 *    later readonly transaction after them), else it reads again once it holds the lock. The
 *    lock is held until release(): a lock request's own promise settles only when the lock is
 *    released, so it is never awaited.
 *  - A SharedWorker that finds the lock taken (an older one still runs after a deploy) asks the
 *    holder over BroadcastChannel `esync-owner:<dbName>` to step aside, then waits for the lock.
 *    The holder (onStepAside) finishes its flush, closes and releases the lock.
 *  - Dedicated workers never ask nor step aside: there the lock is the leader election
 *    (electric-sync.worker.relay.js), held until the leader's tab goes.
 *  - After release(), a grant that arrives late is handed back at once.
 */
(function (g) {
  'use strict';
  const lockName = (dbName) => `sqlite-owner:${dbName}`;
  const channelName = (dbName) => `esync-owner:${dbName}`;

  class Owner {
    // opts: {locks, BroadcastChannel (null: no hand-over), mode: 'shared' | 'dedicated', id (this
    //        worker's writerId), log, onStepAside()}
    constructor(opts) {
      this.locks = opts.locks;
      this.BroadcastChannel = opts.BroadcastChannel;
      this.dedicated = opts.mode === 'dedicated';
      this.id = opts.id;
      this.log = opts.log;
      this.onStepAside = opts.onStepAside;
      this.channel = null;
      this.releaseLock = null; // resolves the lock callback's promise
      this.released = false;
    }

    get held() {
      return !!this.releaseLock;
    }

    // Resolves once this worker holds the lock: true when it was free at the request (no other
    // worker held it then, so none writes the replica after: a read started since is current),
    // false when this worker had to wait for it.
    async acquire(dbName) {
      const name = lockName(dbName);
      const hold = () => {
        if (this.released) return undefined; // released while waiting: give it back
        return new Promise((r) => { this.releaseLock = r; });
      };
      if (this.BroadcastChannel) {
        this.channel = new this.BroadcastChannel(channelName(dbName));
        this.channel.onmessage = (ev) => {
          const d = ev.data;
          if (d && d.type === 'step-aside' && d.from !== this.id && this.held && !this.dedicated) this.onStepAside();
        };
      }
      const immediate = await new Promise((resolve) => {
        this.locks.request(name, { mode: 'exclusive', ifAvailable: true }, (lock) => {
          resolve(!!lock);
          return lock ? hold() : undefined;
        }).catch(() => resolve(false));
      });
      if (immediate) return true;
      if (!this.dedicated && this.channel) this.channel.postMessage({ type: 'step-aside', from: this.id });
      await new Promise((resolve) => {
        this.locks.request(name, { mode: 'exclusive' }, () => { resolve(); return hold(); })
          .catch((e) => this.log('owner lock', e));
      });
      return false;
    }

    release() {
      this.released = true;
      if (this.releaseLock) this.releaseLock();
      this.releaseLock = null;
      if (this.channel) this.channel.close();
    }
  }

  // A Web Locks manager that grants the owner lock of dbName at once and passes every other
  // request to `locks`: for the leader of the dedicated workers, which already holds the real one.
  function grantingOwner(locks, dbName) {
    const owned = lockName(dbName);
    return {
      request(name, opts, cb) {
        if (typeof opts === 'function') { cb = opts; opts = {}; }
        if (name === owned) return Promise.resolve().then(() => cb({ name, mode: 'exclusive' }));
        return locks.request(name, opts, cb);
      },
    };
  }

  const ns = (g.ElectricSyncWorker = g.ElectricSyncWorker || {});
  ns.Owner = Owner;
  ns.ownerLockName = lockName;
  ns.grantingOwner = grantingOwner;
})(typeof self !== 'undefined' ? self : globalThis);
