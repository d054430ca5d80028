// UnaMentis Cloud edge router (Cloudflare Worker, module syntax).
//
// In tunnel mode one public hostname (api.<domain>) must reach two origins:
// the stateless services run as Lambdas behind API Gateway, the stateful voice
// core runs in a container reached through the Cloudflare Tunnel. This Worker
// picks the origin per request from the ONE route table
// (runtime/route_table.py, embedded at deploy time as the `ROUTES` JSON
// binding), adds the origin secret and forwards the request unchanged
// otherwise. WebSocket upgrades pass through: the upstream 101 response (with
// its socket) is returned as is.
//
// Bindings (set by components/edge/component.py, EdgeRouting):
//   ROUTES         json        [{pattern, service, origin: "lambda"|"core"}, ...]
//   LAMBDA_ORIGIN  plain_text  base URL of the Lambda API (API Gateway endpoint)
//   CORE_ORIGIN    plain_text  base URL of the core (its tunnel hostname)
//   ORIGIN_SECRET  secret_text the value every origin requires in X-Origin-Secret

const ORIGIN_SECRET_HEADER = "X-Origin-Secret";

// Same grammar as runtime/route_table.py RouteRule.matches: "/"-separated
// segments, "*" matches exactly one segment, a rule matches the pattern itself
// or any continuation "/...". Leading/trailing slashes are ignored on both
// sides, as Python's str.strip("/") does.
function stripSlashes(s) {
  let start = 0;
  let end = s.length;
  while (start < end && s[start] === "/") start++;
  while (end > start && s[end - 1] === "/") end--;
  return s.slice(start, end);
}

function compileRoutes(rules) {
  if (!Array.isArray(rules) || rules.length === 0) {
    throw new Error("ROUTES binding must be a non-empty array of route rules");
  }
  return rules.map((rule, i) => {
    if (!rule || typeof rule.pattern !== "string" || !rule.pattern.startsWith("/")) {
      throw new Error(`ROUTES[${i}].pattern must be a path starting with "/"`);
    }
    if (rule.origin !== "lambda" && rule.origin !== "core") {
      throw new Error(`ROUTES[${i}].origin must be "lambda" or "core", got ${JSON.stringify(rule.origin)}`);
    }
    return { segments: stripSlashes(rule.pattern).split("/"), origin: rule.origin, service: rule.service };
  });
}

function matchRoute(compiled, path) {
  const have = stripSlashes(path).split("/");
  for (const rule of compiled) {
    const want = rule.segments;
    if (have.length < want.length) continue;
    let ok = true;
    for (let i = 0; i < want.length; i++) {
      if (want[i] !== "*" && want[i] !== have[i]) {
        ok = false;
        break;
      }
    }
    if (ok) return rule;
  }
  return null;
}

// The origins route on the percent-decoded path (Starlette decodes
// scope["path"]), so the router must decide on the same string: otherwise
// "/api/%61dmin/gpu" could be sent to an origin other than the one the table
// names for "/api/admin/gpu".
function decodePath(pathname) {
  try {
    return decodeURIComponent(pathname);
  } catch {
    return null;
  }
}

function originFor(compiled, pathname) {
  const rule = matchRoute(compiled, pathname);
  // A path no rule names goes to the core, which serves every route.
  return rule ? rule.origin : "core";
}

let cached = { source: null, compiled: null };

function routesFrom(env) {
  // json bindings arrive parsed; accept a string too (plain_text fallback).
  const source = env.ROUTES;
  if (cached.source !== source) {
    const rules = typeof source === "string" ? JSON.parse(source) : source;
    cached = { source, compiled: compileRoutes(rules) };
  }
  return cached.compiled;
}

function problem(status, message) {
  return new Response(JSON.stringify({ error: message }), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
}

function buildUpstreamRequest(request, env, compiled) {
  const url = new URL(request.url);
  const decoded = decodePath(url.pathname);
  if (decoded === null) return { error: problem(400, "malformed percent-encoding in the request path") };
  const origin = originFor(compiled, decoded);
  const base = origin === "lambda" ? env.LAMBDA_ORIGIN : env.CORE_ORIGIN;
  // Keep the client's path and query byte for byte; only scheme/host/port
  // change. Assign the path rather than resolving it against the base: a path
  // such as "//other.host/x" would otherwise resolve to another host and carry
  // the origin secret there.
  const target = new URL(base);
  target.pathname = url.pathname;
  target.search = url.search;

  const headers = new Headers(request.headers);
  // Never let a client-supplied copy through: delete first (Headers is
  // case-insensitive, so every spelling goes), then set ours.
  headers.delete(ORIGIN_SECRET_HEADER);
  headers.set(ORIGIN_SECRET_HEADER, env.ORIGIN_SECRET);
  headers.set("X-Forwarded-Host", url.host);
  headers.set("X-Forwarded-Proto", url.protocol.replace(":", ""));
  const clientIp = request.headers.get("CF-Connecting-IP");
  if (clientIp) headers.set("X-Forwarded-For", clientIp);
  headers.delete("host");

  const hasBody = request.method !== "GET" && request.method !== "HEAD";
  const upstream = new Request(target.toString(), {
    method: request.method,
    headers,
    body: hasBody ? request.body : null,
    // Redirects go back to the client untouched; following them here would
    // leak the origin secret to wherever the Location points.
    redirect: "manual",
  });
  return { origin, upstream };
}

export default {
  async fetch(request, env) {
    if (!env.ORIGIN_SECRET || !env.LAMBDA_ORIGIN || !env.CORE_ORIGIN || !env.ROUTES) {
      // Fail closed: without its bindings the router cannot authenticate to the origins.
      return problem(503, "edge router is not configured (missing ORIGIN_SECRET, LAMBDA_ORIGIN, CORE_ORIGIN or ROUTES binding)");
    }
    let compiled;
    try {
      compiled = routesFrom(env);
    } catch (err) {
      return problem(503, `edge router route table is invalid: ${err.message}`);
    }
    const built = buildUpstreamRequest(request, env, compiled);
    if (built.error) return built.error;
    // For a WebSocket upgrade the upstream answers 101 with a socket attached;
    // returning that response hands the socket to the client unchanged.
    return fetch(built.upstream);
  },
};
