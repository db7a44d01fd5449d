/**
 * Containment: run one layer so that nothing it does can hurt the host or the
 * decision. A layer that throws, overruns its time budget, or returns something
 * malformed is isolated; the engine marks the decision degraded and applies the
 * failure mode.
 *
 * JavaScript cannot pre-empt synchronous code, so a synchronous layer that runs
 * over budget is detected when it returns and its result is discarded; the
 * built-in layers are linear-time by construction (and their patterns are
 * ReDoS-checked) so that they cannot run away. Asynchronous layers are raced
 * against a timer and their signal is aborted when the budget runs out.
 */
import { isCategory } from "../policy/categories.js";
import type { Finding, Layer, LayerInput, LayerOutput, LayerStatus } from "./types.js";

export interface ContainedResult {
  readonly status: LayerStatus;
  readonly durationUs: number;
  readonly output: LayerOutput | null;
  readonly error?: string;
}

export type LayerInputWithoutSignal = Omit<LayerInput, "signal">;

/**
 * What a layer is given: the input and an abort signal that is made on first use, so that the
 * synchronous layers, which never look at it, cost no AbortController. Aborted when an asynchronous
 * layer's budget runs out, whether or not the layer has read the signal yet.
 */
class BudgetedInput implements LayerInput {
  readonly text: string;
  readonly original: string;
  readonly views: LayerInput["views"];
  readonly role: LayerInput["role"];
  readonly trust: LayerInput["trust"];
  readonly stage: LayerInput["stage"];
  readonly intake: LayerInput["intake"];
  readonly session?: LayerInput["session"];
  private controller: AbortController | undefined;

  constructor(input: LayerInputWithoutSignal) {
    this.text = input.text;
    this.original = input.original;
    this.views = input.views;
    this.role = input.role;
    this.trust = input.trust;
    this.stage = input.stage;
    this.intake = input.intake;
    if (input.session) this.session = input.session;
  }

  get signal(): AbortSignal {
    return (this.controller ??= new AbortController()).signal;
  }

  abort(reason: Error): void {
    (this.controller ??= new AbortController()).abort(reason);
  }
}

/**
 * `coldStart` marks a layer's first run in this guard: V8 compiles its regular
 * expressions and functions then, which can take many times the steady-state
 * cost, so a synchronous overrun on that one run is recorded but not treated as
 * a failure. Asynchronous layers are always held to their budget.
 *
 * A synchronous layer's result comes back synchronously (no promise, no extra
 * turn of the event loop per layer); an asynchronous one's as a promise.
 */
export function runContained(layer: Layer, input: LayerInputWithoutSignal, coldStart = false): ContainedResult | Promise<ContainedResult> {
  const start = performance.now();
  const budgeted = new BudgetedInput(input);
  return collect(layer, budgeted, call(layer, budgeted), start, coldStart);
}

/**
 * Starts a layer now and returns the function that collects its result. The budget runs from that
 * function's call: the engine starts a layer that hands its work to another thread first and collects it
 * after the phase's synchronous layers, and the time the main thread spent on those is not the offloaded
 * layer's (its answer may have been waiting for the main thread all along). The duration reported is
 * still the whole wait. A layer that answered synchronously (a short input it scored in place) is
 * collected at once: its duration is its own, not the phase's other layers' too.
 */
export function startContained(layer: Layer, input: LayerInputWithoutSignal, coldStart = false): () => ContainedResult | Promise<ContainedResult> {
  const start = performance.now();
  const budgeted = new BudgetedInput(input);
  const result = call(layer, budgeted);
  if (isPromiseLike(result)) return () => collect(layer, budgeted, result, start, coldStart);
  const collected = collect(layer, budgeted, result, start, coldStart);
  return () => collected;
}

/** What a layer's check threw, described. */
class Thrown {
  constructor(readonly description: string) {}
}

function call(layer: Layer, input: BudgetedInput): LayerOutput | Promise<LayerOutput> | Thrown {
  try {
    return layer.check(input);
  } catch (error) {
    return new Thrown(describeError(error));
  }
}

function collect(layer: Layer, input: BudgetedInput, result: LayerOutput | Promise<LayerOutput> | Thrown, start: number, coldStart: boolean): ContainedResult | Promise<ContainedResult> {
  if (result instanceof Thrown) return { status: "error", durationUs: elapsedUs(start), output: null, error: result.description };
  if (isPromiseLike(result)) return settle(layer, input, result, start);
  return finish(layer, result, start, input.text.length, coldStart);
}

async function settle(layer: Layer, input: BudgetedInput, pending: Promise<LayerOutput>, start: number): Promise<ContainedResult> {
  const budgetFrom = performance.now();
  try {
    const raced = await raceBudget(pending, layer.budgetMs, input);
    if (raced === TIMED_OUT) return { status: "timeout", durationUs: elapsedUs(start), output: null, error: `no answer within ${layer.budgetMs} ms` };
    return finish(layer, raced, start, input.text.length, false, budgetFrom);
  } catch (error) {
    return { status: "error", durationUs: elapsedUs(start), output: null, error: describeError(error) };
  }
}

/** Holds a layer's answer to its budget (counted from `budgetFrom`) and its promised shape. */
function finish(layer: Layer, output: LayerOutput, start: number, textLength: number, coldStart: boolean, budgetFrom = start): ContainedResult {
  const durationUs = elapsedUs(start);
  const chargedUs = elapsedUs(budgetFrom);
  if (chargedUs > layer.budgetMs * 1000 && !coldStart) {
    return { status: "timeout", durationUs, output: null, error: `took ${(chargedUs / 1000).toFixed(1)} ms, over its ${layer.budgetMs} ms budget` };
  }
  let problem: string | null;
  try {
    problem = validateOutput(output, textLength, layer.phase === "transform");
  } catch (error) {
    return { status: "error", durationUs, output: null, error: describeError(error) };
  }
  if (problem) return { status: "malformed", durationUs, output: null, error: problem };
  return { status: "ok", durationUs, output };
}

function elapsedUs(start: number): number {
  return Math.round((performance.now() - start) * 1000);
}

const TIMED_OUT = Symbol("timed out");

function raceBudget<T>(promise: Promise<T>, budgetMs: number, input: BudgetedInput): Promise<T | typeof TIMED_OUT> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      input.abort(new Error("time budget exhausted"));
      resolve(TIMED_OUT);
    }, budgetMs);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

export function isPromiseLike<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

/** Checks the shape a layer promised, since layers may be user code. Returns a problem or null. */
function validateOutput(output: unknown, textLength: number, transforms: boolean): string | null {
  if (output === null || typeof output !== "object") return `returned ${output === null ? "null" : typeof output}, expected an object with findings`;
  const { findings, text, views } = output as Partial<LayerOutput>;
  if (!Array.isArray(findings)) return "returned no findings array";
  // Spans always point into the text the layer was given, also for transform layers.
  for (const finding of findings as unknown[]) {
    const problem = validateFinding(finding, textLength);
    if (problem) return problem;
  }
  if (text !== undefined && (!transforms || typeof text !== "string")) return transforms ? "returned a text that is not a string" : "a detect layer may not rewrite the text";
  if (views !== undefined && (!transforms || typeof views?.folded !== "string" || !Array.isArray(views.hidden))) return "returned malformed views";
  return null;
}

function validateFinding(finding: unknown, textLength: number): string | null {
  if (finding === null || typeof finding !== "object") return "returned a finding that is not an object";
  const { category, score, span } = finding as Partial<Finding>;
  if (!isCategory(category)) return `returned a finding with unknown category ${JSON.stringify(category)}`;
  if (typeof score !== "number" || !(score >= 0 && score <= 1)) return `returned a finding with score ${String(score)}, expected 0..1`;
  if (span !== undefined) {
    const { start, end } = span;
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > textLength) return `returned a span [${start}, ${end}) outside the text (length ${textLength})`;
  }
  return null;
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : `threw ${String(error)}`;
}
