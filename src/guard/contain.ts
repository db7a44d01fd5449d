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

const NEVER_ABORTED = new AbortController().signal;

/**
 * `coldStart` marks a layer's first run in this guard: V8 compiles its regular
 * expressions and functions then, which can take many times the steady-state
 * cost, so a synchronous overrun on that one run is recorded but not treated as
 * a failure. Asynchronous layers are always held to their budget.
 */
export async function runContained(layer: Layer, input: LayerInputWithoutSignal, coldStart = false): Promise<ContainedResult> {
  const start = performance.now();
  const elapsedUs = (): number => Math.round((performance.now() - start) * 1000);
  let controller: AbortController | undefined;
  try {
    let result: LayerOutput | Promise<LayerOutput>;
    try {
      result = layer.check({ ...input, signal: NEVER_ABORTED });
    } catch (error) {
      return { status: "error", durationUs: elapsedUs(), output: null, error: describeError(error) };
    }
    if (isPromiseLike(result)) {
      controller = new AbortController();
      const raced = await raceBudget(result, layer.budgetMs, controller);
      if (raced === TIMED_OUT) return { status: "timeout", durationUs: elapsedUs(), output: null, error: `no answer within ${layer.budgetMs} ms` };
      result = raced;
    }
    const durationUs = elapsedUs();
    if (durationUs > layer.budgetMs * 1000 && !coldStart) {
      return { status: "timeout", durationUs, output: null, error: `took ${(durationUs / 1000).toFixed(1)} ms, over its ${layer.budgetMs} ms budget` };
    }
    const problem = validateOutput(result, input.text.length, layer.phase === "transform");
    if (problem) return { status: "malformed", durationUs, output: null, error: problem };
    return { status: "ok", durationUs, output: result };
  } catch (error) {
    return { status: "error", durationUs: elapsedUs(), output: null, error: describeError(error) };
  }
}

const TIMED_OUT = Symbol("timed out");

function raceBudget<T>(promise: Promise<T>, budgetMs: number, controller: AbortController): Promise<T | typeof TIMED_OUT> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      controller.abort(new Error("time budget exhausted"));
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

function isPromiseLike<T>(value: T | Promise<T>): value is Promise<T> {
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
