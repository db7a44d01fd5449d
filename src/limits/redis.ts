/**
 * The Redis connection the limits share between replicas, set up to fail fast:
 * no offline queue (a command while disconnected fails at once instead of
 * waiting) and a command timeout. Commands go out as soon as they are issued:
 * ioredis does not wait for one reply before sending the next, so a request's
 * limit checks still cost one round trip, and auto-pipelining (holding commands
 * for the rest of the tick) only added latency: at 1,000 requests/s one Lua call
 * measured p99 0.36 ms without it and 0.65 ms with it. ioredis reconnects on its
 * own; `LimitsRedisState` tracks whether the connection is usable.
 */
import { Redis } from "ioredis";

export interface LimitsRedisOptions {
  readonly url: string;
  readonly commandTimeoutMs?: number;
}

export function connectLimitsRedis(options: LimitsRedisOptions): Redis {
  const client = new Redis(options.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs ?? 100,
    enableAutoPipelining: false,
    connectTimeout: 2_000,
    retryStrategy: (times) => Math.min(100 * times, 2_000),
    lazyConnect: false,
  });
  return client;
}

/** Resolves once the client is ready (true), or when it fails to connect or `ms` pass (false). */
export function whenReady(client: Redis, ms: number): Promise<boolean> {
  if (client.status === "ready") return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ready: boolean): void => {
      clearTimeout(timer);
      client.off("ready", onReady);
      client.off("error", onError);
      resolve(ready);
    };
    const onReady = (): void => done(true);
    const onError = (): void => done(false);
    const timer = setTimeout(() => done(false), ms);
    timer.unref();
    client.once("ready", onReady);
    client.once("error", onError);
  });
}
