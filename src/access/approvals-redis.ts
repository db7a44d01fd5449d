/**
 * Held tool calls shared by every gateway replica through Redis: a call held on
 * one replica can be approved through another and fetched from a third.
 *
 * Keys (PREFIX is the gateway's redis.keyPrefix followed by `approvals:`):
 * `PREFIX<id>` the approval as JSON (kept for `keepMs` after it expires, so its
 * outcome can still be read), `PREFIX:pending` a sorted set of pending ids by
 * expiry (the capacity check), `PREFIX:index` a sorted set of ids by creation
 * (listing, trimmed to `maxKept`). Holding and deciding are Lua scripts, so the
 * capacity check and "decide once" hold across replicas.
 *
 * Expiry is computed when an approval is read (a pending approval past its time
 * reads as `expired` and can no longer be decided); no replica is told when it
 * happens, so there is no `tool.expired` event in this mode.
 */
import type { Redis } from "ioredis";
import { pendingApproval, type Approval, type ApprovalBackend, type ApprovalStatus, type DecideResult, type HoldRequest } from "./approvals.js";

const HOLD = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[7])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6])
local n = redis.call('ZCARD', KEYS[2])
local keep = tonumber(ARGV[8])
if n > keep then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, n - keep - 1) end
return 1
`;

const DECIDE = `
local raw = redis.call('GET', KEYS[1])
if not raw then return {0, ''} end
local a = cjson.decode(raw)
if a.status ~= 'pending' then return {2, raw} end
if tonumber(ARGV[1]) >= tonumber(a.expiresAtMs) then
  a.status = 'expired'
  a.decidedAt = ARGV[3]
  local out = cjson.encode(a)
  redis.call('SET', KEYS[1], out, 'KEEPTTL')
  redis.call('ZREM', KEYS[2], ARGV[6])
  return {2, out}
end
a.status = ARGV[2]
a.decidedAt = ARGV[3]
a.decidedBy = ARGV[4]
if ARGV[5] ~= '' then a.note = ARGV[5] end
local out = cjson.encode(a)
redis.call('SET', KEYS[1], out, 'KEEPTTL')
redis.call('ZREM', KEYS[2], ARGV[6])
return {1, out}
`;

export interface RedisApprovalsOptions {
  readonly client: Redis;
  /** Key prefix, e.g. `bulwark:approvals:`. */
  readonly prefix: string;
  readonly ttlMs: number;
  readonly maxPending: number;
  /** How long an approval stays readable after it expires (default one day). */
  readonly keepMs?: number;
  /** Most approvals listed (default 10,000). */
  readonly maxKept?: number;
  readonly now?: () => number;
}

interface Stored extends Approval {
  readonly expiresAtMs: number;
}

const ID = /^apv_[0-9A-HJKMNP-TV-Z]{26}$/;

export class RedisApprovals implements ApprovalBackend {
  readonly kind = "redis" as const;
  private ttlMs: number;
  private maxPending: number;
  private readonly client: Redis;
  private readonly prefix: string;
  private readonly keepMs: number;
  private readonly maxKept: number;
  private readonly now: () => number;

  constructor(options: RedisApprovalsOptions) {
    this.client = options.client;
    this.prefix = options.prefix;
    this.ttlMs = options.ttlMs;
    this.maxPending = options.maxPending;
    this.keepMs = options.keepMs ?? 24 * 3600 * 1000;
    this.maxKept = options.maxKept ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  configure(ttlMs: number, maxPending: number): void {
    this.ttlMs = ttlMs;
    this.maxPending = maxPending;
  }

  private key(id: string): string {
    return `${this.prefix}${id}`;
  }

  async hold(request: HoldRequest): Promise<Approval | null> {
    const now = this.now();
    const stored: Stored = { ...pendingApproval(request, now, this.ttlMs), expiresAtMs: now + this.ttlMs };
    const held = await this.client.eval(
      HOLD,
      3,
      `${this.prefix}:pending`,
      `${this.prefix}:index`,
      this.key(stored.id),
      String(now),
      String(this.maxPending),
      JSON.stringify(stored),
      String(stored.expiresAtMs),
      String(now),
      stored.id,
      String(this.ttlMs + this.keepMs),
      String(this.maxKept),
    );
    return held === 1 ? view(stored, now) : null;
  }

  async get(id: string): Promise<Approval | undefined> {
    if (!ID.test(id)) return undefined;
    const raw = await this.client.get(this.key(id));
    return raw ? view(JSON.parse(raw) as Stored, this.now()) : undefined;
  }

  async list(filter: { status?: ApprovalStatus; principal?: string; limit?: number } = {}): Promise<Approval[]> {
    const ids = await this.client.zrevrange(`${this.prefix}:index`, 0, this.maxKept - 1);
    if (ids.length === 0) return [];
    const raws = await this.client.mget(ids.map((id) => this.key(id)));
    const now = this.now();
    const out: Approval[] = [];
    for (const raw of raws) {
      if (!raw) continue;
      const approval = view(JSON.parse(raw) as Stored, now);
      if (filter.status && approval.status !== filter.status) continue;
      if (filter.principal && approval.principal !== filter.principal) continue;
      out.push(approval);
      if (out.length >= (filter.limit ?? 1000)) break;
    }
    return out;
  }

  async decide(id: string, verdict: "approved" | "rejected", by: string, note?: string): Promise<DecideResult> {
    if (!ID.test(id)) return { ok: false, code: "not_found" };
    const now = this.now();
    const [code, raw] = (await this.client.eval(DECIDE, 2, this.key(id), `${this.prefix}:pending`, String(now), verdict, new Date(now).toISOString(), by, note ?? "", id)) as [number, string];
    if (code === 0) return { ok: false, code: "not_found" };
    const approval = view(JSON.parse(raw) as Stored, now);
    return code === 1 ? { ok: true, approval } : { ok: false, code: "not_pending", approval };
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }
}

/** The public shape, with a pending approval past its time shown as expired. */
function view(stored: Stored, now: number): Approval {
  const { expiresAtMs, ...approval } = stored;
  if (approval.status === "pending" && expiresAtMs <= now) approval.status = "expired";
  return approval;
}
