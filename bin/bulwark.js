#!/usr/bin/env node
// The `bulwark` command. The TypeScript sources are compiled to dist/ by `npm install` (prepare).
import { main } from "../dist/cli/main.js";

// A closed pipe (`bulwark check ... | head`) is the reader saying it has enough, not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(`bulwark: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 2;
  },
);
