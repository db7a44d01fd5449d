/**
 * external/: layers that call a model served elsewhere (a guard or classifier
 * model behind an OpenAI-compatible or vLLM endpoint). Unlike src/detectors,
 * these do I/O at check time, so they are off unless a policy turns them on,
 * run in the verify phase, and rely on the engine's containment (time budget,
 * abort signal, failure mode). Also the local-model layer: a classification
 * model in ONNX format run in process from a directory the user provides, with
 * an ONNX runtime the user installs (nothing is downloaded). May import
 * src/guard/types, src/policy and undici.
 */
export { createGuardModelLayer, guardModelLayerFromPolicy, readChatVerdict, readClassifyVerdict, GUARD_MODEL_LAYER_VERSION } from "./guard-model.js";
export { createLocalModelLayer, localModelLayerFromPolicy, LOCAL_MODEL_LAYER_VERSION } from "./local-model.js";
