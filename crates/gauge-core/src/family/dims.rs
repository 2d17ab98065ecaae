//! The dimensions of parameter shapes, named after the `config.json` entries that fix them, and what a config
//! says about them.

use std::collections::HashMap;

/// A dimension of a parameter's shape, named after the config entry that fixes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dim {
    /// The residual width (`hidden_size`, GPT-2's `n_embd`).
    Hidden,
    /// Three residual widths: a fused query, key and value projection of equal widths (GPT-2, GPT-NeoX).
    Hidden3,
    /// The vocabulary (`vocab_size`).
    Vocab,
    /// The MLP width (`intermediate_size`, GPT-2's `n_inner`).
    Inner,
    /// Two MLP widths: a fused gate and up projection (Phi-3's `gate_up_proj`).
    Inner2,
    /// Learned positions (GPT-2's `n_positions`, BERT's `max_position_embeddings`).
    Positions,
    /// Token types (BERT's `type_vocab_size`).
    TypeVocab,
    /// One attention head (`head_dim`): per-head QK-norms.
    HeadDim,
    /// Query rows: `num_attention_heads × head_dim`.
    QRows,
    /// Key or value rows: `num_key_value_heads × head_dim`.
    KvRows,
    /// A fused query, key and value projection: `(num_attention_heads + 2 × num_key_value_heads) × head_dim`.
    QkvRows,
}

impl Dim {
    /// How Hugging Face configs of the Llama kind name the dimension.
    pub fn standard_label(self) -> &'static str {
        match self {
            Dim::Hidden => "hidden_size",
            Dim::Hidden3 => "3 × hidden_size",
            Dim::Vocab => "vocab_size",
            Dim::Inner => "intermediate_size",
            Dim::Inner2 => "2 × intermediate_size",
            Dim::Positions => "max_position_embeddings",
            Dim::TypeVocab => "type_vocab_size",
            Dim::HeadDim => "head_dim",
            Dim::QRows => "num_attention_heads × head_dim",
            Dim::KvRows => "num_key_value_heads × head_dim",
            Dim::QkvRows => "(num_attention_heads + 2 × num_key_value_heads) × head_dim",
        }
    }
}

/// The value of a dimension and where it comes from, for messages.
#[derive(Debug, Clone)]
pub struct Binding {
    /// The length.
    pub value: usize,
    /// Where it comes from (`hidden_size = 64 (config.json)`).
    pub text: String,
}

/// What a `config.json` fixes about the tensors: lenient, since a dimension it does not state is taken from
/// the first tensor that has it.
#[derive(Debug, Clone, Default)]
pub struct ConfigDims {
    /// The dimensions it fixes.
    pub dims: HashMap<Dim, Binding>,
}

/// A positive integer at `key`.
pub(crate) fn positive(c: &serde_json::Value, key: &str) -> Option<usize> {
    c.get(key)
        .and_then(|v| v.as_u64())
        .filter(|&v| v > 0)
        .and_then(|v| usize::try_from(v).ok())
}

impl ConfigDims {
    /// Records `dim = value`, described as `text`.
    pub fn set(&mut self, dim: Dim, value: usize, text: impl Into<String>) {
        self.dims.insert(
            dim,
            Binding {
                value,
                text: format!("{} (config.json)", text.into()),
            },
        );
    }

    /// The dimensions of a config with Hugging Face's usual keys: `hidden_key`, `vocab_size`,
    /// `intermediate_size`, `max_position_embeddings` (learned positions only matter where a family has them),
    /// `type_vocab_size`, and the attention widths from `num_attention_heads`, `num_key_value_heads` and
    /// `head_dim` (default `hidden / heads`).
    pub fn standard(
        c: &serde_json::Value,
        hidden_key: &str,
        default_head_dim: Option<usize>,
    ) -> Self {
        let mut me = Self::default();
        let hidden = positive(c, hidden_key);
        if let Some(h) = hidden {
            me.set(Dim::Hidden, h, format!("{hidden_key} = {h}"));
            if let Some(h3) = h.checked_mul(3) {
                me.set(Dim::Hidden3, h3, format!("3 × {hidden_key} = {h3}"));
            }
        }
        if let Some(v) = positive(c, "vocab_size") {
            me.set(Dim::Vocab, v, format!("vocab_size = {v}"));
        }
        if let Some(i) = positive(c, "intermediate_size") {
            me.set(Dim::Inner, i, format!("intermediate_size = {i}"));
            if let Some(i2) = i.checked_mul(2) {
                me.set(Dim::Inner2, i2, format!("2 × intermediate_size = {i2}"));
            }
        }
        if let Some(p) = positive(c, "max_position_embeddings") {
            me.set(Dim::Positions, p, format!("max_position_embeddings = {p}"));
        }
        if let Some(t) = positive(c, "type_vocab_size") {
            me.set(Dim::TypeVocab, t, format!("type_vocab_size = {t}"));
        }
        let Some(heads) = positive(c, "num_attention_heads") else {
            return me;
        };
        let head_dim = match (positive(c, "head_dim").or(default_head_dim), hidden) {
            (Some(hd), _) => Some((hd, format!("head_dim {hd}"))),
            (None, Some(h)) if h % heads == 0 => Some((
                h / heads,
                format!(
                    "head_dim {} ({hidden_key} / num_attention_heads)",
                    h / heads
                ),
            )),
            _ => None,
        };
        let Some((hd, hd_text)) = head_dim else {
            return me;
        };
        me.set(Dim::HeadDim, hd, hd_text.clone());
        let kv = positive(c, "num_key_value_heads").unwrap_or(heads);
        if let Some(q) = heads.checked_mul(hd) {
            me.set(
                Dim::QRows,
                q,
                format!("num_attention_heads {heads} × {hd_text} = {q}"),
            );
        }
        if let Some(r) = kv.checked_mul(hd) {
            me.set(
                Dim::KvRows,
                r,
                format!("num_key_value_heads {kv} × {hd_text} = {r}"),
            );
        }
        if let Some(r) = kv
            .checked_mul(2)
            .and_then(|k| k.checked_add(heads))
            .and_then(|n| n.checked_mul(hd))
        {
            me.set(
                Dim::QkvRows,
                r,
                format!("(num_attention_heads {heads} + 2 × num_key_value_heads {kv}) × {hd_text} = {r}"),
            );
        }
        me
    }
}
