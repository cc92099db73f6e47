// What every peer command sets up before it touches the network: the
// identity, the username for this session, the room key and the signer.
import { identityPath } from '../../config/paths.js';
import { loadOrCreateIdentity, checkUsername, type Identity } from '../../crypto/identity.js';
import { deriveRoom, readSecret, checkRoomName, type Room } from '../../crypto/room.js';
import { DEFAULT_ROOM } from '../../crypto/labels.js';
import { Signer } from '../../crypto/ed25519.js';
import { HANDSHAKE_TIMEOUT_MS } from '../../limits.js';
import type { CommonArgs } from '../options.js';

export interface PeerSetup {
  identity: Identity;
  username: string;
  room: Room;
  signer: Signer;
  handshakeTimeoutMs: number;
}

export function setupPeer(argv: CommonArgs, env: Record<string, string | undefined> = process.env): PeerSetup {
  const { identity } = loadOrCreateIdentity(identityPath(env), env);
  const username = checkUsername(argv.name ?? env.P2PCAT_NAME ?? identity.username);
  const roomName = checkRoomName(argv.room ?? env.P2PCAT_ROOM ?? DEFAULT_ROOM);
  const room = deriveRoom(roomName, readSecret({ secretFile: argv['secret-file'], secret: argv.secret }, env));
  return {
    identity,
    username,
    room,
    signer: new Signer(identity.seed),
    handshakeTimeoutMs: Math.max(0.1, argv['handshake-timeout'] ?? HANDSHAKE_TIMEOUT_MS / 1000) * 1000,
  };
}
