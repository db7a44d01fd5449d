/** Shannon entropy of a string in bits per character (0 for the empty string). */
export function shannonEntropy(value: string): number {
  const length = value.length;
  if (length === 0) return 0;
  const counts = new Map<number, number>();
  for (let i = 0; i < length; i++) {
    const code = value.charCodeAt(i);
    counts.set(code, (counts.get(code) ?? 0) + 1);
  }
  let bits = 0;
  for (const count of counts.values()) {
    const p = count / length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/** How many of the classes lower-case, upper-case and digit occur in the string. */
export function characterClasses(value: string): number {
  let lower = 0;
  let upper = 0;
  let digit = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code >= 97 && code <= 122) lower = 1;
    else if (code >= 65 && code <= 90) upper = 1;
    else if (code >= 48 && code <= 57) digit = 1;
  }
  return lower + upper + digit;
}

/**
 * A random-looking token: long enough, high entropy, digits and letters mixed,
 * and not an identifier or path in disguise (words joined by separators).
 */
export function looksRandom(value: string, minLength: number, minBitsPerChar: number): boolean {
  if (value.length < minLength) return false;
  if (shannonEntropy(value) < minBitsPerChar) return false;
  if (characterClasses(value) < 2 || !/\d/.test(value)) return false;
  // snake_case / kebab-case / dotted identifiers: every part is a short run of letters.
  const parts = value.split(/[_.\-/]+/).filter((part) => part.length > 0);
  if (parts.length >= 3 && parts.every((part) => /^[A-Za-z]{1,12}\d{0,2}$/.test(part))) return false;
  return true;
}
