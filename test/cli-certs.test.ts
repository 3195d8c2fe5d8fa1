import { X509Certificate } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command, CommanderError } from "commander";
import { describe, expect, it } from "vitest";
import { registerCertsCommand } from "../src/cli/certs.js";
import { InputError, UsageError } from "../src/cli/errors.js";

const tmp = () => mkdtempSync(join(tmpdir(), "qnet-cli-certs-"));
const mode = (p: string) => statSync(p).mode & 0o777;

/**
 * Runs `qnet certs …` on a program built here (main.ts registers the command separately) and maps
 * errors to exit codes the way main does: UsageError and commander errors 2, InputError 1.
 */
async function certs(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const program = new Command()
    .name("qnet")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => {
        out += s;
      },
      writeErr: (s) => {
        err += s;
      },
    });
  registerCertsCommand(program, (s) => {
    out += s;
  });
  try {
    await program.parseAsync(["node", "qnet", "certs", ...args]);
    return { code: 0, out, err };
  } catch (e) {
    if (e instanceof CommanderError) return { code: e.exitCode === 0 ? 0 : 2, out, err };
    if (e instanceof UsageError) return { code: 2, out, err: `${err}error: ${e.message}\n` };
    if (e instanceof InputError) return { code: 1, out, err: `${err}error: ${e.message}\n` };
    throw e;
  }
}

describe("qnet certs", () => {
  it("writes a CA, KME and SAE certificates with private keys 0600, and prints a curl example", async () => {
    const dir = join(tmp(), "pki");
    const r = await certs(
      "--out",
      dir,
      "--kme",
      "KME1,KME2",
      "--sae",
      "A",
      "--sae",
      "B",
      "--host",
      "kme.lab",
    );
    expect(r.code).toBe(0);
    expect(readdirSync(dir).sort()).toEqual([
      "ca-key.pem",
      "ca.pem",
      "kme-KME1-key.pem",
      "kme-KME1.pem",
      "kme-KME2-key.pem",
      "kme-KME2.pem",
      "sae-A-key.pem",
      "sae-A.pem",
      "sae-B-key.pem",
      "sae-B.pem",
    ]);
    expect(mode(dir)).toBe(0o700);
    for (const f of readdirSync(dir)) expect(mode(join(dir, f))).toBe(f.endsWith("-key.pem") ? 0o600 : 0o644);

    const ca = new X509Certificate(readFileSync(join(dir, "ca.pem")));
    const kme = new X509Certificate(readFileSync(join(dir, "kme-KME2.pem")));
    const sae = new X509Certificate(readFileSync(join(dir, "sae-B.pem")));
    expect(kme.verify(ca.publicKey) && sae.verify(ca.publicKey)).toBe(true);
    expect(kme.subject).toBe("CN=KME2");
    expect(kme.checkHost("kme.lab")).toBe("kme.lab");
    expect(kme.checkHost("localhost")).toBe("localhost");
    expect(sae.subjectAltName).toBe("URI:urn:qnet:sae:B");

    for (const f of readdirSync(dir)) expect(r.out).toContain(join(dir, f));
    expect(r.out).toContain(
      `curl --cacert ${dir}/ca.pem --cert ${dir}/sae-A.pem --key ${dir}/sae-A-key.pem https://localhost:8443/api/v1/keys/B/status`,
    );
    expect(r.out).not.toContain("PRIVATE KEY");
    expect(r.err).toBe("");
  });

  it("honours --days", async () => {
    const dir = tmp();
    const r = await certs("--out", dir, "--sae", "A", "--days", "2");
    expect(r.code).toBe(0);
    const sae = new X509Certificate(readFileSync(join(dir, "sae-A.pem")));
    const days = (Date.parse(sae.validTo) - Date.parse(sae.validFrom)) / 86_400_000;
    expect(days).toBeGreaterThan(2);
    expect(days).toBeLessThan(2.01);
  });

  it("refuses to overwrite any existing file before writing anything, and replaces them with --force", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "sae-A-key.pem"), "precious");
    chmodSync(join(dir, "sae-A-key.pem"), 0o644);
    const r = await certs("--out", dir, "--kme", "K", "--sae", "A");
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `error: refusing to overwrite ${join(dir, "sae-A-key.pem")} (use --force to replace it)\n`,
    );
    expect(readdirSync(dir)).toEqual(["sae-A-key.pem"]);
    expect(readFileSync(join(dir, "sae-A-key.pem"), "utf8")).toBe("precious");

    const f = await certs("--out", dir, "--kme", "K", "--sae", "A", "--force");
    expect(f.code).toBe(0);
    expect(readFileSync(join(dir, "sae-A-key.pem"), "utf8")).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(mode(join(dir, "sae-A-key.pem"))).toBe(0o600);
    expect(readdirSync(dir)).toHaveLength(6);
  });

  it("adds an SAE to an existing PKI with --reuse-ca", async () => {
    const dir = tmp();
    expect((await certs("--out", dir, "--kme", "K", "--sae", "A")).code).toBe(0);
    const caBefore = readFileSync(join(dir, "ca.pem"), "utf8");
    const r = await certs("--out", dir, "--sae", "C", "--reuse-ca");
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, "ca.pem"), "utf8")).toBe(caBefore);
    const ca = new X509Certificate(caBefore);
    expect(new X509Certificate(readFileSync(join(dir, "sae-C.pem"))).verify(ca.publicKey)).toBe(true);
    expect(r.out).toContain("Issued by the existing CA");

    const missing = await certs("--out", tmp(), "--sae", "C", "--reuse-ca");
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^error: --reuse-ca: cannot read .*ca\.pem and .*ca-key\.pem \(ENOENT\)\n$/);
  });

  it("reports bad flags on one line with exit code 2, writing nothing", async () => {
    const dir = tmp();
    const cases: [string[], RegExp][] = [
      [["--kme", "K"], /^error: --out: expected the directory/],
      [["--out", dir], /^error: expected at least one --kme or --sae ID/],
      [["--out", dir, "--sae", "../x"], /^error: --sae: expected IDs of letters, digits.*got '\.\.\/x'\n$/],
      [["--out", dir, "--kme", "a b"], /^error: --kme: .*got 'a b'/],
      [["--out", dir, "--sae", "A,,B"], /^error: --sae: .*got ''/],
      [["--out", dir, "--sae", "A,A"], /^error: --sae: ID 'A' is given twice\n$/],
      [
        ["--out", dir, "--sae", "A", "--days", "0"],
        /^error: --days: expected a whole number of days from 1 to 3650, got '0'\n$/,
      ],
      [["--out", dir, "--sae", "A", "--days", "1y"], /^error: --days: .*got '1y'/],
      [["--out", dir, "--kme", "K", "--host", "bad host"], /^error: --host: host 'bad host' is neither/],
    ];
    for (const [args, re] of cases) {
      const r = await certs(...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err, args.join(" ")).toMatch(re);
      expect(r.err.trim().split("\n"), args.join(" ")).toHaveLength(1);
    }
    expect(readdirSync(dir)).toEqual([]);
    const unknown = await certs("--out", dir, "--sae", "A", "--bogus");
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown option '--bogus'/);
  });

  it("reports an --out that is a file as an input error", async () => {
    const file = join(tmp(), "f");
    writeFileSync(file, "");
    const r = await certs("--out", file, "--sae", "A");
    expect(r.code).toBe(1);
    expect(r.err).toBe(`error: --out: ${file} is not a directory\n`);
    expect(existsSync(join(file, "ca.pem"))).toBe(false);
  });
});
