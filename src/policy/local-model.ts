/**
 * The policy's `layers.localModel` section: an optional layer that runs a text
 * classification model exported to ONNX (Prompt Guard, ProtectAI's DeBERTa
 * injection model and the like) from a directory on this machine, in process.
 * Nothing is downloaded: the directory is the user's, and the ONNX runtime is a
 * package the user installs (onnxruntime-node, or onnxruntime-web). Off by
 * default. Enforced by src/external/local-model.ts.
 */
import { z } from "zod";
import { GuardModelConfig } from "./guard-model.js";

export const LOCAL_MODEL_RUNTIMES = ["auto", "node", "web"] as const;

export const LocalModelConfig = z
  .strictObject({
    enabled: z.boolean().default(false).describe("Run this layer (off by default: it needs a model directory and an ONNX runtime package)."),
    dir: z
      .string()
      .min(1)
      .optional()
      .describe(
        "A Hugging Face model directory exported to ONNX: config.json (id2label), tokenizer.json, tokenizer_config.json and the ONNX file. Relative paths are resolved from the working directory. Required when enabled.",
      ),
    model: z
      .string()
      .min(1)
      .optional()
      .describe("The ONNX file inside dir. Default: the first of model.onnx, onnx/model.onnx, model_quantized.onnx, onnx/model_quantized.onnx that exists."),
    runtime: z
      .enum(LOCAL_MODEL_RUNTIMES)
      .default("auto")
      .describe("`node`: onnxruntime-node (native, runs on its own threads); `web`: onnxruntime-web (WebAssembly, on the calling thread); `auto`: node if installed, else web."),
    threads: z.number().int().min(1).max(64).default(1).describe("Threads the runtime may use for one inference (onnxruntime-node's intra-op threads)."),
    budgetMs: z.number().positive().max(60_000).default(500).describe("Time budget in milliseconds for one text; a model that takes longer counts as failed and the failure mode applies."),
    failureMode: z.enum(["closed", "open"]).optional().describe("Overrides the policy's failureMode for this layer."),
    stages: GuardModelConfig.shape.stages.describe("Which texts to score: prompts (`input`), model output (`output`) or both."),
    categories: GuardModelConfig.shape.categories.describe("The category a finding is reported in, per stage."),
    labels: z.array(z.string().min(1)).min(1).optional().describe("The model's class labels in index order, when config.json has no id2label."),
    unsafeLabels: GuardModelConfig.shape.unsafeLabels.describe("Labels whose probabilities, summed, are the score (compared case-insensitively)."),
    minScore: z.number().min(0).max(1).default(0.5).describe("Scores below this are not reported as findings (a classifier gives every text some probability)."),
    maxTokens: z
      .number()
      .int()
      .min(8)
      .max(8192)
      .default(512)
      .describe("Most tokens per inference (the model's context). Longer texts are scored on their first and last halves of this size (instructions hide at either end)."),
  })
  .superRefine((config, ctx) => {
    if (config.enabled && !config.dir) ctx.addIssue({ code: "custom", path: ["dir"], message: "the model directory when the layer is enabled" });
  })
  .describe("Optional layer: a text classification model in ONNX format, run in process from a local directory (nothing is downloaded).");

export type LocalModelOptions = z.output<typeof LocalModelConfig>;
