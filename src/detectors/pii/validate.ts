/**
 * Validation that turns "looks like a number" into "is one": checksums and
 * issuing ranges. Each function takes the value with separators removed.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";

const IBAN_LENGTHS: Readonly<Record<string, number>> = (JSON.parse(readFileSync(new URL("../../../data/pii/iban-lengths.json", import.meta.url), "utf8")) as { lengths: Record<string, number> }).lengths;

/** Luhn (mod 10) checksum, as every payment card number carries. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let digit = digits.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return false;
    if (double) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
    double = !double;
  }
  return sum % 10 === 0;
}

/** The card network for an issuer prefix and length, or null when no network issues such numbers. */
export function cardNetwork(digits: string): string | null {
  const n = digits.length;
  const two = Number(digits.slice(0, 2));
  const three = Number(digits.slice(0, 3));
  const four = Number(digits.slice(0, 4));
  const six = Number(digits.slice(0, 6));
  if (digits[0] === "4" && (n === 13 || n === 16 || n === 19)) return "visa";
  if (((two >= 51 && two <= 55) || (four >= 2221 && four <= 2720)) && n === 16) return "mastercard";
  if ((two === 34 || two === 37) && n === 15) return "amex";
  if ((four === 6011 || two === 65 || (three >= 644 && three <= 649) || (six >= 622126 && six <= 622925)) && n >= 16 && n <= 19) return "discover";
  if (four >= 3528 && four <= 3589 && n >= 16 && n <= 19) return "jcb";
  if (((three >= 300 && three <= 305) || two === 36 || two === 38 || two === 39) && n >= 14 && n <= 19) return "diners";
  if (two === 62 && n >= 16 && n <= 19) return "unionpay";
  if ((two === 50 || (two >= 56 && two <= 69)) && n >= 12 && n <= 19) return "maestro";
  return null;
}

/** ISO 13616: known country, that country's length, and mod 97 of the rearranged number equal to 1. */
export function ibanValid(iban: string): boolean {
  const expected = IBAN_LENGTHS[iban.slice(0, 2)];
  if (expected === undefined || iban.length !== expected) return false;
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const code = rearranged.charCodeAt(i);
    if (code >= 48 && code <= 57) remainder = (remainder * 10 + (code - 48)) % 97;
    else if (code >= 65 && code <= 90) remainder = (remainder * 100 + (code - 55)) % 97;
    else return false;
  }
  return remainder === 1;
}

/** Numbers the SSA never issues, and ones published so widely that they identify no one. */
const PUBLIC_SSNS = new Set(["078051120", "219099999", "123456789", "111111111", "333333333"]);

/** US SSN ranges: area not 000, 666 or 900-999; group not 00; serial not 0000. */
export function ssnValid(area: string, group: string, serial: string): boolean {
  const areaNumber = Number(area);
  if (areaNumber === 0 || areaNumber === 666 || areaNumber >= 900) return false;
  if (group === "00" || serial === "0000") return false;
  return !PUBLIC_SSNS.has(area + group + serial);
}

/**
 * Addresses that identify no one: private, loopback, link-local, shared,
 * multicast, reserved and documentation ranges.
 */
export function ipIsPublic(address: string): boolean {
  const version = isIP(address);
  if (version === 4) {
    const [a = 0, b = 0, c = 0] = address.split(".").map(Number);
    if (a === 0 || a === 10 || a === 127 || a >= 224) return false;
    if (a === 100 && b >= 64 && b <= 127) return false;
    if (a === 169 && b === 254) return false;
    if (a === 172 && b >= 16 && b <= 31) return false;
    if (a === 192 && b === 168) return false;
    if (a === 192 && b === 0 && (c === 0 || c === 2)) return false;
    if (a === 198 && (b === 18 || b === 19)) return false;
    if (a === 198 && b === 51 && c === 100) return false;
    if (a === 203 && b === 0 && c === 113) return false;
    return true;
  }
  if (version === 6) {
    const lower = address.toLowerCase();
    if (lower === "::" || lower === "::1") return false;
    if (/^(?:fe[89ab]|f[cd]|ff)/.test(lower)) return false;
    if (lower.startsWith("2001:db8:") || lower.startsWith("2001:0db8:")) return false;
    return true;
  }
  return false;
}
