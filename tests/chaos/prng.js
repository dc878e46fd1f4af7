// A small seeded PRNG (sfc32 seeded through splitmix32) so a chaos run is replayable from its
// seed: the operations, their order and their values come only from here. The proxy draws its
// faults from a stream of its own (same seed, another salt), so adding an operation kind does not
// shift every fault; which request meets which fault still depends on timing.
export function seedFrom(s) {
  if (s !== undefined && s !== '') return Number(BigInt.asUintN(32, BigInt(s)));
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}

export function makeRng(seed, salt = 0) {
  let x = (seed ^ Math.imul(salt + 1, 0x9e3779b9)) >>> 0;
  const split = () => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split(), b = split(), c = split(), d = 1;
  const next = () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t >>> 0;
  };
  const r = {
    u32: next,
    float: () => next() / 4294967296,
    int: (lo, hi) => lo + Math.floor((next() / 4294967296) * (hi - lo + 1)), // inclusive
    chance: (p) => next() / 4294967296 < p,
    pick: (arr) => arr[Math.floor((next() / 4294967296) * arr.length)],
    // weights: [[value, weight], ...]
    weighted(weights) {
      const total = weights.reduce((n, [, w]) => n + w, 0);
      let t = r.float() * total;
      for (const [v, w] of weights) { if ((t -= w) < 0) return v; }
      return weights[weights.length - 1][0];
    },
    uuid() {
      const h = () => next().toString(16).padStart(8, '0');
      const s = h() + h() + h() + h();
      return `${s.slice(0, 8)}-${s.slice(8, 12)}-4${s.slice(13, 16)}-${'89ab'[next() & 3]}${s.slice(17, 20)}-${s.slice(20, 32)}`;
    },
    text(max = 24) {
      const alphabet = 'abcdefghijklmnopqrstuvwxyz ÄéΩ✓\'"\\,{}[]0123456789';
      const n = r.int(1, max);
      let s = '';
      for (let i = 0; i < n; i++) s += alphabet[r.int(0, alphabet.length - 1)];
      return s.trim() === '' ? 'x' : s;
    },
  };
  return r;
}
