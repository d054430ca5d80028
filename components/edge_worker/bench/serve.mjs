// The edge router in workerd (Miniflare), listening on a loopback port in front of one origin, for
// bench/edge_overhead.py: `node bench/serve.mjs <origin URL> <origin secret>` run in components/edge_worker
// (workerd resolves the script inside its working directory), route table as JSON on stdin.
// Prints the router's URL on the first line of stdout and runs until it is killed.
import { fileURLToPath } from "node:url";
import path from "node:path";
import { Miniflare } from "miniflare";

const here = path.dirname(fileURLToPath(import.meta.url));
const [origin, secret] = process.argv.slice(2);
let input = "";
for await (const chunk of process.stdin) input += chunk;
const ROUTES = JSON.parse(input);

const mf = new Miniflare({
  modules: true,
  scriptPath: path.join(here, "..", "src", "router.js"),
  compatibilityDate: "2026-04-01",
  host: "127.0.0.1",
  port: 0,
  bindings: { ROUTES, LAMBDA_ORIGIN: origin, CORE_ORIGIN: origin, ORIGIN_SECRET: secret },
});
const url = await mf.ready;
console.log(url.toString());
const stop = async () => { await mf.dispose(); process.exit(0); };
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
