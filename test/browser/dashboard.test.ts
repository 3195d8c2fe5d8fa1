import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryJobStore } from "../../src/control/memory-job-store.js";
import { Orchestrator } from "../../src/control/orchestrator.js";
import type { Topology } from "../../src/network/topology.js";
import { parseTopology } from "../../src/network/topology-loader.js";
import { registerDashboard } from "../../src/server/dashboard.js";
import {
  ORCHESTRATOR_SERVER_OPTIONS,
  orchestratorEventHub,
  registerOrchestratorRoutes,
} from "../../src/server/orchestrator-routes.js";

// End to end: the dashboard page in a real Chromium (the Debian package `chromium`, driven through
// playwright-core), against a real server on 127.0.0.1 that steps its orchestrator every 100 ms, as
// `qnet serve` does. Set QNET_CHROMIUM to use another Chromium executable.

const ROOT = join(import.meta.dirname, "..", "..");
const METRO = join(ROOT, "examples", "metro.yaml");

function findChromium(): string | undefined {
  const candidates = [process.env.QNET_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"];
  return candidates.find((p): p is string => p !== undefined && p !== "" && existsSync(p));
}
const executablePath = findChromium();
if (executablePath === undefined)
  console.warn(
    "test/browser/dashboard.test.ts: skipped, no Chromium found (install the Debian package `chromium`, or set QNET_CHROMIUM)",
  );

describe.skipIf(executablePath === undefined)("the dashboard in a browser", () => {
  let topology: Topology;
  let orchestrator: Orchestrator;
  let app: FastifyInstance;
  let url: string;
  let browser: Browser;
  let page: Page;
  let timer: NodeJS.Timeout;
  let stepping: Promise<unknown> | null = null;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    topology = parseTopology(readFileSync(METRO, "utf8"), METRO);
    const hub = orchestratorEventHub();
    orchestrator = await Orchestrator.open({
      topology,
      store: new MemoryJobStore(),
      clock: () => Date.now(),
      seed: 1,
      onEvent: hub.emit,
    });
    app = Fastify({ ...ORCHESTRATOR_SERVER_OPTIONS, forceCloseConnections: true });
    registerOrchestratorRoutes(app, {
      orchestrator,
      newId: () => randomUUID(),
      events: hub.subscribe,
      keyPools: () => new Map([["campus-a-core-north", 2048]]),
    });
    registerDashboard(app);
    await app.listen({ host: "127.0.0.1", port: 0 });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    timer = setInterval(() => {
      stepping ??= orchestrator.step().finally(() => {
        stepping = null;
      });
    }, 100);
    browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
    page = await browser.newPage();
    page.on("pageerror", (e) => pageErrors.push(e.message));
    // Answers of 400 and 422 are expected (the form's API errors), a missing file is not.
    page.on("response", (r) => {
      if (r.status() === 404 || r.status() >= 500) pageErrors.push(`${r.status()} ${r.url()}`);
    });
    // Playwright waits up to 30 s for an element by default; fail sooner, within the test's time.
    page.setDefaultTimeout(5000);
  }, 30_000);

  afterAll(async () => {
    clearInterval(timer);
    await stepping;
    await browser?.close();
    await app?.close();
  });

  it("shows the topology, live links and jobs, and runs a job submitted through the form", async () => {
    await page.goto(url);
    // The graph: one SVG node per topology node, one line per link, coloured by status.
    const nodes = page.getByTestId("graph-node");
    await expect.poll(() => nodes.count()).toBe(topology.nodes.length);
    const drawn = await nodes.evaluateAll((els) => els.map((e) => e.getAttribute("data-node-id")));
    expect(drawn.sort()).toEqual(topology.nodes.map((n) => n.id).sort());
    expect(
      await page.locator('[data-testid="graph-node"][data-node-id="exchange"]').getAttribute("class"),
    ).toBe("node trusted");
    expect(await page.getByTestId("graph-link").count()).toBe(topology.links.length);
    await expect
      .poll(() => page.locator('[data-testid="graph-link"][data-status="up"]').count())
      .toBe(topology.links.length);
    const title = await page
      .locator('[data-testid="graph-link"][data-link-id="campus-a-core-north"] title')
      .textContent();
    expect(title).toContain("8.5 km");
    expect(title).toContain("success 17.5 % per attempt");
    expect(title).toContain("key pool 2,048 bits");
    expect(await page.getByTestId("topology-summary").textContent()).toBe("metro: 7 nodes, 9 links");

    // The links table, with the key pool column since the server has one.
    const row = page.locator('[data-testid="link-row"][data-link-id="datacentre-core-south"]');
    await expect.poll(() => row.getByTestId("link-success").textContent()).toBe("2.00 %");
    expect(await row.getByTestId("link-rate").textContent()).toBe("1.00 kHz");
    expect(await row.getByTestId("link-fidelity").textContent()).toBe("0.9300");
    expect(await row.getByTestId("link-key-pool").textContent()).toBe("–");
    expect(
      await page
        .locator('[data-testid="link-row"][data-link-id="campus-a-core-north"]')
        .getByTestId("link-key-pool")
        .textContent(),
    ).toBe("2,048 bits");
    await expect.poll(() => page.getByTestId("connection").getAttribute("data-state")).toBe("live");

    // Submit an entanglement job through the form and watch it succeed (from the event stream).
    await page.getByTestId("form-kind").selectOption("entanglement");
    await page.getByTestId("form-src").selectOption("campus-a");
    await page.getByTestId("form-dst").selectOption("campus-b");
    await page.getByTestId("form-pairs").fill("5");
    await page.getByTestId("form-min-fidelity").fill("0.6");
    await page.getByTestId("form-submit").click();
    await expect.poll(() => page.getByTestId("form-ok").textContent()).toMatch(/^Job [0-9a-f-]{36} /);
    const id = (await page.getByTestId("form-ok").textContent())!.split(" ")[1];
    const job = page.locator(`[data-testid="job-row"][data-job-id="${id}"]`);
    await expect.poll(() => job.getAttribute("data-state"), { timeout: 10_000 }).toBe("succeeded");
    expect(await job.getByTestId("job-path").textContent()).toBe("campus-a → core-north → campus-b");
    expect(await job.getByTestId("job-result").textContent()).toMatch(
      /^5 pairs, F 0\.\d{4} \(min 0\.\d{4}\)/,
    );
    expect((await orchestrator.get(id))!.state).toBe("succeeded");

    // A job admission refuses: the form says why, and the failed job shows its reason.
    await page.getByTestId("form-dst").selectOption("hospital");
    await page.getByTestId("form-min-fidelity").fill("0.999");
    await page.getByTestId("form-submit").click();
    await expect
      .poll(() => page.getByTestId("form-error").textContent())
      .toMatch(
        /^Refused by admission control \(FIDELITY\): no path from campus-a to hospital meets min_fidelity 0\.999/,
      );
    const refused = page.locator('[data-testid="job-row"][data-state="failed"]');
    await expect.poll(() => refused.count()).toBe(1);
    expect(await refused.getByTestId("job-reason").textContent()).toMatch(
      /^refused at admission \(FIDELITY\)/,
    );

    // An invalid spec: every problem is listed, and the field at fault is marked.
    await page.getByTestId("form-min-fidelity").fill("0.4");
    await page.getByTestId("form-pairs").fill("");
    await page.getByTestId("form-submit").click();
    await expect.poll(() => page.getByTestId("form-errors").locator("li").count()).toBe(2);
    const errors = await page.getByTestId("form-errors").textContent();
    expect(errors).toContain("min_fidelity: min_fidelity must be greater than 0.5");
    expect(errors).toContain("pairs: an entanglement job needs pairs");
    expect(await page.getByTestId("form-min-fidelity").getAttribute("aria-invalid")).toBe("true");
    expect(await page.getByTestId("job-row").count()).toBe(2);

    // A link taken down is shown down at once (link event), in the table and on the graph.
    const down = await fetch(`${url}/api/v1/links/campus-a-datacentre/down`, { method: "POST" });
    expect(down.status).toBe(200);
    const linkRow = page.locator('[data-testid="link-row"][data-link-id="campus-a-datacentre"]');
    await expect.poll(() => linkRow.getAttribute("data-status"), { timeout: 2000 }).toBe("down");
    expect(await linkRow.getByTestId("link-rate").textContent()).toBe("0 Hz");
    expect(
      await page
        .locator('[data-testid="graph-link"][data-link-id="campus-a-datacentre"]')
        .getAttribute("data-status"),
    ).toBe("down");

    // Every form field has an accessible name.
    const unnamed = await page
      .locator("form input, form select")
      .evaluateAll(
        (els) =>
          els.filter((e) => (e as unknown as { labels: { length: number } }).labels.length === 0).length,
      );
    expect(unnamed).toBe(0);
    expect(pageErrors).toEqual([]);
  }, 20_000);
});

// Without Chromium, one skipped test says what to install (and the suite above is skipped).
if (executablePath === undefined)
  describe("the dashboard in a browser", () => {
    it.skip("skipped: no Chromium found (install the Debian package `chromium`, or set QNET_CHROMIUM)", () => {});
  });
