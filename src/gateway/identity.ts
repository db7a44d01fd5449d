/**
 * Identities: API keys (stored hashed) map to principals, principals have roles,
 * roles grant models and a token limit.
 *
 * API keys are hashed with SHA-256: they are random 256-bit strings made by
 * `bulwark keys create`, so a slow hash adds nothing against guessing and a fast
 * one lets every request be looked up in one map access. Admin credentials may
 * be passwords, so they may also be hashed with scrypt (checked rarely).
 */
import { createHash, randomBytes, scryptSync, timingSafeEqual } from "node:crypto";
import type { GatewayConfig, RoleSpec } from "./config.js";

const SHA256_HASH = /^sha256:[0-9a-f]{64}$/;
const SCRYPT_HASH = /^scrypt:(\d+):(\d+):(\d+):([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/;

export function isKeyHash(value: string): boolean {
  return SHA256_HASH.test(value) || SCRYPT_HASH.test(value);
}

export function hashKey(key: string): string {
  return "sha256:" + createHash("sha256").update(key, "utf8").digest("hex");
}

/** scrypt with N=2^15: about 50 ms and 32 MiB per check, for admin passwords. */
export function hashSecretScrypt(secret: string): string {
  const salt = randomBytes(16);
  const [n, r, p] = [32_768, 8, 1];
  const derived = scryptSync(secret, salt, 32, { N: n, r, p, maxmem: 64 * 1024 * 1024 });
  return `scrypt:${n}:${r}:${p}:${salt.toString("base64")}:${derived.toString("base64")}`;
}

/** A fresh API key: `bwk_` and 43 characters of base64url (256 bits). */
export function generateKey(): string {
  return "bwk_" + randomBytes(32).toString("base64url");
}

export function verifySecret(secret: string, stored: string): boolean {
  if (SHA256_HASH.test(stored)) return constantTimeEqual(hashKey(secret), stored);
  const match = SCRYPT_HASH.exec(stored);
  if (!match) return false;
  const [, n, r, p, salt, expected] = match;
  const want = Buffer.from(expected!, "base64");
  const got = scryptSync(secret, Buffer.from(salt!, "base64"), want.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: 256 * 1024 * 1024 });
  return got.length === want.length && timingSafeEqual(got, want);
}

function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export interface Principal {
  readonly id: string;
  /** The key that authenticated the request (its id, never the key). */
  readonly keyId: string;
  readonly roles: readonly string[];
}

export interface KeyRecord {
  readonly id: string;
  readonly principal: string;
  /** sha256:<hex> */
  readonly hash: string;
  readonly revoked?: boolean;
}

export type ModelGrant = { readonly allowed: true; readonly maxTokens: number | undefined } | { readonly allowed: false };

export const ANONYMOUS = "anonymous";

/**
 * The identities of one configuration, immutable: a reload builds a new one and
 * swaps it in whole, so a request never sees half of an old and half of a new set.
 */
export class Identities {
  private readonly byHash = new Map<string, { id: string; principal: string }>();
  private readonly roles: ReadonlyMap<string, { spec: RoleSpec; patterns: RegExp[] }>;
  private readonly principals: ReadonlyMap<string, readonly string[]>;
  /** With no keys at all the gateway serves everyone as `anonymous` (only allowed on loopback; see serve). */
  readonly anonymous: boolean;

  constructor(config: GatewayConfig, storedKeys: readonly KeyRecord[] = []) {
    this.roles = new Map(Object.entries(config.roles).map(([name, spec]) => [name, { spec, patterns: spec.models.map(globToRegExp) }]));
    this.principals = new Map(Object.entries(config.principals).map(([name, spec]) => [name, spec.roles]));
    const revoked = new Set(storedKeys.filter((key) => key.revoked).map((key) => key.id));
    for (const key of config.keys) {
      // Config keys are sha256 (validated); scrypt is only for admin credentials.
      if (!revoked.has(key.id) && key.hash.startsWith("sha256:")) this.byHash.set(key.hash, { id: key.id, principal: key.principal });
    }
    for (const key of storedKeys) {
      if (!key.revoked && this.principals.has(key.principal)) this.byHash.set(key.hash, { id: key.id, principal: key.principal });
    }
    this.anonymous = config.keys.length === 0 && storedKeys.length === 0;
  }

  get keyCount(): number {
    return this.byHash.size;
  }

  hasPrincipal(id: string): boolean {
    return this.principals.has(id);
  }

  /** The principal for an `Authorization: Bearer KEY` header value, or null. */
  authenticate(authorization: string | undefined): Principal | null {
    if (this.anonymous) return { id: ANONYMOUS, keyId: ANONYMOUS, roles: [] };
    const key = bearer(authorization);
    if (!key) return null;
    const entry = this.byHash.get(hashKey(key));
    if (!entry) return null;
    return { id: entry.principal, keyId: entry.id, roles: this.principals.get(entry.principal) ?? [] };
  }

  /** Whether the principal may use the model, and the most generous token limit among the roles that grant it. */
  grant(principal: Principal, model: string): ModelGrant {
    if (principal.id === ANONYMOUS && this.anonymous) return { allowed: true, maxTokens: undefined };
    let allowed = false;
    let maxTokens: number | undefined = 0;
    for (const roleName of principal.roles) {
      const role = this.roles.get(roleName);
      if (!role || !role.patterns.some((pattern) => pattern.test(model))) continue;
      allowed = true;
      maxTokens = role.spec.maxTokens === undefined || maxTokens === undefined ? undefined : Math.max(maxTokens, role.spec.maxTokens);
    }
    return allowed ? { allowed: true, maxTokens } : { allowed: false };
  }

  /** Model patterns the principal's roles grant (for filtering /v1/models). */
  modelMatcher(principal: Principal): (model: string) => boolean {
    if (principal.id === ANONYMOUS && this.anonymous) return () => true;
    const patterns = principal.roles.flatMap((role) => this.roles.get(role)?.patterns ?? []);
    return (model) => patterns.some((pattern) => pattern.test(model));
  }
}

/** Admin credentials: checked against every configured hash (few, and admin calls are rare); successes are cached. */
export class AdminCredentials {
  private readonly verified = new Map<string, string>();
  constructor(private readonly keys: ReadonlyArray<{ id: string; hash: string }>) {}

  get enabled(): boolean {
    return this.keys.length > 0;
  }

  authenticate(authorization: string | undefined): string | null {
    const secret = bearer(authorization);
    if (!secret) return null;
    const digest = hashKey(secret);
    const cached = this.verified.get(digest);
    if (cached) return cached;
    for (const key of this.keys) {
      if (verifySecret(secret, key.hash)) {
        if (this.verified.size < 64) this.verified.set(digest, key.id);
        return key.id;
      }
    }
    return null;
  }
}

function bearer(authorization: string | undefined): string | null {
  if (!authorization) return null;
  const match = /^Bearer\s+(\S{1,512})\s*$/i.exec(authorization);
  return match ? match[1]! : null;
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*");
  return new RegExp(`^${escaped}$`, "s");
}
