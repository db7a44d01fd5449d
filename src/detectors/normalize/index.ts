/**
 * detectors/normalize: layer 1, validation and normalisation. Runs first, as a
 * transform, on input and output.
 *
 * - Size limits (bytes, code points, tokens) first; an oversized input gets an
 *   `oversize` finding and nothing else is done.
 * - Invalid UTF-8, lone surrogates, control characters: `malformed_input`.
 * - Zero-width, bidi-control, Unicode tag and variation-selector characters:
 *   `invisible_text`, with smuggled tag and selector text decoded into
 *   `views.hidden`. Emoji sequences (ZWJ families, keycaps, subdivision flags)
 *   and RTL marks are ordinary text and stay.
 * - Homoglyph words, stacked combining marks, styled letters: `obfuscation`.
 * - Runaway repetition: `repetition`.
 * Output: the text for the model (invisibles and controls removed as configured)
 * and the folded detection view with its offset map into that text. Findings'
 * spans are offsets into the layer's input text (the original).
 *
 * May import: src/guard/types, src/policy, gpt-tokenizer (lazily). Nothing else.
 */
import type { Finding, Layer, LayerInput, LayerOutput } from "../../guard/types.js";
import type { Policy } from "../../policy/schema.js";
import { quote } from "./evidence.js";
import { checkSize, checkTokens, loadedTokenizer, needsTokenCount, preloadTokenizer } from "./limits.js";
import { findRepetition } from "./repetition.js";
import { scanText } from "./scan.js";

export { preloadTokenizer } from "./limits.js";
export { findRepetition, type RepetitionRun } from "./repetition.js";
export { scanText, type ScanResult } from "./scan.js";

export const NORMALIZE_LAYER_VERSION = "1.0.0";

export interface NormalizeLayer extends Layer {
  /** Loads the tokenizer, when token limits can apply, so the first large input is not slowed by it. */
  warmUp(): Promise<void>;
}

export function createNormalizeLayer(policy: Policy): NormalizeLayer | null {
  const config = policy.layers.normalize;
  if (!config.enabled) return null;
  const limits = policy.limits;
  const options = { stripInvisible: config.stripInvisible, stripControl: config.stripControl };
  const tokenLimitCanApply = limits.maxTokens < limits.maxBytes;

  const normalize = (input: LayerInput): LayerOutput => {
    const findings: Finding[] = [];
    const { intake, text } = input;
    if (intake.invalidUtf8 > 0) {
      findings.push({
        detector: "normalize",
        category: "malformed_input",
        ruleId: "invalid-utf8",
        score: 0.6,
        evidence: `${intake.invalidUtf8} invalid UTF-8 sequence${intake.invalidUtf8 === 1 ? "" : "s"} replaced by U+FFFD`,
      });
    }
    const scan = scanText(text, options);
    if (intake.loneSurrogates > 0 && !scan.findings.some((finding) => finding.ruleId === "lone-surrogates")) {
      findings.push({
        detector: "normalize",
        category: "malformed_input",
        ruleId: "lone-surrogates",
        score: 0.6,
        evidence: `${intake.loneSurrogates} lone UTF-16 surrogate${intake.loneSurrogates === 1 ? "" : "s"} replaced by U+FFFD`,
      });
    }
    findings.push(...scan.findings);
    for (const run of findRepetition(text, config.maxRepeatRun)) {
      findings.push({
        detector: "normalize",
        category: "repetition",
        ruleId: "runaway-repetition",
        score: 0.6,
        span: { start: run.start, end: run.end },
        evidence: `${quote(text.slice(run.start, run.start + run.unitLength))} repeated ${run.repeats} times in a row (maxRepeatRun ${config.maxRepeatRun})`,
      });
    }
    return {
      findings,
      text: scan.text,
      views: { folded: scan.folded, foldedToText: scan.foldedToText, hidden: scan.hidden },
    };
  };

  const layer: NormalizeLayer = {
    name: "normalize",
    version: NORMALIZE_LAYER_VERSION,
    stage: "both",
    phase: "transform",
    budgetMs: config.budgetMs,
    ...(config.failureMode === undefined ? {} : { failureMode: config.failureMode }),
    check(input: LayerInput): LayerOutput | Promise<LayerOutput> {
      const tooBig = checkSize(input.text, input.intake, limits);
      if (tooBig !== null) return { findings: [tooBig] };
      if (!needsTokenCount(input.text, input.intake, limits)) return normalize(input);
      const loaded = loadedTokenizer(limits.tokenizer);
      const afterTokens = (withinLimit: NonNullable<typeof loaded>): LayerOutput => {
        const overTokens = checkTokens(withinLimit, input.text, limits);
        return overTokens === null ? normalize(input) : { findings: [overTokens] };
      };
      if (loaded !== undefined) return afterTokens(loaded);
      return preloadTokenizer(limits.tokenizer).then(afterTokens);
    },
    async warmUp(): Promise<void> {
      if (tokenLimitCanApply) await preloadTokenizer(limits.tokenizer);
    },
  };
  return layer;
}
