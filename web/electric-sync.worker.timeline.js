/*
 * electric-sync.worker.timeline.js — the worker's benchmark marks (a classic script, one of the
 * worker's parts: see electric-sync.worker.js). Each mark is [label, ms since the worker
 * started]; the tab reads them with a STATS request (bench/browser.mjs times the initial sync
 * from them). Labels (stable; new ones may be added): the start-up steps (`worker` when its code
 * starts, `hello` when the first tab's HELLO arrives, `owner lock`, `module`,
 * `indexeddb read`, `image loaded`, `engine open`, `version`), per response `response <status>
 * <bytes> B` (` (prefetched)` when it was requested while the previous one was ingested, ` (live)`
 * for a long-poll) and `ingested`, per backoff `wait <ms> ms`, per IndexedDB flush `durable (<n>
 * pages)`, and `initial sync durable: <shape>` once the commit that made a shape live the first
 * time is durable (with checkpoints an initial sync has several `durable` marks; this one is its
 * end).
 *
 * Invariants
 *  - mark() never throws and the memory is bounded whatever the sync's length: the first HEAD
 *    marks (the start-up steps and the first responses) are kept, then a ring holds the latest
 *    TAIL marks. A 1M-row initial sync makes hundreds of response marks before its first
 *    `durable` one; that mark is the newest when the tab becomes ready, so the ring still has it.
 *  - marks() is a fresh array in time order; `dropped` says how many marks the ring overwrote.
 */
(function (g) {
  'use strict';
  const HEAD = 64;
  const TAIL = 448;

  class Timeline {
    constructor(now, { head = HEAD, tail = TAIL } = {}) {
      this.now = now;
      this.startedAt = now();
      this.headSize = head;
      this.tailSize = tail;
      this.head = [];
      this.tail = [];   // a ring once full: `next` is the oldest entry
      this.next = 0;
      this.dropped = 0;
    }

    mark(label) {
      const entry = [label, this.now() - this.startedAt];
      if (this.head.length < this.headSize) {
        this.head.push(entry);
      } else if (this.tail.length < this.tailSize) {
        this.tail.push(entry);
      } else if (this.tailSize > 0) {
        this.tail[this.next] = entry;
        this.next = (this.next + 1) % this.tailSize;
        this.dropped++;
      } else {
        this.dropped++;
      }
    }

    marks() {
      return this.head.concat(this.tail.slice(this.next), this.tail.slice(0, this.next));
    }
  }

  const ns = (g.ElectricSyncWorker = g.ElectricSyncWorker || {});
  ns.Timeline = Timeline;
})(typeof self !== 'undefined' ? self : globalThis);
