/**
 * The local-model layer: a text classification model exported to ONNX (a
 * Hugging Face model directory: config.json, tokenizer.json,
 * tokenizer_config.json, model.onnx), run in process. Nothing is downloaded: the
 * directory is the user's, read from disk, and the ONNX runtime is a package the
 * user installs beside Bulwark (onnxruntime-node, native, or onnxruntime-web,
 * WebAssembly), with @huggingface/tokenizers for the tokenizer. Bulwark does not
 * depend on them: a policy that enables the layer without them is told what to
 * install.
 *
 * A missing directory or file fails when the guard is created; the runtime and
 * the model load before the guard's first check (or at `guard.warmUp()`), not
 * within a time budget. A model that fails to load, throws or overruns its budget is contained
 * by the engine like any layer: the failure mode decides.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import type { Finding, Layer, LayerInput, LayerOutput } from "../guard/types.js";
import type { LocalModelOptions } from "../policy/local-model.js";
import type { Policy } from "../policy/schema.js";
import { clip, unsafeLabelIndexes } from "./guard-model.js";

export const LOCAL_MODEL_LAYER_VERSION = "1.0.0";
const MODEL_FILES = ["model.onnx", "onnx/model.onnx", "model_quantized.onnx", "onnx/model_quantized.onnx"];
/** Characters kept before tokenizing a long text: well beyond maxTokens tokens, so the token clip decides. */
const CHARS_PER_TOKEN_BOUND = 16;

/** What this layer uses of onnxruntime-node / onnxruntime-web (the two share onnxruntime-common's API). */
interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
}
interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
}
interface OrtModule {
  readonly InferenceSession: { create(model: Uint8Array, options: Record<string, unknown>): Promise<OrtSession> };
  readonly Tensor: new (type: "int64", data: BigInt64Array, dims: readonly number[]) => OrtTensor;
  readonly env?: { wasm?: { numThreads?: number } };
}
interface TokenizerModule {
  readonly Tokenizer: new (tokenizer: unknown, config: unknown) => { encode(text: string): { ids: number[] } };
}

interface LocalModel {
  /** The probability that `text` is unsafe (the unsafe labels' probabilities summed) and the top label. */
  score(text: string): Promise<{ score: number; label: string; probability: number }>;
}

export function localModelLayerFromPolicy(policy: Policy): Layer | null {
  const config = policy.layers.localModel;
  return config.enabled ? createLocalModelLayer(config) : null;
}

export function createLocalModelLayer(config: LocalModelOptions): Layer {
  if (!config.dir) throw new Error("localModel: `dir` is required when the layer is enabled");
  const files = modelFiles(resolve(config.dir), config.model);
  let loading: Promise<LocalModel> | undefined;
  const load = (): Promise<LocalModel> => (loading ??= loadLocalModel(files, config));
  const name = basename(files.dir);

  return {
    name: "local-model",
    version: LOCAL_MODEL_LAYER_VERSION,
    stage: config.stages,
    phase: "detect",
    budgetMs: config.budgetMs,
    // onnxruntime-node infers on its own threads, so the engine starts this layer before the synchronous ones
    // (onnxruntime-web infers on this thread, where starting it first changes nothing).
    offloads: true,
    ...(config.failureMode ? { failureMode: config.failureMode } : {}),
    // Loading a transformer takes seconds: the engine loads it before the first check, not within a budget.
    warmUpBeforeFirstCheck: true,
    async warmUp(): Promise<void> {
      await load();
    },
    async check(input: LayerInput): Promise<LayerOutput> {
      if (input.text.trim().length === 0) return { findings: [] };
      const model = await load();
      const verdict = await model.score(clip(input.text, config.maxTokens * CHARS_PER_TOKEN_BOUND));
      if (verdict.score < config.minScore) return { findings: [] };
      const finding: Finding = {
        detector: "local-model",
        category: input.stage === "output" ? config.categories.output : config.categories.input,
        score: Math.round(Math.min(1, verdict.score) * 1000) / 1000,
        ruleId: "local-model.onnx",
        evidence: `${name}: ${verdict.label} ${verdict.probability.toFixed(3)}`,
      };
      return { findings: [finding] };
    },
  };
}

interface ModelFiles {
  readonly dir: string;
  readonly model: string;
  readonly tokenizer: string;
  readonly tokenizerConfig: string;
  readonly config: string;
}

/** Checks that the directory holds a model, synchronously, so that a wrong path fails when the guard is created. */
function modelFiles(dir: string, model: string | undefined): ModelFiles {
  const expected = "a Hugging Face model directory exported to ONNX: config.json, tokenizer.json, tokenizer_config.json and model.onnx (or onnx/model.onnx)";
  if (!existsSync(dir)) throw new Error(`localModel: the directory ${dir} does not exist (expected ${expected})`);
  const modelFile = model ? join(dir, model) : MODEL_FILES.map((file) => join(dir, file)).find((file) => existsSync(file));
  if (!modelFile || !existsSync(modelFile)) throw new Error(`localModel: no ONNX model in ${dir} (${model ? `${model} is missing` : `looked for ${MODEL_FILES.join(", ")}`}; set \`model\` to the file's path inside dir)`);
  const files = { dir, model: modelFile, tokenizer: join(dir, "tokenizer.json"), tokenizerConfig: join(dir, "tokenizer_config.json"), config: join(dir, "config.json") };
  for (const file of [files.tokenizer, files.config]) if (!existsSync(file)) throw new Error(`localModel: ${file} is missing (expected ${expected})`);
  return files;
}

/** Loads the tokenizer, the labels and the ONNX session. */
async function loadLocalModel(files: ModelFiles, config: Pick<LocalModelOptions, "runtime" | "threads" | "labels" | "unsafeLabels" | "maxTokens">): Promise<LocalModel> {
  const [ort, tokenizers] = await Promise.all([importRuntime(config.runtime), importOptional<TokenizerModule>("@huggingface/tokenizers")]);
  if (!tokenizers) throw new Error("localModel: the package @huggingface/tokenizers is not installed (npm install @huggingface/tokenizers)");
  const json = (file: string): unknown => {
    try {
      return JSON.parse(readFileSync(file, "utf8"));
    } catch (error) {
      throw new Error(`localModel: cannot read ${file}: ${(error as Error).message}`, { cause: error });
    }
  };
  const tokenizer = new tokenizers.Tokenizer(json(files.tokenizer), existsSync(files.tokenizerConfig) ? json(files.tokenizerConfig) : {});
  const labels = config.labels ?? labelsOf(json(files.config), files.config);
  const unsafeIndexes = unsafeLabelIndexes(labels, config.unsafeLabels);
  if (unsafeIndexes.length === 0) throw new Error(`localModel: none of the model's labels (${labels.join(", ")}) is in unsafeLabels (${config.unsafeLabels.join(", ")}); set unsafeLabels in the policy`);

  if (ort.module.env?.wasm) ort.module.env.wasm.numThreads = 1;
  const options = ort.kind === "node" ? { executionProviders: ["cpu"], intraOpNumThreads: config.threads, interOpNumThreads: 1, graphOptimizationLevel: "all" } : { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
  let session: OrtSession;
  try {
    session = await ort.module.InferenceSession.create(readFileSync(files.model), options);
  } catch (error) {
    throw new Error(`localModel: ${files.model} is not a model the ONNX runtime can load: ${(error as Error).message}`, { cause: error });
  }
  const unknownInput = session.inputNames.find((input) => !["input_ids", "attention_mask", "token_type_ids"].includes(input));
  if (unknownInput) throw new Error(`localModel: the model takes an input named ${unknownInput}; only input_ids, attention_mask and token_type_ids are supported`);
  const output = session.outputNames.includes("logits") ? "logits" : session.outputNames[0]!;

  return {
    async score(text) {
      const ids = clipTokens(tokenizer.encode(text).ids, config.maxTokens);
      const dims = [1, ids.length];
      const feeds: Record<string, OrtTensor> = {};
      for (const input of session.inputNames) {
        const data = input === "input_ids" ? BigInt64Array.from(ids, BigInt) : new BigInt64Array(ids.length).fill(input === "attention_mask" ? 1n : 0n);
        feeds[input] = new ort.module.Tensor("int64", data, dims);
      }
      const logits = (await session.run(feeds))[output];
      const values = logits && (logits.data instanceof Float32Array || logits.data instanceof Float64Array) ? Array.from(logits.data) : undefined;
      if (!values || values.length !== labels.length) throw new Error(`localModel: the model's output ${output} has ${values?.length ?? "no"} values for ${labels.length} labels`);
      const probs = softmax(values);
      const top = probs.indexOf(Math.max(...probs));
      return { score: unsafeIndexes.reduce((sum, index) => sum + probs[index]!, 0), label: labels[top]!, probability: probs[top]! };
    },
  };
}

function labelsOf(config: unknown, file: string): string[] {
  const id2label = (config as { id2label?: unknown } | null)?.id2label;
  if (!id2label || typeof id2label !== "object") throw new Error(`localModel: ${file} has no id2label; set \`labels\` in the policy`);
  const entries = Object.entries(id2label as Record<string, unknown>).map(([id, label]) => [Number(id), label] as const);
  if (entries.some(([id, label]) => !Number.isInteger(id) || id < 0 || id >= entries.length || typeof label !== "string")) throw new Error(`localModel: ${file}'s id2label is not a list of labels by index 0..n-1`);
  return entries.sort((a, b) => a[0] - b[0]).map(([, label]) => label as string);
}

/** Over the limit: the first and last halves (the first keeps [CLS], the last keeps [SEP]). */
function clipTokens(ids: readonly number[], max: number): number[] {
  if (ids.length <= max) return [...ids];
  const head = Math.ceil(max / 2);
  return [...ids.slice(0, head), ...ids.slice(ids.length - (max - head))];
}

function softmax(values: readonly number[]): number[] {
  const max = Math.max(...values);
  const exps = values.map((value) => Math.exp(value - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((value) => value / sum);
}

async function importRuntime(runtime: LocalModelOptions["runtime"]): Promise<{ kind: "node" | "web"; module: OrtModule }> {
  if (runtime !== "web") {
    const native = await importOptional<OrtModule>("onnxruntime-node");
    if (native) return { kind: "node", module: native };
    if (runtime === "node") throw new Error("localModel: runtime node needs the package onnxruntime-node (npm install onnxruntime-node)");
  }
  const web = await importOptional<OrtModule>("onnxruntime-web");
  if (web) return { kind: "web", module: web };
  throw new Error("localModel: no ONNX runtime is installed: npm install onnxruntime-node (native, faster) or onnxruntime-web (WebAssembly)");
}

/** A package the user may or may not have installed; undefined when it is not there. */
async function importOptional<T>(name: string): Promise<T | undefined> {
  try {
    return (await import(name)) as T;
  } catch (error) {
    // Only the package itself missing means "not installed"; a broken installation is an error worth seeing.
    const { code, message } = error as NodeJS.ErrnoException;
    if ((code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") && message.includes(`'${name}'`)) return undefined;
    throw error;
  }
}
