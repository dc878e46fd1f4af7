// app-router.js — useAppRouter(), the seed's navigation wrapper (ES module, /app-router.js).
//
//   const router = useAppRouter()
//   router.navigate('/items/42', { mode: 'dock' })   // open in the docked panel: no page load,
//                                                    // the URL stays, a panel stack grows
//   router.navigate('/settings', { mode: 'url' })    // full URL navigation (history entry)
//   router.back()                                    // closes the top docked route, else history.back()
//   router.current                                   // { path, mode }
//   router.on('change', fn) -> unsubscribe           // fn({ path, mode, previous })
//
// One router per window (useAppRouter returns the same instance). 'url' mode uses the History
// API so an app shell can render the route without a reload; pass { reload: true } to make the
// browser load the URL instead.

let instance = null;

export function useAppRouter(options = {}) {
  if (instance && !options.fresh) return instance;
  const win = options.window || (typeof window !== 'undefined' ? window : null);
  const listeners = new Set();
  const dock = []; // docked routes, the top one is showing
  const urlPath = () => (win ? win.location.pathname + win.location.search + win.location.hash : '/');
  let current = { path: urlPath(), mode: 'url' };

  function emit(previous) {
    const ev = { ...current, previous };
    for (const fn of [...listeners]) fn(ev);
  }

  function set(next) {
    const previous = current;
    current = next;
    emit(previous);
  }

  const onPop = () => {
    dock.length = 0;
    set({ path: urlPath(), mode: 'url' });
  };
  if (win) win.addEventListener('popstate', onPop);

  instance = {
    navigate(path, { mode = 'url', replace = false, reload = false } = {}) {
      if (typeof path !== 'string' || !path) throw new TypeError('navigate: path must be a non-empty string');
      if (mode === 'dock') {
        if (replace && dock.length) dock[dock.length - 1] = path;
        else dock.push(path);
        set({ path, mode: 'dock' });
        return;
      }
      if (mode !== 'url') throw new TypeError(`navigate: unknown mode ${mode}`);
      dock.length = 0;
      if (win && reload) {
        if (replace) win.location.replace(path);
        else win.location.assign(path);
        return;
      }
      if (win) win.history[replace ? 'replaceState' : 'pushState']({ esyncRoute: path }, '', path);
      set({ path: win ? urlPath() : path, mode: 'url' });
    },
    back() {
      if (dock.length) {
        dock.pop();
        set(dock.length ? { path: dock[dock.length - 1], mode: 'dock' } : { path: urlPath(), mode: 'url' });
        return;
      }
      if (win) win.history.back(); // popstate updates current
    },
    get current() {
      return current;
    },
    get docked() {
      return dock.slice();
    },
    on(type, fn) {
      if (type !== 'change') throw new Error(`unknown event ${type}; only 'change'`);
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    destroy() {
      if (win) win.removeEventListener('popstate', onPop);
      listeners.clear();
      if (instance === this) instance = null;
    },
  };
  return instance;
}
