// The part of udx-native (1.x; node_modules/udx-native/README.md) that p2pcat uses.
declare module 'udx-native' {
  import type { EventEmitter } from 'node:events';

  export interface UDXAddress {
    host: string;
    family: number;
    port: number;
  }

  export interface UDXSocket extends EventEmitter {
    readonly bound: boolean;
    readonly closing: boolean;
    readonly streams: Set<UDXStream>;
    address(): UDXAddress | null;
    bind(port?: number, host?: string): void;
    close(): Promise<void>;
    send(buffer: Uint8Array, port: number, host?: string, ttl?: number): Promise<boolean>;
    trySend(buffer: Uint8Array, port: number, host?: string, ttl?: number): void;
    on(event: 'message', fn: (msg: Buffer, from: UDXAddress) => void): this;
    on(event: 'close' | 'idle' | 'busy' | 'listening', fn: () => void): this;
    off(event: string, fn: (...args: any[]) => void): this;
  }

  export interface UDXStream extends EventEmitter {
    readonly id: number;
    readonly connected: boolean;
    readonly destroyed: boolean;
    readonly rtt: number;
    readonly remoteHost: string | null;
    readonly remotePort: number;
    readonly retransmits: number;
    connect(socket: UDXSocket, remoteId: number, port: number, host?: string): void;
    setKeepalive(ms: number): void;
    write(data: Uint8Array): boolean;
    end(data?: Uint8Array): void;
    destroy(err?: Error): void;
    pause(): this;
    resume(): this;
  }

  export default class UDX {
    constructor();
    createSocket(opts?: { ipv6Only?: boolean; reuseAddress?: boolean }): UDXSocket;
    createStream(id: number, opts?: { firewall?: (socket: UDXSocket, port: number, host: string) => boolean; framed?: boolean; seq?: number }): UDXStream;
  }
}
