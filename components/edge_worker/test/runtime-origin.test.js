// The router in workerd in front of the REAL runtime (runtime/middleware/origin.py): the
// runtime accepts what the router forwards and rejects anything that skips the router.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { Miniflare } from "miniflare";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "..", "..", "..");
const python = process.env.PYTHON || "python3";
const SECRET = "runtime-origin-secret-9f8e7d6c5b4a";
const ROUTES = JSON.parse(execFileSync(python, ["-c",
  "import json; from runtime.route_table import as_json_rules; print(json.dumps(as_json_rules()))"],
  { cwd: repoRoot, encoding: "utf8" }));

let child;
let origin;
let router;
let wrongSecretRouter;

before(async () => {
  child = spawn(python, [path.join(here, "runtime_origin.py"), SECRET], {
    cwd: repoRoot, env: { ...process.env, PYTHONPATH: repoRoot }, stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => { stderr += d; });
  const port = await new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("\n")) resolve(Number(out.split("\n")[0]));
    });
    child.on("exit", (code) => reject(new Error(`runtime origin exited ${code}: ${stderr}`)));
  });
  origin = `http://127.0.0.1:${port}`;
  // uvicorn starts serving right after printing the port; wait until it answers.
  for (let i = 0; i < 100; i++) {
    try { await fetch(`${origin}/health`); break; } catch { await new Promise((r) => setTimeout(r, 50)); }
  }
  const options = (secret) => ({
    modules: true,
    scriptPath: path.join(here, "..", "src", "router.js"),
    compatibilityDate: "2026-04-01",
    bindings: { ROUTES, LAMBDA_ORIGIN: origin, CORE_ORIGIN: origin, ORIGIN_SECRET: secret },
  });
  router = new Miniflare(options(SECRET));
  wrongSecretRouter = new Miniflare(options("not-the-runtime-secret-0000"));
  await router.ready;
  await wrongSecretRouter.ready;
});

after(async () => {
  await router?.dispose();
  await wrongSecretRouter?.dispose();
  child?.kill("SIGTERM");
});

test("through the router the runtime answers, even with a forged client secret", async () => {
  const res = await router.dispatchFetch("https://api.example.test/api/health", {
    headers: { "X-Origin-Secret": "forged" },
  });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).status, "healthy");
});

test("skipping the router: the runtime answers 403 without the secret or with a forged one", async () => {
  const bare = await fetch(`${origin}/api/health`);
  assert.equal(bare.status, 403);
  assert.equal((await bare.json()).error, "forbidden");
  const forged = await fetch(`${origin}/api/health`, { headers: { "X-Origin-Secret": "forged" } });
  assert.equal(forged.status, 403);
  assert.equal((await forged.json()).error, "forbidden");
});

test("a router with another secret is refused by the runtime", async () => {
  const res = await wrongSecretRouter.dispatchFetch("https://api.example.test/api/health");
  assert.equal(res.status, 403);
});
