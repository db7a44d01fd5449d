/**
 * `bulwark keys`: make API keys and the hashes the gateway configuration stores
 * instead of them.
 */
import type { Command } from "commander";
import { generateKey, hashKey, hashSecretScrypt } from "../gateway/identity.js";
import { stderr, writeOut } from "./output.js";

export function register(program: Command): void {
  const keys = program.command("keys").summary("create API keys and hash them for the gateway configuration");
  keys
    .command("create")
    .description("Print a new random API key (once) and the configuration entry holding its hash.")
    .option("--id <id>", "key id shown in events and logs", "key-1")
    .option("--principal <name>", "principal the key belongs to", "default")
    .action(async (options: { id: string; principal: string }) => {
      const key = generateKey();
      await writeOut(`${key}\n`);
      stderr("Give the key (above, on stdout) to the client; put this in the gateway configuration under keys:");
      stderr(`  - { id: ${options.id}, principal: ${options.principal}, hash: "${hashKey(key)}" }`);
    });
  keys
    .command("hash")
    .description("Print the hash of a key (or admin password) for the configuration file. Reads the key from standard input with `-`.")
    .argument("<key>", "the key, or - to read it from standard input (keeps it out of the shell history)")
    .option("--scrypt", "hash with scrypt (for admin passwords; API keys use sha256)")
    .action(async (key: string, options: { scrypt?: boolean }) => {
      const secret = key === "-" ? (await readStdin()).replace(/\r?\n$/, "") : key;
      if (!secret) {
        stderr("bulwark keys hash: empty key");
        process.exitCode = 2;
        return;
      }
      await writeOut(`${options.scrypt ? hashSecretScrypt(secret) : hashKey(secret)}\n`);
    });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString("utf8");
}
