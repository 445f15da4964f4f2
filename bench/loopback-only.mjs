// Preloaded (node --import) into peers that have no flag for the listen address. supergateway 4.0.0
// calls `app.listen(port)`, which binds every interface; a benchmark target must be reachable from
// this machine only. This makes any listen() without an explicit host bind 127.0.0.1 instead. It
// changes nothing on the request path, so the peer's figures are unaffected; the harness still checks
// the resulting sockets (procs.mjs listeningSockets) and refuses to run against a non-loopback one.
import net from 'node:net';

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function listenOnLoopback(...args) {
  const [first] = args;
  if (typeof first === 'object' && first !== null && first.path === undefined && !first.host) {
    args[0] = { ...first, host: '127.0.0.1' };
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof args[1] !== 'string') args.splice(1, 0, '127.0.0.1');
  } else if (first === undefined || typeof first === 'function') {
    args.unshift(0, '127.0.0.1');
  }
  return listen.apply(this, args);
};
