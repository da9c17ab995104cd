import { expect } from "chai";
import http from "node:http";
import { AddressInfo } from "node:net";
import { startAnvil, AnvilNode, freePort } from "../../src/chain/anvil";
import { bodyText, createRpc } from "../../src/chain/rpc";
import { RetryableError } from "../../src/errors";

/** A local HTTP server that answers every JSON-RPC call with `status`, after `delayMs`. */
async function badNode(status: number, delayMs = 0): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const srv = http.createServer((req, res) => {
    hits++;
    req.resume();
    setTimeout(() => {
      res.statusCode = status;
      res.end("node unavailable");
    }, delayMs);
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    hits: () => hits,
    close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(() => r()); }),
  };
}

describe("RPC client: fail-over between a consortium member's nodes", function () {
  this.timeout(60_000);
  let node: AnvilNode;
  before(async () => {
    node = await startAnvil();
  });
  after(async () => node?.stop());

  it("moves past a node that refuses connections to one that answers", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const failovers: string[] = [];
    const rpc = createRpc({ urls: [dead, node.url], onFailover: (from, to) => failovers.push(`${from}->${to}`) });
    expect(Number(await rpc.send("eth_chainId"))).to.equal(31337);
    expect(failovers).to.deep.equal([`${dead}->${node.url}`]);
    expect(rpc.url).to.equal(node.url);
    // and stays on the good node afterwards
    await rpc.send("eth_blockNumber");
    expect(rpc.stats.failovers).to.equal(1);
  });

  it("moves past a node answering HTTP 503 and one that times out", async () => {
    const erroring = await badNode(503);
    const slow = await badNode(200, 5_000);
    try {
      const rpc = createRpc({ urls: [erroring.url, slow.url, node.url], timeoutMs: 300 });
      expect(Number(await rpc.send("eth_chainId"))).to.equal(31337);
      expect(erroring.hits()).to.equal(1);
      expect(slow.hits()).to.equal(1);
    } finally {
      await erroring.close();
      await slow.close();
    }
  });

  it("gives up after bounded retries with back-off, saying why", async () => {
    const erroring = await badNode(500);
    try {
      const rpc = createRpc({ urls: [erroring.url], maxAttempts: 4, timeoutMs: 200 });
      const started = Date.now();
      let err: unknown;
      await rpc.send("eth_blockNumber").catch((e) => (err = e));
      expect(err).to.be.instanceOf(RetryableError);
      expect((err as Error).message).to.match(/all RPC nodes failed after 4 attempts/).and.match(/HTTP 500/);
      expect(erroring.hits()).to.equal(4);
      expect(Date.now() - started).to.be.greaterThan(100 + 200 + 400); // backed off between attempts
    } finally {
      await erroring.close();
    }
  });

  it("passes a node's JSON-RPC error through as such (not retried)", async () => {
    const rpc = createRpc({ urls: [node.url] });
    let err: Error | undefined;
    await rpc.send("eth_noSuchMethod").catch((e) => (err = e));
    expect(err?.message).to.match(/eth_noSuchMethod/);
    expect(rpc.stats.errors).to.equal(0);
  });

  it("reads answers in any script exactly, ASCII or not, whole or size-bounded, chunked or not", async () => {
    // ASCII answers are read as latin1 (fast); one byte past ASCII sends the whole answer through UTF-8 decoding
    const texts = ["0x1234", "预付卡 — é", "x".repeat(100_000) + "é"];
    const srv = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        const { id, params } = JSON.parse(body) as { id: number; params: [number, boolean] };
        const out = Buffer.from(JSON.stringify({ jsonrpc: "2.0", id, result: texts[params[0]] }));
        if (params[1]) res.setHeader("content-length", out.length); // otherwise chunked: split inside a character
        for (let i = 0; i < out.length; i += 7) res.write(out.subarray(i, i + 7));
        res.end();
      });
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    try {
      const rpc = createRpc({ urls: [`http://127.0.0.1:${(srv.address() as AddressInfo).port}`] });
      for (let i = 0; i < texts.length; i++) {
        for (const sized of [false, true]) {
          expect(await rpc.send("custom_text", [i, sized]), `text ${i}`).to.equal(texts[i]);
          expect(await rpc.send("custom_text", [i, sized], { maxResponseBytes: 1_000_000 }), `text ${i}, bounded`).to.equal(texts[i]);
        }
      }
    } finally {
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    }
    expect(bodyText(Buffer.from([0x61, 0x80, 0x62]))).to.equal("a\ufffdb"); // not ASCII, not UTF-8: replaced as before
    expect(bodyText(Buffer.from("{\"a\":1}"))).to.equal('{"a":1}');
  });
});
