/**
 * The built-in probe, so that `align A B` works without one: the English text shipped in
 * `assets/probe/default.txt` (about 5,000 words in many registers: fiction, news, encyclopedic prose, a recipe,
 * dialogue, code, lists, a letter, questions and answers), seeded uniform random ids, or both.
 *
 * Which kind estimates the gauge best is an empirical question for the align experiment, which compares
 * {@link PROBE_KINDS}; {@link DEFAULT_PROBE_KIND} is the choice until it has been measured.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { invalidArgument } from '../errors';
import native = require('../native');
import { checkVocab, collectIds, emptyProbe, type Probe, type ProbeTokenizer } from './ids';

/**
 * Kinds of built-in probe:
 * - `text`: the shipped text, tokenized. A budget beyond its length repeats it from the start, so later passes
 *   see text the model has already seen in context (copying heads make those activations less typical).
 * - `random`: ids drawn uniformly from `[0, vocab)` with a seeded generator (the addon's `randomUniform`).
 * - `mixed`: the text once, then random ids for the rest of the budget.
 */
export const PROBE_KINDS = ['text', 'random', 'mixed'] as const;
export type ProbeKind = (typeof PROBE_KINDS)[number];

/** The kind used when none is asked for (not yet measured against the others). */
export const DEFAULT_PROBE_KIND: ProbeKind = 'mixed';

/** The shipped text (`assets/probe/default.txt`; `src/probe` and `dist/probe` are both two levels down). */
export const DEFAULT_PROBE_TEXT_PATH = path.join(__dirname, '..', '..', 'assets', 'probe', 'default.txt');

/** The shipped text. */
export function defaultProbeText(): string {
  return fs.readFileSync(DEFAULT_PROBE_TEXT_PATH, 'utf8');
}

/** Options of {@link defaultProbe}. */
export interface DefaultProbeOptions {
  /** The model's vocabulary size. */
  vocab: number;
  /** Number of ids to produce. */
  tokens: number;
  /** The model's tokenizer; without one, `text` and `mixed` fall back to `random` with a warning. */
  tokenizer?: ProbeTokenizer;
  /** Seed of the random ids (an integer in [0, 2^53)). @default 0 */
  seed?: number;
  /** @default DEFAULT_PROBE_KIND */
  kind?: ProbeKind;
}

/** A built-in probe and how it was made. */
export interface DefaultProbe extends Probe {
  /** The kind produced (`random` when `text` or `mixed` was asked for without a tokenizer). */
  kind: ProbeKind;
  /** The kind asked for. */
  requestedKind: ProbeKind;
  /** Ids taken from the text, repeats included. */
  textTokens: number;
  /** Random ids. */
  randomTokens: number;
  /** Length of the tokenized text once (0 when it was not used). */
  textLength: number;
  /** Why the kind differs from the one asked for. */
  warning?: string;
}

/** `count` seeded uniform ids in `[0, vocab)`. */
function randomIds(count: number, vocab: number, seed: number): Uint32Array {
  const u = native.randomUniform(count, seed);
  const out = new Uint32Array(count);
  // min(): a float32 sample rounded up to 1.0 would otherwise give `vocab`.
  for (let i = 0; i < count; i++) out[i] = Math.min(vocab - 1, Math.floor(u[i] * vocab));
  return out;
}

/** Exactly `tokens` ids of the built-in probe of `kind`. */
export function defaultProbe(options: DefaultProbeOptions): DefaultProbe {
  const { vocab, tokens, tokenizer, seed = 0, kind: requestedKind = DEFAULT_PROBE_KIND } = options;
  checkVocab(vocab);
  if (!Number.isSafeInteger(tokens) || tokens < 1) throw invalidArgument('tokens', `${tokens} is not a positive integer`);
  if (!Number.isSafeInteger(seed) || seed < 0) throw invalidArgument('seed', `${seed} is not an integer in [0, 2^53)`);
  if (!(PROBE_KINDS as readonly string[]).includes(requestedKind)) {
    throw invalidArgument('kind', `${JSON.stringify(requestedKind)} is not one of ${PROBE_KINDS.join(', ')}`);
  }
  let kind = requestedKind;
  let warning: string | undefined;
  if (kind !== 'random' && !tokenizer) {
    kind = 'random';
    warning = `no tokenizer for the model, so the built-in probe is ${tokens} seeded random ids instead of the '${requestedKind}' probe`;
  }
  const source = `builtin:${kind}`;
  const ids = new Uint32Array(tokens);
  let textTokens = 0;
  let textLength = 0;
  if (kind !== 'random') {
    const encoded = tokenizer!.encode(defaultProbeText(), false);
    if (encoded.length === 0) throw emptyProbe(DEFAULT_PROBE_TEXT_PATH, 'the text tokenizes to no ids');
    const text = collectIds(encoded.length, (i) => encoded[i], vocab, `${DEFAULT_PROBE_TEXT_PATH} (tokenized)`);
    textLength = text.length;
    textTokens = kind === 'text' ? tokens : Math.min(tokens, text.length);
    for (let at = 0; at < textTokens; at += text.length) ids.set(text.subarray(0, Math.min(text.length, textTokens - at)), at);
  }
  const randomTokens = tokens - textTokens;
  if (randomTokens > 0) ids.set(randomIds(randomTokens, vocab, seed), textTokens);
  return { ids, source, format: 'builtin', kind, requestedKind, textTokens, randomTokens, textLength, ...(warning ? { warning } : {}) };
}
