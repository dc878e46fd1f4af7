// Types of electric-sync/app-router (dist/app-router.js): docs/contracts.md §7.
export type RouteMode = 'url' | 'dock';
export interface Route { path: string; mode: RouteMode }
export interface RouteChange extends Route { previous: Route }
export interface AppRouter {
  navigate(path: string, options?: { mode?: RouteMode; replace?: boolean; reload?: boolean }): void;
  back(): void;
  readonly current: Route;
  /** the docked paths, top last */
  readonly docked: string[];
  on(type: 'change', fn: (change: RouteChange) => void): () => void;
  destroy(): void;
}
export function useAppRouter(options?: { fresh?: boolean; window?: Window | null }): AppRouter;
