/**
 * Record and replay of target responses. Recording appends one JSON line per
 * request ({key, reply}); replaying answers from the file with no target at
 * all, so a run can be re-judged or reproduced offline. The replay index holds
 * only byte offsets, so a large recording is read on demand.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { appendFile, open, type FileHandle } from "node:fs/promises";
import type { Target, TargetReply, TargetRequest } from "./types.js";

export function requestKey(request: TargetRequest): string {
  const hash = createHash("sha256");
  hash.update(JSON.stringify(request.messages));
  hash.update("\u0000");
  hash.update(JSON.stringify((request.tools ?? []).map((tool) => tool.name)));
  hash.update("\u0000");
  if (request.raw) hash.update(request.raw.bytes);
  return hash.digest("hex");
}

export function createRecordingTarget(inner: Target, file: string): Target {
  let queue: Promise<void> = Promise.resolve();
  return {
    ...inner,
    name: inner.name,
    async send(request, signal) {
      const reply = await inner.send(request, signal);
      const line = JSON.stringify({ key: requestKey(request), reply }) + "\n";
      // One writer at a time keeps lines whole under concurrency.
      queue = queue.then(() => appendFile(file, line));
      await queue;
      return reply;
    },
  };
}

export async function createReplayTarget(file: string, info: Pick<Target, "name" | "capabilities" | "canaries" | "systemPrompt" | "policyHash">): Promise<Target> {
  const index = new Map<string, { offset: number; length: number }>();
  let offset = 0;
  let pending = Buffer.alloc(0);
  for await (const chunk of createReadStream(file)) {
    pending = Buffer.concat([pending, chunk as Buffer]);
    let newline: number;
    while ((newline = pending.indexOf(0x0a)) >= 0) {
      const line = pending.subarray(0, newline);
      const key = /^\{"key":"([0-9a-f]{64})"/.exec(line.subarray(0, 80).toString("latin1"))?.[1];
      if (key) index.set(key, { offset, length: newline });
      offset += newline + 1;
      pending = pending.subarray(newline + 1);
    }
  }
  let handle: FileHandle | null = await open(file, "r");
  return {
    name: `replay of ${info.name}`,
    capabilities: info.capabilities,
    canaries: info.canaries,
    ...(info.systemPrompt ? { systemPrompt: info.systemPrompt } : {}),
    ...(info.policyHash ? { policyHash: info.policyHash } : {}),
    async send(request): Promise<TargetReply> {
      const entry = index.get(requestKey(request));
      if (!entry || !handle) return { status: 0, text: "", toolCalls: [], latencyMs: 0, error: { kind: "no-recording", message: "no recorded response for this request" } };
      const buffer = Buffer.alloc(entry.length);
      await handle.read(buffer, 0, entry.length, entry.offset);
      return (JSON.parse(buffer.toString("utf8")) as { reply: TargetReply }).reply;
    },
    async close() {
      await handle?.close();
      handle = null;
    },
  };
}
