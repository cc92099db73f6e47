// Announced addresses and broadcast targets (src/discovery/addrs.ts).
import t from 'tap';
import type os from 'node:os';
import { announceAddrs, broadcastAddrs, joinHostPort } from '../../src/discovery/addrs.js';

const i4 = (address: string, netmask: string, internal = false): os.NetworkInterfaceInfo => ({ address, netmask, family: 'IPv4', mac: '00:00:00:00:00:00', internal, cidr: null });
const i6 = (address: string, internal = false): os.NetworkInterfaceInfo => ({ address, netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '00:00:00:00:00:00', internal, cidr: null, scopeid: 0 });
const IFACES = {
  lo: [i4('127.0.0.1', '255.0.0.0', true), i6('::1', true)],
  eth0: [i4('192.168.1.20', '255.255.255.0'), i6('fe80::1'), i6('2001:db8::20')],
  wg0: [i4('10.8.0.2', '255.255.255.255')],
  br0: [i4('172.17.0.1', '255.255.0.0')],
};

t.test('what a listener announces', async (t) => {
  t.same(announceAddrs(IFACES, '0.0.0.0'), ['192.168.1.20', '10.8.0.2', '172.17.0.1'], 'IPv4 listener: IPv4 only, no loopback');
  t.same(announceAddrs(IFACES, '::'), ['192.168.1.20', '10.8.0.2', '172.17.0.1', '2001:db8::20'], 'dual stack: IPv4 first, no link-local IPv6');
  t.same(announceAddrs(IFACES, '192.168.1.20'), ['192.168.1.20'], 'a bound address is the only one');
  t.same(announceAddrs(IFACES, '::ffff:192.168.1.20'), ['192.168.1.20'], 'v4-mapped is unwrapped');
  t.same(announceAddrs({}, '0.0.0.0'), []);
});

t.test('where broadcasts go', async (t) => {
  t.same(broadcastAddrs(IFACES), ['192.168.1.255', '172.17.255.255'], 'directed broadcast per network; /32 and loopback skipped');
  t.equal(joinHostPort('::1', 5), '[::1]:5');
  t.equal(joinHostPort('10.0.0.1', 5), '10.0.0.1:5');
});
