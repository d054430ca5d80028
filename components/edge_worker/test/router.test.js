// Runs the edge router in a real Workers runtime (workerd, through Miniflare)
// against two loopback upstream servers standing in for the Lambda API and the
// core, and asserts what each origin receives.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { Miniflare } from "miniflare";
import { WebSocketServer } from "ws";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "..", "..", "..");
const SECRET = "test-origin-secret-0123456789abcdef";

// The one route table, read from runtime/route_table.py (never a copy).
function python(code) {
  const exe = process.env.PYTHON || "python3";
  return JSON.parse(execFileSync(exe, ["-c", code], { cwd: repoRoot, encoding: "utf8" }));
}
const ROUTES = python("import json; from runtime.route_table import as_json_rules; print(json.dumps(as_json_rules()))");

// Sample paths: every pattern as is, with a trailing slash and with a
// continuation, "*" filled in; plus paths near the patterns that must NOT match them.
function samplePaths() {
  const out = new Set(["/", "/unknown", "/api", "/api/", "/wsx", "/api/authx", "/api/kb/audiox",
    "/api/curricula/c1", "/api/curricula/c1/full-with-assets", "/api/curricula/c1/topics/t9/stream-audio",
    "/api/curricula/c1/topics/stream-audio", "/api/admin/gpu/nodes", "/api/admin/users", "//api//auth"]);
  for (const r of ROUTES) {
    const p = r.pattern.replaceAll("*", "x1");
    out.add(p);
    out.add(p + "/");
    out.add(p + "/more/segments");
  }
  return [...out];
}
const PATHS = samplePaths();
const EXPECTED = python(
  "import json,sys; from runtime.route_table import origin_for; " +
  `paths=${JSON.stringify(JSON.stringify(PATHS))}; ` +
  "print(json.dumps({p: origin_for(p) for p in json.loads(paths)}))",
);

function startOrigin(name) {
  const seen = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const record = {
        origin: name,
        method: req.method,
        url: req.url,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      seen.push(record);
      if (req.url.startsWith("/redirect-me")) {
        // A loopback target: if the router followed it, this server would see a second request.
        res.writeHead(302, { location: `http://127.0.0.1:${server.address().port}/followed` });
        res.end();
        return;
      }
      res.writeHead(200, { "content-type": "application/json", "x-served-by": name });
      res.end(JSON.stringify({ origin: name, url: req.url }));
    });
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on("upgrade", (req, socket, head) => {
    seen.push({ origin: name, method: req.method, url: req.url, headers: req.headers, upgrade: true });
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on("message", (data) => ws.send(`${name} echo: ${data}`));
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve({ server, wss, seen, url: `http://127.0.0.1:${server.address().port}` });
    });
  });
}

let lambda;
let core;
let mf;
let bare;

function routerOptions(bindings) {
  return {
    modules: true,
    scriptPath: path.join(here, "..", "src", "router.js"),
    compatibilityDate: "2026-04-01",
    bindings,
  };
}

before(async () => {
  lambda = await startOrigin("lambda");
  core = await startOrigin("core");
  mf = new Miniflare(routerOptions({
    ROUTES,
    LAMBDA_ORIGIN: lambda.url,
    CORE_ORIGIN: core.url,
    ORIGIN_SECRET: SECRET,
  }));
  bare = new Miniflare(routerOptions({ ROUTES, LAMBDA_ORIGIN: lambda.url, CORE_ORIGIN: core.url }));
  await mf.ready;
  await bare.ready;
});

after(async () => {
  await mf?.dispose();
  await bare?.dispose();
  for (const o of [lambda, core]) {
    o?.wss.close();
    o?.server.closeAllConnections?.();
    await new Promise((r) => o?.server.close(r));
  }
});

function reset() {
  lambda.seen.length = 0;
  core.seen.length = 0;
}

async function send(pathAndQuery, init = {}) {
  reset();
  const res = await mf.dispatchFetch(`https://api.example.test${pathAndQuery}`, { redirect: "manual", ...init });
  const text = await res.text();
  const seen = [...lambda.seen, ...core.seen];
  return { res, text, seen };
}

test("the route table came from runtime/route_table.py and names both origins", () => {
  assert.ok(ROUTES.length >= 10);
  assert.ok(ROUTES.some((r) => r.origin === "lambda"));
  assert.ok(ROUTES.some((r) => r.origin === "core"));
  assert.ok(Object.values(EXPECTED).includes("lambda"));
  assert.ok(Object.values(EXPECTED).includes("core"));
});

test("every sample path reaches the origin runtime/route_table.py names, path and query intact", async () => {
  for (const p of PATHS) {
    const { res, seen } = await send(`${p}?q=1&x=%20y`);
    assert.equal(res.status, 200, `status for ${p}`);
    assert.equal(seen.length, 1, `exactly one upstream request for ${p}`);
    assert.equal(seen[0].origin, EXPECTED[p], `origin for ${p}`);
    assert.equal(seen[0].url, `${p}?q=1&x=%20y`, `upstream path for ${p}`);
    assert.equal(res.headers.get("x-served-by"), EXPECTED[p]);
  }
});

test("stateless paths go to the Lambda origin, stateful ones to the core", async () => {
  const cases = {
    "/api/auth/login": "lambda",
    "/api/kb/questions": "lambda",
    "/api/curricula": "lambda",
    "/api/curricula/c1/topics": "lambda",
    "/api/curricula/import": "core",
    "/api/sessions/s1": "lambda",
    "/api/metrics": "lambda",
    "/api/models": "core",
    "/api/admin/users": "core",
    "/ws": "core",
    "/ws/voice": "core",
    "/api/tts": "core",
    "/api/kb/audio": "core",
    "/api/curricula/c1/full-with-assets": "core",
    "/api/curricula/c1/topics/t1/stream-audio": "core",
    "/api/admin/gpu/status": "core",
    "/health": "core",
  };
  for (const [p, want] of Object.entries(cases)) {
    const { seen } = await send(p);
    assert.deepEqual(seen.map((s) => s.origin), [want], p);
  }
});

test("the origin secret is added on every request", async () => {
  for (const p of ["/api/auth/login", "/api/tts"]) {
    const { seen } = await send(p);
    assert.equal(seen[0].headers["x-origin-secret"], SECRET, p);
  }
});

test("a client-sent origin secret never reaches an origin, in any spelling", async () => {
  const forged = new Headers();
  forged.append("X-Origin-Secret", "forged-by-client");
  forged.append("x-origin-secret", "second-forged-value");
  for (const p of ["/api/auth/login", "/api/tts"]) {
    const { seen } = await send(p, { headers: forged });
    assert.equal(seen.length, 1);
    assert.equal(seen[0].headers["x-origin-secret"], SECRET);
    const copies = [];
    for (let i = 0; i < seen[0].rawHeaders.length; i += 2) {
      if (seen[0].rawHeaders[i].toLowerCase() === "x-origin-secret") copies.push(seen[0].rawHeaders[i + 1]);
    }
    assert.deepEqual(copies, [SECRET]);
    assert.ok(!JSON.stringify(seen[0].rawHeaders).includes("forged"));
  }
});

test("method, body and ordinary headers are forwarded; the public host is passed on", async () => {
  const { res, seen } = await send("/api/auth/login", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer uma_beta_abc" },
    body: JSON.stringify({ email: "a@b.test" }),
  });
  assert.equal(res.status, 200);
  assert.equal(seen[0].origin, "lambda");
  assert.equal(seen[0].method, "POST");
  assert.equal(seen[0].body, '{"email":"a@b.test"}');
  assert.equal(seen[0].headers.authorization, "Bearer uma_beta_abc");
  assert.equal(seen[0].headers["content-type"], "application/json");
  assert.equal(seen[0].headers["x-forwarded-host"], "api.example.test");
  assert.equal(seen[0].headers["x-forwarded-proto"], "https");
});

test("routing decides on the decoded path, as the origins do", async () => {
  const { seen } = await send("/api/%61dmin/gpu");
  assert.equal(seen[0].origin, "core");
  assert.equal(seen[0].url, "/api/%61dmin/gpu");
  const { seen: seen2 } = await send("/api/%61uth/login");
  assert.equal(seen2[0].origin, "lambda");
});

test("a malformed percent-encoding is a 400, not forwarded", async () => {
  const { res, text, seen } = await send("/api/auth/%E0%A4%A");
  assert.equal(res.status, 400);
  assert.match(text, /percent-encoding/);
  assert.equal(seen.length, 0);
});

test("upstream redirects go back to the client instead of being followed", async () => {
  const { res, seen } = await send("/redirect-me");
  assert.equal(res.status, 302);
  assert.equal(res.headers.get("location"), `${core.url}/followed`);
  assert.deepEqual(seen.map((s) => s.url), ["/redirect-me"]);
});

test("a path that looks like another authority stays on the configured origin", async () => {
  // "//host:port/x" must not be resolved as a protocol-relative URL (which would
  // send the request, origin secret included, to that host).
  const sneaky = `//${lambda.url.replace("http://", "")}/steal`;
  const { res, seen } = await send(sneaky);
  assert.equal(res.status, 200);
  assert.deepEqual(seen.map((s) => [s.origin, s.url]), [["core", sneaky]]);
});

test("a WebSocket upgrade on /ws passes through to the core with the secret", async () => {
  reset();
  const res = await mf.dispatchFetch("https://api.example.test/ws/voice?token=t1", {
    headers: { Upgrade: "websocket", "X-Origin-Secret": "forged" },
  });
  assert.equal(res.status, 101);
  const ws = res.webSocket;
  assert.ok(ws, "response carries a WebSocket");
  ws.accept();
  const reply = new Promise((resolve) => ws.addEventListener("message", (e) => resolve(e.data)));
  ws.send("hello");
  assert.equal(await reply, "core echo: hello");
  ws.close(1000, "done");
  assert.equal(lambda.seen.length, 0);
  const up = core.seen.find((s) => s.upgrade);
  assert.ok(up, "the core received the upgrade");
  assert.equal(up.url, "/ws/voice?token=t1");
  assert.equal(up.headers["x-origin-secret"], SECRET);
});

test("without its origin secret binding the router fails closed (503) and forwards nothing", async () => {
  reset();
  const res = await bare.dispatchFetch("https://api.example.test/api/auth/login");
  assert.equal(res.status, 503);
  assert.match(await res.text(), /ORIGIN_SECRET/);
  assert.equal(lambda.seen.length + core.seen.length, 0);
});
