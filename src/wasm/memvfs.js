/*
 * memvfs.js — the JS half of the in-memory VFS (its C half is memvfs.c, reached through the
 * esw_memvfs_* shims of bridge.c). Appended to the loader with --post-js after bridge.js.
 *
 * Module.MemVfs moves database images between the wasm heap and whatever stores them (the
 * worker's IndexedDB layer): load() writes stored pages in before the database is opened;
 * takeDirty() copies out the chunks written since the last take, but only while no write
 * transaction holds the file, so a taken set is always a union of whole commits.
 * A lazy open loads part of an image, marks the rest absent() and fill()s it as it arrives; a
 * statement that meets an absent chunk fails, and missing() names the chunk to load first.
 *
 * Every page handed out is a copy (slice) made before the next call into the module: memory
 * growth detaches views, and the next commit rewrites the chunk in place. The one exception,
 * views(), is for a caller that copies them at once (into a Blob).
 */
/* global Module, addOnInit */
(function () {
  'use strict';
  // Bytes per chunk (and per stored page): ESYNC_MEMVFS_CHUNK of memvfs.h, read when the module
  // loads, so C holds the only definition.
  let CHUNK = 0;
  // Dirty chunk indexes fetched per call into the module (a 16 KiB scratch array).
  const TAKE_BATCH = 4096;
  let zeros = null; // a chunk of zeros, for views of chunks never written

  addOnInit(() => {
    CHUNK = Module._esw_memvfs_chunk_size();
    Module.MemVfs.CHUNK = CHUNK;
  });

  function outOfMemory() {
    return new Module.EsyncError(Module.errors.ESYNC_ENOMEM);
  }

  function withName(name, fn) {
    const n = Module.lengthBytesUTF8(name) + 1;
    const p = Module._malloc(n);
    if (!p) throw outOfMemory();
    Module.stringToUTF8(name, p, n);
    try {
      return fn(p);
    } finally {
      Module._free(p);
    }
  }

  Module.MemVfs = {
    CHUNK, // set at load (above)

    // Writes a stored image into the heap: size in bytes, pages an iterable of [index, bytes]
    // (bytes a Uint8Array starting at chunk `index`: one chunk, or several in a row, as the
    // store's group records). Later entries overwrite earlier ones. The chunks are not marked
    // dirty.
    load(name, size, pages) {
      withName(name, (np) => {
        // (no destructuring in for-of: the 3.1.6 minifier mangles it)
        for (const entry of pages) {
          const index = entry[0], bytes = entry[1];
          // chunk by chunk, straight into the chunk's memory (one copy)
          for (let at = 0; at < bytes.length; at += CHUNK) {
            const chunk = index + at / CHUNK, off = chunk * CHUNK;
            if (off >= size) break; // beyond the stored size: left over from a shrink
            const len = Math.min(CHUNK, bytes.length - at, size - off);
            const ptr = Module._esw_memvfs_load_chunk(np, chunk, len);
            if (!ptr) throw outOfMemory();
            Module.HEAPU8.set(bytes.subarray(at, at + len), ptr);
          }
        }
        // The file exists (and has its size) even when every stored chunk was sparse.
        if (Module._esw_memvfs_size(np) < size) {
          const buf = Module._malloc(1);
          if (!buf) throw outOfMemory();
          try {
            Module.HEAPU8[buf] = 0;
            const rc = Module._esw_memvfs_write(np, size - 1, buf, 1);
            if (rc) throw new Error(`memvfs: sizing ${name} failed (SQLite code ${rc})`);
          } finally {
            Module._free(buf);
          }
        }
      });
    },

    // Lazy loading. on: the chunks of [first, first + count) that hold nothing are marked absent
    // (stored, not loaded yet; the file created and sized to span them: mark before load()): a
    // statement that reads or writes one fails and changes nothing, and missing() then names
    // it; load() and fill() put stored bytes into them. off: the absent ones become empty (no
    // stored record). Returns how many chunks of the file are absent (count 0: only that).
    absent(name, first, count, on) {
      const n = withName(name, (np) => Module._esw_memvfs_absent(np, first, count, on ? 1 : 0));
      if (n < 0) throw outOfMemory();
      return n;
    },

    // The index of the absent chunk that the last failed statement met (then forgotten), or -1.
    missing() {
      return Module._esw_memvfs_missing();
    },

    // Writes the chunks of a stored record (bytes from chunk `first` on, up to the file's size)
    // that are absent, and only those (the others are newer: loaded from a delta or written
    // since). Returns how many it filled.
    fill(name, size, first, bytes) {
      return withName(name, (np) => {
        let filled = 0;
        for (let at = 0; at < bytes.length; at += CHUNK) {
          const chunk = first + at / CHUNK, off = chunk * CHUNK;
          if (off >= size) break;
          if (!Module._esw_memvfs_is_absent(np, chunk)) continue;
          const len = Math.min(CHUNK, bytes.length - at, size - off);
          const ptr = Module._esw_memvfs_load_chunk(np, chunk, len);
          if (!ptr) throw outOfMemory();
          Module.HEAPU8.set(bytes.subarray(at, at + len), ptr);
          filled++;
        }
        return filled;
      });
    },

    // A copy of bytes [offset, offset + len) of a file (chunks never written read as zeros),
    // chunk-aligned offset: its views joined. The store assembles extent records with it right
    // after a take where it writes no Blobs. Throws while chunks are absent (they would read as
    // zeros).
    readRange(name, offset, len) {
      const out = new Uint8Array(len);
      let at = 0;
      for (const v of this.views(name, offset, len)) {
        out.set(v, at);
        at += v.length;
      }
      return out;
    },

    // Bytes [offset, offset + len) of a file (chunk-aligned offset) as views of the heap, in
    // order: a run of consecutive chunks (contiguous in their slab, memvfs.c) is one view, a chunk
    // never written a view of zeros. For `new Blob(views)` at once: the views go stale as soon
    // as the module runs again. Throws while chunks are absent, as readRange.
    views(name, offset, len) {
      return withName(name, (np) => {
        if (Module._esw_memvfs_absent(np, 0, 0, 0) > 0) throw new Error(`memvfs: ${name} is not loaded yet`);
        const heap = Module.HEAPU8;
        const out = [];
        let start = 0, end = 0; // the run being gathered: heap[start, end)
        for (let at = 0; at < len; at += CHUNK) {
          const n = Math.min(CHUNK, len - at);
          const ptr = Module._esw_memvfs_chunk(np, (offset + at) / CHUNK);
          if (ptr && ptr === end) { end += n; continue; }
          if (end > start) out.push(heap.subarray(start, end));
          if (ptr) { start = ptr; end = ptr + n; continue; }
          start = end = 0;
          if (!zeros) zeros = new Uint8Array(CHUNK);
          out.push(zeros.subarray(0, n));
        }
        if (end > start) out.push(heap.subarray(start, end));
        return out;
      });
    },

    // File size in bytes, -1 when absent.
    size(name) {
      return withName(name, (np) => Module._esw_memvfs_size(np));
    },

    // True while a write transaction holds the file (its chunks may hold uncommitted pages).
    busy(name) {
      return withName(name, (np) => Module._esw_memvfs_busy(np)) === 1;
    },

    // Write transactions committed on main databases since the module started.
    commits() {
      return Module._esw_memvfs_commits();
    },

    // The chunks written since the last take, as {size, pages: Map(index -> Uint8Array copy)}
    // (an index whose chunk no longer exists, after a truncation, is left out: size says where
    // the file ends), or null while a write transaction is open — then nothing is taken and the
    // chunks stay dirty for the next call.
    takeDirty(name) {
      const got = this.takeDirtyIndexes(name);
      if (!got) return null;
      const pages = new Map();
      for (const index of got.indexes) {
        const bytes = this.readChunk(name, index);
        if (bytes && index * CHUNK < got.size) pages.set(index, bytes);
      }
      return { size: got.size, pages };
    },

    // The same without copying: {size, indexes} (ascending), or null while a write transaction
    // is open. The caller copies what it keeps (readChunk, readRange) before the module runs again.
    takeDirtyIndexes(name) {
      return withName(name, (np) => {
        const busy = Module._esw_memvfs_busy(np);
        if (busy !== 0) return busy < 0 ? { size: -1, indexes: [] } : null;
        const size = Module._esw_memvfs_size(np);
        const cap = TAKE_BATCH;
        const out = Module._malloc(cap * 4);
        if (!out) throw outOfMemory();
        const indexes = [];
        try {
          for (;;) {
            const n = Module._esw_memvfs_take_dirty(np, out, cap);
            const got = Math.min(n, cap);
            const view = Module.HEAPU32.subarray(out >> 2, (out >> 2) + got);
            for (let i = 0; i < got; i++) indexes.push(view[i]);
            if (n <= cap) break;
          }
        } finally {
          Module._free(out);
        }
        return { size, indexes };
      });
    },

    // A copy of one chunk, or null when it was never written. Throws while it is absent.
    readChunk(name, index) {
      return withName(name, (np) => {
        if (Module._esw_memvfs_is_absent(np, index)) throw new Error(`memvfs: chunk ${index} of ${name} is not loaded yet`);
        const ptr = Module._esw_memvfs_chunk(np, index);
        return ptr ? Module.HEAPU8.slice(ptr, ptr + CHUNK) : null;
      });
    },
  };
})();
