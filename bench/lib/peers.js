// The tools p2pcat is compared with, installed from Debian when missing
// (only when running as root; otherwise the comparison is skipped and the
// report says so), and the throwaway TLS certificate the TLS peers use.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Debian package for each command. */
const PACKAGES = { nc: 'netcat-openbsd', ncat: 'ncat', socat: 'socat', openssl: 'openssl', hyperfine: 'hyperfine' };

export function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

function isRoot() {
  return typeof process.getuid === 'function' ? process.getuid() === 0 : false;
}

function apt(args, timeoutMs) {
  const r = spawnSync('apt-get', args, {
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-3).join(' | ') };
}

/**
 * Make sure the peers exist. Returns { available: {cmd: bool}, installed: [pkg], notes: [string] }.
 * `optional` commands (hyperfine) are installed when possible but their absence only changes the method.
 */
export function ensurePeers(log) {
  const wanted = ['nc', 'ncat', 'socat', 'openssl', 'hyperfine'];
  const missing = wanted.filter((c) => !have(c));
  const notes = [];
  const installed = [];
  if (missing.length > 0) {
    const pkgs = missing.map((c) => PACKAGES[c]);
    if (!isRoot()) {
      notes.push(`not root: did not install ${pkgs.join(', ')}; comparisons that need them are skipped`);
    } else if (!have('apt-get')) {
      notes.push(`no apt-get: cannot install ${pkgs.join(', ')}; comparisons that need them are skipped`);
    } else {
      log(`installing ${pkgs.join(' ')} with apt-get (needed for the comparison)`);
      let r = apt(['install', '-y', '-qq', ...pkgs], 300_000);
      if (!r.ok) {
        apt(['update', '-qq'], 300_000);
        r = apt(['install', '-y', '-qq', ...pkgs], 300_000);
      }
      if (r.ok) installed.push(...pkgs);
      else notes.push(`apt-get install ${pkgs.join(' ')} failed: ${r.out}`);
    }
  }
  const available = Object.fromEntries(wanted.map((c) => [c, have(c)]));
  for (const c of missing) {
    if (!available[c]) notes.push(`${c} is not available: ${c === 'hyperfine' ? 'start-up is timed with a spawn loop instead' : 'the comparisons that need it are skipped'}`);
  }
  return { available, installed, notes, versions: versions(available) };
}

function firstLine(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
  const text = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
  return text.split('\n').map((l) => l.trim()).find((l) => /\d+\.\d+/.test(l)) ?? null;
}

function debVersion(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8', timeout: 5000 });
  return r.status === 0 ? r.stdout.trim() : null;
}

function versions(available) {
  const v = { node: process.version };
  if (available.nc) v.nc = `netcat-openbsd ${debVersion('netcat-openbsd') ?? '?'}`;
  if (available.ncat) v.ncat = firstLine('ncat', ['--version']);
  if (available.socat) v.socat = firstLine('socat', ['-V']);
  if (available.openssl) v.openssl = firstLine('openssl', ['version']);
  if (available.hyperfine) v.hyperfine = firstLine('hyperfine', ['--version']);
  return v;
}

/**
 * A self-signed ECDSA P-256 certificate for the TLS peers (ncat --ssl,
 * socat OPENSSL, node:tls, openssl s_server): what a person would make with
 * openssl today. ncat's default is a fresh RSA-2048 key, which would make
 * its handshakes slower than they need to be.
 */
export function makeCert(dir) {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  const r = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1'],
    { encoding: 'utf8', timeout: 20_000 },
  );
  if (r.status !== 0 || !fs.existsSync(cert)) throw new Error(`openssl req failed: ${r.stderr}`);
  return { key, cert };
}
