/**
 * The web dashboard of `qnet serve`: one page at `/` and its assets under `/dashboard/…`, read from
 * the installation's `web/dashboard/` folder. The page is plain HTML, CSS and browser JavaScript (no
 * build step, nothing fetched from elsewhere, so it works offline); everything it shows comes from the
 * orchestrator API under `/api/v1` (./orchestrator-routes.ts), which must be registered on the same
 * server. See docs/dashboard.md.
 *
 * Only the files present in the folder when the server starts are served, looked up by name: a request
 * can never name a path of its own (`/dashboard/../package.json` is a 404), and nothing is listed.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { installationPath } from "./installation.js";

/** The URL prefix of the dashboard's assets. */
export const DASHBOARD_ASSET_PREFIX = "/dashboard";

/** Options of {@link registerDashboard}. */
export interface DashboardOptions {
  /** The folder of the page's files; default `web/dashboard` of this installation ({@link dashboardDir}). */
  dir?: string;
}

/** Content types of the files the dashboard is made of; files of other types are not served. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".svg": "image/svg+xml",
  ".ico": "image/x-icon",
};

/** Names an asset may have: no separators, no leading dot. */
const ASSET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * The page may load only its own files and talk only to its own server. Inline scripts and styles
 * are refused, so even a value that slipped into the page as markup could not run.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** `web/dashboard` of this installation. */
export function dashboardDir(): string {
  return installationPath("web", "dashboard");
}

interface Asset {
  contentType: string;
  /** The file's content, read once at start-up (the set of files is fixed then too). */
  body: Buffer;
  /** A strong validator of `body`, so that a browser revalidating gets a 304 instead of the file. */
  etag: string;
}

function withBody(contentType: string, body: Buffer): Asset {
  return {
    contentType,
    body,
    etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`,
  };
}

/** The servable files of `dir`, by name. Throws naming the folder when it is missing or has no page. */
function scanAssets(dir: string): Map<string, Asset> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw new Error(`the dashboard's files are missing: cannot read ${dir} (${(e as Error).message})`);
  }
  const assets = new Map<string, Asset>();
  for (const name of names) {
    const contentType = CONTENT_TYPES[extname(name).toLowerCase()];
    const path = join(dir, name);
    if (contentType !== undefined && ASSET_NAME.test(name) && statSync(path).isFile())
      assets.set(name, withBody(contentType, readFileSync(path)));
  }
  if (!assets.has("index.html")) throw new Error(`the dashboard's page is missing: no index.html in ${dir}`);
  return assets;
}

/**
 * Registers the dashboard on `app`: `GET /` answers the page and `GET /dashboard/<name>` its files.
 * The orchestrator API (`registerOrchestratorRoutes`) must be on the same server, since the page calls
 * it. Throws at once if the folder of the page is missing.
 */
export function registerDashboard(app: FastifyInstance, options: DashboardOptions = {}): void {
  const assets = scanAssets(options.dir ?? dashboardDir());
  const send = (request: FastifyRequest, reply: FastifyReply, asset: Asset) => {
    reply
      .type(asset.contentType)
      // Revalidated on every load, so that a new qnet's page is never mixed with an old one's scripts.
      .header("cache-control", "no-cache")
      .header("etag", asset.etag)
      .header("x-content-type-options", "nosniff")
      .header("content-security-policy", CONTENT_SECURITY_POLICY)
      .header("referrer-policy", "no-referrer");
    return request.headers["if-none-match"] === asset.etag
      ? reply.code(304).send()
      : reply.code(200).send(asset.body);
  };
  const notFound = (reply: FastifyReply, what: string) =>
    reply
      .code(404)
      .type("text/plain; charset=utf-8")
      .header("x-content-type-options", "nosniff")
      .send(`not found: ${what}\n`);

  app.register(async (scope) => {
    scope.get("/", async (request, reply) => send(request, reply, assets.get("index.html")!));
    scope.get<{ Params: { "*": string } }>(`${DASHBOARD_ASSET_PREFIX}/*`, async (request, reply) => {
      const name = request.params["*"];
      const asset = assets.get(name);
      if (asset === undefined) return notFound(reply, `${DASHBOARD_ASSET_PREFIX}/${name.slice(0, 120)}`);
      return send(request, reply, asset);
    });
  });
}
