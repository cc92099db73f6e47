// Minimal types for multicast-dns@7 (it ships none): what src/discovery/lan.ts uses.
declare module 'multicast-dns' {
  import type { EventEmitter } from 'node:events';
  import type { RemoteInfo } from 'node:dgram';

  namespace multicastDns {
    interface Options {
      port?: number;
      type?: 'udp4' | 'udp6';
      ip?: string;
      interface?: string;
      bind?: string | false;
      multicast?: boolean;
      loopback?: boolean;
      ttl?: number;
      reuseAddr?: boolean;
      /** A dgram-like socket to use instead of creating one. */
      socket?: unknown;
    }
    interface Record {
      name: string;
      type: string;
      ttl?: number;
      class?: string;
      flush?: boolean;
      data?: unknown;
    }
    interface Question {
      name: string;
      type: string;
      class?: string;
    }
    interface Packet {
      type?: string;
      id?: number;
      flags?: number;
      questions?: Question[];
      answers?: Record[];
      authorities?: Record[];
      additionals?: Record[];
    }
    interface Instance extends EventEmitter {
      query(packet: { questions: Question[] }, cb?: (err: Error | null) => void): void;
      respond(packet: { answers: Record[]; additionals?: Record[] }, cb?: (err: Error | null) => void): void;
      destroy(cb?: () => void): void;
      on(event: 'query' | 'response' | 'packet', listener: (packet: Packet, rinfo: RemoteInfo) => void): this;
      on(event: 'warning' | 'error', listener: (err: Error & { code?: string }) => void): this;
      on(event: 'ready', listener: () => void): this;
    }
  }
  function multicastDns(opts?: multicastDns.Options): multicastDns.Instance;
  export = multicastDns;
}
