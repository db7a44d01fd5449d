#!/usr/bin/env node
// The `bulwark` command. The TypeScript sources are compiled to dist/ by `npm install` (prepare).
import { main } from "../dist/cli/main.js";

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(`bulwark: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 2;
  },
);
