//! Builds a Hugging Face `tokenizers` pipeline from a GGUF's `tokenizer.ggml.*` metadata, the way transformers'
//! GGUF loader (`integrations/gguf/gguf_tokenizer_mapping.py`) and llama.cpp read the same keys.
//!
//! * `tokenizer.ggml.model = "gpt2"`: byte-level BPE over `tokens` and `merges`. Tokens written outside the
//!   byte alphabet are re-spelled through it (as transformers does). `tokenizer.ggml.pre` picks the split before
//!   the byte-level step: `default`/`gpt2` use GPT-2's regex; `smollm` (and llama.cpp's other digit-splitting
//!   kinds) first cut every digit apart, as llama.cpp and SmolLM2's own `tokenizer.json` do; the Llama 3 and Qwen2
//!   kinds use their regexes. Any other `pre` is refused rather than tokenized with the wrong split.
//! * `tokenizer.ggml.model = "llama"`: SentencePiece-style BPE with byte fallback (`▁` for spaces, `<0xNN>` byte
//!   tokens), over `merges` when the file has them, else merges recovered from `tokens` and `scores` exactly as
//!   transformers' `generate_merges` does. A space is prepended to the first piece unless
//!   `tokenizer.ggml.add_space_prefix` is false.
//! * `tokenizer.ggml.model = "llama"` with `general.architecture` `gemma`, `gemma2` or `gemma3`: transformers'
//!   `GemmaTokenizer` instead (its GGUF loader picks it by architecture, as nothing else in the file tells Gemma
//!   apart). Tokens made only of whitespace and holding a space (`"  "`, ids 138..=167 in Gemma 3) are re-spelled
//!   with one `▁` per character. Without merges in the file, they are recovered as above but ranked by the merged
//!   token's position in the file, not its score (Gemma's scores do not follow its merge order). A normalizer
//!   replaces every `' '` with `▁`; the pre-tokenizer splits on `' '` (merged with the previous piece; after the
//!   normalizer it finds none, but it is transformers' pipeline); no space is ever prepended, whatever
//!   `add_space_prefix` says; the BPE's unknown token is `unknown_token_id`'s (else `<unk>`); the decoder is
//!   Llama's without the strip.
//! * Anything else (`t5`'s unigram, `bert`, `rwkv`, ...) is [`Error::Unsupported`], naming the kind.
//!
//! Tokens typed CONTROL (3) become special added tokens and USER_DEFINED (4) plain added tokens, so both are
//! matched whole; a USER_DEFINED token the vocabulary no longer holds as written (Gemma's re-spelled space runs)
//! is left out, as transformers does. `add_bos_token` (default false for `gpt2`, true for `llama`) and
//! `add_eos_token` (default false) put `bos_token_id`/`eos_token_id` around a sequence when special tokens are
//! asked for.

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::normalizers::replace::Replace;
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, SplitDelimiterBehavior};

use crate::error::{Error, Result};
use crate::gguf::gguf_err;

/// llama.cpp's token type of a control token (`<|endoftext|>`, `<s>`).
const CONTROL: i32 = 3;
/// llama.cpp's token type of a user-defined token matched whole but not special (`<think>`).
const USER_DEFINED: i32 = 4;

/// The Llama 3 split (`llama3`, `llama-bpe`, ... in llama.cpp): digits in runs of at most three.
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// The Qwen2 split: single digits.
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The `tokenizer.ggml.*` metadata of one file, with errors naming that file and the key.
struct Meta<'a> {
    content: &'a Content,
    path: &'a Path,
}

impl<'a> Meta<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.content.metadata.get(key)
    }

    fn bad(&self, key: &str, reason: impl std::fmt::Display) -> Error {
        gguf_err(self.path, format!("GGUF metadata {key:?} {reason}"))
    }

    fn string(&self, key: &str) -> Result<Option<&'a str>> {
        self.get(key)
            .map(|v| {
                v.to_string()
                    .map(String::as_str)
                    .map_err(|_| self.bad(key, "is not a string"))
            })
            .transpose()
    }

    fn strings(&self, key: &str) -> Result<Option<Vec<&'a str>>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let items = v.to_vec().map_err(|_| self.bad(key, "is not an array"))?;
        items
            .iter()
            .enumerate()
            .map(|(i, x)| {
                x.to_string()
                    .map(String::as_str)
                    .map_err(|_| self.bad(key, format!("item {i} is not a string")))
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    fn numbers(&self, key: &str) -> Result<Option<Vec<f64>>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let items = v.to_vec().map_err(|_| self.bad(key, "is not an array"))?;
        items
            .iter()
            .enumerate()
            .map(|(i, x)| {
                number(x).ok_or_else(|| self.bad(key, format!("item {i} is not a number")))
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    fn id(&self, key: &str, vocab: usize) -> Result<Option<u32>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let n = number(v).ok_or_else(|| self.bad(key, "is not an integer"))?;
        if n < 0.0 || n.fract() != 0.0 || n >= vocab as f64 {
            return Err(self.bad(
                key,
                format!("is {n}, not a token id of the {vocab}-token vocabulary"),
            ));
        }
        Ok(Some(n as u32))
    }

    fn flag(&self, key: &str, default: bool) -> Result<bool> {
        self.get(key)
            .map(|v| v.to_bool().map_err(|_| self.bad(key, "is not a boolean")))
            .unwrap_or(Ok(default))
    }
}

/// Any numeric GGUF value as `f64`.
fn number(v: &Value) -> Option<f64> {
    Some(match v {
        Value::U8(x) => *x as f64,
        Value::I8(x) => *x as f64,
        Value::U16(x) => *x as f64,
        Value::I16(x) => *x as f64,
        Value::U32(x) => *x as f64,
        Value::I32(x) => *x as f64,
        Value::U64(x) => *x as f64,
        Value::I64(x) => *x as f64,
        Value::F32(x) => *x as f64,
        Value::F64(x) => *x,
        _ => return None,
    })
}

/// GPT-2's byte-to-character table: printable bytes map to themselves, the others to `U+0100` onwards.
pub(crate) fn byte_alphabet() -> [char; 256] {
    let mut table = ['\0'; 256];
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut next = 256u32;
    for b in 0..=255u8 {
        table[b as usize] = if printable(b) {
            b as char
        } else {
            next += 1;
            char::from_u32(next - 1).expect("U+0100..U+0143 are characters")
        };
    }
    table
}

/// Builds the tokenizer the GGUF `content` (read from `path`) describes.
pub(crate) fn build(content: &Content, path: &Path) -> Result<tokenizers::Tokenizer> {
    let meta = Meta { content, path };
    let kind = meta.string("tokenizer.ggml.model")?.ok_or_else(|| {
        gguf_err(
            path,
            "GGUF metadata lacks \"tokenizer.ggml.model\": the file carries no tokenizer",
        )
    })?;
    let tokens = meta
        .strings("tokenizer.ggml.tokens")?
        .ok_or_else(|| meta.bad("tokenizer.ggml.tokens", "is missing"))?;
    let types = meta.numbers("tokenizer.ggml.token_type")?;
    if let Some(t) = &types {
        if t.len() != tokens.len() {
            return Err(meta.bad(
                "tokenizer.ggml.token_type",
                format!("has {} entries for {} tokens", t.len(), tokens.len()),
            ));
        }
    }
    let (mut tok, byte_level) = match kind {
        "gpt2" => (byte_level_bpe(&meta, &tokens)?, true),
        "llama" => {
            let arch = meta.string("general.architecture")?;
            let gemma = matches!(arch, Some("gemma" | "gemma2" | "gemma3"));
            (sentencepiece_bpe(&meta, &tokens, gemma)?, false)
        }
        other => return Err(Error::unsupported(
            format!("{}: GGUF tokenizer model {other:?}", path.display()),
            "tokenizer.ggml.model gpt2 (byte-level BPE) and llama (SentencePiece BPE) are built",
        )),
    };
    let typed = |want: i32| -> Vec<&str> {
        let Some(types) = &types else {
            return Vec::new();
        };
        tokens
            .iter()
            .zip(types)
            .filter(|(_, &t)| t == want as f64)
            .map(|(s, _)| *s)
            .collect()
    };
    let alphabet = byte_alphabet();
    // In a byte-level vocabulary a control token spelled outside the byte alphabet is a llama.cpp mislabel;
    // transformers skips it, and so do we.
    let control: Vec<AddedToken> = typed(CONTROL)
        .into_iter()
        .filter(|t| !byte_level || t.chars().all(|c| alphabet.contains(&c)))
        .map(|t| AddedToken::from(t, true).normalized(false))
        .collect();
    let user: Vec<AddedToken> = typed(USER_DEFINED)
        .into_iter()
        .filter(|t| tok.token_to_id(t).is_some())
        .map(|t| AddedToken::from(t, false).normalized(false))
        .collect();
    let fail = |e: tokenizers::Error| gguf_err(path, format!("building its tokenizer: {e}"));
    tok.add_special_tokens(control).map_err(fail)?;
    tok.add_tokens(user).map_err(fail)?;
    let vocab = tokens.len();
    let bos = meta.id("tokenizer.ggml.bos_token_id", vocab)?;
    let eos = meta.id("tokenizer.ggml.eos_token_id", vocab)?;
    let add_bos = meta.flag("tokenizer.ggml.add_bos_token", kind == "llama")?;
    let add_eos = meta.flag("tokenizer.ggml.add_eos_token", false)?;
    let special = |on: bool, id: Option<u32>, key: &str| -> Result<Option<(String, u32)>> {
        match (on, id) {
            (false, _) => Ok(None),
            (true, Some(id)) => Ok(Some((tokens[id as usize].to_string(), id))),
            (true, None) => Err(meta.bad(
                key,
                "is missing, but the file asks for that token to be added",
            )),
        }
    };
    let bos = special(add_bos, bos, "tokenizer.ggml.bos_token_id")?;
    let eos = special(add_eos, eos, "tokenizer.ggml.eos_token_id")?;
    tok.with_post_processor(Some(template(bos, eos).map_err(|e| gguf_err(path, e))?));
    Ok(tok)
}

/// transformers' post-processor: `[bos] $A [eos]`, and for pairs `[bos] $A [eos] [bos] $B [eos]`.
fn template(
    bos: Option<(String, u32)>,
    eos: Option<(String, u32)>,
) -> std::result::Result<TemplateProcessing, String> {
    let piece = |t: &Option<(String, u32)>, seq: u32| t.as_ref().map(|(s, _)| format!("{s}:{seq}"));
    let side = |seq: u32, var: &str| -> Vec<String> {
        piece(&bos, seq)
            .into_iter()
            .chain([format!("${var}:{seq}")])
            .chain(piece(&eos, seq))
            .collect()
    };
    let single = side(0, "A");
    let pair: Vec<String> = single.iter().cloned().chain(side(1, "B")).collect();
    let specials: Vec<(String, u32)> = bos.iter().chain(eos.iter()).cloned().collect();
    TemplateProcessing::builder()
        .try_single(single)?
        .try_pair(pair)?
        .special_tokens(specials)
        .build()
        .map_err(|e| format!("building its post-processor: {e}"))
}

/// Splits merges written `"left right"`.
fn parse_merges(meta: &Meta, merges: &[&str]) -> Result<Vec<(String, String)>> {
    merges
        .iter()
        .enumerate()
        .map(|(i, m)| match m.split(' ').collect::<Vec<_>>()[..] {
            [l, r] => Ok((l.to_string(), r.to_string())),
            _ => Err(meta.bad(
                "tokenizer.ggml.merges",
                format!("item {i} is {m:?}, expected two pieces separated by one space"),
            )),
        })
        .collect()
}

fn bpe(
    meta: &Meta,
    vocab: HashMap<String, u32>,
    merges: Vec<(String, String)>,
    sentencepiece: bool,
    unk: Option<String>,
) -> Result<BPE> {
    let vocab: Vocab = vocab.into_iter().collect();
    let builder = BPE::builder().vocab_and_merges(vocab, merges);
    let builder = if sentencepiece {
        builder.fuse_unk(true).byte_fallback(true)
    } else {
        builder
    };
    let builder = match unk {
        Some(unk) => builder.unk_token(unk),
        None => builder,
    };
    builder
        .build()
        .map_err(|e| gguf_err(meta.path, format!("building its BPE model: {e}")))
}

fn byte_level_bpe(meta: &Meta, tokens: &[&str]) -> Result<tokenizers::Tokenizer> {
    let alphabet = byte_alphabet();
    let vocab: HashMap<String, u32> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let spelled = if t.chars().all(|c| alphabet.contains(&c)) {
                t.to_string()
            } else {
                t.bytes().map(|b| alphabet[b as usize]).collect()
            };
            (spelled, i as u32)
        })
        .collect();
    let merges = meta.strings("tokenizer.ggml.merges")?.ok_or_else(|| {
        meta.bad(
            "tokenizer.ggml.merges",
            "is missing (a gpt2 tokenizer needs its merges)",
        )
    })?;
    let merges = parse_merges(meta, &merges)?;
    let mut tok = tokenizers::Tokenizer::new(bpe(meta, vocab, merges, false, None)?);
    tok.with_pre_tokenizer(Some(byte_level_split(meta)?));
    tok.with_decoder(Some(ByteLevelDecoder::default()));
    Ok(tok)
}

/// The pre-tokenizer of a byte-level vocabulary, from `tokenizer.ggml.pre`.
fn byte_level_split(meta: &Meta) -> Result<PreTokenizerWrapper> {
    let key = "tokenizer.ggml.pre";
    let pre = meta.string(key)?.unwrap_or("default");
    let gpt2 = ByteLevel::new(false, true, true);
    let regex = |r: &str| -> Result<PreTokenizerWrapper> {
        let split = Split::new(
            SplitPattern::Regex(r.into()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| meta.bad(key, format!("{pre:?}: its split does not compile: {e}")))?;
        Ok(Sequence::new(vec![
            split.into(),
            ByteLevel::new(false, true, false).into(),
        ])
        .into())
    };
    match pre {
        "default" | "gpt2" | "gpt-2" => Ok(gpt2.into()),
        // llama.cpp: `\p{N}` then GPT-2's regex, i.e. every digit on its own.
        "smollm" | "starcoder" | "refact" | "codeshell" | "exaone" | "minerva-7b" => {
            Ok(Sequence::new(vec![Digits::new(true).into(), gpt2.into()]).into())
        }
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "pixtral" | "dbrx" | "smaug-bpe" => regex(LLAMA3_SPLIT),
        "qwen2" | "deepseek-r1-qwen" | "megrez" => regex(QWEN2_SPLIT),
        other => Err(Error::unsupported(
            format!("{}: GGUF pre-tokenizer {other:?}", meta.path.display()),
            "tokenizer.ggml.pre default, gpt2, smollm, starcoder, llama3/llama-bpe and qwen2 are built",
        )),
    }
}

/// A SentencePiece vocabulary (`tokenizer.ggml.model = "llama"`): Llama's pipeline, or with `gemma` transformers'
/// `GemmaTokenizer` (see the module doc).
fn sentencepiece_bpe(meta: &Meta, tokens: &[&str], gemma: bool) -> Result<tokenizers::Tokenizer> {
    let tokens: Vec<String> = tokens
        .iter()
        .map(|t| {
            if gemma && t.contains(' ') && t.chars().all(python_space) {
                "▁".repeat(t.chars().count())
            } else {
                t.to_string()
            }
        })
        .collect();
    let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
    // A repeated token keeps its last id, as a Python dict built from the list does.
    let vocab: HashMap<String, u32> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_string(), i as u32))
        .collect();
    let merges = match meta.strings("tokenizer.ggml.merges")? {
        Some(m) => parse_merges(meta, &m)?,
        // Gemma's scores do not follow its merge order; the order of the tokens in the file does.
        None if gemma => {
            let positions: Vec<f64> = (0..tokens.len()).map(|i| -(i as f64)).collect();
            merges_from_scores(&tokens, &positions, &vocab)
        }
        None => {
            let scores = meta.numbers("tokenizer.ggml.scores")?.ok_or_else(|| {
                meta.bad(
                    "tokenizer.ggml.scores",
                    "is missing, and without merges the BPE needs them",
                )
            })?;
            if scores.len() != tokens.len() {
                return Err(meta.bad(
                    "tokenizer.ggml.scores",
                    format!("has {} entries for {} tokens", scores.len(), tokens.len()),
                ));
            }
            merges_from_scores(&tokens, &scores, &vocab)
        }
    };
    let unk = if gemma {
        let id = meta.id("tokenizer.ggml.unknown_token_id", tokens.len())?;
        Some(id.map_or("<unk>", |id| tokens[id as usize]).to_string())
    } else {
        None
    };
    let mut tok = tokenizers::Tokenizer::new(bpe(meta, vocab, merges, true, unk)?);
    let fail = |part: &'static str| {
        move |e: tokenizers::Error| gguf_err(meta.path, format!("building its {part}: {e}"))
    };
    // Llama prepends a space unless the file says not to; Gemma never does.
    let prefix = !gemma && meta.flag("tokenizer.ggml.add_space_prefix", true)?;
    if gemma {
        let spaces = Replace::new(" ", "▁").map_err(fail("normalizer"))?;
        tok.with_normalizer(Some(NormalizerWrapper::from(spaces)))
            .map_err(fail("normalizer"))?;
        let split = Split::new(
            SplitPattern::String(" ".into()),
            SplitDelimiterBehavior::MergedWithPrevious,
            false,
        )
        .map_err(fail("pre-tokenizer"))?;
        tok.with_pre_tokenizer(Some(PreTokenizerWrapper::from(split)));
    } else {
        let scheme = if prefix {
            PrependScheme::First
        } else {
            PrependScheme::Never
        };
        tok.with_pre_tokenizer(Some(Metaspace::new('▁', scheme, false)));
    }
    let replace = Replace::new("▁", " ").map_err(fail("decoder"))?;
    let mut steps: Vec<DecoderWrapper> = vec![
        replace.into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if prefix {
        steps.push(Strip::new(' ', 1, 0).into());
    }
    tok.with_decoder(Some(DecoderSequence::new(steps)));
    Ok(tok)
}

/// Whether Python's `str.isspace` holds for `c`: Unicode whitespace and the separators U+001C..U+001F.
fn python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// transformers' `generate_merges(vocab, scores)`: every split of every token into two vocabulary pieces, ordered
/// by the merged token's score (highest first), then by the pieces' lengths in characters; ties keep the order
/// of the tokens and, within a token, of the pieces' ids.
fn merges_from_scores(
    tokens: &[&str],
    scores: &[f64],
    vocab: &HashMap<String, u32>,
) -> Vec<(String, String)> {
    // A Python dict built from (token, score) pairs: first position, last score.
    let mut order: Vec<&str> = Vec::new();
    let mut score: HashMap<&str, f64> = HashMap::new();
    for (t, s) in tokens.iter().zip(scores) {
        if score.insert(t, *s).is_none() {
            order.push(t);
        }
    }
    let mut merges: Vec<(&str, &str, f64)> = Vec::new();
    for t in order {
        let mut local: Vec<(&str, &str, f64)> = t
            .char_indices()
            .skip(1)
            .map(|(i, _)| t.split_at(i))
            .filter(|(l, r)| vocab.contains_key(*l) && vocab.contains_key(*r))
            .map(|(l, r)| (l, r, score[t]))
            .collect();
        local.sort_by_key(|(l, r, _)| (vocab[*l], vocab[*r]));
        merges.extend(local);
    }
    let key = |m: &(&str, &str, f64)| (m.2, m.0.chars().count(), m.1.chars().count());
    // Python's `sorted(..., reverse=True)` is stable: equal keys keep their order.
    merges.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        kb.0.total_cmp(&ka.0)
            .then(kb.1.cmp(&ka.1))
            .then(kb.2.cmp(&ka.2))
    });
    merges
        .into_iter()
        .map(|(l, r, _)| (l.to_string(), r.to_string()))
        .collect()
}
