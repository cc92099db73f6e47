// Splits a byte stream into lines with a bound on line length. An over-long
// line is reported once and skipped up to its newline; the stream goes on.
// Sans-I/O: push bytes, get lines (and over-long markers) back.

export type LineItem = { line: string; number: number } | { tooLong: number; number: number } | { badUtf8: true; number: number };

const decoder = new TextDecoder('utf-8', { fatal: true });

export class LineSplitter {
  #max: number;
  #parts: Buffer[] = [];
  #len = 0;
  #skipping = false;
  #skipped = 0;
  #number = 0;

  constructor(maxLineBytes: number) {
    this.#max = maxLineBytes;
  }

  push(chunk: Uint8Array): LineItem[] {
    const out: LineItem[] = [];
    let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (;;) {
      const nl = buf.indexOf(0x0a);
      const piece = nl === -1 ? buf : buf.subarray(0, nl);
      if (this.#skipping) {
        this.#skipped += piece.length;
      } else if (this.#len + piece.length > this.#max) {
        this.#skipping = true;
        this.#skipped = this.#len + piece.length;
        this.#parts = [];
        this.#len = 0;
      } else if (piece.length > 0) {
        this.#parts.push(Buffer.from(piece)); // copy: the caller may reuse its buffer
        this.#len += piece.length;
      }
      if (nl === -1) break;
      out.push(this.#finish());
      buf = buf.subarray(nl + 1);
    }
    return out;
  }

  /** At EOF: the last line if it had no newline. */
  end(): LineItem[] {
    if (this.#skipping || this.#len > 0) return [this.#finish()];
    return [];
  }

  #finish(): LineItem {
    const number = ++this.#number;
    if (this.#skipping) {
      const tooLong = this.#skipped;
      this.#skipping = false;
      this.#skipped = 0;
      return { tooLong, number };
    }
    let bytes = this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts);
    this.#parts = [];
    this.#len = 0;
    if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1); // CRLF
    try {
      return { line: decoder.decode(bytes), number };
    } catch {
      return { badUtf8: true, number };
    }
  }
}
