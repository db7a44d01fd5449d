/**
 * Tool calls held for a person's approval, in memory: held when a response
 * proposes them, approved or rejected by an administrator, fetched by the
 * application once decided. Pending calls expire after the policy's TTL (and
 * count as rejected); at most `maxPending` are held (further ones are refused,
 * so a flood of proposals cannot exhaust memory).
 *
 * One process's memory: with several gateway replicas, an approval lives on the
 * replica that held it (the gateway shares them through Redis instead when
 * configured: approvals-redis.ts). Approvals do not survive a restart; the held
 * and decided events in the audit trail record what happened.
 */
import { sortableId } from "../util/sortable-id.js";

export type ApprovalStatus = "pending" | "approved" | "rejected" | "expired";

export interface ApprovalCall {
  readonly id?: string;
  readonly name: string;
  readonly arguments: string;
}

export interface Approval {
  readonly id: string;
  status: ApprovalStatus;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly principal: string;
  readonly requestId?: string;
  readonly model?: string;
  readonly call: ApprovalCall;
  readonly effect?: string;
  /** Why the call needs approval. */
  readonly reason: string;
  decidedAt?: string;
  decidedBy?: string;
  note?: string;
}

export interface HoldRequest {
  readonly principal: string;
  readonly requestId?: string;
  readonly model?: string;
  readonly call: ApprovalCall;
  readonly effect?: string;
  readonly reason: string;
}

export type DecideResult = { readonly ok: true; readonly approval: Approval } | { readonly ok: false; readonly code: "not_found" | "not_pending"; readonly approval?: Approval };

export interface ApprovalStoreOptions {
  readonly ttlMs: number;
  readonly maxPending: number;
  /** Decided and expired approvals kept for the application to fetch (oldest dropped first). */
  readonly maxKept?: number;
  readonly now?: () => number;
  /** Told about each pending approval that expires (for an event). */
  readonly onExpire?: (approval: Approval) => void;
}

export class ApprovalStore {
  private readonly approvals = new Map<string, Approval>();
  private pendingCount = 0;
  private readonly now: () => number;
  private readonly onExpire: ((approval: Approval) => void) | undefined;
  private readonly maxKept: number;
  private ttlMs: number;
  private maxPending: number;

  constructor(options: ApprovalStoreOptions) {
    this.ttlMs = options.ttlMs;
    this.maxPending = options.maxPending;
    this.maxKept = options.maxKept ?? 10_000;
    this.now = options.now ?? Date.now;
    this.onExpire = options.onExpire;
  }

  /** New limits (after a policy reload); approvals already held keep their expiry. */
  configure(ttlMs: number, maxPending: number): void {
    this.ttlMs = ttlMs;
    this.maxPending = maxPending;
  }

  get pending(): number {
    this.expire();
    return this.pendingCount;
  }

  /** Holds a call; null when the store is full (the caller denies the call instead). */
  hold(request: HoldRequest): Approval | null {
    this.expire();
    if (this.pendingCount >= this.maxPending) return null;
    const approval = pendingApproval(request, this.now(), this.ttlMs);
    this.approvals.set(approval.id, approval);
    this.pendingCount++;
    this.trim();
    return approval;
  }

  get(id: string): Approval | undefined {
    this.expire();
    return this.approvals.get(id);
  }

  /** Newest first. */
  list(filter: { status?: ApprovalStatus; principal?: string; limit?: number } = {}): Approval[] {
    this.expire();
    const out: Approval[] = [];
    const all = [...this.approvals.values()].reverse();
    for (const approval of all) {
      if (filter.status && approval.status !== filter.status) continue;
      if (filter.principal && approval.principal !== filter.principal) continue;
      out.push(approval);
      if (out.length >= (filter.limit ?? 1000)) break;
    }
    return out;
  }

  decide(id: string, verdict: "approved" | "rejected", by: string, note?: string): DecideResult {
    this.expire();
    const approval = this.approvals.get(id);
    if (!approval) return { ok: false, code: "not_found" };
    if (approval.status !== "pending") return { ok: false, code: "not_pending", approval };
    approval.status = verdict;
    approval.decidedAt = new Date(this.now()).toISOString();
    approval.decidedBy = by;
    if (note) approval.note = note;
    this.pendingCount--;
    return { ok: true, approval };
  }

  /** Marks pending approvals past their time as expired; returns them (for events). */
  expire(): Approval[] {
    if (this.pendingCount === 0) return [];
    const now = this.now();
    const expired: Approval[] = [];
    for (const approval of this.approvals.values()) {
      if (approval.status === "pending" && Date.parse(approval.expiresAt) <= now) {
        approval.status = "expired";
        approval.decidedAt = new Date(now).toISOString();
        this.pendingCount--;
        expired.push(approval);
        this.onExpire?.(approval);
      }
    }
    return expired;
  }

  /** Drops the oldest decided approvals beyond maxKept (Map order is insertion order). */
  private trim(): void {
    let excess = this.approvals.size - this.pendingCount - this.maxKept;
    if (excess <= 0) return;
    for (const [id, approval] of this.approvals) {
      if (excess <= 0) break;
      if (approval.status !== "pending") {
        this.approvals.delete(id);
        excess--;
      }
    }
  }
}

/**
 * Where held calls live, as the gateway uses it: in this process (MemoryApprovals) or shared by every replica
 * (RedisApprovals, src/access/approvals-redis.ts). Asynchronous because the shared one is.
 */
/** A new pending approval for a held call, as every backend records it. */
export function pendingApproval(request: HoldRequest, now: number, ttlMs: number): Approval {
  return {
    id: `apv_${sortableId()}`,
    status: "pending",
    createdAt: new Date(now).toISOString(),
    expiresAt: new Date(now + ttlMs).toISOString(),
    principal: request.principal,
    ...(request.requestId ? { requestId: request.requestId } : {}),
    ...(request.model ? { model: request.model } : {}),
    call: { ...(request.call.id ? { id: request.call.id } : {}), name: request.call.name, arguments: request.call.arguments },
    ...(request.effect ? { effect: request.effect } : {}),
    reason: request.reason,
  };
}

export interface ApprovalBackend {
  /** `memory` or `redis`. */
  readonly kind: "memory" | "redis";
  configure(ttlMs: number, maxPending: number): void;
  /** Holds a call; null when full (the caller denies the call instead). Rejects when the backend is unreachable. */
  hold(request: HoldRequest): Promise<Approval | null>;
  get(id: string): Promise<Approval | undefined>;
  list(filter?: { status?: ApprovalStatus; principal?: string; limit?: number }): Promise<Approval[]>;
  decide(id: string, verdict: "approved" | "rejected", by: string, note?: string): Promise<DecideResult>;
  close(): Promise<void>;
}

/** The in-memory store behind the backend interface. */
export class MemoryApprovals implements ApprovalBackend {
  readonly kind = "memory" as const;
  constructor(readonly store: ApprovalStore) {}
  configure(ttlMs: number, maxPending: number): void {
    this.store.configure(ttlMs, maxPending);
  }
  async hold(request: HoldRequest): Promise<Approval | null> {
    return this.store.hold(request);
  }
  async get(id: string): Promise<Approval | undefined> {
    return this.store.get(id);
  }
  async list(filter: { status?: ApprovalStatus; principal?: string; limit?: number } = {}): Promise<Approval[]> {
    return this.store.list(filter);
  }
  async decide(id: string, verdict: "approved" | "rejected", by: string, note?: string): Promise<DecideResult> {
    return this.store.decide(id, verdict, by, note);
  }
  async close(): Promise<void> {}
}
