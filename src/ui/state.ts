/** What the page shows (window, filters, live), kept in the address bar so a view can be shared or reloaded. */
export const RANGES = { "15m": 15 * 60_000, "1h": 3_600_000, "6h": 6 * 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000 } as const;

export interface Filters {
  readonly principal?: string;
  readonly category?: string;
  readonly action?: string;
}

export interface ViewState {
  readonly range: keyof typeof RANGES;
  /** A fixed end of the window (ISO); without it the window ends now and moves. */
  readonly until: string | null;
  /** A window chosen by dragging across a chart. */
  readonly zoom: { readonly since: string; readonly until: string } | null;
  readonly filters: Filters;
  readonly live: boolean;
}

const ACTIONS = new Set(["allow", "flag", "redact", "block"]);

function isoOrNull(value: string | null): string | null {
  if (!value) return null;
  const time = Date.parse(value);
  return Number.isNaN(time) ? null : new Date(time).toISOString();
}

export function readViewState(search: string): ViewState {
  const params = new URLSearchParams(search);
  const range = params.get("range");
  const since = isoOrNull(params.get("since"));
  const until = isoOrNull(params.get("until"));
  const action = params.get("action");
  const filters: Filters = {
    ...(params.get("principal") ? { principal: params.get("principal")!.slice(0, 128) } : {}),
    ...(params.get("category") ? { category: params.get("category")!.slice(0, 64) } : {}),
    ...(action && ACTIONS.has(action) ? { action } : {}),
  };
  return {
    range: range && range in RANGES ? (range as ViewState["range"]) : "1h",
    until: since ? null : until,
    zoom: since && until && Date.parse(since) < Date.parse(until) ? { since, until } : null,
    filters,
    live: params.get("live") !== "0",
  };
}

/** The query string that reads back as `view` (empty for the default view). */
export function viewSearch(view: ViewState): string {
  const params = new URLSearchParams();
  if (view.range !== "1h") params.set("range", view.range);
  if (view.zoom) {
    params.set("since", view.zoom.since);
    params.set("until", view.zoom.until);
  } else if (view.until) params.set("until", view.until);
  for (const [name, value] of Object.entries(view.filters)) if (value) params.set(name, value);
  if (!view.live) params.set("live", "0");
  const search = params.toString();
  return search ? `?${search}` : "";
}
