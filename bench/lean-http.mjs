// The leanest HTTP/1.1 client we can write: one keep-alive socket, requests written as one buffer,
// answers parsed just enough (status, headers, a Content-Length or chunked body). node:http's client
// costs about a millisecond a request on this machine, more than the servers it would time; this one
// costs tens of microseconds, so what bench/wrk.mjs reports for new sessions is the server's time.
import net from 'node:net';

export class LeanHttp {
  #socket;
  #buffer = Buffer.alloc(0);
  #waiting;

  static connect(url) {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(port), hostname, () => resolve(new LeanHttp(socket, url)));
      socket.once('error', reject);
    });
  }

  constructor(socket, url) {
    this.#socket = socket;
    this.url = new URL(url);
    socket.setNoDelay(true);
    socket.on('data', (chunk) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#parse();
    });
  }

  /** Sends one request and resolves with { status, headers (lowercase names), body }. */
  request(method, headers, body = '') {
    const lines = [`${method} ${this.url.pathname} HTTP/1.1`, `host: ${this.url.host}`, `content-length: ${Buffer.byteLength(body)}`];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
      this.#socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`);
    });
  }

  close() {
    this.#socket.destroy();
  }

  #parse() {
    const end = this.#buffer.indexOf('\r\n\r\n');
    if (end === -1 || !this.#waiting) return;
    const [statusLine, ...headerLines] = this.#buffer.subarray(0, end).toString('latin1').split('\r\n');
    const headers = {};
    for (const line of headerLines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    let rest = this.#buffer.subarray(end + 4);
    let body;
    if (headers['transfer-encoding'] === 'chunked') {
      const parts = [];
      for (;;) {
        const lineEnd = rest.indexOf('\r\n');
        if (lineEnd === -1) return;
        const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
        if (rest.length < lineEnd + 2 + size + 2) return;
        if (size === 0) {
          rest = rest.subarray(lineEnd + 4);
          break;
        }
        parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
        rest = rest.subarray(lineEnd + 2 + size + 2);
      }
      body = Buffer.concat(parts);
    } else {
      const length = Number(headers['content-length'] ?? 0);
      if (rest.length < length) return;
      body = rest.subarray(0, length);
      rest = rest.subarray(length);
    }
    this.#buffer = rest;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting.resolve({ status: Number(statusLine.split(' ')[1]), headers, body: body.toString('utf8') });
  }
}
