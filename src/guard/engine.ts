/**
 * The guard engine: runs a policy's layers over one piece of text and turns
 * their findings into one decision.
 *
 *   intake (decode, repair) -> transform layers, in order (normalise)
 *     -> detect layers, concurrently -> verify layers, concurrently
 *     -> actions per finding -> redactions -> decision
 *
 * The engine knows nothing of HTTP, files or databases; the CLI, the gateway
 * and the scanner all call `createGuard(...).check(...)`.
 */
import { CATEGORIES, owaspFor, type Category } from "../policy/categories.js";
import { defaultPolicy, resolvePolicy, type LoadedPolicy } from "../policy/load.js";
import type { Policy, PolicyInput } from "../policy/schema.js";
import { builtinLayers } from "../detectors/index.js";
import { actionForScore, moreSevere, thresholdsFor } from "./actions.js";
import { isPromiseLike, runContained, startContained, type ContainedResult, type LayerInputWithoutSignal } from "./contain.js";
import { sortableId } from "../util/sortable-id.js";
import { takeIn } from "./intake.js";
import { defaultViews, TRUST } from "./layer-input.js";
import { applyRedactions } from "./redact.js";
import type { Action, CheckRequest, DecidedFinding, Decision, Finding, Layer, LayerReport, Phase, Redaction, Stage, TextViews } from "./types.js";

export interface GuardOptions {
  /** A loaded policy, a policy object (validated here), or nothing for the built-in default. */
  readonly policy?: LoadedPolicy | PolicyInput;
  /** Extra layers run after the built-in ones of the same phase (your own detectors). */
  readonly layers?: readonly Layer[];
  /** Replace the built-in layers entirely (mostly for tests). */
  readonly replaceBuiltinLayers?: boolean;
}

export interface Guard {
  readonly policy: Policy;
  readonly policyHash: string;
  readonly layers: readonly Layer[];
  check(request: CheckRequest | string): Promise<Decision>;
  /** Runs every layer's one-time loading now (for servers, at start-up). Safe to call more than once. */
  warmUp(): Promise<void>;
}

const PHASES: readonly Phase[] = ["transform", "detect", "verify"];

export function createGuard(options: GuardOptions = {}): Guard {
  const loaded = !options.policy ? defaultPolicy() : isLoaded(options.policy) ? options.policy : resolvePolicy(options.policy, "options.policy");
  const { policy, hash } = loaded;
  const layers = [...(options.replaceBuiltinLayers ? [] : builtinLayers(policy)), ...(options.layers ?? [])];
  const byStage = {
    input: groupByPhase(layers.filter((layer) => layer.stage === "input" || layer.stage === "both")),
    output: groupByPhase(layers.filter((layer) => layer.stage === "output" || layer.stage === "both")),
  };

  const hasRun = new WeakSet<Layer>();
  const coldStart = (layer: Layer): boolean => {
    const first = !hasRun.has(layer);
    hasRun.add(layer);
    return first;
  };
  const run = (layer: Layer, input: LayerInputWithoutSignal): ContainedResult | Promise<ContainedResult> => runContained(layer, input, coldStart(layer));
  const start = (layer: Layer, input: LayerInputWithoutSignal): ReturnType<typeof startContained> => startContained(layer, input, coldStart(layer));
  let warmedUp: Promise<void> | undefined;
  const warmUp = (): Promise<void> => (warmedUp ??= Promise.all(layers.map((layer) => layer.warmUp?.())).then(() => undefined));
  // Before a check, a loading failure is not thrown: the layer that needed it fails its check, contained like any failure.
  let loadedForChecks: Promise<unknown> | undefined;
  const loadForChecks = (): Promise<unknown> => (loadedForChecks ??= warmUp().catch(() => undefined));
  const warmUpFirst = layers.some((layer) => layer.warmUpBeforeFirstCheck === true);

  async function check(request: CheckRequest | string): Promise<Decision> {
    const started = performance.now();
    const { text: rawText, role = "user", stage = "input", session } = typeof request === "string" ? { text: request } : request;
    const { text: original, intake } = takeIn(rawText);
    // Small inputs never need the tokenizer (a token is at least one byte), so only an input
    // that could reach the token limit waits for one-time loading (or every input, when a layer says so).
    if (warmUpFirst || intake.bytes > policy.limits.maxTokens) await loadForChecks();
    const findings: DecidedFinding[] = [];
    const reports: LayerReport[] = [];
    // One mutable record, so that helpers below can update it and TypeScript still sees the changes.
    const state: { action: Action; degraded: boolean } = { action: "allow", degraded: false };
    let text = original;
    let views: TextViews = defaultViews(original);
    const pendingRedactions: Redaction[] = [];

    const record = (layer: Layer, result: ContainedResult): void => {
      const failed = result.status !== "ok";
      const failureMode = layer.failureMode ?? policy.failureMode;
      const layerFindings: Finding[] = result.output?.findings ?? [];
      if (failed) {
        state.degraded = true;
        if (failureMode === "closed") {
          layerFindings.push({ detector: layer.name, category: "guard_failure", score: 1, evidence: `${layer.name} ${result.status}: ${result.error ?? ""}`.trim() });
        }
      }
      reports.push({
        name: layer.name,
        version: layer.version,
        status: result.status,
        durationUs: result.durationUs,
        findings: layerFindings.length,
        ...(failed ? { error: result.error ?? result.status, failureMode } : {}),
      });
      for (const finding of layerFindings) {
        const decided = decide(finding, layer);
        findings.push(decided);
        state.action = moreSevere(state.action, decided.action);
      }
    };

    const decide = (finding: Finding, layer: Layer): DecidedFinding => {
      const category = finding.category;
      let findingAction = category === "guard_failure" ? "block" : actionForScore(thresholdsFor(policy, role, category), finding.score);
      if (findingAction === "redact" && layer.phase !== "transform") {
        if (finding.span) {
          pendingRedactions.push({ category, detector: finding.detector || layer.name, span: finding.span, replacement: finding.replacement ?? `[REDACTED:${category}]` });
        } else {
          // Nothing to cut out: the only safe way to honour "redact" is to withhold the text.
          findingAction = "block";
        }
      }
      return { ...finding, detector: finding.detector || layer.name, action: findingAction };
    };

    const stageLayers = byStage[stage];
    for (const phase of PHASES) {
      const phaseLayers = stageLayers[phase];
      if (phaseLayers.length === 0) continue;
      if (state.action === "block" && policy.earlyExit) {
        for (const layer of phaseLayers) reports.push({ name: layer.name, version: layer.version, status: "skipped", durationUs: 0, findings: 0 });
        continue;
      }
      const base = (): LayerInputWithoutSignal => ({ text, original, views, role, trust: TRUST[role], stage, intake, ...(session ? { session } : {}) });
      if (phase === "transform") {
        for (const layer of phaseLayers) {
          const pending = run(layer, base());
          const result = isPromiseLike(pending) ? await pending : pending;
          record(layer, result);
          if (result.output?.text !== undefined) {
            text = result.output.text;
            views = result.output.views ?? defaultViews(text);
          }
          if (state.action === "block" && policy.earlyExit) break;
        }
      } else {
        const input = base();
        // Layers that hand work to another thread start first, so that it runs while the others do, and are
        // collected (and held to their budgets) after them. Synchronous layers answer at once; only a phase
        // with an asynchronous layer waits.
        const offloaded = phaseLayers.map((layer) => (layer.offloads ? start(layer, input) : null));
        const inPlace = phaseLayers.map((layer, i) => (offloaded[i] ? null : run(layer, input)));
        const pending = inPlace.map((result, i) => result ?? offloaded[i]!());
        const results = pending.some(isPromiseLike) ? await Promise.all(pending) : (pending as ContainedResult[]);
        results.forEach((result, index) => record(phaseLayers[index]!, result));
      }
    }

    let finalText = text;
    let redactions: Redaction[] = [];
    if (state.action === "redact") {
      ({ text: finalText, applied: redactions } = applyRedactions(text, pendingRedactions));
    }
    const categories = uniqueCategories(findings.filter((finding) => finding.action !== "allow"));
    return {
      id: sortableId(),
      action: state.action,
      score: findings.reduce((max, finding) => Math.max(max, finding.score), 0),
      categories,
      owasp: owaspFor(categories),
      findings,
      layers: reports,
      degraded: state.degraded,
      text: finalText,
      redactions,
      role,
      stage,
      policyName: policy.name,
      policyHash: hash,
      latencyUs: Math.round((performance.now() - started) * 1000),
    };
  }

  return { policy, policyHash: hash, layers, check, warmUp };
}

function isLoaded(policy: LoadedPolicy | PolicyInput): policy is LoadedPolicy {
  return typeof (policy as LoadedPolicy).hash === "string" && typeof (policy as LoadedPolicy).policy === "object";
}

function groupByPhase(layers: readonly Layer[]): Record<Phase, Layer[]> {
  const groups: Record<Phase, Layer[]> = { transform: [], detect: [], verify: [] };
  for (const layer of layers) groups[layer.phase].push(layer);
  return groups;
}

const CATEGORY_ORDER = new Map(Object.keys(CATEGORIES).map((category, index) => [category, index]));

function uniqueCategories(findings: readonly Finding[]): Category[] {
  const seen = new Set<Category>();
  for (const finding of findings) seen.add(finding.category);
  return [...seen].sort((a, b) => CATEGORY_ORDER.get(a)! - CATEGORY_ORDER.get(b)!);
}

export type { Stage };
