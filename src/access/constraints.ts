/**
 * Allowlists for tool-call argument values: e-mail domains, URL hosts, file
 * path prefixes. Each check is strict and fails closed: a value that is not
 * plainly one address, one absolute URL or one absolute path is refused rather
 * than interpreted generously, because the tool on the other side may read it
 * differently from us.
 */
import { domainToASCII } from "node:url";
import { posix } from "node:path";
import type { ArgumentRuleOptions } from "../policy/access.js";

/** A compiled allowlist rule: checks one value, returning why it fails or null. */
export interface CompiledRule {
  readonly argument: string;
  readonly path: readonly string[];
  readonly kind: "email" | "host" | "path";
  check(value: string): string | null;
}

/** Domains as given (`example.com` exact; `*.example.com` subdomains only). */
class DomainSet {
  private readonly exact = new Set<string>();
  private readonly suffixes: string[] = [];
  constructor(domains: readonly string[]) {
    for (const domain of domains) {
      if (domain.startsWith("*.")) this.suffixes.push(domain.slice(1));
      else this.exact.add(domain);
    }
  }
  has(domain: string): boolean {
    if (this.exact.has(domain)) return true;
    for (const suffix of this.suffixes) if (domain.length > suffix.length && domain.endsWith(suffix)) return true;
    return false;
  }
}

/** A plain address: no display name, comments, quotes, lists or whitespace; one @. */
const PLAIN_ADDRESS = /^[^\s@<>()[\]\\,;:"]{1,64}@([^\s@<>()[\]\\,;:"]{1,253})$/u;

const LOWER_ASCII_HOST = /^[a-z0-9.-]+$/;

/** The lower-case ASCII (punycode) form of a domain, or null if it is not a valid host name. */
export function canonicalDomain(domain: string): string | null {
  const trimmed = domain.endsWith(".") ? domain.slice(0, -1) : domain;
  if (trimmed.length === 0 || trimmed.length > 253) return null;
  // The common case, already lower-case ASCII: nothing for IDNA to map.
  if (LOWER_ASCII_HOST.test(trimmed)) return trimmed.includes("..") || trimmed.startsWith(".") || trimmed.startsWith("-") ? null : trimmed;
  const ascii = domainToASCII(trimmed.normalize("NFC"));
  if (!ascii || !/^[a-z0-9.-]+$/.test(ascii) || ascii.includes("..") || ascii.startsWith(".") || ascii.startsWith("-")) return null;
  return ascii;
}

/** Invisible format characters (soft hyphen, zero-width, bidi controls) that IDNA or a renderer would drop or reorder. */
const INVISIBLE = /\p{Cf}/u;

export function checkEmail(value: string, domains: DomainSet): string | null {
  if (INVISIBLE.test(value)) return "contains invisible characters";
  const match = PLAIN_ADDRESS.exec(value);
  if (!match) return "is not one plain e-mail address";
  const domain = canonicalDomain(match[1]!);
  if (!domain) return `has an invalid domain ${JSON.stringify(match[1]!.slice(0, 80))}`;
  return domains.has(domain) ? null : `is addressed to ${domain}, which is not an allowed e-mail domain`;
}

export function checkUrl(value: string, hosts: DomainSet, schemes: ReadonlySet<string>): string | null {
  if (/[\s\\]/.test(value)) return "is not a plain URL (whitespace or backslash)";
  if (INVISIBLE.test(value)) return "contains invisible characters";
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "is not an absolute URL";
  }
  const scheme = url.protocol.slice(0, -1);
  if (!schemes.has(scheme)) return `uses the scheme ${scheme}, which is not allowed`;
  // WHATWG URL has already applied IDNA and lower-cased the host; IPv6 literals keep their brackets.
  const host = url.hostname.endsWith(".") ? url.hostname.slice(0, -1) : url.hostname;
  if (!host) return "has no host";
  return hosts.has(host) ? null : `points to ${host}, which is not an allowed host`;
}

export function checkPath(value: string, prefixes: readonly string[]): string | null {
  if (value.includes("\0")) return "contains a NUL character";
  if (value.includes("\\")) return "contains a backslash";
  if (/%2e|%2f|%5c|%00/i.test(value)) return "contains percent-encoded path characters";
  if (!value.startsWith("/")) return "is not an absolute path";
  const resolved = posix.normalize(value);
  for (const prefix of prefixes) if (resolved === prefix || resolved.startsWith(prefix + "/")) return null;
  return `resolves to ${JSON.stringify(resolved.slice(0, 120))}, outside the allowed directories`;
}

export function compileRule(rule: ArgumentRuleOptions): CompiledRule {
  const path = rule.argument.split(".");
  if (rule.emailDomains) {
    const domains = new DomainSet(rule.emailDomains);
    return { argument: rule.argument, path, kind: "email", check: (value) => checkEmail(value, domains) };
  }
  if (rule.hosts) {
    const hosts = new DomainSet(rule.hosts);
    const schemes = new Set(rule.schemes);
    return { argument: rule.argument, path, kind: "host", check: (value) => checkUrl(value, hosts, schemes) };
  }
  // Prefixes without a trailing slash, normalised, so `/srv/data/` and `/srv/data` mean the same.
  const prefixes = (rule.pathPrefixes ?? []).map((prefix) => {
    const normal = posix.normalize(prefix);
    return normal.length > 1 && normal.endsWith("/") ? normal.slice(0, -1) : normal;
  });
  return { argument: rule.argument, path, kind: "path", check: (value) => checkPath(value, prefixes.includes("/") ? ["/"] : prefixes) };
}

/**
 * The values at a dotted path (`*` = every element or value), with their concrete locations.
 * Values that are not strings are returned as found, for the caller to judge.
 */
export function valuesAt(root: unknown, path: readonly string[]): Array<{ where: string; value: unknown }> {
  let current: Array<{ where: string; value: unknown }> = [{ where: "", value: root }];
  for (const key of path) {
    const next: Array<{ where: string; value: unknown }> = [];
    for (const { where, value } of current) {
      if (value === null || typeof value !== "object") continue;
      if (key === "*") {
        if (Array.isArray(value)) value.forEach((item, index) => next.push({ where: `${where}[${index}]`, value: item }));
        else for (const [name, item] of Object.entries(value)) next.push({ where: where ? `${where}.${name}` : name, value: item });
      } else if (Array.isArray(value)) {
        // A named key applied to an array applies to each element (`recipients.address` over a list).
        value.forEach((item, index) => {
          if (item && typeof item === "object" && !Array.isArray(item) && Object.hasOwn(item, key)) next.push({ where: `${where}[${index}].${key}`, value: (item as Record<string, unknown>)[key] });
        });
      } else if (Object.hasOwn(value, key)) {
        next.push({ where: where ? `${where}.${key}` : key, value: (value as Record<string, unknown>)[key] });
      }
    }
    current = next;
  }
  return current;
}

/** Checks every value a rule selects; arrays at the end of the path are checked element by element. */
export function checkRule(rule: CompiledRule, args: unknown): string | null {
  const stack = valuesAt(args, rule.path);
  while (stack.length > 0) {
    const { where, value } = stack.pop()!;
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) {
      value.forEach((item, index) => stack.push({ where: `${where}[${index}]`, value: item }));
      continue;
    }
    if (typeof value !== "string") return `argument ${where} must be a string for its ${rule.kind} allowlist, found ${typeof value}`;
    const problem = rule.check(value);
    if (problem) return `argument ${where} ${problem}`;
  }
  return null;
}
