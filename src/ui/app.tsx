/** The page: sign-in, then the dashboard, refreshed every few seconds while it shows the present. */
import type { JSX } from "preact";
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { CoverageResponse, DecisionDetail, DecisionsResponse, OverviewResponse, PoliciesResponse, SignalsResponse, StatusResponse } from "../gateway/dashboard-types.js";
import { Api, ApiError } from "./api.js";
import { storedKey, storeKey, takeKeyFromLocation } from "./auth.js";
import { DecisionsChart, LatencyChart } from "./charts.js";
import { clock, count, micros, percent, shortHash } from "./format.js";
import { ApprovalsPanel, CategoriesPanel, ObjectivesPanel, ContainmentPanel, CoveragePanel, DecisionsPanel, IncidentsPanel, PoliciesPanel, PrincipalsPanel, QuarantinePanel, ScansPanel, SignalsPanel } from "./panels.js";
import { readViewState, RANGES, viewSearch, type Filters, type ViewState } from "./state.js";
import { parseApprovals, parseIncidents, parseMonitor, parseQuarantine, parseSchedules, type Approval, type Incident, type MonitorSnapshot, type QuarantineEntry, type Schedule } from "./remote.js";

const REFRESH_MS = 3_000;
const SLOW_REFRESH_MS = 30_000;

export function App(): JSX.Element {
  const [key, setKey] = useState<string | null>(() => {
    const fromLink = takeKeyFromLocation();
    if (fromLink) storeKey(fromLink);
    return fromLink ?? storedKey();
  });
  const [loginError, setLoginError] = useState<string | null>(null);
  const signOut = useCallback((reason: string | null) => {
    storeKey(null);
    setKey(null);
    setLoginError(reason);
  }, []);
  if (!key) {
    return (
      <Login
        error={loginError}
        onKey={(value) => {
          storeKey(value);
          setLoginError(null);
          setKey(value);
        }}
      />
    );
  }
  return <Dashboard apiKey={key} onSignOut={signOut} />;
}

function Login({ error, onKey }: { error: string | null; onKey: (key: string) => void }) {
  const [value, setValue] = useState("");
  return (
    <main class="login">
      <form
        class="card login-card"
        onSubmit={(event) => {
          event.preventDefault();
          if (value.trim()) onKey(value.trim());
        }}
      >
        <h1>Bulwark dashboard</h1>
        <p>
          Sign in with the gateway's admin key. On embedded defaults, <code>bulwark serve</code> prints a sign-in link for its session. The key is kept in this tab only.
        </p>
        <label>
          Admin key
          <input type="password" name="key" autoComplete="current-password" value={value} onInput={(event) => setValue((event.target as HTMLInputElement).value)} autoFocus />
        </label>
        {error ? <p class="error" role="alert">{error}</p> : null}
        <button type="submit">Sign in</button>
      </form>
    </main>
  );
}

interface Data {
  status?: StatusResponse;
  overview?: OverviewResponse;
  decisions?: DecisionsResponse;
  signals?: SignalsResponse;
  scans?: SignalsResponse;
  quarantine?: readonly QuarantineEntry[];
  incidents?: readonly Incident[];
  approvals?: readonly Approval[];
  monitor?: MonitorSnapshot;
  schedules?: readonly Schedule[];
  policies?: PoliciesResponse;
  coverage?: CoverageResponse;
}

type Errors = Partial<Record<keyof Data, string>>;

function Dashboard({ apiKey, onSignOut }: { apiKey: string; onSignOut: (reason: string | null) => void }) {
  const api = useMemo(() => new Api(apiKey), [apiKey]);
  const [view, setView] = useState<ViewState>(() => readViewState(window.location.search));
  const [data, setData] = useState<Data>({});
  const [errors, setErrors] = useState<Errors>({});
  const [updatedAt, setUpdatedAt] = useState<number | null>(null);
  const [tick, setTick] = useState(0);
  const [slowTick, setSlowTick] = useState(0);
  const seenSeq = useRef(0);
  const [freshFrom, setFreshFrom] = useState(Number.MAX_SAFE_INTEGER);

  useEffect(() => {
    const search = viewSearch(view);
    if (search !== window.location.search) history.replaceState(null, "", window.location.pathname + search + window.location.hash);
  }, [view]);

  // The window shown: a fixed one (a zoom, or ?until=), or the last RANGE up to now, which moves with every refresh.
  const live = view.live && !view.until && !view.zoom;
  const window_ = useMemo(() => {
    if (view.zoom) return view.zoom;
    const until = view.until ?? new Date().toISOString();
    return { since: new Date(Date.parse(until) - RANGES[view.range]).toISOString(), until };
    // tick: the live window moves on
  }, [view.zoom, view.until, view.range, tick]);

  // Live: the next refresh REFRESH_MS after the last one ended, or later when the store is slow (twice the time the
  // last refresh took), so a busy store is not kept busier by the page.
  const lastDuration = useRef(0);
  const [interval, setIntervalMs] = useState(REFRESH_MS);
  /** Counts finished refreshes, failed ones too: a gateway that did not answer once is asked again. */
  const [cycle, setCycle] = useState(0);
  useEffect(() => {
    if (!live || cycle === 0) return undefined;
    const wait = Math.max(REFRESH_MS, 2 * lastDuration.current);
    setIntervalMs(wait);
    const timer = setTimeout(() => setTick((value) => value + 1), wait);
    return () => clearTimeout(timer);
  }, [live, cycle]);
  useEffect(() => {
    const timer = setInterval(() => setSlowTick((value) => value + 1), SLOW_REFRESH_MS);
    return () => clearInterval(timer);
  }, []);

  const load = useCallback(
    async <K extends keyof Data>(name: K, fetcher: () => Promise<Data[K]>): Promise<Data[K] | undefined> => {
      try {
        const value = await fetcher();
        setData((previous) => ({ ...previous, [name]: value }));
        setErrors((previous) => ({ ...previous, [name]: undefined }));
        return value;
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) {
          onSignOut("The admin key was not accepted (wrong key, or the gateway restarted with a new one).");
          return undefined;
        }
        const message = error instanceof Error ? error.message : String(error);
        setErrors((previous) => ({ ...previous, [name]: message }));
        return undefined;
      }
    },
    [onSignOut],
  );

  // One refresh at a time; one asked for meanwhile (a filter changed) runs right after, with the newest view.
  const inFlight = useRef<Promise<void> | null>(null);
  const latest = useRef<() => Promise<void>>(async () => undefined);
  const queued = useRef(false);
  const refresh = useCallback(async (): Promise<void> => {
    if (inFlight.current) {
      queued.current = true;
      return;
    }
    let finished: () => void = () => undefined;
    inFlight.current = new Promise<void>((resolve) => (finished = resolve));
    const started = performance.now();
    const { since, until } = window_;
    const filters = view.filters;
    try {
      // Status first: it says which of the other admin APIs (quarantine, incidents) this gateway has.
      const status = await load("status", () => api.get<StatusResponse>("/admin/dashboard/status"));
      if (!status) return;
      await Promise.all([
        load("overview", () => api.get<OverviewResponse>("/admin/dashboard/overview", { since, until })),
        load("decisions", async () => {
          const page = await api.get<DecisionsResponse>("/admin/dashboard/decisions", { since, until, limit: 50, ...filters });
          const newest = page.data[0]?.seq ?? 0;
          // Rows newer than what was on screen are marked fresh (after the first load only).
          setFreshFrom(seenSeq.current === 0 ? Number.MAX_SAFE_INTEGER : seenSeq.current + 1);
          seenSeq.current = Math.max(seenSeq.current, newest);
          return page;
        }),
        load("signals", () => api.get<SignalsResponse>("/admin/dashboard/signals", { type: "anomaly.,quarantine.,limit.,drift.,slo.,tool.", limit: 30 })),
        load("scans", () => api.get<SignalsResponse>("/admin/dashboard/signals", { type: "scan.", limit: 30 })),
        status.features.schedules ? load("schedules", async () => parseSchedules(await api.get<unknown>("/admin/schedules"))) : null,
        status.features.quarantine ? load("quarantine", async () => parseQuarantine(await api.get<unknown>("/admin/quarantine"))) : null,
        status.features.incidents ? load("incidents", async () => parseIncidents(await api.get<unknown>("/admin/incidents", { limit: 20 }))) : null,
        status.features.monitor ? load("monitor", async () => parseMonitor(await api.get<unknown>("/admin/monitor"))) : null,
        status.features.approvals ? load("approvals", async () => parseApprovals(await api.get<unknown>("/admin/approvals", { status: "pending", limit: 20 }))) : null,
      ]);
      setUpdatedAt(Date.now());
    } finally {
      lastDuration.current = performance.now() - started;
      setCycle((value) => value + 1);
      inFlight.current = null;
      finished();
      if (queued.current) {
        queued.current = false;
        void latest.current();
      }
    }
  }, [api, load, window_, view.filters]);
  latest.current = refresh;

  useEffect(() => {
    void refresh();
  }, [refresh]);
  // Policy history: the 30 days up to the end of a fixed window, or up to now.
  const policiesUntil = view.zoom?.until ?? view.until ?? undefined;
  useEffect(() => {
    void load("policies", () => api.get<PoliciesResponse>("/admin/dashboard/policies", { until: policiesUntil }));
    void load("coverage", () => api.get<CoverageResponse>("/admin/dashboard/coverage"));
  }, [api, load, slowTick, policiesUntil]);

  const loadDecision = useCallback((id: string) => api.get<DecisionDetail>(`/admin/decisions/${encodeURIComponent(id)}`), [api]);
  const setFilters = (filters: Filters): void => setView((previous) => ({ ...previous, filters }));
  const addFilter = (name: keyof Filters, value: string): void => setView((previous) => ({ ...previous, filters: { ...previous.filters, [name]: value } }));
  const zoom = (since: string, until: string): void => setView((previous) => ({ ...previous, zoom: { since, until } }));
  const act = async (action: () => Promise<unknown>): Promise<string | null> => {
    try {
      await action();
      void refresh();
      return null;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) onSignOut("The admin key was not accepted.");
      return error instanceof Error ? error.message : String(error);
    }
  };

  const { status, overview } = data;
  const features = status?.features;
  const openIncidents = data.incidents?.filter((incident) => incident.status !== "resolved").length;
  return (
    <div class="page">
      <header class="top">
        <div class="brand">
          <h1>Bulwark</h1>
          {status ? (
            <span class="meta" data-testid="policy">
              policy <b>{status.policy.name}</b> <code title={status.policy.hash}>{shortHash(status.policy.hash)}</code> · store {status.store.description}
              {status.store.up ? "" : " (down)"} · upstream {status.upstream}
            </span>
          ) : null}
        </div>
        <div class="controls">
          <label>
            Window
            <select
              name="range"
              value={view.zoom ? "zoom" : view.range}
              onChange={(event) => {
                const value = (event.target as HTMLSelectElement).value;
                if (value in RANGES) setView((previous) => ({ ...previous, range: value as ViewState["range"], zoom: null }));
              }}
            >
              {view.zoom ? <option value="zoom">selection</option> : null}
              {Object.keys(RANGES).map((range) => (
                <option value={range} key={range}>
                  last {range}
                </option>
              ))}
            </select>
          </label>
          {view.zoom ? (
            <button type="button" class="link" onClick={() => setView((previous) => ({ ...previous, zoom: null }))}>
              reset zoom
            </button>
          ) : (
            <label>
              ending
              <input
                type="datetime-local"
                name="until"
                value={view.until ? localInputValue(view.until) : ""}
                onChange={(event) => {
                  const value = (event.target as HTMLInputElement).value;
                  const time = value ? Date.parse(value) : Number.NaN;
                  setView((previous) => ({ ...previous, until: Number.isNaN(time) ? null : new Date(time).toISOString() }));
                }}
              />
              {view.until ? (
                <button type="button" class="link" onClick={() => setView((previous) => ({ ...previous, until: null }))}>
                  now
                </button>
              ) : null}
            </label>
          )}
          <label class="check">
            <input type="checkbox" name="live" checked={view.live} disabled={Boolean(view.until || view.zoom)} onChange={(event) => setView((previous) => ({ ...previous, live: (event.target as HTMLInputElement).checked }))} />
            live
          </label>
          <span class={`updated${live ? " on" : ""}`} data-testid="updated">
            {updatedAt ? (view.until ? `as of ${clock(view.until)}` : `updated ${clock(new Date(updatedAt).toISOString())}`) : "loading…"}
            {overview ? ` · store ${overview.queryMs} ms` : ""}
          </span>
          <button type="button" class="link" onClick={() => onSignOut(null)}>
            sign out
          </button>
        </div>
      </header>

      <section class="cards" aria-label="totals">
        <Card label="decisions" value={overview ? count(overview.totals.total) : "–"} testid="total" />
        <Card label="blocked" value={overview ? count(overview.totals.block) : "–"} sub={overview ? percent(overview.totals.blockRate) : undefined} tone="block" testid="blocked" />
        <Card label="flagged" value={overview ? count(overview.totals.flag) : "–"} tone="flag" testid="flagged" />
        <Card label="redacted" value={overview ? count(overview.totals.redact) : "–"} tone="redact" testid="redacted" />
        <Card label="degraded" value={overview ? count(overview.totals.degraded) : "–"} testid="degraded" />
        <Card label={`guard latency p95${overview?.totals.latencyP50Us ? ` (p50 ${micros(overview.totals.latencyP50Us)})` : ""}`} value={overview ? micros(overview.totals.latencyP95Us) : "–"} testid="latency" />
        <Card label="open incidents" value={openIncidents === undefined ? "–" : String(openIncidents)} tone={openIncidents ? "block" : undefined} testid="incidents" />
        <Card label="quarantined" value={data.quarantine ? String(data.quarantine.length) : "–"} tone={data.quarantine?.length ? "block" : undefined} testid="quarantined" />
      </section>
      {errors.overview ? <p class="error" role="alert">{errors.overview}</p> : null}

      <section class="grid two">
        <Panel title="Decisions and block rate" note={overview ? `${overview.bucketSeconds / 60}-minute buckets · drag to zoom` : undefined}>
          {overview ? <DecisionsChart series={overview.series} bucketSeconds={overview.bucketSeconds} onSelect={zoom} label="decisions over time" /> : <Empty />}
        </Panel>
        <Panel title="Guard latency" note="p50 and p95 per bucket">
          {overview ? <LatencyChart series={overview.series} bucketSeconds={overview.bucketSeconds} onSelect={zoom} label="guard latency over time" /> : <Empty />}
        </Panel>
      </section>

      <section class="grid three">
        <Panel title="Top principals">{overview ? <PrincipalsPanel rows={overview.topPrincipals} onPick={(principal) => addFilter("principal", principal)} /> : <Empty />}</Panel>
        <Panel title="Categories">{overview ? <CategoriesPanel rows={overview.categories} onPick={(category) => addFilter("category", category)} /> : <Empty />}</Panel>
        <Panel title="Containment" note="decisions in which a layer failed, and what the failure mode did">
          {overview ? <ContainmentPanel containment={overview.containment} /> : <Empty />}
        </Panel>
      </section>

      <Panel title="Failure boundaries" id="objectives" note="objectives from the policy (monitor.objectives), their error budgets, and drift">
        <ObjectivesPanel available={features?.monitor ?? false} snapshot={data.monitor} error={errors.monitor} onRun={() => act(() => api.post("/admin/monitor/run", {}))} />
      </Panel>

      <Panel title="Live decisions" note={live ? `refreshing every ${Math.round(interval / 100) / 10} s` : "paused"} id="decisions">
        <DecisionsPanel
          page={data.decisions}
          error={errors.decisions}
          filters={view.filters}
          onFilters={setFilters}
          principals={overview?.topPrincipals.map((row) => row.principal) ?? []}
          categories={overview?.categories.map((row) => row.category) ?? []}
          freshFrom={freshFrom}
          onDetail={loadDecision}
          onBenign={features?.monitor ? (id) => act(() => api.post(`/admin/decisions/${encodeURIComponent(id)}/false-positive`, {})) : undefined}
        />
      </Panel>

      <section class="grid two">
        <Panel title="Quarantine" id="quarantine">
          <QuarantinePanel
            available={features?.quarantine ?? false}
            entries={data.quarantine}
            error={errors.quarantine}
            onAdd={(principal, reason) => act(() => api.post("/admin/quarantine", { principal, reason }))}
            onRelease={(principal) => act(() => api.delete(`/admin/quarantine/${encodeURIComponent(principal)}`))}
          />
        </Panel>
        <Panel title="Anomalies, limits, drift" id="signals">
          <SignalsPanel page={data.signals} error={errors.signals} onPick={(principal) => addFilter("principal", principal)} />
        </Panel>
      </section>

      <section class="grid two">
        <Panel title="Incidents" id="incidents">
          <IncidentsPanel
            available={features?.incidents ?? false}
            incidents={data.incidents}
            error={errors.incidents}
            onAcknowledge={(id) => act(() => api.post(`/admin/incidents/${encodeURIComponent(id)}/acknowledge`, {}))}
            onResolve={(id) => act(() => api.post(`/admin/incidents/${encodeURIComponent(id)}/resolve`, {}))}
            onExport={async (id) => {
              try {
                download(`incident-${id}.md`, await api.text(`/admin/incidents/${encodeURIComponent(id)}/export`, { format: "md" }), "text/markdown");
                return null;
              } catch (error) {
                return error instanceof Error ? error.message : String(error);
              }
            }}
          />
        </Panel>
        <Panel title="Tool calls waiting for approval" id="approvals">
          <ApprovalsPanel
            available={features?.approvals ?? false}
            approvals={data.approvals}
            error={errors.approvals}
            onDecide={(id, verdict) => act(() => api.post(`/admin/approvals/${encodeURIComponent(id)}/${verdict}`, {}))}
          />
        </Panel>
      </section>

      <section class="grid three">
        <Panel title="Policy versions" id="policies">
          <PoliciesPanel policies={data.policies} error={errors.policies} />
        </Panel>
        <Panel title="Latest scans" id="scans">
          <ScansPanel
            page={data.scans}
            schedules={features?.schedules ? data.schedules : undefined}
            error={errors.scans ?? errors.schedules}
            onRun={features?.schedules ? (name) => act(() => api.post(`/admin/schedules/${encodeURIComponent(name)}/run`, {})) : undefined}
          />
        </Panel>
        <Panel title="Threat-model coverage" id="coverage" note={data.coverage?.model ? "the system model's threats and the library's controls against the running policy" : "the threat library's policy controls against the running policy"}>
          <CoveragePanel coverage={data.coverage} error={errors.coverage} />
        </Panel>
      </section>
    </div>
  );
}

function Card({ label, value, sub, tone, testid }: { label: string; value: string; sub?: string | undefined; tone?: "block" | "flag" | "redact" | undefined; testid: string }) {
  return (
    <div class={`card stat${tone ? ` ${tone}` : ""}`} data-testid={`card-${testid}`}>
      <div class="value">
        {value}
        {sub ? <small> {sub}</small> : null}
      </div>
      <div class="label">{label}</div>
    </div>
  );
}

function Panel({ title, note, id, children }: { title: string; note?: string | undefined; id?: string; children: preact.ComponentChildren }) {
  return (
    <section class="card panel" id={id} aria-label={title}>
      <header>
        <h2>{title}</h2>
        {note ? <span class="note">{note}</span> : null}
      </header>
      {children}
    </section>
  );
}

function Empty() {
  return <p class="empty">loading…</p>;
}

/** An ISO time as the value of a datetime-local input (local time, to the minute). */
function localInputValue(iso: string): string {
  const date = new Date(iso);
  const two = (value: number): string => String(value).padStart(2, "0");
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}T${two(date.getHours())}:${two(date.getMinutes())}`;
}

/** Offers text as a file download (a blob URL: the export needed the admin key, so a plain link would not do). */
function download(name: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
