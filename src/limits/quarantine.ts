/**
 * The quarantine list (kill switch): principals whose requests are refused
 * until released or until their quarantine lapses.
 *
 * Every replica keeps the whole list in memory, so the check on the request
 * path is a map lookup and never waits for Redis. With Redis, changes are
 * written to a hash and announced on a pub/sub channel; every replica applies
 * announcements as they arrive and re-reads the hash every few seconds and
 * after a reconnection, so one that missed a message (or was cut off) catches
 * up. While Redis is unreachable each replica enforces its last copy, and
 * changes made meanwhile apply on the replica that made them and are written
 * to Redis once it is back.
 */
import type { Redis } from "ioredis";

export interface QuarantineEntry {
  readonly principal: string;
  /** Why (an anomaly's summary, or what an administrator wrote). */
  readonly reason: string;
  /** `automatic` or `admin:ID`. */
  readonly by: string;
  /** ms since the epoch. */
  readonly since: number;
  /** When it lapses (ms since the epoch), or null: until released. */
  readonly until: number | null;
}

export type QuarantineStore = { readonly kind: "memory" } | { readonly kind: "redis"; readonly client: Redis; readonly keyPrefix: string };

export interface QuarantineChange {
  readonly op: "added" | "removed";
  readonly principal: string;
  readonly entry?: QuarantineEntry;
}

const REFRESH_MS = 5_000;

export class QuarantineList {
  private readonly entries = new Map<string, QuarantineEntry>();
  private subscriber: Redis | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  /** Changes made while Redis was unreachable, written when it is back. */
  private readonly unsynced = new Map<string, QuarantineEntry | null>();
  private closed = false;

  constructor(private readonly store: QuarantineStore = { kind: "memory" }) {}

  /** With Redis: subscribes to changes and loads the shared list (waits at most `waitMs` for it). */
  async start(waitMs = 1_000): Promise<void> {
    if (this.store.kind !== "redis") return;
    const { client, keyPrefix } = this.store;
    // Its own connection (a subscribed connection can do nothing else), with an offline queue so that
    // the subscription is made whenever the server is reachable; ioredis re-subscribes after reconnecting.
    const subscriber = client.duplicate({ enableOfflineQueue: true, lazyConnect: false, maxRetriesPerRequest: null });
    this.subscriber = subscriber;
    subscriber.on("error", () => undefined); // reported through the main connection's state
    subscriber.on("message", (_channel: string, message: string) => this.apply(message));
    subscriber.on("ready", () => void this.refresh());
    void subscriber.subscribe(`${keyPrefix}quarantine:changes`).catch(() => undefined);
    this.refreshTimer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.refreshTimer.unref();
    await Promise.race([this.refresh(), new Promise((resolve) => setTimeout(resolve, waitMs).unref())]);
  }

  /** The principal's quarantine, if it is in force at `now`. */
  get(principal: string, now: number = Date.now()): QuarantineEntry | undefined {
    if (this.entries.size === 0) return undefined;
    const entry = this.entries.get(principal);
    if (entry === undefined) return undefined;
    if (entry.until !== null && entry.until <= now) {
      this.entries.delete(principal);
      return undefined;
    }
    return entry;
  }

  list(now: number = Date.now()): QuarantineEntry[] {
    return [...this.entries.values()].filter((entry) => entry.until === null || entry.until > now).sort((a, b) => a.since - b.since);
  }

  /** Quarantines a principal here at once and, with Redis, on every replica; `shared` says whether Redis took it. */
  async add(entry: QuarantineEntry): Promise<{ shared: boolean }> {
    this.entries.set(entry.principal, entry);
    return { shared: await this.write(entry.principal, entry) };
  }

  /** Releases a principal; `removed` says whether it was quarantined (here). */
  async remove(principal: string): Promise<{ removed: boolean; shared: boolean }> {
    const removed = this.entries.delete(principal);
    return { removed, shared: await this.write(principal, null) };
  }

  /** Re-reads the shared list (Redis); no-op in memory. */
  async refresh(): Promise<void> {
    if (this.store.kind !== "redis" || this.closed) return;
    const { client, keyPrefix } = this.store;
    try {
      if (this.unsynced.size > 0) {
        for (const [principal, entry] of [...this.unsynced]) if (await this.write(principal, entry)) this.unsynced.delete(principal);
      }
      const all = await client.hgetall(`${keyPrefix}quarantine`);
      const now = Date.now();
      const seen = new Set<string>();
      for (const [principal, json] of Object.entries(all)) {
        const entry = parseEntry(json);
        if (entry === null || (entry.until !== null && entry.until <= now)) {
          void client.hdel(`${keyPrefix}quarantine`, principal).catch(() => undefined);
          continue;
        }
        seen.add(principal);
        this.entries.set(principal, entry);
      }
      for (const principal of [...this.entries.keys()]) if (!seen.has(principal) && !this.unsynced.has(principal)) this.entries.delete(principal);
    } catch {
      // Unreachable: keep the last copy; the next refresh or reconnection tries again.
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    if (this.subscriber) {
      this.subscriber.disconnect();
      this.subscriber = null;
    }
  }

  private async write(principal: string, entry: QuarantineEntry | null): Promise<boolean> {
    if (this.store.kind !== "redis") return false;
    const { client, keyPrefix } = this.store;
    try {
      const change: QuarantineChange = entry ? { op: "added", principal, entry } : { op: "removed", principal };
      const multi = client.multi();
      if (entry) multi.hset(`${keyPrefix}quarantine`, principal, JSON.stringify(entry));
      else multi.hdel(`${keyPrefix}quarantine`, principal);
      multi.publish(`${keyPrefix}quarantine:changes`, JSON.stringify(change));
      await multi.exec();
      this.unsynced.delete(principal);
      return true;
    } catch {
      this.unsynced.set(principal, entry);
      return false;
    }
  }

  private apply(message: string): void {
    let change: QuarantineChange;
    try {
      change = JSON.parse(message) as QuarantineChange;
    } catch {
      return;
    }
    if (!change || typeof change.principal !== "string") return;
    if (change.op === "added") {
      const entry = parseEntry(JSON.stringify(change.entry ?? null));
      if (entry) this.entries.set(entry.principal, entry);
    } else if (change.op === "removed") {
      this.entries.delete(change.principal);
    }
  }
}

function parseEntry(json: string): QuarantineEntry | null {
  try {
    const value = JSON.parse(json) as Partial<QuarantineEntry> | null;
    if (!value || typeof value.principal !== "string" || typeof value.reason !== "string" || typeof value.by !== "string" || typeof value.since !== "number") return null;
    const until = typeof value.until === "number" ? value.until : null;
    return { principal: value.principal, reason: value.reason, by: value.by, since: value.since, until };
  } catch {
    return null;
  }
}
