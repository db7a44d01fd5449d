/**
 * The guard-model layer: asks a classifier or guard model served elsewhere
 * whether a text is unsafe, through an OpenAI-compatible chat endpoint
 * (Llama Guard style: the reply's first line is `safe` or `unsafe`, the next
 * names category codes) or vLLM's classification endpoint (class
 * probabilities). A verify-phase layer: it runs after the in-process layers,
 * and not at all when they already blocked (the engine's early exit), so the
 * round trip is paid only for text the local layers let through.
 *
 * Containment is the engine's: the request carries the layer's abort signal,
 * so it is cancelled when the time budget runs out; a refused connection, an
 * HTTP error or a reply that cannot be read throws, and the policy's failure
 * mode decides (closed blocks, open lets the text through marked degraded).
 */
import { request } from "undici";
import type { Finding, Layer, LayerInput, LayerOutput } from "../guard/types.js";
import type { GuardModelOptions } from "../policy/guard-model.js";
import type { Policy } from "../policy/schema.js";

export const GUARD_MODEL_LAYER_VERSION = "1.0.0";
/** A reply larger than this is not a verdict. */
const MAX_REPLY_BYTES = 1024 * 1024;

export interface GuardModelLayerOptions {
  /** Where the API key named by apiKeyEnv is read from (process.env by default). */
  readonly env?: NodeJS.ProcessEnv;
}

export function guardModelLayerFromPolicy(policy: Policy, options: GuardModelLayerOptions = {}): Layer | null {
  const config = policy.layers.guardModel;
  if (!config.enabled) return null;
  return createGuardModelLayer(config, options);
}

export function createGuardModelLayer(config: GuardModelOptions, options: GuardModelLayerOptions = {}): Layer {
  if (!config.url || !config.model) throw new Error("guardModel: `url` and `model` are required when the layer is enabled");
  const base = config.url.replace(/\/+$/, "");
  const endpoint = config.protocol === "chat" ? `${base}/chat/completions` : `${base}/classify`;
  const apiKey = config.apiKeyEnv ? (options.env ?? process.env)[config.apiKeyEnv] : undefined;
  if (config.apiKeyEnv && !apiKey) throw new Error(`guardModel: the environment variable ${config.apiKeyEnv} (apiKeyEnv) is not set`);
  const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json", ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) };
  const model = config.model;

  return {
    name: "guard-model",
    version: GUARD_MODEL_LAYER_VERSION,
    stage: config.stages,
    phase: "verify",
    budgetMs: config.budgetMs,
    ...(config.failureMode ? { failureMode: config.failureMode } : {}),
    async check(input: LayerInput): Promise<LayerOutput> {
      const text = clip(input.text, config.maxChars);
      if (text.trim().length === 0) return { findings: [] };
      const body =
        config.protocol === "chat"
          ? { model, messages: input.stage === "output" ? [{ role: "user", content: "(the user's request)" }, { role: "assistant", content: text }] : [{ role: "user", content: text }], max_tokens: 20, temperature: 0 }
          : { model, input: [text] };
      const reply = await post(endpoint, headers, body, input.signal);
      const verdict = config.protocol === "chat" ? readChatVerdict(reply, config) : readClassifyVerdict(reply, config);
      if (verdict.score <= 0) return { findings: [] };
      const finding: Finding = {
        detector: "guard-model",
        category: input.stage === "output" ? config.categories.output : config.categories.input,
        score: Math.round(Math.min(1, verdict.score) * 1000) / 1000,
        ruleId: `guard-model.${config.protocol}`,
        evidence: `${model}: ${verdict.evidence}`,
      };
      return { findings: [finding] };
    },
  };
}

interface Verdict {
  readonly score: number;
  readonly evidence: string;
}

async function post(url: string, headers: Record<string, string>, body: unknown, signal: AbortSignal): Promise<unknown> {
  const response = await request(url, { method: "POST", headers, body: JSON.stringify(body), signal });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += (chunk as Buffer).length;
    if (size > MAX_REPLY_BYTES) {
      response.body.destroy();
      throw new Error(`guard model reply over ${MAX_REPLY_BYTES} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (response.statusCode >= 300) throw new Error(`guard model answered HTTP ${response.statusCode}: ${text.slice(0, 200)}`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error(`guard model reply is not JSON: ${JSON.stringify(text.slice(0, 100))}`);
  }
}

/** Llama Guard's format: `safe`, or `unsafe` with category codes (S1, S10, ...) on the next line. */
export function readChatVerdict(reply: unknown, config: Pick<GuardModelOptions, "unsafeVerdict" | "unsafeScore">): Verdict {
  const content = (reply as { choices?: Array<{ message?: { content?: unknown } }> } | null)?.choices?.[0]?.message?.content;
  if (typeof content !== "string") throw new Error("guard model reply has no choices[0].message.content");
  const lines = content
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  const word = (lines[0] ?? "").split(/[\s:,.]/)[0]!.toLowerCase();
  if (word === config.unsafeVerdict.toLowerCase()) {
    const codes = lines[1] ? `; categories ${lines[1].slice(0, 80)}` : "";
    return { score: config.unsafeScore, evidence: `verdict ${config.unsafeVerdict}${codes}` };
  }
  if (word === "safe") return { score: 0, evidence: "verdict safe" };
  throw new Error(`guard model reply is neither "safe" nor "${config.unsafeVerdict}": ${JSON.stringify(content.slice(0, 80))}`);
}

/** vLLM's /classify reply: `data[0]` with `probs` in class order and the top `label`. */
export function readClassifyVerdict(reply: unknown, config: Pick<GuardModelOptions, "labels" | "unsafeLabels">): Verdict {
  const item = (reply as { data?: Array<{ label?: unknown; probs?: unknown }> } | null)?.data?.[0];
  const probs = item?.probs;
  if (!Array.isArray(probs) || probs.length < 2 || !probs.every((p) => typeof p === "number" && p >= 0 && p <= 1)) {
    throw new Error("guard model reply has no data[0].probs (class probabilities)");
  }
  const values = probs as number[];
  const top = values.indexOf(Math.max(...values));
  if (config.labels) {
    if (config.labels.length !== values.length) throw new Error(`guard model gave ${values.length} probabilities for ${config.labels.length} configured labels`);
    const score = unsafeLabelIndexes(config.labels, config.unsafeLabels).reduce((sum, index) => sum + values[index]!, 0);
    return { score, evidence: `${config.labels[top]} ${values[top]!.toFixed(3)}` };
  }
  // Without the label list only the top class is named: a binary model's other class is its complement.
  if (typeof item?.label !== "string") throw new Error("guard model reply names no label; set `labels` in the policy");
  const isUnsafe = unsafeLabelIndexes([item.label], config.unsafeLabels).length > 0;
  const score = isUnsafe ? values[top]! : values.length === 2 ? 1 - values[top]! : 0;
  return { score, evidence: `${item.label} ${values[top]!.toFixed(3)}` };
}

/** The positions of `labels` that are among `unsafeLabels`, compared case-insensitively: the classes a score sums. */
export function unsafeLabelIndexes(labels: readonly string[], unsafeLabels: readonly string[]): number[] {
  const unsafe = new Set(unsafeLabels.map((label) => label.toUpperCase()));
  return labels.flatMap((label, index) => (unsafe.has(label.toUpperCase()) ? [index] : []));
}

/** Texts over the limit are sent as their two ends: instructions hide at the start or the end of a document. */
export function clip(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const half = Math.floor(maxChars / 2);
  return `${text.slice(0, half)}\n[…]\n${text.slice(text.length - half)}`;
}
