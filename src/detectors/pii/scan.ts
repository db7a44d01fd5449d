/**
 * Finding personal data: cheap candidate patterns first, then validation that
 * keeps false positives down (a phone-number parser, Luhn and issuer ranges for
 * cards, mod-97 for IBANs, unissued ranges for SSNs, public ranges for IPs).
 * Every candidate pattern is linear: fixed-width repetitions or a scan outward
 * from an anchor character.
 */
import { isIP } from "node:net";
import { parsePhoneNumberFromString, type CountryCode } from "libphonenumber-js/max";
import type { CustomEntitySpec, PiiEntity } from "../../policy/schema.js";
import { anchoredMatches } from "./anchored.js";
import { cardNetwork, ibanValid, ipIsPublic, luhnValid, ssnValid } from "./validate.js";

export interface PiiMatch {
  /** EMAIL, PHONE, CARD, IBAN, SSN, IP, or a custom entity's name. */
  readonly entity: string;
  readonly start: number;
  readonly end: number;
  readonly score: number;
  /** The value as written. Stays in memory: never put it in findings or logs. */
  readonly value: string;
  /** The value in a form where formatting does not matter, for consistent pseudonyms. */
  readonly canonical: string;
  /** What it is, for people; never contains the value. */
  readonly evidence: string;
}

export interface PiiScanOptions {
  readonly entities?: readonly PiiEntity[];
  readonly defaultRegion?: string;
  readonly privateIps?: boolean;
  readonly customEntities?: readonly CustomEntitySpec[];
}

export const ENTITY_LABELS: Readonly<Record<PiiEntity, string>> = { email: "EMAIL", phone: "PHONE", card: "CARD", iban: "IBAN", ssn: "SSN", ip: "IP" };

/** File extensions that follow `name@2x` in asset names and are not top-level domains people use in addresses. */
const NOT_TLDS = new Set(["png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "js", "mjs", "cjs", "ts", "tsx", "jsx", "css", "scss", "html", "htm", "py", "rb", "go", "rs", "md", "json", "yaml", "yml", "toml", "txt", "lock", "map", "woff", "woff2", "ttf"]);
/** Reserved for documentation (RFC 2606 / 6761): addresses there belong to no one. */
const RESERVED_DOMAIN = /(?:^|\.)(?:example\.(?:com|net|org)|example|test|invalid|localhost|local)$/i;
const NON_PERSONAL_LOCAL = new Set(["git", "noreply", "no-reply", "donotreply", "do-not-reply", "mailer-daemon", "postmaster"]);

const PHONE_CANDIDATE = /(?<![\w+.\-/])(?:\+|\(|\d)[\d ().-]{5,22}\d(?!\w|[.-]\d)/g;
const PHONE_CONTEXT = /(?:phone|tel(?:ephone)?|mobile|cell|call|fax|whatsapp|sms|text me|contact|reach (?:me|us)|dial|number|ph\.?|☎|📞)\W{0,6}$/i;
const CARD_CANDIDATE = /(?<![\d.-])\d(?:[ -]?\d){11,18}(?![\d]|[.-]\d)/g;
const IBAN_CANDIDATE = /(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,4})?(?![A-Za-z0-9])/g;
const SSN_CANDIDATE = /(?<![\d-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\d-])/g;
const SSN_CONTEXT = /(?:ssn|social security|soc\.? ?sec|tax ?id|tin)\W{0,24}$/i;
// The IP candidates are tried only just before a "." (IPv4: within the first four characters) or a ":"
// (IPv6: within the first five): see anchoredMatches.
const IPV4_CANDIDATE = /(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\d|\.\d)/g;
const IPV6_CANDIDATE = /(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])/g;
const VERSION_CONTEXT = /(?:\bv|version|ver\.?|release|build|kernel|linux|python|section|rfc|[~=<>!]=|==)\s{0,2}[`'"(]{0,2}$/i;
/** Phone-number grouping: optional +country, optional (area), then two to five groups of 2-4 digits. */
const PHONE_SHAPE = /^(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]\d{2,4}){1,5}$|^\+?\d{7,15}$/;
const DATE_START = /^(?:1[89]|20)\d{2}[-./](?:0?[1-9]|1[0-2])[-./]\d{1,2}\b/;

/** Phone candidates fully parsed per text; beyond this, only clearly phone-shaped ones count (bounded cost on number-heavy text). */
const MAX_PHONE_PARSES = 64;
const PHONE_CACHE_LIMIT = 2048;

export class PiiScanner {
  private readonly entities: ReadonlySet<PiiEntity>;
  private readonly region: CountryCode;
  private readonly privateIps: boolean;
  private readonly custom: readonly { readonly name: string; readonly regex: RegExp; readonly score: number }[];
  /** Streams re-check overlapping windows: remember parse results per candidate. */
  private readonly phoneCache = new Map<string, ParsedPhone | null>();

  constructor(options: PiiScanOptions = {}) {
    this.entities = new Set(options.entities ?? (Object.keys(ENTITY_LABELS) as PiiEntity[]));
    this.region = (options.defaultRegion ?? "US") as CountryCode;
    this.privateIps = options.privateIps ?? false;
    this.custom = (options.customEntities ?? []).map((entity) => ({ name: entity.name, regex: new RegExp(entity.pattern, "g" + entity.flags.replace(/g/g, "")), score: entity.score }));
  }

  scan(text: string): PiiMatch[] {
    const found: PiiMatch[] = [];
    if (this.entities.has("email") && text.includes("@")) this.emails(text, found);
    const hasDigit = /\d/.test(text);
    if (hasDigit) {
      if (this.entities.has("card")) this.cards(text, found);
      if (this.entities.has("iban")) this.ibans(text, found);
      if (this.entities.has("ssn")) this.ssns(text, found);
      if (this.entities.has("phone")) this.phones(text, found);
      if (this.entities.has("ip")) this.ips(text, found);
    }
    for (const entity of this.custom) this.customMatches(text, entity, found);
    return resolveOverlaps(found);
  }

  private emails(text: string, found: PiiMatch[]): void {
    let at = text.indexOf("@");
    while (at !== -1) {
      let start = at;
      while (start > 0 && at - start < 64 && isLocalChar(text.charCodeAt(start - 1))) start--;
      while (start < at && text[start] === ".") start++;
      let end = at + 1;
      while (end < text.length && end - at <= 253 && isDomainChar(text.charCodeAt(end))) end++;
      while (end > at + 1 && (text[end - 1] === "." || text[end - 1] === "-")) end--;
      const domain = text.slice(at + 1, end);
      const local = text.slice(start, at);
      const tld = domain.slice(domain.lastIndexOf(".") + 1);
      if (
        local.length > 0 &&
        domain.includes(".") &&
        /^[A-Za-z]{2,24}$/.test(tld) &&
        !NOT_TLDS.has(tld.toLowerCase()) &&
        !domain.includes("..") &&
        !RESERVED_DOMAIN.test(domain) &&
        !NON_PERSONAL_LOCAL.has(local.toLowerCase())
      ) {
        const value = text.slice(start, end);
        found.push({ entity: "EMAIL", start, end, score: 0.9, value, canonical: value.toLowerCase(), evidence: "e-mail address" });
      }
      at = text.indexOf("@", Math.max(at + 1, end));
    }
  }

  private phones(text: string, found: PiiMatch[]): void {
    let parses = 0;
    for (const match of text.matchAll(PHONE_CANDIDATE)) {
      const raw = match[0].trimEnd();
      const start = match.index;
      const digits = raw.replace(/\D/g, "");
      if (digits.length < 7 || digits.length > 15) continue;
      const international = raw.startsWith("+");
      const formatted = /[ ().-]/.test(raw);
      const context = PHONE_CONTEXT.test(text.slice(Math.max(0, start - 32), start));
      // Bare digit runs are order numbers and ids far more often than phone numbers.
      if (!international && !formatted && !context) continue;
      if (!international && !formatted && digits.length < 10) continue;
      // Separators must look like phone grouping, not a table of numbers, a timestamp or a date.
      if (!PHONE_SHAPE.test(raw) || DATE_START.test(raw)) continue;
      let parsed: ParsedPhone | null;
      const cached = this.phoneCache.get(raw);
      if (cached !== undefined) parsed = cached;
      else if (parses < MAX_PHONE_PARSES) {
        parses++;
        parsed = parsePhone(raw, this.region);
        if (this.phoneCache.size >= PHONE_CACHE_LIMIT) this.phoneCache.clear();
        this.phoneCache.set(raw, parsed);
      } else {
        // Over the parse budget: fail towards detection for what is unmistakably phone-shaped.
        parsed = international || /^\(\d{3}\) ?\d{3}[ .-]\d{4}$/.test(raw) ? { e164: "+" + digits, country: "??", grouping: "??" } : null;
      }
      if (!parsed) continue;
      // Without a + prefix or a phone word nearby, the digits must be grouped the way the country writes numbers.
      if (!international && !context && parsed.grouping !== "??" && digitGroups(raw) !== parsed.grouping) continue;
      const score = context ? 0.9 : international ? 0.85 : 0.75;
      found.push({ entity: "PHONE", start, end: start + raw.length, score, value: raw, canonical: parsed.e164, evidence: `phone number (${parsed.country})` });
    }
  }

  private cards(text: string, found: PiiMatch[]): void {
    for (const match of text.matchAll(CARD_CANDIDATE)) {
      const raw = match[0];
      const separators = raw.replace(/\d/g, "");
      if (separators.length > 0 && !/^( +|-+)$/.test(separators)) continue;
      const digits = raw.replace(/\D/g, "");
      if (digits.length < 12 || digits.length > 19) continue;
      const network = cardNetwork(digits);
      if (!network || !luhnValid(digits) || /^(\d)\1+$/.test(digits)) continue;
      found.push({ entity: "CARD", start: match.index, end: match.index + raw.length, score: 0.9, value: raw, canonical: digits, evidence: `payment card number (${network}, Luhn-valid)` });
    }
  }

  private ibans(text: string, found: PiiMatch[]): void {
    for (const match of text.matchAll(IBAN_CANDIDATE)) {
      const compact = match[0].replace(/ /g, "").toUpperCase();
      if (!ibanValid(compact)) continue;
      found.push({ entity: "IBAN", start: match.index, end: match.index + match[0].length, score: 0.9, value: match[0], canonical: compact, evidence: `IBAN (${compact.slice(0, 2)}, mod-97 valid)` });
    }
  }

  private ssns(text: string, found: PiiMatch[]): void {
    for (const match of text.matchAll(SSN_CANDIDATE)) {
      const [whole, area = "", separator = "", group = "", serial = ""] = match;
      if (!ssnValid(area, group, serial)) continue;
      const context = SSN_CONTEXT.test(text.slice(Math.max(0, match.index - 40), match.index));
      // Without dashes, nine digits are usually something else; only the context makes them an SSN.
      if (separator !== "-" && !context) continue;
      found.push({ entity: "SSN", start: match.index, end: match.index + whole.length, score: context ? 0.95 : 0.85, value: whole, canonical: area + group + serial, evidence: "US social security number (issuable range)" });
    }
  }

  private ips(text: string, found: PiiMatch[]): void {
    if (text.includes(".")) {
      for (const match of anchoredMatches(text, IPV4_CANDIDATE, ".", 3)) {
        if (VERSION_CONTEXT.test(text.slice(Math.max(0, match.index - 12), match.index))) continue;
        // Version numbers and public resolvers (1.1.1.1, 8.8.8.8) have single-digit parts; addresses are not written with leading zeros.
        const octets = match[0].split(".");
        if (octets.every((octet) => octet.length === 1) || octets.some((octet) => octet.length > 1 && octet.startsWith("0"))) continue;
        if (!this.privateIps && !ipIsPublic(match[0])) continue;
        found.push({ entity: "IP", start: match.index, end: match.index + match[0].length, score: 0.7, value: match[0], canonical: match[0], evidence: "IPv4 address" });
      }
    }
    if (text.includes(":")) {
      for (const match of anchoredMatches(text, IPV6_CANDIDATE, ":", 4)) {
        const candidate = match[0];
        if (candidate.split(":").filter((group) => group.length > 0).length < 3 || isIP(candidate) !== 6) continue;
        if (!this.privateIps && !ipIsPublic(candidate)) continue;
        found.push({ entity: "IP", start: match.index, end: match.index + candidate.length, score: 0.7, value: candidate, canonical: candidate.toLowerCase(), evidence: "IPv6 address" });
      }
    }
  }

  private customMatches(text: string, entity: { readonly name: string; readonly regex: RegExp; readonly score: number }, found: PiiMatch[]): void {
    const regex = entity.regex;
    regex.lastIndex = 0;
    let match: RegExpExecArray | null;
    let count = 0;
    while ((match = regex.exec(text)) !== null && count < 1000) {
      if (match[0].length === 0) {
        regex.lastIndex++;
        continue;
      }
      count++;
      found.push({ entity: entity.name, start: match.index, end: match.index + match[0].length, score: entity.score, value: match[0], canonical: match[0], evidence: `${entity.name} (policy-defined entity)` });
    }
  }
}

interface ParsedPhone {
  readonly e164: string;
  readonly country: string;
  /** Digit-group lengths of the national format, e.g. "3,3,4" for (415) 555-2671. */
  readonly grouping: string;
}

function digitGroups(text: string): string {
  return (text.match(/\d+/g) ?? []).map((group) => group.length).join(",");
}

function parsePhone(raw: string, region: CountryCode): ParsedPhone | null {
  try {
    const phone = parsePhoneNumberFromString(raw, region);
    if (!phone || !phone.isValid()) return null;
    const national = digitGroups(phone.formatNational());
    // A bare digit run has one group: compare it with the national number's total length instead.
    return { e164: phone.number, country: phone.country ?? "international", grouping: /[ ().-]/.test(raw) ? national : digitGroups(raw) };
  } catch {
    return null;
  }
}

function isLocalChar(code: number): boolean {
  return (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || (code >= 48 && code <= 57) || code === 46 || code === 95 || code === 37 || code === 43 || code === 45;
}

function isDomainChar(code: number): boolean {
  return (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || (code >= 48 && code <= 57) || code === 46 || code === 45;
}

/** Overlapping matches become one (the span is their union, so nothing is left half-redacted), named by the higher score. */
function resolveOverlaps(matches: PiiMatch[]): PiiMatch[] {
  if (matches.length < 2) return matches;
  const sorted = [...matches].sort((a, b) => a.start - b.start || b.score - a.score || b.end - a.end);
  const kept: PiiMatch[] = [];
  for (const match of sorted) {
    const last = kept[kept.length - 1];
    if (last && match.start < last.end) {
      if (match.end > last.end || match.score > last.score) {
        const best = match.score > last.score ? match : last;
        const start = Math.min(last.start, match.start);
        const end = Math.max(last.end, match.end);
        kept[kept.length - 1] = { ...best, start, end };
      }
      continue;
    }
    kept.push(match);
  }
  return kept;
}
