/**
 * Starting a worker thread from a module that sits next to the caller: `name`.js in dist/, or `name`.ts
 * when the caller itself runs from the TypeScript sources (tests, benchmarks and scripts under tsx or
 * vitest). A worker does not inherit the main thread's module hooks, so from the sources it registers
 * tsx itself before importing the .ts file.
 */
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";

/** `callerUrl` is the caller's import.meta.url; `name` the module's file name without extension. */
export function startSiblingWorker(callerUrl: string, name: string, workerData: unknown): Worker {
  const fromSources = callerUrl.endsWith(".ts");
  const entry = new URL(`./${name}.${fromSources ? "ts" : "js"}`, callerUrl);
  if (!fromSources) return new Worker(fileURLToPath(entry), { workerData });
  const tsx = tsxApiUrl(callerUrl);
  return new Worker(`import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); });`, { eval: true, workerData });
}

/** The ESM entry of tsx's API, resolved from here (an eval worker would resolve bare names from the working directory). */
function tsxApiUrl(callerUrl: string): string {
  if (typeof import.meta.resolve === "function") return import.meta.resolve("tsx/esm/api");
  return pathToFileURL(createRequire(callerUrl).resolve("tsx/esm/api").replace(/\.cjs$/, ".mjs")).href;
}
