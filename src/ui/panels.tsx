/** The dashboard's tables and controls; each shows what the store answered, or says why it cannot. */
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { CategoryCount, Containment, CoverageResponse, DecisionDetail, DecisionsResponse, PoliciesResponse, PrincipalCount, SignalsResponse } from "../gateway/dashboard-types.js";
import { clock, count, dateTime, micros, percent, shortDateTime, shortHash } from "./format.js";
import type { Approval, Incident, MonitorSnapshot, QuarantineEntry, Schedule } from "./remote.js";
import type { Filters } from "./state.js";

function ErrorLine({ error }: { error: string | undefined }) {
  return error ? (
    <p class="error" role="alert">
      {error}
    </p>
  ) : null;
}

function None({ children }: { children: preact.ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

export function PrincipalsPanel({ rows, onPick }: { rows: readonly PrincipalCount[]; onPick: (principal: string) => void }): JSX.Element {
  if (rows.length === 0) return <None>No decisions in this window.</None>;
  return (
    <table class="compact" data-testid="top-principals">
      <thead>
        <tr>
          <th>principal</th>
          <th class="num">decisions</th>
          <th class="num">blocked</th>
          <th class="num">block rate</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={row.principal}>
            <td>
              <button type="button" class="link" title="show only this principal's decisions" onClick={() => onPick(row.principal)}>
                {row.principal}
              </button>
            </td>
            <td class="num">{count(row.decisions)}</td>
            <td class="num">{count(row.blocks)}</td>
            <td class="num">
              <Bar fraction={row.blockRate} />
              {percent(row.blockRate)}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Bar({ fraction }: { fraction: number }) {
  // A meter element: sized by its value attribute, so no inline style is needed under the page's CSP.
  return <meter class="rate" min={0} max={1} value={Math.min(1, Math.max(0, fraction))} />;
}

export function CategoriesPanel({ rows, onPick }: { rows: readonly CategoryCount[]; onPick: (category: string) => void }): JSX.Element {
  if (rows.length === 0) return <None>No categories named in this window.</None>;
  const most = Math.max(...rows.map((row) => row.decisions));
  return (
    <table class="compact" data-testid="categories">
      <thead>
        <tr>
          <th>category</th>
          <th class="num">decisions</th>
          <th class="num">blocked</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={row.category}>
            <td>
              <button type="button" class="link" title="show only decisions in this category" onClick={() => onPick(row.category)}>
                {row.category}
              </button>
            </td>
            <td class="num">
              <meter class="share" min={0} max={most} value={row.decisions} />
              {count(row.decisions)}
            </td>
            <td class="num">{count(row.blocks)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function ContainmentPanel({ containment }: { containment: Containment }): JSX.Element {
  if (containment.decisions === 0) return <None>No decisions in this window.</None>;
  if (containment.degraded === 0) return <None>No layer failed in {count(containment.decisions)} decisions.</None>;
  const byAction = containment.degradedByAction;
  return (
    <div data-testid="containment">
      <p class="summary">
        {count(containment.degraded)} of {count(containment.decisions)} decisions ran degraded ({percent(containment.degraded / containment.decisions)}): {byAction.block} blocked, {byAction.allow} allowed,{" "}
        {byAction.flag + byAction.redact} flagged or redacted.
      </p>
      <table class="compact">
        <thead>
          <tr>
            <th>layer</th>
            <th>failure</th>
            <th class="num">decisions</th>
            <th class="num">then blocked</th>
            <th class="num">then allowed</th>
          </tr>
        </thead>
        <tbody>
          {containment.byLayer.map((row) => (
            <tr key={`${row.layer}/${row.status}`}>
              <td>{row.layer}</td>
              <td>{row.status}</td>
              <td class="num">{count(row.decisions)}</td>
              <td class="num">{count(row.blocked)}</td>
              <td class="num">{count(row.allowed)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function DecisionsPanel({
  page,
  error,
  filters,
  onFilters,
  principals,
  categories,
  freshFrom,
  onDetail,
  onBenign,
}: {
  page: DecisionsResponse | undefined;
  error: string | undefined;
  filters: Filters;
  onFilters: (filters: Filters) => void;
  principals: readonly string[];
  categories: readonly string[];
  freshFrom: number;
  /** Loads one decision in full (findings, layers, chain position). */
  onDetail: (id: string) => Promise<DecisionDetail>;
  /** Marks a block as blocked-but-benign (the monitor's false-positive feedback); absent without the monitor. */
  onBenign?: ((id: string) => Promise<string | null>) | undefined;
}): JSX.Element {
  const [principal, setPrincipal] = useState(filters.principal ?? "");
  const [marked, setMarked] = useState<Readonly<Record<string, string>>>({});
  const [open, setOpen] = useState<string | null>(null);
  const set = (name: keyof Filters, value: string): void => {
    const next: Record<string, string> = { ...filters };
    if (value) next[name] = value;
    else delete next[name];
    onFilters(next);
  };
  // Keep the text box in step when a filter is set from elsewhere (a click on a principal).
  useEffect(() => setPrincipal(filters.principal ?? ""), [filters.principal]);
  const active = Object.values(filters).some(Boolean);
  return (
    <div>
      <form
        class="filters"
        aria-label="filters"
        onSubmit={(event) => {
          event.preventDefault();
          set("principal", principal.trim());
        }}
      >
        <label>
          principal
          <input name="principal" list="principal-list" value={principal} placeholder="any" onInput={(event) => setPrincipal((event.target as HTMLInputElement).value)} onChange={(event) => set("principal", (event.target as HTMLInputElement).value.trim())} />
          <datalist id="principal-list">
            {principals.map((name) => (
              <option value={name} key={name} />
            ))}
          </datalist>
        </label>
        <label>
          category
          <select name="category" value={filters.category ?? ""} onChange={(event) => set("category", (event.target as HTMLSelectElement).value)}>
            <option value="">any</option>
            {[...new Set([...categories, ...(filters.category ? [filters.category] : [])])].map((name) => (
              <option value={name} key={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label>
          action
          <select name="action" value={filters.action ?? ""} onChange={(event) => set("action", (event.target as HTMLSelectElement).value)}>
            <option value="">any</option>
            {["allow", "flag", "redact", "block"].map((name) => (
              <option value={name} key={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        {active ? (
          <button type="button" class="link" onClick={() => onFilters({})}>
            clear filters
          </button>
        ) : null}
      </form>
      <ErrorLine error={error} />
      {!page ? (
        <None>loading…</None>
      ) : page.data.length === 0 ? (
        <None>No decisions match{active ? " these filters" : ""} in this window.</None>
      ) : (
        <div class="scroll">
          <table data-testid="decisions">
            <thead>
              <tr>
                <th>time</th>
                <th>principal</th>
                <th>stage</th>
                <th>action</th>
                <th>categories</th>
                <th class="num">score</th>
                <th class="num">latency</th>
                <th>excerpt</th>
                {onBenign ? <th /> : null}
              </tr>
            </thead>
            <tbody>
              {page.data.map((row) => [
                <tr key={row.id} class={row.seq >= freshFrom ? "fresh" : undefined} data-action={row.action} title={`decision ${row.id} · request ${row.requestId} · ${row.model} · policy ${shortHash(row.policyHash)}`}>
                  <td class="time">
                    <button type="button" class="link expand" aria-expanded={open === row.id} title="show the whole decision" onClick={() => setOpen(open === row.id ? null : row.id)}>
                      {open === row.id ? "▾" : "▸"} {clock(row.time)}
                    </button>
                  </td>
                  <td>{row.principal}</td>
                  <td>{row.stage}</td>
                  <td>
                    <span class={`pill ${row.action}`}>{row.action}</span>
                    {row.degraded ? <span class="pill degraded">degraded</span> : null}
                  </td>
                  <td>{row.categories.join(", ") || "–"}</td>
                  <td class="num">{row.score.toFixed(2)}</td>
                  <td class="num">{micros(row.latencyUs)}</td>
                  <td class="excerpt">{row.excerpt || <i>withheld</i>}</td>
                  {onBenign ? (
                    <td>
                      {row.action !== "block" ? null : marked[row.id] ? (
                        <span class="note">{marked[row.id]}</span>
                      ) : (
                        <button
                          type="button"
                          class="link"
                          title="record this block as blocked-but-benign (counts against the blocked-benign objective)"
                          onClick={async () => {
                            const failure = await onBenign(row.id);
                            setMarked((previous) => ({ ...previous, [row.id]: failure ?? "marked benign" }));
                          }}
                        >
                          benign?
                        </button>
                      )}
                    </td>
                  ) : null}
                </tr>,
                open === row.id ? (
                  <tr key={`${row.id}-detail`} class="detail">
                    <td colSpan={onBenign ? 9 : 8}>
                      <DecisionDetailView id={row.id} load={onDetail} />
                    </td>
                  </tr>
                ) : null,
              ])}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

export function QuarantinePanel({
  available,
  entries,
  error,
  onAdd,
  onRelease,
}: {
  available: boolean;
  entries: readonly QuarantineEntry[] | undefined;
  error: string | undefined;
  onAdd: (principal: string, reason: string) => Promise<string | null>;
  onRelease: (principal: string) => Promise<string | null>;
}): JSX.Element {
  const [principal, setPrincipal] = useState("");
  const [reason, setReason] = useState("");
  const [actionError, setActionError] = useState<string | null>(null);
  if (!available) return <None>This gateway has no quarantine API (/admin/quarantine).</None>;
  return (
    <div>
      <ErrorLine error={error} />
      {entries && entries.length === 0 ? <None>No principal is quarantined.</None> : null}
      {entries && entries.length > 0 ? (
        <table class="compact" data-testid="quarantine">
          <thead>
            <tr>
              <th>principal</th>
              <th>since</th>
              <th>until</th>
              <th>by</th>
              <th>reason</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {entries.map((entry) => (
              <tr key={entry.principal}>
                <td>{entry.principal}</td>
                <td class="time">{entry.since ? clock(entry.since) : "–"}</td>
                <td class="time">{entry.until ? clock(entry.until) : "released by hand"}</td>
                <td>{entry.by}</td>
                <td>{entry.reason}</td>
                <td>
                  <button type="button" onClick={async () => setActionError(await onRelease(entry.principal))}>
                    release
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <form
        class="inline"
        aria-label="quarantine a principal"
        onSubmit={async (event) => {
          event.preventDefault();
          if (!principal.trim()) return;
          const failure = await onAdd(principal.trim(), reason.trim() || "quarantined from the dashboard");
          setActionError(failure);
          if (!failure) {
            setPrincipal("");
            setReason("");
          }
        }}
      >
        <input name="quarantine-principal" placeholder="principal" value={principal} onInput={(event) => setPrincipal((event.target as HTMLInputElement).value)} />
        <input name="quarantine-reason" placeholder="reason" value={reason} onInput={(event) => setReason((event.target as HTMLInputElement).value)} />
        <button type="submit">quarantine</button>
      </form>
      {actionError ? (
        <p class="error" role="alert">
          {actionError}
        </p>
      ) : null}
    </div>
  );
}

export function SignalsPanel({ page, error, onPick }: { page: SignalsResponse | undefined; error: string | undefined; onPick: (principal: string) => void }): JSX.Element {
  return (
    <div>
      <ErrorLine error={error} />
      {!page ? null : page.data.length === 0 ? (
        <None>No anomalies, limit hits, quarantines or drift recorded.</None>
      ) : (
        <ul class="signals" data-testid="signals">
          {page.data.map((signal) => (
            <li key={signal.id} class={`sev-${signal.severity}`}>
              <span class="time">{clock(signal.time)}</span> <span class={`pill sev ${signal.severity}`}>{signal.severity}</span> <code>{signal.type}</code>{" "}
              {signal.principal ? (
                <button type="button" class="link" onClick={() => onPick(signal.principal!)}>
                  {signal.principal}
                </button>
              ) : null}{" "}
              {signal.summary}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function IncidentsPanel({
  available,
  incidents,
  error,
  onAcknowledge,
  onResolve,
  onExport,
}: {
  available: boolean;
  incidents: readonly Incident[] | undefined;
  error: string | undefined;
  onAcknowledge: (id: string) => Promise<string | null>;
  onResolve: (id: string) => Promise<string | null>;
  /** Downloads the incident with its timeline (Markdown). */
  onExport: (id: string) => Promise<string | null>;
}): JSX.Element {
  const [actionError, setActionError] = useState<string | null>(null);
  if (!available) return <None>This gateway has no incidents API (/admin/incidents).</None>;
  return (
    <div>
      <ErrorLine error={error ?? actionError ?? undefined} />
      {!incidents ? null : incidents.length === 0 ? (
        <None>No incidents.</None>
      ) : (
        <table class="compact" data-testid="incidents">
          <thead>
            <tr>
              <th>opened</th>
              <th>severity</th>
              <th>status</th>
              <th>incident</th>
              <th>concerns</th>
              <th>rule</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {incidents.map((incident) => (
              <tr key={incident.id} data-status={incident.status}>
                <td class="time">{incident.openedAt ? dateTime(incident.openedAt) : "–"}</td>
                <td>
                  <span class={`pill sev ${incident.severity}`}>{incident.severity}</span>
                </td>
                <td>{incident.status}</td>
                <td>
                  {incident.title}
                  {incident.runbook ? (
                    <>
                      {" "}
                      <a href={incident.runbook} target="_blank" rel="noopener noreferrer">
                        runbook
                      </a>
                    </>
                  ) : null}
                </td>
                <td>{incident.principal ?? "–"}</td>
                <td>
                  <code>{incident.rule}</code>
                </td>
                <td class="actions">
                  {incident.status === "open" ? (
                    <button type="button" onClick={async () => setActionError(await onAcknowledge(incident.id))}>
                      acknowledge
                    </button>
                  ) : null}
                  {incident.status !== "resolved" ? (
                    <button type="button" onClick={async () => setActionError(await onResolve(incident.id))}>
                      resolve
                    </button>
                  ) : null}
                  <button type="button" class="link" title="download the incident with its timeline (Markdown)" onClick={async () => setActionError(await onExport(incident.id))}>
                    export
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

export function PoliciesPanel({ policies, error }: { policies: PoliciesResponse | undefined; error: string | undefined }): JSX.Element {
  if (!policies) return <ErrorLine error={error} />;
  return (
    <div data-testid="policies">
      <ErrorLine error={error} />
      <p class="summary">
        Running <b>{policies.current.name}</b> <code title={policies.current.hash}>{shortHash(policies.current.hash)}</code> from {policies.current.source}.
      </p>
      {policies.versions.length === 0 ? <None>No decisions in the 30 days up to {dateTime(policies.until)}.</None> : null}
      {policies.versions.length > 0 ? (
        <table class="compact">
          <thead>
            <tr>
              <th>policy</th>
              <th>first seen</th>
              <th>last seen</th>
              <th class="num">decisions</th>
            </tr>
          </thead>
          <tbody>
            {policies.versions.map((version) => (
              <tr key={version.policyHash} class={version.policyHash === policies.current.hash ? "current" : undefined}>
                <td>
                  {version.policyName} <code title={version.policyHash}>{shortHash(version.policyHash)}</code>
                </td>
                <td class="time" title={dateTime(version.firstSeen)}>{shortDateTime(version.firstSeen)}</td>
                <td class="time" title={dateTime(version.lastSeen)}>{shortDateTime(version.lastSeen)}</td>
                <td class="num">{count(version.decisions)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {policies.reloads.length > 0 ? (
        <ul class="signals">
          {policies.reloads.map((reload) => (
            <li key={reload.time}>
              <span class="time">{dateTime(reload.time)}</span> reload by {reload.principal}: {reload.ok ? "applied" : `rejected (${reload.error ?? "invalid"})`}
            </li>
          ))}
        </ul>
      ) : (
        <None>No reloads from the admin API recorded.</None>
      )}
    </div>
  );
}

export function ScansPanel({
  page,
  schedules,
  error,
  onRun,
}: {
  page: SignalsResponse | undefined;
  schedules: readonly Schedule[] | undefined;
  error: string | undefined;
  onRun: ((name: string) => Promise<string | null>) | undefined;
}): JSX.Element {
  const [actionError, setActionError] = useState<string | null>(null);
  const [started, setStarted] = useState<Readonly<Record<string, true>>>({});
  // The newest scan.completed of each schedule (the list is newest first).
  const latest = new Map<string, SignalsResponse["data"][number]>();
  for (const signal of page?.data ?? []) {
    const name = typeof signal.detail.schedule === "string" ? signal.detail.schedule : null;
    if (signal.type === "scan.completed" && name && !latest.has(name)) latest.set(name, signal);
  }
  const names = [...new Set([...(schedules ?? []).map((schedule) => schedule.name), ...latest.keys()])];
  const others = (page?.data ?? []).filter((signal) => signal.type !== "scan.completed");
  const withNextRun = (schedules ?? []).some((schedule) => schedule.nextRun !== null);
  return (
    <div>
      <ErrorLine error={error ?? actionError ?? undefined} />
      {names.length === 0 ? (
        <None>{schedules ? "No scheduled scans configured." : "No scheduled scan has reported yet (scan.* events)."}</None>
      ) : (
        <table class="compact" data-testid="scans">
          <thead>
            <tr>
              <th>schedule</th>
              <th>last run</th>
              <th class="num">attacks through</th>
              <th>verdict</th>
              {withNextRun ? <th>next run</th> : null}
              {onRun && schedules?.length ? <th /> : null}
            </tr>
          </thead>
          <tbody>
            {names.map((name) => {
              const last = latest.get(name);
              const detail = last?.detail ?? {};
              const total = typeof detail.total === "number" ? detail.total : null;
              const failed = typeof detail.failed === "number" ? detail.failed : null;
              const verdict = !last ? "–" : detail.baselineEstablished === true ? "baseline kept" : detail.passed === false ? "regressed" : "no regression";
              const schedule = schedules?.find((entry) => entry.name === name);
              return (
                <tr key={name} data-verdict={verdict}>
                  <td title={schedule ? `${schedule.cron} as ${schedule.principal}` : undefined}>{name}</td>
                  <td class="time" title={last ? dateTime(last.time) : undefined}>{last ? shortDateTime(last.time) : "not yet"}</td>
                  <td class="num">{total !== null && failed !== null ? `${failed} / ${total} (${percent(total ? failed / total : 0)})` : "–"}</td>
                  <td>{verdict === "regressed" ? <span class="pill block">regressed</span> : verdict}</td>
                  {withNextRun ? <td class="time">{schedule?.nextRun ? shortDateTime(schedule.nextRun) : "–"}</td> : null}
                  {onRun && schedules?.length ? (
                    <td>
                      {!schedule ? null : started[name] ? (
                        <span class="note">started</span>
                      ) : (
                        <button
                          type="button"
                          onClick={async () => {
                            const failure = await onRun(name);
                            setActionError(failure);
                            if (!failure) setStarted((previous) => ({ ...previous, [name]: true }));
                          }}
                        >
                          run now
                        </button>
                      )}
                    </td>
                  ) : null}
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {others.length > 0 ? (
        <ul class="signals">
          {others.map((signal) => (
            <li key={signal.id} class={`sev-${signal.severity}`}>
              <span class="time">{dateTime(signal.time)}</span> <code>{signal.type}</code> {signal.summary}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

export function CoveragePanel({ coverage, error }: { coverage: CoverageResponse | undefined; error: string | undefined }): JSX.Element {
  if (!coverage) return <ErrorLine error={error} />;
  const { summary } = coverage;
  const missing = coverage.controls.filter((control) => control.status === "missing");
  const model = coverage.model;
  return (
    <div data-testid="coverage">
      {model ? (
        <div class="model" data-testid="model-coverage">
          <p class="summary" title={model.source}>
            System model <b>{model.name}</b>: {model.threats} threats, {model.open} open; residual {model.residual.critical} critical, {model.residual.high} high, {model.residual.medium} medium,{" "}
            {model.residual.low} low.{" "}
            {model.evidence ? `Scan evidence: ${model.tested.tested_held} held, ${model.tested.tested_failed} failed, ${model.tested.untested} untested.` : "No scan evidence yet."}
          </p>
          <table class="compact">
            <thead>
              <tr>
                <th>#</th>
                <th>threat</th>
                <th>residual</th>
                <th class="num">controls</th>
                <th>tested</th>
              </tr>
            </thead>
            <tbody>
              {model.top.map((threat) => (
                <tr key={threat.id} title={threat.id}>
                  <td class="num">{threat.rank}</td>
                  <td>
                    {threat.title}
                    {threat.risk !== "open" ? <span class="note"> ({threat.risk})</span> : null}
                  </td>
                  <td>
                    <span class={`pill sev ${threat.severity}`}>{threat.severity}</span>
                  </td>
                  <td class="num">
                    {threat.inPlace}/{threat.controls}
                  </td>
                  <td>{threat.evidence.replace("tested_", "").replace("_", " ")}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <p class="summary">
        <b>{summary.enforced}</b> of {summary.controls} policy controls enforced; <b>{summary.threatsCovered}</b> of {summary.threats} library threats have at least one enforced mitigation.
      </p>
      <meter class="coverage" min={0} max={summary.controls} value={summary.enforced} />
      {missing.length > 0 ? (
        <ul class="signals">
          {missing.map((control) => (
            <li key={control.id} title={control.reason}>
              <span class="pill block">missing</span> {control.name} <span class="note">({control.threats} threats)</span>
            </li>
          ))}
        </ul>
      ) : (
        <None>Every policy control of the library is enforced.</None>
      )}
    </div>
  );
}

export function ApprovalsPanel({
  available,
  approvals,
  error,
  onDecide,
}: {
  available: boolean;
  approvals: readonly Approval[] | undefined;
  error: string | undefined;
  onDecide: (id: string, verdict: "approve" | "reject") => Promise<string | null>;
}): JSX.Element {
  const [actionError, setActionError] = useState<string | null>(null);
  if (!available) return <None>This gateway has no approvals API (/admin/approvals).</None>;
  return (
    <div>
      <ErrorLine error={error ?? actionError ?? undefined} />
      {!approvals ? null : approvals.length === 0 ? (
        <None>No tool call is waiting for approval.</None>
      ) : (
        <table class="compact" data-testid="approvals">
          <thead>
            <tr>
              <th>held</th>
              <th>principal</th>
              <th>tool call</th>
              <th>why held</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {approvals.map((approval) => (
              <tr key={approval.id}>
                <td class="time">{approval.createdAt ? clock(approval.createdAt) : "–"}</td>
                <td>{approval.principal}</td>
                <td class="excerpt">
                  <code>
                    {approval.tool}({approval.arguments.length > 160 ? `${approval.arguments.slice(0, 159)}…` : approval.arguments})
                  </code>
                </td>
                <td>{approval.reason}</td>
                <td class="actions">
                  <button type="button" onClick={async () => setActionError(await onDecide(approval.id, "approve"))}>
                    approve
                  </button>
                  <button type="button" onClick={async () => setActionError(await onDecide(approval.id, "reject"))}>
                    reject
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function objectiveValue(metric: string, value: number | null): string {
  if (value === null) return "–";
  return metric.endsWith("Ms") ? `${value.toFixed(value < 10 ? 1 : 0)} ms` : metric.endsWith("Rate") ? percent(value) : String(Math.round(value * 100) / 100);
}

export function ObjectivesPanel({
  available,
  snapshot,
  error,
  onRun,
}: {
  available: boolean;
  snapshot: MonitorSnapshot | undefined;
  error: string | undefined;
  onRun: () => Promise<string | null>;
}): JSX.Element {
  const [actionError, setActionError] = useState<string | null>(null);
  if (!available) return <None>This gateway has no monitor (/admin/monitor).</None>;
  if (!snapshot) return <ErrorLine error={error} />;
  return (
    <div data-testid="objectives">
      <ErrorLine error={error ?? actionError ?? undefined} />
      {snapshot.objectives.length === 0 ? (
        <None>{snapshot.note ?? "No objectives in the policy (monitor.objectives)."}</None>
      ) : (
        <table class="compact">
          <thead>
            <tr>
              <th>objective</th>
              <th class="num">observed</th>
              <th class="num">at most</th>
              <th class="num">window</th>
              <th class="num">error budget left</th>
              <th>status</th>
            </tr>
          </thead>
          <tbody>
            {snapshot.objectives.map((objective) => (
              <tr key={objective.name} data-status={objective.status}>
                <td title={objective.metric}>{objective.name}</td>
                <td class="num">{objectiveValue(objective.metric, objective.observed)}</td>
                <td class="num">{objectiveValue(objective.metric, objective.max)}</td>
                <td class="num">{objective.windowHours} h</td>
                <td class="num">
                  {objective.budgetLeft === null ? (
                    "–"
                  ) : (
                    <>
                      <meter class="budget" min={0} max={1} low={0.25} optimum={1} value={Math.max(0, Math.min(1, objective.budgetLeft))} />
                      {percent(Math.max(0, objective.budgetLeft))}
                    </>
                  )}
                </td>
                <td>
                  <span class={`pill ${objective.status === "breached" ? "block" : objective.status === "ok" ? "allow" : ""}`}>{objective.status}</span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {snapshot.drift.length > 0 ? (
        <ul class="signals">
          {snapshot.drift.map((finding) => (
            <li key={`${finding.type}/${finding.key}`}>
              <span class={`pill sev ${finding.severity}`}>{finding.severity}</span> <code>{finding.type}</code> {finding.summary}
            </li>
          ))}
        </ul>
      ) : snapshot.at ? (
        <None>No drift at the last check.</None>
      ) : null}
      <p class="note">
        {snapshot.at ? `checked ${dateTime(snapshot.at)} · ` : ""}
        <button type="button" class="link" onClick={async () => setActionError(await onRun())}>
          check now
        </button>
      </p>
    </div>
  );
}

function DecisionDetailView({ id, load }: { id: string; load: (id: string) => Promise<DecisionDetail> }): JSX.Element {
  const [detail, setDetail] = useState<DecisionDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let current = true;
    load(id).then(
      (value) => current && setDetail(value),
      (failure: unknown) => current && setError(failure instanceof Error ? failure.message : String(failure)),
    );
    return () => {
      current = false;
    };
  }, [id, load]);
  if (error) return <ErrorLine error={error} />;
  if (!detail) return <None>loading…</None>;
  return (
    <div class="decision-detail" data-testid="decision-detail">
      <dl>
        <dt>decision</dt>
        <dd>
          <code>{detail.id}</code>
        </dd>
        <dt>request</dt>
        <dd>
          <code>{detail.requestId}</code> {detail.route} · {detail.model} · key {detail.keyId}
        </dd>
        <dt>checked</dt>
        <dd>
          {detail.stage} {detail.role} text at <code>{detail.location}</code>
        </dd>
        <dt>policy</dt>
        <dd>
          {detail.policyName} <code>{shortHash(detail.policyHash)}</code>
        </dd>
        <dt>audit chain</dt>
        <dd>
          #{detail.seq} <code title={detail.hash}>{detail.hash.slice(0, 16)}…</code>
        </dd>
      </dl>
      {detail.findings.length > 0 ? (
        <table class="compact">
          <thead>
            <tr>
              <th>detector</th>
              <th>category</th>
              <th>rule</th>
              <th class="num">score</th>
              <th>action</th>
            </tr>
          </thead>
          <tbody>
            {detail.findings.map((finding, index) => (
              <tr key={index}>
                <td>{finding.detector}</td>
                <td>{finding.category}</td>
                <td>
                  <code>{finding.ruleId ?? "–"}</code>
                </td>
                <td class="num">{finding.score.toFixed(2)}</td>
                <td>
                  <span class={`pill ${finding.action}`}>{finding.action}</span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <None>No findings.</None>
      )}
      <p class="layers">
        {detail.layers.map((layer) => (
          <span key={layer.name} class={`pill${layer.status === "ok" ? "" : " degraded"}`} title={layer.status}>
            {layer.name} {micros(layer.durationUs)}
            {layer.status === "ok" ? "" : ` (${layer.status})`}
          </span>
        ))}
      </p>
    </div>
  );
}
