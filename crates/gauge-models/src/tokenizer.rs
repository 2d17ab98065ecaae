//! Text to token ids and back, with the Hugging Face `tokenizers` pipeline of a model: read from a
//! `tokenizer.json`, or built from a GGUF's `tokenizer.ggml.*` metadata (see `gguf_tokenizer.rs` for what each
//! GGUF tokenizer kind becomes).
//!
//! Ids are `u32`, the type [`crate::Model::forward_ids`] takes. [`Tokenizer::encode`] with `add_special_tokens`
//! adds what the tokenizer's post-processor adds (BOS for Llama SentencePiece GGUFs, `[CLS] … [SEP]` for BERT,
//! nothing for SmolLM2); [`Tokenizer::decode`] keeps special tokens in the text, like transformers' `decode`.

use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::Content;

use crate::error::{Error, Result};
use crate::gguf;
use crate::gguf_tokenizer;

/// The file name of a Hugging Face tokenizer inside a checkpoint directory.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// A model's tokenizer, and the file it came from (named in its errors).
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    source: PathBuf,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("source", &self.source)
            .field("vocab_size", &self.vocab_size())
            .finish()
    }
}

impl Tokenizer {
    /// Reads a Hugging Face `tokenizer.json`. Padding and truncation it may configure are dropped (as
    /// transformers does unless asked): [`Tokenizer::encode`] gives a text's ids whole.
    pub fn from_file(tokenizer_json: &Path) -> Result<Self> {
        if !tokenizer_json.is_file() {
            return Err(Error::Core(gauge_core::Error::Io {
                path: tokenizer_json.into(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            }));
        }
        let mut inner = tokenizers::Tokenizer::from_file(tokenizer_json).map_err(|e| {
            file_err(
                tokenizer_json,
                format!("not a readable tokenizer.json: {e}"),
            )
        })?;
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| file_err(tokenizer_json, format!("removing its truncation: {e}")))?;
        Ok(Self {
            inner,
            source: tokenizer_json.into(),
        })
    }

    /// Builds the tokenizer a GGUF file describes from its metadata (`content`, read from `path`).
    pub fn from_gguf(content: &Content, path: &Path) -> Result<Self> {
        Ok(Self {
            inner: gguf_tokenizer::build(content, path)?,
            source: path.into(),
        })
    }

    /// Opens the GGUF at `path` and builds its tokenizer.
    pub fn from_gguf_file(path: &Path) -> Result<Self> {
        let (_, content) = gguf::open(path)?;
        Self::from_gguf(&content, path)
    }

    /// The token ids of `text`; with `add_special_tokens`, wrapped as the tokenizer's post-processor says.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, add_special_tokens)
            .map_err(|e| self.err(format!("encoding {:?}: {e}", clip(text))))?;
        Ok(enc.get_ids().to_vec())
    }

    /// The text of `ids`, special tokens included.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        if let Some(bad) = ids.iter().find(|&&i| i as usize >= self.vocab_size()) {
            return Err(Error::input(
                "ids",
                format!(
                    "holds {bad}, outside the {}-token vocabulary of {}",
                    self.vocab_size(),
                    self.source.display()
                ),
            ));
        }
        self.inner
            .decode(ids, false)
            .map_err(|e| self.err(format!("decoding {} ids: {e}", ids.len())))
    }

    /// The number of ids, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The file this tokenizer was read or built from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// The `tokenizers` pipeline itself.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// Writes this tokenizer as a `tokenizer.json` at `path`, atomically, replacing an existing file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = self
            .inner
            .to_string(true)
            .map_err(|e| self.err(format!("serializing to {}: {e}", path.display())))?;
        Ok(gauge_core::atomic::write_file(path, json.as_bytes(), true)?)
    }

    fn err(&self, reason: String) -> Error {
        file_err(&self.source, reason)
    }
}

/// An error about the file `path`, naming it.
fn file_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Core(gauge_core::Error::InvalidArgument {
        what: path.display().to_string(),
        reason: reason.into(),
    })
}

/// Whether a GGUF's metadata describes a tokenizer at all (`tokenizer.ggml.model`).
pub(crate) fn gguf_has_tokenizer(content: &Content) -> bool {
    content.metadata.contains_key("tokenizer.ggml.model")
}

/// The first 40 characters of `text`, for error messages.
fn clip(text: &str) -> String {
    let mut s: String = text.chars().take(40).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

/// The tokenizer of a model source: a GGUF file (built from its metadata; `None` when it has no
/// `tokenizer.ggml.*` keys), or a Hugging Face directory's `tokenizer.json` (`None` when the directory has none).
pub fn load_tokenizer(path: &Path) -> Result<Option<Tokenizer>> {
    if !path.exists() {
        return Err(Error::Core(gauge_core::Error::Io {
            path: path.into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        }));
    }
    if path.is_dir() {
        let json = path.join(TOKENIZER_FILE);
        return if json.is_file() {
            Tokenizer::from_file(&json).map(Some)
        } else {
            Ok(None)
        };
    }
    if gguf::is_gguf(path)? {
        let (_, content) = gguf::open(path)?;
        if !gguf_has_tokenizer(&content) {
            return Ok(None);
        }
        return Tokenizer::from_gguf(&content, path).map(Some);
    }
    Err(file_err(
        path,
        "is neither a checkpoint directory nor a GGUF file (no GGUF magic)",
    ))
}
