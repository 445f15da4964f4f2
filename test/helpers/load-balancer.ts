/**
 * Debian's HAProxy and nginx on loopback, configured with the README's recipes: each recipe is a fenced
 * block after `<!-- recipe: NAME -->`, with its balancer on 127.0.0.1:8100 and nodes a and b on
 * 127.0.0.1:8101 and 8102, which a test replaces with free ports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, waitFor } from './bridge.js';

export const HAPROXY = '/usr/sbin/haproxy';
export const NGINX = '/usr/sbin/nginx';

/** The README's recipe NAME, its ports replaced: 8100 by the balancer's, 8101 and 8102 by the nodes'. */
export function recipe(name: string, ports: { balancer: number; a: number; b: number }): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const block = new RegExp(`<!-- recipe: ${name} -->\\n\`\`\`\\w*\\n([\\s\\S]*?)\`\`\``).exec(readme)?.[1];
  if (block === undefined) throw new Error(`no recipe "${name}" in the README`);
  return block
    .replaceAll('127.0.0.1:8100', `127.0.0.1:${ports.balancer}`)
    .replaceAll('127.0.0.1:8101', `127.0.0.1:${ports.a}`)
    .replaceAll('127.0.0.1:8102', `127.0.0.1:${ports.b}`);
}

export interface Balancer {
  url: string;
  stop(): Promise<void>;
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

async function run(command: string, args: string[], port: number, scratch: string, path: string): Promise<Balancer> {
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (errors += text));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await Promise.race([
    waitFor(() => accepts(port), { timeoutMs: 10_000, what: `${command} to listen` }),
    exited.then(() => Promise.reject(new Error(`${command} exited: ${errors}`))),
  ]);
  return {
    url: `http://127.0.0.1:${port}${path}`,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}

/** HAProxy in the foreground with this configuration. */
export async function startHaproxy(config: string, port: number, path = '/mcp'): Promise<Balancer> {
  const scratch = mkdtempSync(join(tmpdir(), 'mcp-bridge-haproxy-'));
  writeFileSync(join(scratch, 'haproxy.cfg'), config);
  return run(HAPROXY, ['-db', '-f', join(scratch, 'haproxy.cfg')], port, scratch, path);
}

/** nginx in the foreground with this snippet inside its `http` block, everything else in a scratch folder. */
export async function startNginx(snippet: string, port: number, path = '/mcp'): Promise<Balancer> {
  const scratch = mkdtempSync(join(tmpdir(), 'mcp-bridge-nginx-'));
  const config = `
    daemon off;
    pid ${scratch}/nginx.pid;
    error_log ${scratch}/error.log;
    events {}
    http {
      access_log off;
      client_body_temp_path ${scratch}/body;
      proxy_temp_path ${scratch}/proxy;
      fastcgi_temp_path ${scratch}/fastcgi;
      uwsgi_temp_path ${scratch}/uwsgi;
      scgi_temp_path ${scratch}/scgi;
      ${snippet}
    }`;
  writeFileSync(join(scratch, 'nginx.conf'), config);
  return run(NGINX, ['-p', scratch, '-c', join(scratch, 'nginx.conf')], port, scratch, path);
}

export const hasHaproxy = existsSync(HAPROXY);
export const hasNginx = existsSync(NGINX);
