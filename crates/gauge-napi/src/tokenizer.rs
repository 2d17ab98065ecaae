//! `Tokenizer`: a model's own tokenizer (`tokenizer.json` of a Hugging Face directory, or a GGUF's metadata).

use std::path::Path;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::error::sync;

/// A model's tokenizer. Encoding and decoding are synchronous (microseconds per sentence).
#[napi]
pub struct Tokenizer {
    inner: Arc<gauge_models::tokenizer::Tokenizer>,
}

#[napi]
impl Tokenizer {
    /// The tokenizer of a model: its directory's `tokenizer.json`, a `tokenizer.json` file, or a GGUF file's
    /// metadata. Throws `INVALID_ARGUMENT` naming the path when there is none.
    #[napi(factory)]
    pub fn load(env: Env, path: String) -> Result<Tokenizer> {
        sync(&env, || {
            let p = Path::new(&path);
            let t = if p.is_file() && p.extension().is_some_and(|e| e == "json") {
                gauge_models::tokenizer::Tokenizer::from_file(p)?
            } else {
                gauge_models::tokenizer::load_tokenizer(p)?.ok_or_else(|| {
                    crate::error::CodedError::invalid(
                        &path,
                        "has no tokenizer (no tokenizer.json beside config.json, no tokenizer in the GGUF metadata)",
                    )
                })?
            };
            Ok(Tokenizer { inner: Arc::new(t) })
        })
    }

    /// Token ids of `text`; with `addSpecialTokens` (default `true`) the model's BOS and similar are added as its
    /// tokenizer configures.
    #[napi]
    pub fn encode(
        &self,
        env: Env,
        text: String,
        add_special_tokens: Option<bool>,
    ) -> Result<Uint32Array> {
        sync(&env, || {
            Ok(Uint32Array::new(
                self.inner
                    .encode(&text, add_special_tokens.unwrap_or(true))?,
            ))
        })
    }

    /// The text of `ids` (special tokens kept).
    #[napi]
    pub fn decode(&self, env: Env, ids: Uint32Array) -> Result<String> {
        sync(&env, || Ok(self.inner.decode(&ids)?))
    }

    /// Size of the tokenizer's vocabulary (with added tokens).
    #[napi(getter)]
    pub fn vocab_size(&self) -> u32 {
        self.inner.vocab_size() as u32
    }
}
