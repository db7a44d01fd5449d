/** The baseline: a bare Node reverse proxy (node:http in, undici keep-alive pool out), no checks at all. */
import { createServer } from "node:http";
import { Pool } from "undici";

const upstream = new URL(process.argv[2]!);
const port = Number(process.argv[3] ?? 0);
const pool = new Pool(upstream.origin, { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 });
const prefix = upstream.pathname.replace(/\/+$/, "").replace(/\/v1$/, "");

const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => {
    pool
      .request({ method: request.method as "POST", path: prefix + (request.url ?? "/"), headers: { "content-type": "application/json" }, body: Buffer.concat(chunks) })
      .then(async (answer) => {
        const body = Buffer.from(await answer.body.arrayBuffer());
        response.writeHead(answer.statusCode, { "content-type": String(answer.headers["content-type"] ?? "application/json"), "content-length": body.length });
        response.end(body);
      })
      .catch(() => {
        response.writeHead(502);
        response.end();
      });
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === "object" && address ? address.port : port}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
