// Every bound p2pcat enforces, in one place, with its unit in its name.
// Documented in man/p2pcat.1 (LIMITS); each is tested by trying to exceed it.

/** Noise transport messages are at most 65535 bytes (Noise rev 34, section 3). */
export const NOISE_MAX_MESSAGE_BYTES = 65535;
/** Poly1305 tag appended to every encrypted frame. */
export const AEAD_TAG_BYTES = 16;
/** Largest plaintext one transport frame carries. */
export const FRAME_MAX_PLAINTEXT_BYTES = NOISE_MAX_MESSAGE_BYTES - AEAD_TAG_BYTES;
/** Length prefix of every frame on the wire (big-endian uint16, as Noise suggests). */
export const FRAME_LENGTH_PREFIX_BYTES = 2;

/** Largest handshake message accepted (ours are under 200 bytes). */
export const HANDSHAKE_MAX_MESSAGE_BYTES = 1024;
/** A handshake that has not completed by then is dropped. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Handshakes in progress at once on one listener; more wait in the kernel backlog. */
export const MAX_PENDING_HANDSHAKES = 64;
/** Established sessions one listener keeps at once. */
export const MAX_CONNECTIONS = 256;

/** Longest stdin line accepted (bytes, without the newline). */
export const STDIN_MAX_LINE_BYTES = 60_000;
/** Longest chat message text (UTF-8 bytes). */
export const CHAT_MAX_MESSAGE_BYTES = 48_000;
/** Longest username (UTF-8 bytes). */
export const USERNAME_MAX_BYTES = 64;
/** Longest room name (UTF-8 bytes). */
export const ROOM_MAX_BYTES = 256;
/** Longest room secret read from a file or the environment (bytes). */
export const SECRET_MAX_BYTES = 4096;

/** Stdin is paused while a peer has more than this many bytes queued. */
export const STDIN_PAUSE_BYTES = 1024 * 1024;
/** A neighbour we wait on (stdin paused) that takes nothing from its send queue for this long is cut (ms). */
export const PEER_SEND_STALL_MS = 10_000;
/** Bytes queued for one slow peer before it is disconnected. */
export const PEER_SEND_QUEUE_MAX_BYTES = 8 * 1024 * 1024;
/** Message ids remembered for duplicate suppression. */
export const SEEN_IDS_MAX = 100_000;
/** Transport messages sent under one key before a rekey (well below 2^64-1). */
export const REKEY_AFTER_MESSAGES = 2 ** 32;
/** A timestamp further than this in the future is refused. */
export const CLOCK_SKEW_MAX_MS = 24 * 60 * 60 * 1000;

/** A graceful close waits this long, once our data is in the kernel, for the peer's FIN; past it the close is not clean. */
export const CLOSE_TIMEOUT_MS = 30_000;
/** How long `connect` waits for the TCP connection. */
export const CONNECT_TIMEOUT_MS = 10_000;

/** Largest configuration file read ($P2PCAT_HOME/config). */
export const CONFIG_FILE_MAX_BYTES = 64 * 1024;

/** Raw mode: bytes read from stdin per read (one socket write per read). */
export const RAW_READ_BYTES = 1024 * 1024;
/** Raw mode: bytes waiting for stdout before we stop reading the peer. */
export const RAW_STDOUT_QUEUE_MAX_BYTES = 8 * 1024 * 1024;

// ---- NAT traversal: STUN, rendezvous, punch, relay (src/nat, docs/nat.md) ----
/** Largest STUN message read or written (bytes; RFC 5780 PADDING probes reach about 1500). */
export const STUN_MAX_MESSAGE_BYTES = 2048;
/** Attributes one STUN message may carry before it is refused. */
export const STUN_MAX_ATTRIBUTES = 32;
/** First retransmission timeout of a STUN request (ms); it doubles each time (RFC 8489 section 6.2.1). */
export const STUN_RTO_MS = 250;
/** A STUN transaction with all its retransmissions gives up after this long (ms) by default. */
export const STUN_TRANSACTION_TIMEOUT_MS = 3_000;
/** Registrations one rendezvous holds at once; more are refused (STUN 508-style error). */
export const RENDEZVOUS_MAX_REGISTRATIONS = 4096;
/** A registration not refreshed for this long is forgotten (ms). */
export const RENDEZVOUS_REGISTRATION_TTL_MS = 30_000;
/** Unpaired peers waiting under one room token at once. */
export const RENDEZVOUS_MAX_PER_TOKEN = 8;
/** Room tokens one registration may carry (this epoch's and the previous one's). */
export const RENDEZVOUS_MAX_TOKENS = 2;
/** Requests per second one source IP may make to a rendezvous (token-bucket rate). */
export const RENDEZVOUS_RATE_PER_SEC = 50;
/** Requests one source IP may make to a rendezvous in a burst (token-bucket size). */
export const RENDEZVOUS_RATE_BURST = 100;
/** Source IPs whose rate state a rendezvous keeps at once (the oldest is forgotten first). */
export const RENDEZVOUS_MAX_SOURCES = 4096;
/** Local candidate endpoints one peer may report. */
export const PUNCH_MAX_CANDIDATES = 8;
/** A `punch` re-registers (and keeps its NAT mapping to the rendezvous open) this often while it waits (ms). */
export const PUNCH_REGISTER_INTERVAL_MS = 500;
/** How long `punch` waits for a peer at the rendezvous by default (ms; --wait). */
export const PUNCH_WAIT_PEER_MS = 60_000;
/** Probes go to every candidate this often while punching (ms). */
export const PUNCH_PROBE_INTERVAL_MS = 100;
/** The direct attempt (plain and birthday probing) gives up after this long (ms). */
export const PUNCH_DIRECT_TIMEOUT_MS = 8_000;
/** ... but only this long when both NATs map endpoint-dependently and probing cannot help (ms). */
export const PUNCH_HOPELESS_TIMEOUT_MS = 2_000;
/** Birthday probing: sockets the endpoint-dependent ("hard") side opens. */
export const PUNCH_BIRTHDAY_SOCKETS = 256;
/** Birthday probing: probes the endpoint-independent ("easy") side sends to random ports, at most. */
export const PUNCH_BIRTHDAY_PROBES_MAX = 4096;
/** Birthday probing: the easy side's probe rate (probes per second). */
export const PUNCH_BIRTHDAY_PROBES_PER_SEC = 1_000;
/** Keep-alive on a punched or relayed stream, well within conntrack's 30 s/120 s UDP timeouts (ms). */
export const PUNCH_KEEPALIVE_MS = 10_000;
/** How long a peer waits for the relay to be granted to both sides (ms). */
export const RELAY_GRANT_TIMEOUT_MS = 10_000;
/** Relayed pairs one rendezvous --relay carries at once. */
export const RELAY_MAX_PAIRS = 64;
/** Bytes one relayed pair may move in all; past this the relay drops the pair. */
export const RELAY_MAX_BYTES_PER_PAIR = 256 * 1024 * 1024;
/** Bytes per second one relayed pair may move (token bucket); the excess is dropped, as a congested link would. */
export const RELAY_MAX_BYTES_PER_SEC = 16 * 1024 * 1024;
/** A relayed pair idle for this long is forgotten (ms). */
export const RELAY_IDLE_TIMEOUT_MS = 60_000;

// ---- Discovery: LAN (mDNS, broadcast), static lists, DHT (src/discovery, docs/discovery.md) ----
/** `discover` stops after this many seconds unless --timeout says otherwise. */
export const DISCOVER_TIMEOUT_DEFAULT_S = 3;
/** Largest --timeout `discover` accepts (s). */
export const DISCOVER_TIMEOUT_MAX_S = 86_400;
/** Distinct peers one `discover` run reports; more are dropped with one warning. */
export const DISCOVER_MAX_PEERS = 256;
/** Warnings about bad discovery packets one process prints; past this they are only counted. */
export const DISCOVERY_MAX_WARNINGS = 20;
/** UDP datagrams per second one discovery socket looks at; the excess is dropped unread. */
export const DISCOVERY_MAX_PACKETS_PER_SEC = 500;
/** Largest mDNS packet looked at (bytes; RFC 6762 section 17). */
export const MDNS_MAX_PACKET_BYTES = 9000;
/** Records of one mDNS packet looked at (answers and additionals together). */
export const MDNS_MAX_RECORDS = 64;
/** mDNS service instances waiting for their SRV and TXT records at once. */
export const MDNS_MAX_PENDING_INSTANCES = 64;
/** TTL of the mDNS records p2pcat announces (s). */
export const MDNS_RECORD_TTL_S = 120;
/** A LAN announcer multicasts or broadcasts at most once per this long (ms; RFC 6762 section 6). */
export const LAN_ANNOUNCE_MIN_INTERVAL_MS = 1_000;
/** Unsolicited broadcast beacons while announcing, this often (ms); probes get an answer sooner. */
export const LAN_BEACON_INTERVAL_MS = 30_000;
/** Largest UDP beacon or probe looked at (bytes). */
export const LAN_BEACON_MAX_BYTES = 1_024;
/** Addresses one beacon carries. */
export const LAN_MAX_ADDRS = 8;
/** A beacon stamped further than this from our clock is refused as stale or replayed (ms). */
export const LAN_BEACON_MAX_SKEW_MS = 300_000;
/** Beacon nonces remembered, to drop exact replays inside that window. */
export const LAN_REPLAY_CACHE_MAX = 4_096;
/** A discoverer sends its mDNS query and broadcast probe at most this many times (at 0, 1, 3, 7 ... s). */
export const LAN_QUERY_MAX_TRIES = 6;
/** Stopping an announcer waits at most this long for its goodbye packets to leave (ms). */
export const ANNOUNCE_STOP_TIMEOUT_MS = 1_000;
/** Largest DHT (KRPC) datagram looked at (bytes; mainline DHT packets fit one 1500-byte frame). */
export const DHT_MAX_PACKET_BYTES = 1_500;
/** bencode nesting depth a DHT datagram may have. */
export const DHT_MAX_BENCODE_DEPTH = 6;
/** Peer values one DHT reply may carry. */
export const DHT_MAX_VALUES_PER_REPLY = 100;
/** A DHT announcer re-announces this often (ms). */
export const DHT_REANNOUNCE_MS = 300_000;
/** After a failed DHT announce (no node answered), retry after this long (ms). */
export const DHT_RETRY_MS = 15_000;
/** `discover --dht` repeats its lookups this often until its timeout (ms). */
export const DHT_LOOKUP_INTERVAL_MS = 2_000;
/** Clock skew tolerated around a DHT epoch boundary: announce and look up the neighbouring epoch too (ms). */
export const DHT_EPOCH_SKEW_MS = 300_000;
/** Peers our DHT node stores for others (all info-hashes together). */
export const DHT_MAX_STORED_PEERS = 1_000;
/** --bootstrap nodes accepted. */
export const DHT_MAX_BOOTSTRAP = 16;
/** Peer lists (--peers, --static): whole size (bytes), entries, and one line (bytes). */
export const PEERLIST_MAX_BYTES = 1024 * 1024;
export const PEERLIST_MAX_ENTRIES = 1_024;
export const PEERLIST_MAX_LINE_BYTES = 4_096;
/** Addresses one peer-list entry may carry. */
export const PEERLIST_MAX_ADDRS = 8;
/** How long `connect --peers` waits for the end of its peer list (ms). */
export const PEERLIST_READ_TIMEOUT_MS = 600_000;
/** Peers `connect` dials at once (targets and --peers together). */
export const CONNECT_MAX_PEERS = 64;

// ---- the mesh: neighbours, gossip, liveness (src/mesh, docs/mesh.md) ----
/** Outgoing neighbours a peer keeps by dialling members it learns about (default of --neighbours). */
export const MESH_NEIGHBOURS_DEFAULT = 4;
/** Incoming neighbours one peer accepts; past this a newcomer gets a PEERS list and a BYE, and dials others. */
export const MESH_MAX_INBOUND = 64;
/** Dials the mesh has in flight at once. */
export const MESH_DIALS_IN_FLIGHT_MAX = 4;
/** Mesh heartbeat: eager-set upkeep, IHAVE, IWANT retries, dialling (ms). */
export const MESH_HEARTBEAT_MS = 1000;
/** Eager push: neighbours each new message is sent to in full (default of --push-degree; 0 floods to all). */
export const GOSSIP_PUSH_DEGREE = 5;
/** The eager set is refilled when it falls below this many neighbours. */
export const GOSSIP_PUSH_DEGREE_LOW = 4;
/** The eager set is trimmed back to GOSSIP_PUSH_DEGREE when it grows past this. */
export const GOSSIP_PUSH_DEGREE_HIGH = 8;
/** Lazy repair: every neighbour outside the eager set gets the new ids in one IHAVE this often (ms). */
export const GOSSIP_IHAVE_INTERVAL_MS = 200;
/** Times a message id is advertised to each neighbour that may lack it. */
export const GOSSIP_IHAVE_ROUNDS = 3;
/** Hops a new message may travel (the ttl it starts with). */
export const GOSSIP_TTL_DEFAULT = 16;
/** A larger ttl from a peer is lowered to this. */
export const GOSSIP_TTL_MAX = 32;
/** Recent messages kept to answer IWANT and to route ACKs back (count). */
export const GOSSIP_CACHE_MAX_MESSAGES = 4096;
/** Recent messages are kept at most this long (ms). */
export const GOSSIP_CACHE_MS = 120_000;
/** Message ids in one IHAVE; more are left for the next heartbeat. */
export const GOSSIP_IHAVE_MAX_IDS = 512;
/** Message ids in one IWANT. */
export const GOSSIP_IWANT_MAX_IDS = 128;
/** Ids asked for and not yet received, at once. */
export const GOSSIP_IWANT_PENDING_MAX = 4096;
/** An IWANT not answered within this long may be asked of another neighbour (ms). */
export const GOSSIP_IWANT_TIMEOUT_MS = 3000;
/** A CHAT whose timestamp is older than this is refused as a replay (ms; `p2pcat sync` is how history travels). */
export const GOSSIP_MAX_AGE_MS = 24 * 60 * 60 * 1000;
/** Keep-alive: a PING to every neighbour this often (ms). */
export const PING_INTERVAL_MS = 5000;
/** A neighbour silent this long is dropped with P2PCAT_ERR_TIMEOUT (ms; default of --peer-timeout). */
export const PEER_TIMEOUT_MS = 20_000;
/** Every member re-announces its presence this often at least (ms). */
export const PRESENCE_INTERVAL_MS = 10_000;
/** ...and this much less often per member it knows (ms), so presence costs each peer about the same in any room size. */
export const PRESENCE_INTERVAL_PER_MEMBER_MS = 250;
/** A member that is not a neighbour and not heard from for this many presence intervals has left. */
export const PRESENCE_TIMEOUT_INTERVALS = 3.5;
/** A member that is not a neighbour and not heard from for this long (at the smallest interval) has left (ms). */
export const PRESENCE_TIMEOUT_MS = PRESENCE_INTERVAL_MS * PRESENCE_TIMEOUT_INTERVALS;
/** A presence statement older than this by its own clock is refused (ms). */
export const PRESENCE_MAX_AGE_MS = 10 * 60 * 1000;
/** Entries one PEERS message may carry; the rest are dropped and counted. */
export const PEERS_MAX_ENTRIES = 64;
/** Members one peer remembers (the least recently heard are forgotten first). */
export const MEMBERS_MAX = 4096;
/** Addresses remembered per member. */
export const MEMBER_MAX_ADDRS = 4;
/** Reconnect backoff: the first delay (ms); each failure doubles it, with ±50% jitter. */
export const RECONNECT_BASE_MS = 500;
/** Reconnect backoff: the longest delay (ms). */
export const RECONNECT_MAX_MS = 60_000;
/** Messages per second one neighbour may send (token bucket rate; default of --peer-rate). */
export const PEER_MSGS_PER_S = 1000;
/** Messages one neighbour may send in a burst (token bucket size). */
export const PEER_MSGS_BURST = 4000;
/** Warnings printed per neighbour per minute; past this they are only counted. */
export const PEER_WARNINGS_PER_MIN = 20;
/** Default of --timeout for `connect --wait-ack` (ms). */
export const WAIT_ACK_TIMEOUT_MS = 30_000;
/** Largest --allow or known_peers file read (bytes). */
export const KEY_FILE_MAX_BYTES = 1024 * 1024;
/** Log appends wait this long to be batched into one write (ms). */
export const LOG_BATCH_MS = 20;
/** Messages /history shows when no N is given. */
export const HISTORY_DEFAULT = 20;
/** Most messages /history shows. */
export const HISTORY_MAX = 1000;

// ---- Sync: log reconciliation (src/sync, docs/sync.md) ----
/** Largest Negentropy message one side writes or accepts (its frame-size limit); it travels in chunks of SYNC_NEG_CHUNK_BYTES. */
export const SYNC_NEG_MAX_BYTES = 1_000_000;
/** Bytes of a Negentropy message per transport frame (base64 in JSON still fits one frame). */
export const SYNC_NEG_CHUNK_BYTES = 48_000;
/** A page of records (SYNC_RESPONSE recs, SYNC_REQUEST put) is cut after this many bytes; one bigger record travels alone. */
export const SYNC_PAGE_MAX_BYTES = 45_000;
/** Largest page of records accepted: whatever fits one transport frame as base64 in its JSON body. */
export const SYNC_PAGE_ACCEPT_MAX_BYTES = Math.floor((FRAME_MAX_PLAINTEXT_BYTES - 1 - 200) / 4) * 3;
/** msg_ids asked for in one get request. */
export const SYNC_GET_MAX_IDS = 256;
/** Requests one sync keeps in flight (pipelining; replies come back in order). */
export const SYNC_WINDOW_REQUESTS = 4;
/** A sync gives up when a reply (or the next page of one) takes longer than this (ms; --timeout). */
export const SYNC_ROUND_TIMEOUT_MS = 30_000;
/** Reconciliation rounds allowed before any id was learned; each SYNC_IDS_PER_EXTRA_ROUND ids learned allow one more. */
export const SYNC_BASE_ROUNDS = 64;
export const SYNC_IDS_PER_EXTRA_ROUND = 256;
/** Reconciliation rounds of one sync, whatever was learned. */
export const SYNC_MAX_ROUNDS = 100_000;
/** Records a peer may claim and then not send (or send forged) before the sync with it is abandoned as a liar. */
export const SYNC_MAX_BAD_RECORDS = 1_000;
/** Verified records received that wait for their append before the next request is sent. */
export const SYNC_APPEND_BATCH_RECORDS = 1_000;
/** A responder frees a sync that has been idle this long (ms). */
export const SYNC_RESPONDER_IDLE_MS = 60_000;
/** Syncs one session may run against a responder at once. */
export const SYNC_RESPONDER_MAX_SYNCS = 2;
/** Requests a responder queues per session (whole, reassembled), and their bytes; more is refused. */
export const SYNC_RESPONDER_QUEUE_MAX = 16;
export const SYNC_RESPONDER_QUEUE_MAX_BYTES = 4 * 1024 * 1024;
/** Targets `p2pcat sync` syncs with at once (--peers). */
export const SYNC_CONCURRENCY = 4;
/** Targets one `p2pcat sync` run takes (positional and --peers together). */
export const SYNC_MAX_TARGETS = 1_024;
/** The progress line on a terminal is redrawn at most this often (ms). */
export const SYNC_PROGRESS_INTERVAL_MS = 200;

// ---- File transfer in chat mode (src/files, docs/protocol.md "File transfer") ----
/** Largest file accepted by default (bytes; --max-file-size). */
export const FILE_MAX_BYTES_DEFAULT = 1024 * 1024 * 1024;
/** File bytes per FILE_DATA message (one frame: type, 24-byte header, chunk, tag). */
export const FILE_CHUNK_BYTES = 65_024;
/** File bytes a sender may have in flight beyond what the receiver reported written. */
export const FILE_WINDOW_BYTES = 4 * 1024 * 1024;
/** The receiver reports progress (FILE_PROGRESS) after this many bytes written. */
export const FILE_PROGRESS_EVERY_BYTES = 512 * 1024;
/** Longest file name kept from an offer (UTF-8 bytes); longer names are shortened. */
export const FILE_NAME_MAX_BYTES = 200;
/** Transfers one peer may have going with us at once, each way. */
export const FILE_TRANSFERS_PER_PEER_MAX = 8;
/** An offer not answered this long is withdrawn; an interrupted send waits this long for the peer to come back (ms). */
export const FILE_ANSWER_TIMEOUT_MS = 120_000;
/** A transfer with no data moving for this long is given up (ms). */
export const FILE_STALL_TIMEOUT_MS = 60_000;
