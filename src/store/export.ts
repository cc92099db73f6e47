// Portable, passphrase-protected backups of a log (docs/log-format.md,
// "Export files"). An export is the same container as a log with file type
// EXPORT: the header carries scrypt parameters, the key comes from
// scrypt(passphrase, file id) instead of the identity, the records are in
// BLOCK frames, and a final END frame holds the record count, so a cut-off or
// damaged export is refused rather than half-imported.
import fs from 'node:fs';
import crypto from 'node:crypto';
import { P2pcatError, isP2pcatError } from '../errors.js';
import { passphraseIkm, deriveKeys } from './aead.js';
import {
  EXPORT_SCRYPT_LOG_N,
  EXPORT_SCRYPT_P,
  EXPORT_SCRYPT_R,
  FILE_ID_BYTES,
  FILE_TYPE,
  FORMAT_VERSION,
  FRAME_KIND,
  encodeHeader,
} from './format.js';
import { encodeFrame } from './frames.js';
import { IdSet } from './idset.js';
import { closeContainer, openContainer, readView, writeNewFile, type LogProblem } from './log.js';
import { COMPACT_ID_OFFSET, RECORD_FLAG, decodeRecords, joinRecords, walkRecords, type StoredRecord } from './records.js';

export interface ExportResult {
  records: number;
  bytes: number;
}

/** The END frame's payload: "p2pcat-end" and the record count (u32 hi, u32 lo). */
const END_TAG = Buffer.from('p2pcat-end');
function endPayload(count: number): Buffer {
  const b = Buffer.alloc(END_TAG.length + 8);
  END_TAG.copy(b, 0);
  b.writeUInt32BE(Math.floor(count / 2 ** 32), END_TAG.length);
  b.writeUInt32BE(count >>> 0, END_TAG.length + 4);
  return b;
}
function parseEnd(b: Buffer): number | undefined {
  if (b.length !== END_TAG.length + 8 || !b.subarray(0, END_TAG.length).equals(END_TAG)) return undefined;
  return b.readUInt32BE(END_TAG.length) * 2 ** 32 + b.readUInt32BE(END_TAG.length + 4);
}

const EXPORT_BLOCK_RECORDS = 1000;

/**
 * Write the view of a log (verified records deduplicated by msg_id) to
 * `outFile`, sealed under `passphrase`. The file appears whole or not at all.
 */
export async function exportLog(
  logFile: string,
  seed: Uint8Array,
  outFile: string,
  passphrase: Uint8Array,
  opts: { replace?: boolean; onProblem?: (p: LogProblem) => void; scryptLogN?: number } = {},
): Promise<ExportResult> {
  if (!opts.replace && fs.existsSync(outFile)) throw P2pcatError.usage(`${outFile} exists; use --force to replace it`);
  const logN = opts.scryptLogN ?? EXPORT_SCRYPT_LOG_N;
  const fileId = crypto.randomBytes(FILE_ID_BYTES);
  const ikm = await passphraseIkm(passphrase, fileId, logN, EXPORT_SCRYPT_R, EXPORT_SCRYPT_P);
  const { frameKey, kcv } = deriveKeys(ikm, fileId);
  ikm.fill(0);
  const header = encodeHeader({ version: FORMAT_VERSION, fileType: FILE_TYPE.EXPORT, scryptLogN: logN, scryptR: EXPORT_SCRYPT_R, scryptP: EXPORT_SCRYPT_P, fileId, kcv });

  const c = await openContainer(logFile, FILE_TYPE.LOG, () => seed);
  let records = 0;
  try {
    const seen = new IdSet();
    const both = RECORD_FLAG.CHECKED | RECORD_FLAG.COMPACT;
    const view = readView(c, { onProblem: opts.onProblem });
    function* chunks(): Generator<Buffer> {
      yield header;
      let slices: Buffer[] = [];
      const flush = () => {
        const f = encodeFrame(frameKey, FRAME_KIND.BLOCK, joinRecords(slices), { part: 0, parts: 1, covers: 0 });
        slices = [];
        return f;
      };
      for (let step = view.next(); !step.done; step = view.next()) {
        const payload = step.value.payload;
        try {
          walkRecords(payload, (a, b, flags) => {
            if ((flags & both) === both && !seen.addBytes(payload, a + COMPACT_ID_OFFSET)) return;
            slices.push(payload.subarray(a, b));
            records++;
          });
        } catch (e) {
          if (!isP2pcatError(e)) throw e;
          opts.onProblem?.({ kind: 'bad-payload', offset: step.value.offset, length: payload.length, superseded: false, message: e.message });
        }
        while (slices.length >= EXPORT_BLOCK_RECORDS) {
          const rest = slices.splice(EXPORT_BLOCK_RECORDS);
          const f = flush();
          slices = rest;
          yield f;
        }
      }
      if (slices.length > 0) yield flush();
      yield encodeFrame(frameKey, FRAME_KIND.END, endPayload(records));
    }
    await writeNewFile(outFile, chunks(), opts.replace ?? false);
  } finally {
    closeContainer(c);
  }
  return { records, bytes: fs.statSync(outFile).size };
}

/**
 * Open an export and check all of it (every frame authenticates, the END
 * frame is last and its count matches) before anything is returned; then
 * yield its records in batches. Wrong passphrase: P2PCAT_ERR_PASSPHRASE.
 * Damaged or truncated: P2PCAT_ERR_LOG_CORRUPT, naming the offset.
 */
export async function readExport(file: string, passphrase: Uint8Array): Promise<{ records: number; batches: () => Generator<StoredRecord[]> }> {
  const c = await openContainer(file, FILE_TYPE.EXPORT, (h) => passphraseIkm(passphrase, h.fileId, h.scryptLogN, h.scryptR, h.scryptP), {
    wrongKey: () => P2pcatError.passphrase(`wrong passphrase for ${file}`),
  });
  const fail = (msg: string): never => {
    closeContainer(c);
    throw P2pcatError.logCorrupt(`${file}: ${msg}`);
  };
  // Pass 1: authenticate everything and count.
  let count: number | undefined;
  let seen = 0;
  let first = true;
  const problems: LogProblem[] = [];
  const view = readView(c, { onProblem: (p) => problems.push(p) });
  let step = view.next();
  for (; !step.done; step = view.next()) {
    const { kind, payload, offset } = step.value;
    if (kind === FRAME_KIND.END) {
      if (!first) fail(`an END frame in the middle (offset ${offset})`);
      count = parseEnd(payload);
      if (count === undefined) fail(`a malformed END frame at offset ${offset}`);
    } else {
      if (first) fail('the export is cut short (no END frame): it was not written completely');
      try {
        seen += decodeRecords(payload).length;
      } catch (e) {
        if (!isP2pcatError(e)) throw e;
        fail(`a frame at offset ${offset} does not decode (${e.message})`);
      }
    }
    first = false;
  }
  if (problems.length > 0) fail(`damaged: ${problems.map((p) => `${p.message} at offset ${p.offset}`).join('; ')}`);
  if (count === undefined) fail('the export is empty or cut short (no END frame)');
  if (seen !== count) fail(`holds ${seen} records but its END frame says ${count}`);
  return {
    records: count!,
    *batches() {
      try {
        const v = readView(c, {});
        for (let s = v.next(); !s.done; s = v.next()) {
          if (s.value.kind !== FRAME_KIND.END) yield decodeRecords(s.value.payload);
        }
      } finally {
        closeContainer(c);
      }
    },
  };
}

