/**
 * Values that are templates, references or examples rather than credentials:
 * documentation and code samples are full of `password=<your-password>` and
 * `api_key = os.environ["API_KEY"]`, and reporting them would drown real leaks.
 */
const PLACEHOLDER_WORDS = [
  "your",
  "example",
  "sample",
  "placeholder",
  "changeme",
  "change_me",
  "change-me",
  "dummy",
  "redacted",
  "insert",
  "replace",
  "xxxx",
  "****",
  "....",
  "process.env",
  "os.environ",
  "getenv",
  "env.",
  "env[",
  "config.",
  "settings.",
  "secrets.",
  "vault",
  "keyring",
  "undefined",
  "none",
  "null",
  "true",
  "false",
];

const COMMON_PASSWORDS = new Set(["password", "password1", "password123", "passw0rd", "p@ssw0rd", "secret", "secret123", "admin", "admin123", "root", "toor", "123456", "12345678", "123456789", "qwerty", "letmein", "hunter2", "test", "test1234", "testtest", "pass", "pass123", "mypassword", "foobar", "default"]);

export function isPlaceholder(value: string): boolean {
  const lower = value.toLowerCase();
  if (COMMON_PASSWORDS.has(lower)) return true;
  for (const word of PLACEHOLDER_WORDS) if (lower.includes(word)) return true;
  // Template syntax, function calls, markup.
  if (/[<>{}()[\]]/.test(value)) return true;
  // One character repeated (******, 00000000, aaaaaaaa) or a plain counting run.
  if (/^(.)\1+$/.test(value) || lower.includes("123456789") || lower.includes("abcdefgh")) return true;
  return false;
}
