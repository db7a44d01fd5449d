/**
 * `bulwark audit verify`: check the audit trail's hash chain. Exit status 0 when
 * every event verifies, 1 when the chain is broken (the first bad event is
 * named), 2 when the store cannot be opened.
 */
import type { Command } from "commander";
import { ConfigError, loadConfigFile } from "../gateway/config.js";
import { stderr, writeOut } from "./output.js";

export function register(program: Command): void {
  const audit = program.command("audit").summary("inspect the gateway's audit trail");
  audit
    .command("verify")
    .description(
      [
        "Verify the hash chain of the audit trail: every event's hash covers its content and the event before it,",
        "so a changed, removed or reordered event is found. Prints one JSON object on stdout.",
        "",
        "The embedded store can be opened by one process at a time: stop the gateway first,",
        "or ask the running gateway (GET /admin/audit/verify).",
      ].join("\n"),
    )
    .option("-c, --config <file>", "gateway configuration file (its store is verified)")
    .option("--store <url>", "event store: pglite:DIR, postgres://user@host/db (default pglite:./.bulwark/events)")
    .option("--schema <name>", "SQL schema of the tables", "bulwark")
    .action(async (options: { config?: string; store?: string; schema: string }) => {
      let url = options.store ?? "pglite:./.bulwark/events";
      let baseDir = process.cwd();
      let schema = options.schema;
      if (options.config) {
        try {
          const loaded = await loadConfigFile(options.config);
          if (!options.store) url = loaded.config.store.url;
          if (options.schema === "bulwark") schema = loaded.config.store.schema;
          baseDir = loaded.baseDir;
        } catch (error) {
          if (!(error instanceof ConfigError)) throw error;
          stderr(error.message);
          process.exitCode = 2;
          return;
        }
      }
      if (url === "memory") {
        stderr("bulwark audit verify: a memory store exists only inside its gateway; use GET /admin/audit/verify");
        process.exitCode = 2;
        return;
      }
      const { openStore } = await import("../store/open.js");
      const store = openStore(url, { schema, baseDir });
      try {
        await store.init();
      } catch (error) {
        stderr(`bulwark audit verify: cannot open ${store.description}: ${(error as Error).message}`);
        await store.close().catch(() => undefined);
        process.exitCode = 2;
        return;
      }
      try {
        const result = await store.verify();
        await writeOut(JSON.stringify({ store: store.description, ...result }) + "\n");
        if (result.ok) stderr(`audit chain OK: ${result.events} events, head ${result.headHash.slice(0, 16)}...`);
        else stderr(`audit chain BROKEN at event ${result.firstBadSeq}: ${result.reason}`);
        process.exitCode = result.ok ? 0 : 1;
      } finally {
        await store.close();
      }
    });
}
