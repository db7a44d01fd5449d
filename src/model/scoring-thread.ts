/**
 * The body of the classifier's scoring thread (a worker_threads Worker started by offload.ts): it loads the
 * model, scores long synthetic texts of every shape (util/warm-up-texts) three times so that V8 has optimised
 * the long-input paths before the first real job, says it is ready, then answers jobs in the order they come.
 */
import { parentPort, workerData } from "node:worker_threads";
import { detect } from "./detect.js";
import type { ScoringJob, ScoringReply, ScoringThreadData } from "./offload.js";
import { foldText } from "./text.js";
import { loadClassifier, shippedClassifier } from "./weights.js";
import { longWarmUpTexts } from "../util/warm-up-texts.js";

const port = parentPort;
if (!port) throw new Error("scoring-thread: must run as a worker thread");
const { modelDir } = workerData as ScoringThreadData;
const classifier = modelDir ? loadClassifier(modelDir) : shippedClassifier();

for (let round = 0; round < 3; round++) {
  for (const text of longWarmUpTexts()) {
    const folded = foldText(text);
    detect(classifier, folded, text, "prompt");
    detect(classifier, folded, text, "document");
  }
}

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
