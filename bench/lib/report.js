// Renders bench/results/latest.json as markdown: ratios first (p2pcat ÷ peer,
// measured in the same run), absolute figures second, each row with the
// command that produced it.
import { fmt, median, ratio } from './stats.js';

function cell(x) {
  return String(x ?? '').replace(/\|/g, '\\|').replace(/\n/g, '<br>');
}

function code(x) {
  return x ? '`' + x + '`' : '';
}

export function table(headers, rows, align = []) {
  const head = `| ${headers.map(cell).join(' | ')} |`;
  const sep = `|${headers.map((_, i) => (align[i] === 'r' ? '---:' : '---')).join('|')}|`;
  return [head, sep, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}

/** "1.8× faster" / "3.2× slower" for a ratio where `higherIsBetter` says which way is good. */
function reads(r, higherIsBetter) {
  if (r === null) return 'n/a';
  const good = higherIsBetter ? r >= 1 : r <= 1;
  const k = r >= 1 ? r : 1 / r;
  if (k < 1.05) return 'about equal';
  const word = higherIsBetter ? (good ? 'faster' : 'slower') : good ? 'better (lower)' : 'worse (higher)';
  return `p2pcat ${k.toFixed(k >= 10 ? 0 : 2)}× ${word}`;
}

/**
 * Median over rounds of p2pcat's figure ÷ the peer's in the same round (the
 * rounds are interleaved, so each pair ran minutes or seconds apart), or
 * null when no round has both.
 */
export function pairedRatio(aRounds, bRounds) {
  const rs = [];
  for (let i = 0; i < Math.min(aRounds?.length ?? 0, bRounds?.length ?? 0); i++) {
    const r = ratio(aRounds[i], bRounds[i]);
    if (r !== null) rs.push(r);
  }
  return median(rs);
}

function ratioRow(what, a, b, peerLabel, higherIsBetter, unit, paired = null) {
  const r = paired ?? ratio(a, b);
  return [what, peerLabel, r === null ? 'n/a' : `${r.toPrecision(3)}×`, reads(r, higherIsBetter), fmt(a, unit), fmt(b, unit)];
}

const byId = (rows, id) => (rows ?? []).find((r) => r.id === id);

function ratioRows(res) {
  const rows = [];
  const chat = res.chat ?? [];
  const p = byId(chat, 'p2pcat');
  if (p) {
    const peers = chat.filter((x) => !x.id.startsWith('p2pcat'));
    for (const peer of peers) {
      rows.push(ratioRow('chat messages/s through a relay', p.rate.median, peer.rate.median, peer.label, true, 'msg/s', pairedRatio(p.rate.perRound, peer.rate.perRound)));
    }
    const norate = byId(chat, 'p2pcat-norate');
    if (norate) {
      rows.push(ratioRow('chat messages/s: default vs no per-neighbour rate limit', p.rate.median, norate.rate.median, norate.label, true, 'msg/s', pairedRatio(p.rate.perRound, norate.rate.perRound)));
      for (const peer of peers) {
        rows.push(ratioRow('chat messages/s with --peer-rate 0 (capacity)', norate.rate.median, peer.rate.median, peer.label, true, 'msg/s', pairedRatio(norate.rate.perRound, peer.rate.perRound)));
      }
    }
    const nolog = byId(chat, 'p2pcat-nolog');
    if (nolog) {
      rows.push(ratioRow('chat messages/s: the cost of the log', p.rate.median, nolog.rate.median, nolog.label, true, 'msg/s', pairedRatio(p.rate.perRound, nolog.rate.perRound)));
      rows.push(ratioRow('one-message latency p50: the cost of the log', p.latencyMs.p50, nolog.latencyMs.p50, nolog.label, false, 'ms'));
      rows.push(ratioRow('peak RSS of the hub: the cost of the log', p.peakRssKiB.hub / 1024, nolog.peakRssKiB.hub / 1024, nolog.label, false, 'MiB'));
    }
    for (const peer of peers) {
      rows.push(ratioRow('one-message latency p50', p.latencyMs.p50, peer.latencyMs.p50, peer.label, false, 'ms'));
      rows.push(ratioRow('one-message latency p99', p.latencyMs.p99, peer.latencyMs.p99, peer.label, false, 'ms'));
    }
    for (const peer of chat.filter((x) => x.id.startsWith('ncat'))) {
      rows.push(ratioRow('peak RSS of the hub/broker', p.peakRssKiB.hub / 1024, peer.peakRssKiB.hub / 1024, peer.label, false, 'MiB'));
    }
  }
  const pipe = res.pipe ?? [];
  const pp = byId(pipe, 'p2pcat');
  if (pp) {
    for (const peer of pipe.filter((x) => x.id !== 'p2pcat')) {
      if (pp.errors.length) rows.push([`\`client < FILE\` (${pp.lines} lines), then EOF: lines/s`, peer.label, 'n/a', `p2pcat failed: ${pp.errors[0]}`, 'n/a', fmt(peer.rate.median, 'lines/s')]);
      else rows.push(ratioRow(`\`client < FILE\` (${pp.lines} lines), then EOF: lines/s`, pp.rate.median, peer.rate.median, peer.label, true, 'lines/s', pairedRatio(pp.rate.perRound, peer.rate.perRound)));
    }
  }
  const raw = res.raw ?? [];
  const pr = byId(raw, 'p2pcat');
  if (pr) {
    const what = `raw bytes, listener sends ${fmt(pr.bytes / 2 ** 20)} MiB: MB/s`;
    for (const peer of raw.filter((x) => x.id !== 'p2pcat')) {
      if (pr.errors.length && pr.rate.median === null) rows.push([what, peer.label, 'n/a', `p2pcat failed: ${pr.errors[0]}`, 'n/a', fmt(peer.rate.median, 'MB/s')]);
      else rows.push(ratioRow(what, pr.rate.median, peer.rate.median, peer.label, true, 'MB/s', pairedRatio(pr.rate.perRound, peer.rate.perRound)));
    }
    if (pr.dataRate) {
      for (const peer of raw.filter((x) => x.id !== 'p2pcat' && x.dataRate)) {
        rows.push(ratioRow('raw bytes, data phase only (first → last byte at the client): MB/s', pr.dataRate.median, peer.dataRate.median, peer.label, true, 'MB/s', pairedRatio(pr.dataRate.perRound, peer.dataRate.perRound)));
      }
    }
  }
  const hs = res.handshakes?.inProcess ?? [];
  const ph = byId(hs, 'p2pcat');
  if (ph) {
    for (const peer of hs.filter((x) => x.id !== 'p2pcat')) rows.push(ratioRow('handshakes/s', ph.perSecond, peer.perSecond, peer.label, true, '/s', pairedRatio(ph.perRound, peer.perRound)));
  }
  const ct = res.handshakes?.fromSpawn ?? [];
  const pc = byId(ct, 'p2pcat');
  if (pc) {
    for (const peer of ct.filter((x) => x.id !== 'p2pcat')) {
      rows.push(ratioRow('process start → session up, p50', pc.upMs.p50, peer.upMs.p50, peer.label, false, 'ms'));
      rows.push(ratioRow('process start → first message at the listener, p50', pc.firstMessageMs.p50, peer.firstMessageMs.p50, peer.label, false, 'ms'));
    }
  }
  const su = res.startup?.rows ?? [];
  const floor = byId(su, 'node');
  if (floor) {
    for (const r of su.filter((x) => x.id !== 'node')) rows.push(ratioRow(`start-up: ${r.label}`, r.medianMs, floor.medianMs, floor.label, false, 'ms', r.ratioToNode ?? null));
  }
  for (const r of Object.values(res.external ?? {}).flatMap((e) => e?.ratios ?? [])) {
    if (r && typeof r.what === 'string') rows.push([r.what, r.vs ?? '', typeof r.ratio === 'number' ? `${r.ratio.toPrecision(3)}×` : String(r.ratio ?? ''), r.reads ?? '', r.p2pcat ?? '', r.peer ?? '']);
  }
  return rows;
}

const isScalar = (v) => v === null || ['string', 'number', 'boolean'].includes(typeof v);
const scalarCell = (v) => (typeof v === 'number' ? fmt(v) : v === null ? '' : String(v));
const cellOf = (v) => {
  if (isScalar(v)) return scalarCell(v);
  if (Array.isArray(v) && v.every(isScalar)) return v.map(scalarCell).join(', ');
  if (v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every(isScalar)) return Object.entries(v).map(([k, x]) => `${k} ${scalarCell(x)}`).join(', ');
  return undefined; // nested: rendered as its own table
};

/**
 * Any JSON value as markdown: scalars (and flat arrays/objects) as a
 * figure/value table, arrays of objects as tables, deeper levels as further
 * tables titled by their path.
 */
function renderJson(value, title = '') {
  const out = [];
  if (Array.isArray(value) && value.length > 0 && value.every((x) => x && typeof x === 'object' && !Array.isArray(x))) {
    const keys = [...new Set(value.flatMap((x) => Object.keys(x)))].filter((k) => value.some((x) => cellOf(x[k]) !== undefined));
    if (title) out.push(`**${title}**`, '');
    out.push(table(keys, value.map((x) => keys.map((k) => cellOf(x[k]) ?? ''))));
    value.forEach((x, i) => {
      const label = Object.values(x).find((v) => typeof v === 'string') ?? String(i);
      for (const [k, v] of Object.entries(x)) if (cellOf(v) === undefined) out.push('', renderJson(v, `${title ? `${title} › ` : ''}${label} › ${k}`));
    });
    return out.join('\n');
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const flat = Object.entries(value).filter(([, v]) => cellOf(v) !== undefined);
    if (title) out.push(`**${title}**`, '');
    if (flat.length) out.push(table(['figure', 'value'], flat.map(([k, v]) => [k, cellOf(v)])));
    for (const [k, v] of Object.entries(value)) if (cellOf(v) === undefined) out.push('', renderJson(v, `${title ? `${title} › ` : ''}${k}`));
    return out.join('\n');
  }
  return '```json\n' + JSON.stringify(value, null, 2) + '\n```';
}

/** bench/<name>.js returns whatever it likes; show it as faithfully as possible. */
function renderExternal(name, ext) {
  if (!ext) return '_not run in this invocation (--only)._';
  if (ext.status === 'not present') return `_bench/${name}.js: not present (nothing run)._`;
  if (ext.status !== 'ok') return `_bench/${name}.js failed: ${ext.error}_`;
  const r = ext.result;
  if (r && typeof r.markdown === 'string') return r.markdown;
  return renderJson(r);
}

/** bench/soak.js: one summary row per run, then each run's time series. */
export function renderSoak(soak) {
  const out = [];
  const p = soak.params ?? {};
  out.push(
    `### Load and soak: one \`p2pcat listen\` hub, ${p.connections ?? '?'} neighbour sessions, ${fmt(p.rate)} msg/s offered in total, ${fmt(p.seconds)} s (bench/soak.js)`,
  );
  out.push('');
  out.push(
    'Offered: tokens of the load generator; sent: what the leaves wrote (a leaf holds at most `window` messages not yet printed by the hub: a closed loop, so "sent" is what the hub took). Lost: sent and never printed by the hub, after the drain. Fan-out: CHATs the other leaves received (eager push, or answers to their IWANT), and the share of all (message, other leaf) pairs that arrived. RSS slope: least squares over the second half of the load, MiB per minute. Hub CPU: share of one core; the machine is shared, so msg per CPU-second says what a core of its own would give.',
  );
  out.push('');
  const runs = soak.runs ?? [];
  out.push(
    table(
      ['Hub', 'sessions (in + dialled by hub)', 'seconds', 'offered msg/s', 'sent msg/s', 'at hub msg/s (all / 2nd half)', 'lost', 'dup at hub', 'fan-out msg/s (per msg, complete)', 'to hub p50 / p99', 'hub CPU % (msg per CPU-s)', 'RSS first / last / max', 'RSS slope 2nd half', 'sessions lost', 'load avg', 'Command', 'Problems'],
      runs.map((r) =>
        r.error
          ? [r.label, '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', r.error]
          : [
              r.label === 'log' ? 'with its log' : '--no-log',
              `${r.connections} (${r.dialledIn} + ${r.dialledByHub}); ${r.connections + 1}st incoming: ${r.inboundCapProbe ?? 'not tried'}`,
              fmt(r.seconds),
              fmt(r.offeredRate),
              fmt(r.sentRate),
              `${fmt(r.deliveredAtHubRate)} / ${fmt(r.deliveredAtHubRateSecondHalf)}`,
              `${fmt(r.lost)} of ${fmt(r.sent)}`,
              fmt(r.hubDuplicates),
              `${fmt(r.fanoutRate)} (${fmt(r.fanoutPerMessage)}, ${fmt(100 * (r.fanoutCompleteness ?? NaN))} %)`,
              r.latencyToHubMs ? `${fmt(r.latencyToHubMs.p50, 'ms')} / ${fmt(r.latencyToHubMs.p99, 'ms')}` : 'n/a',
              `${fmt(r.hubCpuPercent)} (${fmt(r.hubMsgsPerCpuSecond)})`,
              `${fmt(r.rssFirstMiB)} / ${fmt(r.rssLastMiB)} / ${fmt(r.rssMaxMiB)} MiB`,
              fmt(r.rssSlopeMiBPerMinSecondHalf, 'MiB/min'),
              fmt(r.leafSessionsLost),
              `${fmt(r.loadavg1?.start)} → ${fmt(r.loadavg1?.end)}`,
              code(r.command),
              [...(r.errors ?? []), ...(r.lostByLeaf?.length ? [`lost by leaf: ${r.lostByLeaf.join(', ')}`] : []), ...(r.leafEndsDuringRun ?? [])].join('; '),
            ],
      ),
      ['', '', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  );
  for (const r of runs.filter((x) => Array.isArray(x.series))) {
    out.push('');
    out.push(`**Soak ${r.label === 'log' ? 'with its log' : '--no-log'}: the hub over time** (rates over each interval)`);
    out.push('');
    const rows = r.series.map((s, i) => {
      const prev = r.series[i - 1];
      const dt = prev ? s.t - prev.t : 0;
      const rate = (k) => (prev && dt > 0 ? fmt((s[k] - prev[k]) / dt) : '');
      return [fmt(s.t), s.phase, fmt(s.hubRssMiB), prev && dt > 0 ? fmt((100 * (s.hubCpuS - prev.hubCpuS)) / dt) : '', rate('sent'), rate('atHub'), rate('fanout'), fmt(s.leavesUp), fmt(s.driverRssMiB), fmt(s.load1)];
    });
    out.push(table(['t (s)', 'phase', 'hub RSS MiB', 'hub CPU %', 'sent msg/s', 'at hub msg/s', 'fan-out msg/s', 'sessions up', 'driver RSS MiB', 'load avg'], rows, ['r', '', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']));
  }
  return out.join('\n');
}

export function renderMarkdown(res) {
  const out = [];
  out.push(`# p2pcat benchmarks (${res.mode} mode)`);
  out.push('');
  out.push(
    `${res.startedAt} · commit ${res.git?.commit ?? '?'}${res.git?.dirty ? ' (uncommitted changes)' : ''} · ${res.machine.cpus}× ${res.machine.cpuModel} · Node ${res.machine.node} · ${res.machine.os} · took ${fmt(res.durationSeconds)} s`,
  );
  out.push('');
  out.push(
    'Loopback only, all processes on the same machine. Absolute figures drift by tens of percent between runs on a shared VM; the ratios, measured in this one run from interleaved rounds, are what to compare. See docs/bench.md.',
  );
  if (res.peers?.notes?.length) {
    out.push('');
    for (const n of res.peers.notes) out.push(`- Note: ${n}`);
  }
  out.push('');
  out.push('## Ratios: p2pcat ÷ peer, same run');
  out.push('');
  out.push(
    'Rates (messages/s, handshakes/s) and start-up: median over rounds of the ratio within each round. Latencies and RSS: ratio of the figures over all samples. The last two columns are the medians the ratio comes from.',
  );
  out.push('');
  out.push(table(['Measurement', 'Peer', 'p2pcat ÷ peer', 'Reads as', 'p2pcat', 'peer'], ratioRows(res), ['', '', 'r', '', 'r', 'r']));

  out.push('');
  out.push('## Absolute figures');
  if (res.chat) {
    const c0 = res.chat[0];
    out.push('');
    out.push(
      `### Chat through a relay: sender → hub → receiver (${c0?.rounds ?? '?'} interleaved rounds, messages of 100 characters; latency: ${c0?.latencyMs?.samples ?? '?'} one-at-a-time samples over all rounds)`,
    );
    out.push('');
    out.push(
      table(
        ['Tool', 'messages per round', 'msg/s (median)', 'per round', 'latency p50', 'latency p99', 'CPU µs/msg hub / receiver / sender', 'peak RSS hub', 'peak RSS receiver', 'peak RSS sender', 'Commands (hub; receiver; sender)', 'Problems'],
        res.chat.map((t) => [
          t.label,
          fmt(t.messages),
          fmt(t.rate.median),
          t.rate.perRound.map((x) => fmt(x)).join(', '),
          fmt(t.latencyMs.p50, 'ms'),
          fmt(t.latencyMs.p99, 'ms'),
          ['hub', 'receiver', 'sender'].map((k) => fmt(t.cpuUsPerMsg?.[k])).join(' / '),
          fmt(t.peakRssKiB.hub / 1024, 'MiB'),
          fmt(t.peakRssKiB.receiver / 1024, 'MiB'),
          fmt(t.peakRssKiB.sender / 1024, 'MiB'),
          [code(t.commands.hub), code(t.commands.receiver), code(t.commands.sender)].join('<br>'),
          t.errors.join('; ') || '',
        ]),
        ['', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
    );
  }
  if (res.handshakes?.inProcess) {
    const h0 = res.handshakes.inProcess[0];
    out.push('');
    out.push(`### Handshakes per second, in one Node process over loopback TCP (${h0?.handshakes ?? '?'} sequential handshakes per round, ${h0?.rounds ?? '?'} rounds, medians)`);
    out.push('');
    out.push(
      table(
        ['Implementation', 'handshakes/s', 'per round', 'one handshake p50', 'p99', 'Command', 'Problems'],
        res.handshakes.inProcess.map((h) => [h.label, fmt(h.perSecond), h.perRound.map((x) => fmt(x)).join(', '), fmt(h.p50Ms, 'ms'), fmt(h.p99Ms, 'ms'), code(h.command), h.errors.join('; ')]),
        ['', 'r', 'r', 'r', 'r'],
      ),
    );
  }
  if (res.handshakes?.fromSpawn) {
    const f0 = res.handshakes.fromSpawn[0];
    out.push('');
    out.push(`### From process start: session up, and first message printed by the listener (${f0?.samples ?? '?'} dials per tool, interleaved)`);
    out.push('');
    out.push(
      table(
        ['Client', 'start → up p50', 'p99', 'start → message at listener p50', 'p99', 'Commands (listener; client)', 'Problems'],
        res.handshakes.fromSpawn.map((h) => [
          h.label,
          fmt(h.upMs.p50, 'ms'),
          fmt(h.upMs.p99, 'ms'),
          fmt(h.firstMessageMs.p50, 'ms'),
          fmt(h.firstMessageMs.p99, 'ms'),
          [code(h.commands.listener), code(h.commands.client)].join('<br>'),
          h.errors.join('; '),
        ]),
        ['', 'r', 'r', 'r', 'r'],
      ),
    );
  }
  if (res.pipe) {
    const p0 = res.pipe[0];
    out.push('');
    out.push(`### netcat-style: \`client < FILE\` with ${p0?.lines ?? '?'} lines of 100 characters, then EOF (${p0?.rounds ?? '?'} interleaved rounds; a client that exits 0 must have delivered every line)`);
    out.push('');
    out.push(
      table(
        ['Client', 'spawn → exit (median)', 'lines/s', 'delivered per round', 'client exit per round', 'Commands (listener; client)', 'Problems'],
        res.pipe.map((t) => [
          t.label,
          fmt(t.seconds, 's'),
          fmt(t.rate.median),
          t.delivered.map((d) => (d === null ? 'n/a' : `${d}/${t.lines}`)).join(', '),
          t.exitCodes.map((c) => c ?? 'n/a').join(', '),
          [code(t.commands.listener), code(t.commands.client)].join('<br>'),
          t.errors.join('; '),
        ]),
        ['', 'r', 'r', 'r', 'r'],
      ),
    );
  }
  if (res.raw) {
    const r0 = res.raw[0];
    out.push('');
    out.push(`### Raw bytes: \`listener < FILE\` of ${fmt((r0?.bytes ?? 0) / 2 ** 20)} MiB of random bytes, client stdout counted (${r0?.rounds ?? '?'} interleaved rounds; a run counts only when every byte arrived and the client exited 0)`);
    out.push('');
    out.push(
      table(
        ['Tool', 'client spawn → exit (median)', 'MB/s (median)', 'per round', 'spawn → first byte', 'data phase MB/s', 'client exit per round', 'Commands (listener; client)', 'Problems'],
        res.raw.map((t) => [
          t.label,
          fmt(t.seconds, 's'),
          fmt(t.rate.median),
          t.rate.perRound.map((x) => fmt(x)).join(', '),
          fmt(t.firstByteMs, 'ms'),
          fmt(t.dataRate?.median),
          t.exitCodes.map((c) => c ?? 'n/a').join(', '),
          [code(t.commands.listener), code(t.commands.client)].join('<br>'),
          t.errors.join('; '),
        ]),
        ['', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
    );
  }
  if (res.startup) {
    out.push('');
    out.push(`### Start-up (${res.startup.method})`);
    out.push('');
    out.push(
      table(
        ['Command', 'median', 'per round', 'min', '× node -e 0'],
        res.startup.rows.map((r) => [
          code(r.command),
          fmt(r.medianMs, 'ms'),
          r.perRoundMs ? r.perRoundMs.map((x) => fmt(x)).join(', ') : '',
          fmt(r.minMs, 'ms'),
          fmt(r.ratioToNode ?? ratio(r.medianMs, res.startup.rows[0].medianMs)),
        ]),
        ['', 'r', 'r', 'r', 'r'],
      ),
    );
    out.push('');
    out.push(`Command: ${code(res.startup.command)}`);
    if (res.startup.nodeFloorRssKiB) out.push(`\nPeak RSS of a bare \`node -e 0\` (the floor under every p2pcat RSS figure): ${fmt(res.startup.nodeFloorRssKiB / 1024, 'MiB')}.`);
  }
  if (res.soak) out.push('', renderSoak(res.soak));
  const titles = { log: 'Log (bench/log.js, issue 3)', sync: 'Sync (bench/sync.js, issue 5)', mesh: 'Mesh (bench/mesh.js, issue 4)' };
  for (const name of Object.keys(titles)) {
    if (res.suites && !res.suites.includes(name)) continue;
    out.push('');
    out.push(`### ${titles[name]}`);
    out.push('');
    out.push(renderExternal(name, res.external?.[name]));
  }
  if (res.errors?.length) {
    out.push('');
    out.push('## Errors');
    out.push('');
    for (const e of res.errors) out.push(`- ${e}`);
  }
  out.push('');
  out.push('## Versions');
  out.push('');
  out.push(table(['Tool', 'Version'], Object.entries(res.peers?.versions ?? {}).map(([k, v]) => [k, v ?? '?'])));
  out.push('');
  return out.join('\n');
}
