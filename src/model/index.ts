/**
 * model/: the learned injection classifier. Features (features.ts, lexicon.ts,
 * text.ts), the model and its binary weights format (model.ts, weights.ts),
 * scoring an input window by window (detect.ts), calibration, training
 * (corpus.ts, dedup.ts, synth.ts, train.ts, pipeline.ts), grouped
 * cross-validation and evaluation (crossval.ts, evaluate.ts, metrics.ts), the
 * guard layer (layer.ts), and the worker thread that scores long inputs beside the
 * other layers (offload.ts, scoring-thread.ts). May import policy/, guard/types, detectors/normalize
 * (so training folds text exactly as the layer sees it) and util/; reads its
 * weights from data/model/. The shipped model is rebuilt by `npm run train`; see
 * docs/model-card.md.
 */
export { createClassifierLayer, CLASSIFIER_LAYER_VERSION, type ClassifierLayerOptions } from "./layer.js";
