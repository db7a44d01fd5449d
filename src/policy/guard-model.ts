/**
 * The policy's `layers.guardModel` section: an optional verify layer that asks
 * a classifier or guard model served elsewhere (Llama Guard, Prompt Guard and
 * the like behind vLLM, Ollama or any OpenAI-compatible server). Off by default:
 * Bulwark works offline, and this layer is the one place it makes a network
 * call at check time, to a server the policy names. Enforced by src/external.
 */
import { z } from "zod";
import { CATEGORY_NAMES } from "./categories.js";

export const GUARD_MODEL_PROTOCOLS = ["chat", "classify"] as const;

export const GuardModelConfig = z
  .strictObject({
    enabled: z.boolean().default(false).describe("Run this layer (off by default: it calls a server at check time)."),
    budgetMs: z.number().positive().max(60_000).default(2_000).describe("Time budget in milliseconds, the whole round trip included; the request is aborted when it runs out and the layer counts as failed."),
    failureMode: z.enum(["closed", "open"]).optional().describe("Overrides the policy's failureMode for this layer. A remote model can be down: choose deliberately."),
    url: z.url({ protocol: /^https?$/ }).optional().describe("Base URL of the server, including /v1 for OpenAI-compatible chat (e.g. http://127.0.0.1:8000/v1). Required when enabled."),
    model: z.string().min(1).optional().describe("Model name sent in the request (e.g. meta-llama/Llama-Guard-3-1B). Required when enabled."),
    apiKeyEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name").optional().describe("Environment variable holding the server's API key, sent as a bearer token; read when the guard is created."),
    protocol: z
      .enum(GUARD_MODEL_PROTOCOLS)
      .default("chat")
      .describe("`chat`: POST {url}/chat/completions with the text as the turn to judge; the reply's first line is the verdict (Llama Guard's `safe` / `unsafe` and category codes on the next line). `classify`: POST {url}/classify (vLLM's classification API) and read the probabilities of `unsafeLabels`."),
    stages: z.enum(["input", "output", "both"]).default("input").describe("Which texts to send: prompts (`input`), model output (`output`) or both."),
    categories: z
      .strictObject({
        input: z.enum(CATEGORY_NAMES).default("prompt_injection"),
        output: z.enum(CATEGORY_NAMES).default("unsafe_output"),
      })
      .prefault({})
      .describe("The category a finding is reported in, per stage (a guard model says unsafe, not why in Bulwark's terms)."),
    unsafeVerdict: z.string().min(1).max(64).default("unsafe").describe("`chat`: a reply whose first word is this (case-insensitive) is a finding."),
    unsafeScore: z.number().min(0).max(1).default(0.9).describe("`chat`: the score of an unsafe verdict (the model gives no probability)."),
    labels: z.array(z.string().min(1)).min(2).optional().describe("`classify`: the model's class labels in index order, when the server does not name them."),
    unsafeLabels: z.array(z.string().min(1)).min(1).default(["INJECTION", "JAILBREAK", "MALICIOUS", "UNSAFE", "LABEL_1"]).describe("`classify`: labels whose probabilities, summed, are the score."),
    maxChars: z.number().int().min(256).max(1_000_000).default(16_000).describe("Longest text sent; longer texts are sent as their first and last halves of this size (instructions hide at either end)."),
  })
  .superRefine((config, ctx) => {
    if (!config.enabled) return;
    if (!config.url) ctx.addIssue({ code: "custom", path: ["url"], message: "the server's base URL when the layer is enabled" });
    if (!config.model) ctx.addIssue({ code: "custom", path: ["model"], message: "the model name when the layer is enabled" });
  })
  .describe("Optional verify layer: a guard model served elsewhere through an OpenAI-compatible endpoint, with its own time budget and failure mode.");

export type GuardModelOptions = z.output<typeof GuardModelConfig>;
