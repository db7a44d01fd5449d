/**
 * The body of the classifier's scoring thread (a worker_threads Worker started by offload.ts): it loads the
 * model, scores one synthetic long text a few times so that V8 has optimised the long-input paths before the
 * first real job, says it is ready, then answers jobs in the order they come.
 */
import { parentPort, workerData } from "node:worker_threads";
import { detect } from "./detect.js";
import type { ScoringJob, ScoringReply, ScoringThreadData } from "./offload.js";
import { foldText } from "./text.js";
import { loadClassifier, shippedClassifier } from "./weights.js";

const port = parentPort;
if (!port) throw new Error("scoring-thread: must run as a worker thread");
const { modelDir } = workerData as ScoringThreadData;
const classifier = modelDir ? loadClassifier(modelDir) : shippedClassifier();

const WARM_UP_TEXT = Array.from({ length: 1500 }, (_, i) => `Line ${i}: the quarterly report lists order ${i * 7919} and asks to ignore nothing.`).join("\n");
const warmFolded = foldText(WARM_UP_TEXT);
for (let i = 0; i < 4; i++) detect(classifier, warmFolded, WARM_UP_TEXT, i % 2 === 0 ? "prompt" : "document");

port.on("message", (job: ScoringJob) => {
  let reply: ScoringReply;
  try {
    reply = { id: job.id, detection: detect(classifier, job.folded, job.original, job.domain) };
  } catch (error) {
    reply = { id: job.id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
  port.postMessage(reply);
});
port.postMessage({ ready: true } satisfies ScoringReply);
