// Just enough mdoc(7) reading for the drift tests in test/docs/: sections,
// SYNOPSIS blocks (which options each command's line names), the option
// entries of a list (`.It Fl ...`), and every flag a page names anywhere.
// Flags are read from macro lines only, so literal example blocks are free text.

/** Lines of each `.Sh` section, by section name. */
export function sections(page: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let cur: string[] | undefined;
  for (const line of page.split('\n')) {
    const m = /^\.Sh\s+(.+?)\s*$/.exec(line);
    if (m) {
      cur = [];
      out.set(m[1]!, cur);
    } else if (cur) cur.push(line);
  }
  return out;
}

const DELIMITERS = new Set(['|', ',', '.', ';', ':', '(', ')', '[', ']', '?', '!']);

/** Is this token an mdoc macro name (Ar, Op, Fl, Ns, Cm ...)? */
function isMacro(tok: string): boolean {
  return /^[A-Z][a-z]{1,3}$/.test(tok) || /^%[A-Z]$/.test(tok);
}

/**
 * Option names that `Fl` calls on one macro line render: `Fl \-room` is
 * `room`, `Fl s` is `s`, `Fl h | V` is `h` and `V`.
 */
export function flagsOfLine(line: string): string[] {
  if (!line.startsWith('.')) return [];
  const toks = line.slice(1).trim().split(/\s+/);
  const out: string[] = [];
  let inFl = false;
  for (const t of toks) {
    if (t === 'Fl') {
      inFl = true;
      continue;
    }
    if (isMacro(t)) {
      inFl = false;
      continue;
    }
    if (!inFl || DELIMITERS.has(t)) continue;
    const long = /^(?:\\-|-)(.+)$/.exec(t);
    out.push(long ? long[1]! : t);
  }
  return out;
}

export interface SynopsisBlock {
  /** Command words after `p2pcat`: from `.Nm p2pcat log` and the `.Cm` lines that follow. */
  words: string[];
  flags: string[];
  line: number;
}

/** The blocks of a SYNOPSIS section, one per `.Nm` line. */
export function synopsisBlocks(lines: string[]): SynopsisBlock[] {
  const out: SynopsisBlock[] = [];
  let cur: SynopsisBlock | undefined;
  let leading = false;
  lines.forEach((line, i) => {
    const nm = /^\.Nm(?:\s+(.*))?$/.exec(line);
    if (nm) {
      const args = (nm[1] ?? '').trim().split(/\s+/).filter(Boolean);
      cur = { words: args.slice(1), flags: [], line: i };
      out.push(cur);
      leading = true;
      return;
    }
    if (!cur) return;
    const cm = /^\.Cm\s+(.*)$/.exec(line);
    if (leading && cm) {
      cur.words.push(...cm[1]!.trim().split(/\s+/).filter((w) => !DELIMITERS.has(w)));
      return;
    }
    leading = false;
    cur.flags.push(...flagsOfLine(line));
  });
  return out;
}

export interface ListItem {
  /** Flags named on the `.It` line. */
  names: string[];
  /** The `.It` line and the lines up to the next `.It` of the same list. */
  text: string[];
}

/** Items of the outermost lists of a section whose `.It` line names a flag. */
export function optionItems(lines: string[]): ListItem[] {
  const out: ListItem[] = [];
  let depth = 0;
  let cur: ListItem | undefined;
  for (const line of lines) {
    if (/^\.Bl\b/.test(line)) {
      depth++;
      if (cur && depth > 1) cur.text.push(line);
      continue;
    }
    if (/^\.El\b/.test(line)) {
      depth--;
      if (depth === 0) cur = undefined;
      else if (cur) cur.text.push(line);
      continue;
    }
    if (depth === 1 && /^\.It\b/.test(line)) {
      const names = flagsOfLine(line);
      cur = names.length ? { names, text: [line] } : undefined;
      if (cur) out.push(cur);
      continue;
    }
    if (cur) cur.text.push(line);
  }
  return out;
}

/** Every flag named by a macro line anywhere on the page, with its line number (1-based). */
export function allFlags(page: string): { name: string; line: number }[] {
  return page.split('\n').flatMap((l, i) => flagsOfLine(l).map((name) => ({ name, line: i + 1 })));
}

/** Arguments of every `.It <macro> ARG` line in a section (e.g. `.It Er CODE`, `.It Dv NAME`, `.It Ev A , B`). */
export function itemArgs(lines: string[], macro: string): string[] {
  return lines.flatMap((l) => {
    const m = new RegExp(`^\\.It\\s+${macro}\\s+(.*)$`).exec(l);
    return m ? m[1]!.split(/\s+/).filter((t) => !DELIMITERS.has(t) && !isMacro(t)) : [];
  });
}
