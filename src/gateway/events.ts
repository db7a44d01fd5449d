/**
 * Guard decisions as audit events: what was decided about which text, for whom,
 * with a short excerpt from which secrets and personal data are cut out.
 */
import { guessScript } from "../monitor/script.js";
import { sortableId } from "../util/sortable-id.js";
import type { Decision, DecidedFinding } from "../guard/types.js";
import type { AdminEvent, DecisionEvent, SignalEvent } from "../store/types.js";

/** Categories whose matched text must never reach the audit trail. */
const SENSITIVE = new Set<string>(["secret", "pii", "canary_leak", "system_prompt_leak", "exfiltration"]);
const EXCERPT_CHARS = 160;

export interface DecisionContext {
  readonly requestId: string;
  readonly principal: string;
  readonly keyId: string;
  readonly route: string;
  readonly model: string;
  readonly location: string;
}

export function decisionEvent(decision: Decision, context: DecisionContext): DecisionEvent {
  return {
    kind: "decision",
    id: decision.id,
    time: new Date().toISOString(),
    requestId: context.requestId,
    principal: context.principal,
    keyId: context.keyId,
    route: context.route,
    model: context.model,
    stage: decision.stage,
    role: decision.role,
    location: context.location,
    action: decision.action,
    categories: decision.categories,
    score: round(decision.score),
    findings: decision.findings.map((finding) => ({
      detector: finding.detector,
      category: finding.category,
      score: round(finding.score),
      action: finding.action,
      ...(finding.ruleId ? { ruleId: finding.ruleId } : {}),
    })),
    layers: decision.layers.map((layer) => ({ name: layer.name, status: layer.status, durationUs: layer.durationUs })),
    degraded: decision.degraded,
    policyName: decision.policyName,
    policyHash: decision.policyHash,
    latencyUs: decision.latencyUs,
    excerpt: safeExcerpt(decision),
    // For drift (src/monitor/drift.ts): how long the text was, and its script.
    textLength: decision.text.length,
    script: guessScript(decision.text),
  };
}

/** A signal (tool decision, limit or quarantine change, admin mark) stamped with a fresh id and the time now. */
export function signalEvent(fields: Omit<SignalEvent, "kind" | "id" | "time">): SignalEvent {
  return { kind: "signal", id: sortableId(), time: new Date().toISOString(), ...fields };
}

export function adminEvent(adminId: string, route: string, operation: string, detail: AdminEvent["detail"]): AdminEvent {
  return { kind: "admin", id: sortableId(), time: new Date().toISOString(), principal: adminId, route, operation, detail };
}

/**
 * An excerpt with every sensitive finding's span cut out. When a sensitive
 * finding has no span (so its text cannot be located), or redaction has already
 * moved the offsets, the excerpt is left empty rather than risk the value.
 */
export function safeExcerpt(decision: Decision): string {
  const sensitive = decision.findings.filter((finding) => SENSITIVE.has(finding.category));
  let text: string;
  if (sensitive.length === 0) {
    text = decision.text;
  } else if (sensitive.some((finding) => !finding.span)) {
    return "";
  } else if (decision.action === "redact") {
    // decision.text is already redacted, but only for findings whose own action was redact.
    if (sensitive.some((finding) => finding.action !== "redact")) return "";
    text = decision.text;
  } else {
    text = cutSpans(decision.text, sensitive);
  }
  return truncateCodePoints(text, EXCERPT_CHARS);
}

/** At most `max` code points of `text` (the last one an ellipsis when cut), reading no further than needed. */
export function truncateCodePoints(text: string, max: number): string {
  if (text.length <= max) return text; // max UTF-16 units are at most max code points
  let units = 0;
  let cut = 0;
  for (let points = 0; points < max; points++) {
    if (units >= text.length) return text;
    if (points === max - 1) cut = units;
    const code = text.charCodeAt(units);
    units += code >= 0xd800 && code <= 0xdbff && (text.charCodeAt(units + 1) & 0xfc00) === 0xdc00 ? 2 : 1;
  }
  return units >= text.length ? text : text.slice(0, cut) + "…";
}

function cutSpans(text: string, findings: readonly DecidedFinding[]): string {
  const spans = findings.map((finding) => finding.span!).sort((a, b) => a.start - b.start);
  let out = "";
  let at = 0;
  for (const span of spans) {
    if (span.end <= at) continue;
    out += text.slice(at, Math.max(at, span.start)) + "[…]";
    at = Math.max(at, span.end);
  }
  return out + text.slice(at);
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
