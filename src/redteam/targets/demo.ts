/**
 * `--target demo`: the gateway's offline demo upstream (src/gateway/demo-upstream.ts),
 * started on loopback and scanned over HTTP like any OpenAI-compatible
 * endpoint, with the credentials in its system prompt as canaries. And the
 * same upstream behind the real gateway (default policy), for `bulwark demo`.
 * The gateway is loaded lazily: scans of other targets never pay for it.
 */
import { createOpenAiTarget } from "./http.js";
import type { Target } from "./types.js";

export interface RunningDemo {
  readonly target: Target;
  readonly url: string;
  close(): Promise<void>;
}

async function demoUpstream(): Promise<{ url: string; close(): Promise<void>; systemPrompt: string; model: string }> {
  const { startDemoUpstream, DEMO_SYSTEM_PROMPT, DEMO_MODEL } = await import("../../gateway/demo-upstream.js");
  const upstream = await startDemoUpstream();
  return { url: upstream.url, close: () => upstream.close(), systemPrompt: DEMO_SYSTEM_PROMPT, model: DEMO_MODEL };
}

/** The values in the demo's system prompt that must never appear in output: its credential, discount code and mailbox. */
export function demoCanaries(systemPrompt: string): string[] {
  return [...systemPrompt.matchAll(/\b(AKIA[0-9A-Z]{16}|[A-Z]+-STAFF-\d+|[\w.-]+@[\w-]+\.example)\b/g)].map((m) => m[1]!);
}

/** The gateway's demo upstream, scanned directly. */
export async function startDemoTarget(): Promise<RunningDemo> {
  const upstream = await demoUpstream();
  const target = createOpenAiTarget({ baseUrl: upstream.url, model: upstream.model, tools: true, canaries: demoCanaries(upstream.systemPrompt), connections: 8 });
  return {
    target: { ...target, name: "demo (gateway's offline demo upstream, direct)", systemPrompt: upstream.systemPrompt },
    url: upstream.url,
    close: async () => {
      await target.close?.();
      await upstream.close();
    },
  };
}

/** The demo upstream behind the Bulwark gateway (in-process, loopback, default policy, events in memory). */
export async function startGuardedDemoTarget(): Promise<RunningDemo> {
  const upstream = await demoUpstream();
  const [{ createGateway }, { resolveConfig }, { openStore }] = await Promise.all([import("../../gateway/server.js"), import("../../gateway/config.js"), import("../../store/open.js")]);
  const loaded = resolveConfig({ version: 1, store: { url: "memory" }, listen: { host: "127.0.0.1", port: 0 }, log: { level: "silent" } }, "bulwark demo", process.cwd());
  const store = openStore("memory");
  await store.init();
  const gateway = await createGateway({ loaded, store, fallbackUpstreamUrl: upstream.url, defaultPolicy: { version: 1, layers: { promptLeak: { systemPrompt: upstream.systemPrompt } } } });
  const base = await gateway.listen(0);
  const url = `${base.replace(/\/+$/, "")}/v1`;
  const target = createOpenAiTarget({ baseUrl: url, model: upstream.model, tools: true, canaries: demoCanaries(upstream.systemPrompt), connections: 8 });
  return {
    target: { ...target, name: "demo (gateway's offline demo upstream) through the Bulwark gateway", systemPrompt: upstream.systemPrompt, policyHash: gateway.runtime().guard.policyHash },
    url,
    close: async () => {
      await target.close?.();
      await gateway.shutdown("demo finished");
      await upstream.close();
    },
  };
}
