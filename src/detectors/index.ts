/**
 * detectors/: one folder per detector, all producing layers of the one shape in
 * src/guard/types.ts. Detectors are pure functions of text and their
 * configuration; they may import src/policy (types, categories), src/guard/types
 * and src/util, and read their rules from data/. Nothing here does I/O at check
 * time.
 *
 * `builtinLayers` is the registry: it turns a validated policy into the layers
 * the engine runs, in order. It also lists the learned classifier (src/model)
 * and the opt-in layers of src/external: the local ONNX model and the guard
 * model served elsewhere, both off unless a policy turns them on.
 */
import type { Policy } from "../policy/schema.js";
import type { Layer } from "../guard/types.js";
import { createNormalizeLayer } from "./normalize/index.js";
import { secretsLayerFromPolicy } from "./secrets/index.js";
import { piiLayerFromPolicy } from "./pii/index.js";
import { canaryLayerFromPolicy } from "./canary/index.js";
import { promptLeakLayerFromPolicy } from "./prompt-leak/index.js";
import { exfiltrationLayerFromPolicy } from "./exfiltration/index.js";
import { outputSafetyLayerFromPolicy, structuredOutputLayerFromPolicy } from "./output-safety/index.js";
import { createHeuristicsLayer } from "./heuristics/index.js";
import { createClassifierLayer } from "../model/layer.js";
import { guardModelLayerFromPolicy } from "../external/guard-model.js";
import { localModelLayerFromPolicy } from "../external/local-model.js";

type LayerFactory = (policy: Policy) => Layer | null;

/** Each factory returns null when its layer is disabled in the policy. */
const FACTORIES: readonly LayerFactory[] = [
  createNormalizeLayer,
  secretsLayerFromPolicy,
  piiLayerFromPolicy,
  canaryLayerFromPolicy,
  promptLeakLayerFromPolicy,
  exfiltrationLayerFromPolicy,
  outputSafetyLayerFromPolicy,
  structuredOutputLayerFromPolicy,
  createHeuristicsLayer,
  (policy) => createClassifierLayer(policy),
  (policy) => localModelLayerFromPolicy(policy),
  (policy) => guardModelLayerFromPolicy(policy),
];

export function builtinLayers(policy: Policy): Layer[] {
  return FACTORIES.map((factory) => factory(policy)).filter((layer): layer is Layer => layer !== null);
}
