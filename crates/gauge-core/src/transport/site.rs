//! Which hook sites live in the residual chart, by name (TransformerLens / SAELens `hook_name`s and Hugging Face
//! module paths).
//!
//! Residual: `hook_embed`, `hook_resid_pre|mid|post`, `hook_attn_out`, `hook_mlp_out` (written into the stream),
//! `ln_final.hook_normalized`, and a bare block output (`model.layers.N`, `transformer.h.N`). Other charts:
//! attention heads (`hook_q|k|v|z`, `hook_result`, scores and patterns) and MLP neurons (`mlp.hook_pre`,
//! `mlp.hook_post`, `hook_pre_linear`), whose gauges are per layer (a permutation of heads; a permutation plus a
//! sign shared by a SwiGLU neuron's `up` row and `down` column), not the residual one.

/// Where a hook lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteChart {
    /// In the residual chart: moves with the residual gauge.
    Residual,
    /// In another chart; the reason says which and why the residual gauge cannot move it.
    Other(String),
    /// A name this module does not know.
    Unknown,
}

const RESIDUAL: &[&str] = &[
    "hook_embed",
    "hook_pos_embed",
    "hook_resid_pre",
    "hook_resid_mid",
    "hook_resid_post",
    "hook_attn_out",
    "hook_mlp_out",
    "ln_final.hook_normalized",
];

const HEADS: &[&str] = &[
    "hook_q",
    "hook_k",
    "hook_v",
    "hook_z",
    "hook_result",
    "hook_attn_scores",
    "hook_pattern",
    "hook_rot_q",
    "hook_rot_k",
];

const NEURONS: &[&str] = &[
    "mlp.hook_pre",
    "mlp.hook_post",
    "hook_pre_linear",
    "mlp.hook_mid",
];

/// The chart of the hook `name`.
pub fn site_chart(name: &str) -> SiteChart {
    let last = name.rsplit('.').next().unwrap_or(name);
    if NEURONS.iter().any(|n| name.ends_with(n)) {
        return SiteChart::Other(format!(
            "{name:?} is on MLP neurons, whose chart is per layer (a permutation, plus a sign shared by a \
             neuron's up row and down column in SwiGLU); the residual gauge does not act on it"
        ));
    }
    if HEADS.contains(&last) {
        return SiteChart::Other(format!(
            "{name:?} is on attention heads (per-head query/key/value or pattern coordinates), whose chart is a \
             permutation of heads per layer; the residual gauge does not act on it"
        ));
    }
    if RESIDUAL.iter().any(|r| name.ends_with(r)) {
        return SiteChart::Residual;
    }
    let parts: Vec<&str> = name.split('.').collect();
    let block_output = matches!(
        parts.as_slice(),
        ["model", "layers", n] | ["transformer", "h", n] | ["gpt_neox", "layers", n] | ["blocks", n]
            if n.parse::<usize>().is_ok()
    );
    if block_output {
        SiteChart::Residual
    } else {
        SiteChart::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residual_sites_are_told_from_heads_and_neurons() {
        for r in [
            "blocks.3.hook_resid_post",
            "blocks.0.hook_resid_pre",
            "blocks.7.hook_mlp_out",
            "hook_embed",
            "model.layers.5",
        ] {
            assert_eq!(site_chart(r), SiteChart::Residual, "{r}");
        }
        for o in [
            "blocks.3.attn.hook_z",
            "blocks.2.mlp.hook_post",
            "blocks.1.attn.hook_pattern",
        ] {
            assert!(matches!(site_chart(o), SiteChart::Other(_)), "{o}");
        }
        assert_eq!(site_chart("my_custom_site"), SiteChart::Unknown);
    }
}
