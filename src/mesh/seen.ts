// A bounded set of recently seen message ids (insertion order eviction), for
// duplicate suppression. The log (when enabled) is the long-term memory.
export class SeenSet {
  #max: number;
  #set = new Set<string>();

  constructor(max: number) {
    this.#max = max;
  }

  has(id: string): boolean {
    return this.#set.has(id);
  }

  /** Add; returns false when the id was already there. */
  add(id: string): boolean {
    if (this.#set.has(id)) return false;
    this.#set.add(id);
    if (this.#set.size > this.#max) {
      const oldest = this.#set.values().next().value as string;
      this.#set.delete(oldest);
    }
    return true;
  }

  get size(): number {
    return this.#set.size;
  }
}
