/**
 * The classifier as a guard layer ("classifier", detect phase, input stage).
 * It reads the folded detection view, scores it with the shipped (or a
 * user-trained) model, and reports one finding whose score is calibrated so
 * that the policy's thresholds for the message's role fall at the configured
 * false-positive rates. It runs beside the heuristics layer: the engine takes
 * the most severe action over both, so each covers what the other misses.
 */
import { resolve } from "node:path";
import type { Category } from "../policy/categories.js";
import type { ClassifierOptions, Policy, Role } from "../policy/schema.js";
import type { Finding, Layer, LayerInput, LayerOutput } from "../guard/types.js";
import { calibrateAt, detect, rawOperatingPoint, type Detection, type RawOperatingPoint } from "./detect.js";
import type { Classifier, Domain } from "./model.js";
import { sharedScoringThread } from "./offload.js";
import { loadClassifier, shippedClassifier } from "./weights.js";

export const CLASSIFIER_LAYER_VERSION = "1.0.0";

export function domainForRole(role: Role): Domain {
  return role === "document" || role === "tool" ? "document" : "prompt";
}

function conceptSet(classifier: Classifier, mask: number): Set<string> {
  const names = new Set<string>();
  classifier.parts.lexicon.concepts.forEach((name, index) => {
    if (mask & (1 << index)) names.add(name);
  });
  return names;
}

/** The category a detection is reported in, from the role and the concepts that fired. */
export function categoryFor(role: Role, detection: Detection, concepts: ReadonlySet<string>): Category {
  if (detection.via === "decoded") return "obfuscation";
  if (role === "document" || role === "tool") return "indirect_injection";
  if ((concepts.has("secret") || concepts.has("reveal")) && !concepts.has("persona") && !concepts.has("unrestricted")) {
    if (concepts.has("secret")) return "system_prompt_extraction";
  }
  if (concepts.has("persona") || concepts.has("unrestricted") || concepts.has("hypothetical")) return "jailbreak";
  return "prompt_injection";
}

function thresholdsFor(policy: Policy, role: Role, category: Category): { flag: number; block: number } {
  const { actions } = policy;
  const merged = { ...actions.default, ...actions.categories[category], ...actions.roles[role]?.[category] };
  return { flag: merged.flag ?? 0.5, block: merged.block ?? 0.8 };
}

export interface ClassifierLayerOptions {
  /** Use this model instead of loading one (tests, benchmarks). */
  readonly classifier?: Classifier;
}

export function createClassifierLayer(policy: Policy, options: ClassifierLayerOptions = {}): Layer | null {
  const config: ClassifierOptions = policy.layers.classifier;
  if (!config.enabled) return null;
  const classifier = options.classifier ?? (config.modelDir ? loadClassifier(config.modelDir) : shippedClassifier());
  const calibration = classifier.metadata.calibration;
  // A model handed in as an object has no directory the thread could load it from: it is scored in place.
  const thread = config.offloadChars > 0 && !options.classifier ? sharedScoringThread(config.modelDir && resolve(config.modelDir)) : null;
  const startThread = (): Promise<void> => (thread ? thread.start().catch(() => undefined) : Promise.resolve());

  // Per role, the raw scores where the calibrated score meets the thresholds: fixed by the policy and the
  // model, so worked out once per role rather than on every check.
  const operatingByRole = new Map<Role, RawOperatingPoint>();
  const operatingFor = (role: Role): RawOperatingPoint => {
    let operating = operatingByRole.get(role);
    if (!operating) {
      const roleConfig = config.roles[role];
      const blockFpr = roleConfig?.blockFpr ?? config.blockFpr;
      operating = rawOperatingPoint(calibration[domainForRole(role)], { blockFpr, flagFpr: Math.max(blockFpr, roleConfig?.flagFpr ?? config.flagFpr) });
      operatingByRole.set(role, operating);
    }
    return operating;
  };

  const report = (input: LayerInput, detection: Detection): LayerOutput => {
    const domain = domainForRole(input.role);
    const concepts = conceptSet(classifier, detection.concepts);
    const category = categoryFor(input.role, detection, concepts);
    const score = calibrateAt(detection.raw, operatingFor(input.role), thresholdsFor(policy, input.role, category));
    if (score < config.minScore) return { findings: [] };
    const finding: Finding = {
      detector: "classifier",
      category,
      score: Math.round(score * 1000) / 1000,
      ruleId: `classifier.${detection.via}`,
      evidence: `learned classifier (${domain} model), ${detection.via === "text" ? "highest-scoring window" : detection.via === "json" ? "JSON string values" : "decoded payload"}${concepts.size ? `; concepts: ${[...concepts].sort().join(", ")}` : ""}`,
    };
    if (detection.via === "text") {
      const map = input.views.foldedToText;
      const start = map ? map[detection.start] : detection.start;
      const end = map ? map[detection.end] : detection.end;
      if (start !== undefined && end !== undefined && end > start && end <= input.text.length) finding.span = { start, end };
    }
    return { findings: [finding] };
  };

  return {
    name: "classifier",
    version: `${CLASSIFIER_LAYER_VERSION}+${classifier.metadata.modelVersion}`,
    stage: "input",
    phase: "detect",
    budgetMs: config.budgetMs,
    ...(config.failureMode ? { failureMode: config.failureMode } : {}),
    ...(thread ? { offloads: true, warmUp: startThread } : {}),
    check(input: LayerInput): LayerOutput | Promise<LayerOutput> {
      const folded = input.views.folded;
      const domain = domainForRole(input.role);
      if (thread && folded.length >= config.offloadChars) {
        if (thread.ready) {
          const inPlace = (): LayerOutput => report(input, detect(classifier, folded, input.text, domain));
          return thread.detect(folded, input.text, domain).then((detection) => report(input, detection), inPlace);
        }
        // The first long input starts the thread and is scored here while it loads.
        void startThread();
      }
      return report(input, detect(classifier, folded, input.text, domain));
    },
  };
}
