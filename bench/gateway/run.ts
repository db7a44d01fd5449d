/**
 * `npm run bench:gateway`: what the gateway adds to a request, side by side with
 * calling the upstream directly, a bare Node reverse proxy, and the Portkey AI
 * gateway, all on loopback with an upstream that answers at once.
 *
 *   1. latency at a fixed 1,000 requests/s (open loop: latency counts from when a request was due,
 *      so a stalled server cannot hide its queue), p50/p99 and what each adds over direct;
 *   2. maximum throughput (closed loop, 64 connections), load generator on the same two cores;
 *   3. a 60-second memory soak of Bulwark at a steady rate (resident memory and heap, sampled every 5 s);
 *   4. cold start: a fresh Bulwark process at the fixed rate from its first request, p50/p99 per second
 *      (how long a new instance takes to reach its steady speed under load).
 *
 * Each server runs in its own process; this process is the load generator. Bounded: a fixed number of
 * requests per phase and a time limit; everything stops by itself.
 * Options: --quick (short phases, for a smoke run), --no-portkey, --rate N, --warmup-seconds N (at 500 req/s before
 * each target's fixed-rate phase, default 3), --soak-rate N, --soak-seconds N,
 * --only-soak, --no-cold-start, --json FILE, --gateway-flags "FLAGS" (Node/V8 flags for the Bulwark processes, e.g.
 * "--single-threaded-gc"; see docs/gateway.md).
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Pool } from "undici";
import { stringify } from "yaml";
import { defaultPolicy } from "../../src/policy/load.js";
import { machine, table } from "../lib.js";

const args = process.argv.slice(2);
const flag = (name: string): boolean => args.includes(`--${name}`);
const option = (name: string, fallback: number): number => {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? Number(args[index + 1]) : fallback;
};
const QUICK = flag("quick");
const gatewayFlagsAt = args.indexOf("--gateway-flags");
const GATEWAY_FLAGS = gatewayFlagsAt >= 0 ? (args[gatewayFlagsAt + 1] ?? "").split(/\s+/).filter(Boolean) : [];
const RATE = option("rate", 1_000);
const FIXED_SECONDS = QUICK ? 3 : 10;
const MAX_SECONDS = QUICK ? 3 : 10;
const WARMUP_SECONDS = option("warmup-seconds", QUICK ? 1 : 3);
const SOAK_SECONDS = option("soak-seconds", QUICK ? 10 : 60);
// Below the gateway's capacity on a shared two-core machine: a soak at saturation measures the backlog, not leaks.
const SOAK_RATE = option("soak-rate", 250);
const COLD_SECONDS = QUICK ? 3 : 8;
const ONLY_SOAK = flag("only-soak");
const CONNECTIONS = 64;
const HERE = fileURLToPath(new URL(".", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TSX = join(ROOT, "node_modules/tsx/dist/esm/index.mjs");
const KEY = "bwk_bench_0123456789abcdefghijklmnopqrstuv";

const BODY = JSON.stringify({
  model: "bench-model",
  messages: [
    { role: "system", content: "You are a helpful travel assistant. Answer briefly." },
    { role: "user", content: "What is the capital of France, and what is it known for? Please answer in two sentences." },
  ],
  max_tokens: 100,
});

interface Target {
  readonly name: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly process?: ChildProcess;
}

/** CPU time (user + system) a process has used, in milliseconds, from /proc (Linux); NaN elsewhere. */
function cpuMs(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, in clock ticks of 1/100 s
  } catch {
    return NaN;
  }
}

const children: ChildProcess[] = [];
process.on("exit", () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
});

function start(command: string, commandArgs: string[], env: NodeJS.ProcessEnv = {}, ready: RegExp = /listening (\d+)/, logFile?: string): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    // A gateway's logs go to a file, as in production, so this process does not spend its time reading them.
    const stdout = logFile ? openSync(logFile, "w") : "pipe";
    const child = spawn(command, commandArgs, { env: { ...process.env, ...env }, stdio: ["ignore", stdout, "pipe"] });
    children.push(child);
    let output = "";
    const timer = setTimeout(() => reject(new Error(`${commandArgs.join(" ")} did not start: ${output.slice(-2000)}`)), 180_000);
    const onData = (data: Buffer): void => {
      output += data.toString();
      const match = ready.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout?.off("data", onData);
        child.stderr!.off("data", onData);
        // Keep draining, so a full pipe never blocks the server.
        child.stdout?.resume();
        child.stderr!.resume();
        resolve({ child, port: Number(match[1]) });
      }
    };
    child.stdout?.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`${commandArgs.join(" ")} exited with ${code}: ${output.slice(-2000)}`)));
  });
}

/** Portkey's gateway, installed from bench/gateway/package.json into a cache outside the repository. */
function portkeyEntry(): string | null {
  const cache = join(tmpdir(), "bulwark-bench-gateway-deps");
  const entry = join(cache, "node_modules/@portkey-ai/gateway/build/start-server.js");
  if (existsSync(entry)) return entry;
  mkdirSync(cache, { recursive: true });
  copyFileSync(join(HERE, "package.json"), join(cache, "package.json"));
  process.stderr.write(`installing the comparison gateway into ${cache} (once)...\n`);
  try {
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--omit=dev", "--prefix", cache], { stdio: ["ignore", "ignore", "inherit"], timeout: 300_000 });
  } catch (error) {
    process.stderr.write(`could not install @portkey-ai/gateway (${(error as Error).message}); skipping it\n`);
    return null;
  }
  return existsSync(entry) ? entry : null;
}

interface FixedRateResult {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly sent: number;
  readonly errors: number;
  readonly achievedRate: number;
  /** p50 and p99 of the requests due in each second of the phase. */
  readonly perSecond: ReadonlyArray<{ readonly p50: number; readonly p99: number }>;
}

function percentile(sorted: Float64Array, q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function send(pool: Pool, target: Target): Promise<boolean> {
  const url = new URL(target.url);
  const response = await pool.request({ method: "POST", path: url.pathname, headers: { "content-type": "application/json", ...target.headers }, body: BODY });
  await response.body.dump();
  return response.statusCode === 200;
}

/** Open loop: request i is due at start + i/rate; its latency counts from then, so queueing delay is included. */
async function fixedRate(target: Target, rate: number, seconds: number): Promise<FixedRateResult> {
  const pool = new Pool(new URL(target.url).origin, { connections: 512, pipelining: 1, keepAliveTimeout: 60_000 });
  const total = Math.round(rate * seconds);
  const latencies = new Float64Array(total);
  let errors = 0;
  let done = 0;
  const begin = performance.now() + 20;
  const interval = 1000 / rate;
  let next = 0;
  await new Promise<void>((resolve) => {
    const deadline = setTimeout(resolve, seconds * 1000 + 30_000); // bounded even if the target stalls
    const finish = (): void => {
      if (++done === total) {
        clearTimeout(deadline);
        resolve();
      }
    };
    const tick = (): void => {
      const now = performance.now();
      while (next < total && begin + next * interval <= now) {
        const index = next++;
        const due = begin + index * interval;
        send(pool, target).then(
          (ok) => {
            latencies[index] = performance.now() - due;
            if (!ok) errors++;
            finish();
          },
          () => {
            latencies[index] = performance.now() - due;
            errors++;
            finish();
          },
        );
      }
      if (next < total) setTimeout(tick, Math.max(0, Math.min(1, begin + next * interval - performance.now())));
    };
    tick();
  });
  const elapsed = (performance.now() - begin) / 1000;
  await pool.close();
  const sorted = latencies.slice(0, done).sort();
  const perSecond = Array.from({ length: Math.ceil(total / rate) }, (_, second) => {
    const inSecond = latencies.slice(Math.round(second * rate), Math.min(total, Math.round((second + 1) * rate))).sort();
    return { p50: percentile(inSecond, 0.5), p99: percentile(inSecond, 0.99) };
  });
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted[sorted.length - 1] ?? NaN, sent: total, errors: errors + (total - done), achievedRate: done / elapsed, perSecond };
}

/** Closed loop: CONNECTIONS requests always outstanding. Also the target process's CPU time per request. */
async function maxThroughput(target: Target, seconds: number): Promise<{ rate: number; errors: number; cpuUsPerRequest: number }> {
  const cpuBefore = cpuMs(target.process?.pid);
  const pool = new Pool(new URL(target.url).origin, { connections: CONNECTIONS, pipelining: 1, keepAliveTimeout: 60_000 });
  const end = performance.now() + seconds * 1000;
  let completed = 0;
  let errors = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < end) {
        try {
          if (await send(pool, target)) completed++;
          else errors++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const rate = completed / ((performance.now() - started) / 1000);
  await pool.close();
  return { rate, errors, cpuUsPerRequest: ((cpuMs(target.process?.pid) - cpuBefore) * 1000) / Math.max(1, completed) };
}

async function metric(target: Target, name: string): Promise<number> {
  const text = await (await fetch(new URL("/metrics", target.url))).text();
  const match = new RegExp(`^${name} ([0-9.e+]+)$`, "m").exec(text);
  return match ? Number(match[1]) : NaN;
}

async function main(): Promise<void> {
  const loadBefore = loadavg();
  process.stderr.write(`machine: ${machine()}, load average ${loadBefore.map((l) => l.toFixed(1)).join(" ")}\n`);
  const upstream = await start(process.execPath, ["--import", TSX, join(HERE, "upstream.ts")]);
  const upstreamUrl = `http://127.0.0.1:${upstream.port}/v1`;
  const targets: Target[] = [{ name: "direct", url: `${upstreamUrl}/chat/completions`, headers: {}, process: upstream.child }];

  const proxy = await start(process.execPath, ["--import", TSX, join(HERE, "bare-proxy.ts"), upstreamUrl]);
  targets.push({ name: "bare Node proxy", url: `http://127.0.0.1:${proxy.port}/v1/chat/completions`, headers: {}, process: proxy.child });

  const storeDir = mkdtempSync(join(tmpdir(), "bulwark-bench-store-"));
  const startBulwark = async (name: string, extra: string[]): Promise<Target> => {
    process.stderr.write(`starting ${name}...\n`);
    const started = await start(
      process.execPath,
      [...GATEWAY_FLAGS, "--import", TSX, join(HERE, "serve.ts"), "serve", "--upstream", upstreamUrl, "--key-env", "BENCH_KEY", "--port", "0", "--no-watch", ...extra],
      { BENCH_KEY: KEY },
      /listening on http:\/\/127\.0\.0\.1:(\d+)/,
      join(storeDir, `${name.replace(/\W+/g, "-")}.log`),
    );
    return { name, url: `http://127.0.0.1:${started.port}/v1/chat/completions`, headers: { authorization: `Bearer ${KEY}` }, process: started.child };
  };
  // The gateway's own cost, apart from detection: every layer switched off, events in memory.
  const layersOff = join(storeDir, "layers-off.yaml");
  writeFileSync(layersOff, stringify({ version: 1, layers: Object.fromEntries(Object.keys(defaultPolicy().policy.layers).map((layer) => [layer, { enabled: false }])) }));
  if (!flag("no-bare-bulwark")) targets.push(await startBulwark("Bulwark, layers off", ["--policy", layersOff, "--store", "memory"]));
  const bulwarkTarget = await startBulwark("Bulwark", ["--store", `pglite:${join(storeDir, "events")}`]);
  targets.push(bulwarkTarget);

  if (!flag("no-portkey")) {
    const entry = portkeyEntry();
    if (entry) {
      const port = 20_000 + Math.floor(Math.random() * 20_000);
      const portkey = await start(process.execPath, [entry, `--port=${port}`, "--headless"], {}, /(listening|running|started|Server|port)/i).then(
        (started) => ({ ...started, port }),
        (error: unknown) => {
          process.stderr.write(`Portkey did not start: ${(error as Error).message.slice(0, 300)}\n`);
          return null;
        },
      );
      if (portkey) {
        await waitForPort(port);
        targets.push({
          name: "Portkey gateway",
          url: `http://127.0.0.1:${port}/v1/chat/completions`,
          headers: { "x-portkey-config": JSON.stringify({ provider: "openai", api_key: "bench", custom_host: upstreamUrl }) },
          process: portkey.child,
        });
      }
    }
  }

  // Sanity: every target answers the request correctly before anything is measured.
  for (const target of targets) {
    const pool = new Pool(new URL(target.url).origin, { connections: 1 });
    const ok = await send(pool, target).catch(() => false);
    await pool.close();
    if (!ok) throw new Error(`${target.name} does not answer the benchmark request with 200`);
  }

  // A new instance under load: a third Bulwark process, started now and measured from its very first request.
  let cold: FixedRateResult | undefined;
  if (!ONLY_SOAK && !flag("no-cold-start")) {
    const fresh = await startBulwark("Bulwark, fresh process", ["--store", `pglite:${join(storeDir, "events-cold")}`]);
    process.stderr.write(`Bulwark, fresh process: ${RATE} req/s for ${COLD_SECONDS} s from its first request...\n`);
    cold = await fixedRate(fresh, RATE, COLD_SECONDS);
    // Its shutdown (drain, flush) must not overlap the phases that follow.
    const exited = new Promise((resolve) => fresh.process?.once("exit", resolve));
    fresh.process?.kill("SIGTERM");
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
  }

  const fixed = new Map<string, FixedRateResult>();
  const max = new Map<string, { rate: number; errors: number; cpuUsPerRequest: number }>();
  for (const target of ONLY_SOAK ? [] : targets) {
    process.stderr.write(`${target.name}: warm-up, ${RATE} req/s for ${FIXED_SECONDS} s, then max throughput for ${MAX_SECONDS} s...\n`);
    await fixedRate(target, Math.min(RATE, 500), WARMUP_SECONDS);
    fixed.set(target.name, await fixedRate(target, RATE, FIXED_SECONDS));
    max.set(target.name, await maxThroughput(target, MAX_SECONDS));
  }

  process.stderr.write(`Bulwark: memory soak at ${SOAK_RATE} req/s for ${SOAK_SECONDS} s...\n`);
  const samples: Array<{ second: number; rssMiB: number; heapMiB: number }> = [];
  const soakStart = performance.now();
  const sampler = setInterval(() => {
    void Promise.all([metric(bulwarkTarget, "bulwark_process_resident_memory_bytes"), metric(bulwarkTarget, "bulwark_nodejs_heap_size_used_bytes")]).then(([rss, heap]) =>
      samples.push({ second: Math.round((performance.now() - soakStart) / 1000), rssMiB: rss / 2 ** 20, heapMiB: heap / 2 ** 20 }),
    );
  }, 5_000);
  const soak = await fixedRate(bulwarkTarget, SOAK_RATE, SOAK_SECONDS);
  clearInterval(sampler);
  const storeStats = (await (await fetch(new URL("/readyz", bulwarkTarget.url))).json()) as { store: { written: number; waiting: number; dropped: number } };

  for (const child of children) child.kill("SIGTERM");
  rmSync(storeDir, { recursive: true, force: true });

  const direct = fixed.get("direct") ?? { p50: NaN, p99: NaN };
  const directMax = max.get("direct")?.rate ?? NaN;
  const ms = (value: number): string => `${value.toFixed(2)} ms`;
  const rows = targets.filter((target) => fixed.has(target.name)).map((target) => {
    const result = fixed.get(target.name)!;
    const throughput = max.get(target.name)!;
    return [
      target.name,
      ms(result.p50),
      ms(result.p99),
      target.name === "direct" ? "-" : ms(result.p50 - direct.p50),
      target.name === "direct" ? "-" : ms(result.p99 - direct.p99),
      `${result.achievedRate.toFixed(0)}`,
      `${result.errors}`,
      `${throughput.rate.toFixed(0)}`,
      `${((100 * throughput.rate) / directMax).toFixed(0)}%`,
      Number.isFinite(throughput.cpuUsPerRequest) ? `${(throughput.cpuUsPerRequest / 1000).toFixed(2)} ms` : "-",
    ];
  });
  const first = samples.slice(0, 2);
  const last = samples.slice(-2);
  const avg = (list: typeof samples, key: "rssMiB" | "heapMiB"): number => list.reduce((sum, s) => sum + s[key], 0) / Math.max(1, list.length);
  process.stdout.write(`\nGateway benchmark: ${machine()}; load average before the run ${loadBefore.map((l) => l.toFixed(1)).join(" ")}, after ${loadavg().map((l) => l.toFixed(1)).join(" ")}${GATEWAY_FLAGS.length > 0 ? `; Bulwark run with ${GATEWAY_FLAGS.join(" ")}` : ""}\n`);
  process.stdout.write("Bulwark = full default policy (every input and output layer), embedded PGlite event store, one JSON log line per request.\n");
  process.stdout.write(`Fixed rate ${RATE} req/s for ${FIXED_SECONDS} s after ${WARMUP_SECONDS} s at ${Math.min(RATE, 500)} req/s (open loop; latency from when each request was due); max throughput closed loop, ${CONNECTIONS} connections, ${MAX_SECONDS} s.\n`);
  process.stdout.write("CPU per request: the target process's own CPU time (user + system) during the max-throughput phase, divided by requests served (direct: the upstream itself).\n\n");
  process.stdout.write(table(["target", "p50", "p99", "added p50", "added p99", "achieved req/s", "errors", "max req/s", "max vs direct", "CPU per request"], rows) + "\n\n");
  process.stdout.write(
    `Memory soak (Bulwark, ${SOAK_RATE} req/s for ${SOAK_SECONDS} s, p50 ${ms(soak.p50)}, p99 ${ms(soak.p99)}, ${soak.errors} errors): ` +
      `RSS ${avg(first, "rssMiB").toFixed(0)} MiB at the start, ${avg(last, "rssMiB").toFixed(0)} MiB at the end (peak ${Math.max(...samples.map((s) => s.rssMiB)).toFixed(0)}); ` +
      `heap ${avg(first, "heapMiB").toFixed(0)} -> ${avg(last, "heapMiB").toFixed(0)} MiB; events written ${storeStats.store.written}, waiting ${storeStats.store.waiting}, dropped ${storeStats.store.dropped}.\n`,
  );
  process.stdout.write(`samples: ${samples.map((s) => `${s.second}s ${s.rssMiB.toFixed(0)}/${s.heapMiB.toFixed(0)}`).join(", ")}\n`);
  if (cold) {
    process.stdout.write(
      `\nCold start (a fresh Bulwark process, same configuration, ${RATE} req/s from its first request, ${cold.errors} errors), p50 / p99 of the requests due in each second:\n` +
        cold.perSecond.map((second, i) => `  second ${i + 1}: ${ms(second.p50)} / ${ms(second.p99)}`).join("\n") +
        "\n",
    );
  }
  const jsonIndex = args.indexOf("--json");
  const out = jsonIndex >= 0 ? args[jsonIndex + 1]! : join(ROOT, "bench/results/gateway.json");
  mkdirSync(join(out, ".."), { recursive: true });
  writeFileSync(out, JSON.stringify({ machine: machine(), loadBefore, loadAfter: loadavg(), rate: RATE, fixed: Object.fromEntries(fixed), max: Object.fromEntries(max), soak: { ...soak, samples, store: storeStats.store }, ...(cold ? { cold } : {}) }, null, 2));
  process.stderr.write(`results written to ${out}\n`);
  process.exit(0);
}

async function waitForPort(port: number): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      await fetch(`http://127.0.0.1:${port}/`);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:gateway failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
