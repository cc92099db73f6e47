// Minimal types for bittorrent-dht@11 (it ships none): what src/discovery/dht.ts uses.
declare module 'bittorrent-dht' {
  import type { EventEmitter } from 'node:events';

  export interface DhtPeer {
    host: string;
    port: number;
  }
  export interface DhtOptions {
    /** `false`: start alone (a first bootstrap node); or the nodes to bootstrap from. */
    bootstrap?: false | (string | DhtPeer)[];
    nodeId?: Buffer;
    /** A dgram-like socket for k-rpc-socket to use instead of creating one. */
    socket?: unknown;
    maxTables?: number;
    maxValues?: number;
    maxPeers?: number;
    maxAge?: number;
    timeBucketOutdated?: number;
    concurrency?: number;
    timeout?: number;
    k?: number;
  }
  export default class DHT extends EventEmitter {
    constructor(opts?: DhtOptions);
    readonly nodeId: Buffer;
    readonly listening: boolean;
    readonly destroyed: boolean;
    readonly nodes: { count(): number; toArray(): unknown[] };
    listen(port?: number, address?: string, cb?: () => void): void;
    address(): { address: string; family: string; port: number };
    announce(infoHash: Buffer | string, port: number, cb?: (err: Error | null) => void): void;
    lookup(infoHash: Buffer | string, cb?: (err: Error | null, n?: number) => void): () => void;
    addNode(node: DhtPeer & { id?: Buffer }): void;
    destroy(cb?: () => void): void;
    on(event: 'peer', listener: (peer: DhtPeer, infoHash: Buffer, from: DhtPeer | null) => void): this;
    on(event: 'announce', listener: (peer: DhtPeer, infoHash: Buffer, from: DhtPeer) => void): this;
    on(event: 'announce_peer', listener: (infoHash: Buffer, peer: DhtPeer) => void): this;
    on(event: 'ready' | 'listening' | 'close', listener: () => void): this;
    on(event: 'warning' | 'error', listener: (err: Error & { code?: string }) => void): this;
    on(event: 'node', listener: (node: unknown) => void): this;
  }
}
