//! `config.json` against the tensors: every tensor name is one its architecture knows, the blocks present are
//! exactly the ones the config counts, each holds the tensors its architecture requires, and every parameter has
//! the shape the config's dimensions give it. A dimension the config does not state is taken from the first
//! tensor that has it, so the tensors must still agree with one another.
//!
//! Errors name the file and the tensor: an unknown name is `INVALID_ARGUMENT` (as [`Architecture::role`] says),
//! a missing or surplus tensor `CHECKPOINT_MISMATCH`, a wrong shape `SHAPE_MISMATCH`.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::{Checkpoint, INDEX_FILE, SINGLE_FILE};
use crate::error::{Error, Result};
use crate::family::dims::Binding;
use crate::family::{Dim, Layout};

/// Checks `ckpt`'s tensors against its config (called by [`Checkpoint::open`]).
pub(super) fn check(ckpt: &Checkpoint) -> Result<()> {
    let arch = ckpt.arch;
    let layout = arch.layout();
    let config = ConfigDims::new(ckpt);

    // Names: every tensor is covered by a rule; note the blocks present.
    let mut present: HashSet<&str> = HashSet::new();
    let mut blocks: HashSet<u64> = HashSet::new();
    for (k, t) in ckpt.tensors() {
        let path = &ckpt.shards[k].path;
        arch.role(&t.name).map_err(|e| {
            let reason = match e {
                Error::InvalidArgument { what, reason } => format!("{what}: {reason}"),
                other => other.to_string(),
            };
            Error::invalid(path.display().to_string(), reason)
        })?;
        let name = layout.strip(&t.name);
        present.insert(name);
        if let Some((index, digits)) = block_of(name, &layout) {
            if let Some(n) = config.layers {
                if index >= n as u64 {
                    let blocks = match n {
                        0 => "no blocks".to_string(),
                        1 => "block 0 only".to_string(),
                        n => format!("blocks 0 to {}", n - 1),
                    };
                    return Err(Error::mismatch(
                        path,
                        format!(
                            "holds tensor {:?} of block {digits}, but config.json has {} = {n} ({blocks})",
                            t.name, layout.layers_key,
                        ),
                    ));
                }
            }
            blocks.insert(index);
        }
    }

    // Required tensors: the model's, the output head when untied, and every block's.
    let weights = weights_file(ckpt);
    let shown = |name: &str| layout.show(name, ckpt);
    for name in layout.model {
        if !present.contains(name) {
            return Err(Error::mismatch(
                &weights,
                format!(
                    "lacks tensor {:?}, which every {} checkpoint has",
                    shown(name),
                    arch.name()
                ),
            ));
        }
    }
    if config.tied == Some(false) && !present.contains(layout.head) {
        return Err(Error::mismatch(
            &weights,
            format!(
                "lacks the output head {:?}, and config.json has tie_word_embeddings = false",
                layout.head
            ),
        ));
    }
    let count = match config.layers {
        Some(n) => n as u64,
        None => blocks.iter().max().map_or(0, |&m| m + 1),
    };
    // Stops at the first incomplete block, which comes at most one past the blocks present.
    for l in 0..count {
        let missing: Vec<String> = layout
            .block
            .iter()
            .map(|s| format!("{}{l}.{s}", layout.layer_prefix))
            .filter(|n| !present.contains(n.as_str()))
            .collect();
        let Some(first) = missing.first() else {
            continue;
        };
        let why = match config.layers {
            Some(n) => format!("config.json has {} = {n}", layout.layers_key),
            None => format!("tensors of block {} are present", count - 1),
        };
        let reason = if blocks.contains(&l) {
            format!(
                "lacks tensor {:?} of block {l} ({} of the block's {} required tensors missing)",
                shown(first),
                missing.len(),
                layout.block.len()
            )
        } else {
            format!(
                "has no tensors of block {l} (such as {:?}), but {why}",
                shown(first)
            )
        };
        return Err(Error::mismatch(&weights, reason));
    }

    // Shapes: the model's own tensors (the embedding first) and the head, then the blocks in file order, so that
    // a config that disagrees with every tensor is reported at the embedding.
    let mut bound: HashMap<Dim, Binding> = config.dims;
    let mut order: Vec<_> = ckpt.tensors().collect();
    order.sort_by_key(|(_, t)| {
        let name = layout.strip(&t.name);
        layout
            .model
            .iter()
            .position(|m| *m == name)
            .unwrap_or(layout.model.len() + usize::from(name != layout.head))
    });
    for (k, t) in order {
        let Some(dims) = arch.expected_shape(layout.strip(&t.name)) else {
            continue;
        };
        if dims.len() == t.shape.len() {
            for (dim, &len) in dims.iter().zip(&t.shape) {
                bound.entry(*dim).or_insert_with(|| Binding {
                    value: len,
                    text: format!(
                        "{} = {len} (as in tensor {:?})",
                        arch.family().label(*dim),
                        t.name
                    ),
                });
            }
            if dims
                .iter()
                .zip(&t.shape)
                .all(|(d, &len)| bound[d].value == len)
            {
                continue;
            }
        }
        let expected: Vec<String> = dims
            .iter()
            .map(|d| match bound.get(d) {
                Some(b) => b.text.clone(),
                None => arch.family().label(*d).to_string(),
            })
            .collect();
        return Err(Error::shape(
            format!("{}: tensor {:?}", ckpt.shards[k].path.display(), t.name),
            format!("shape [{}]", expected.join(", ")),
            format!("shape {:?}", t.shape),
        ));
    }
    Ok(())
}

/// The file that should hold every tensor: `model.safetensors`, or the index of a sharded checkpoint.
fn weights_file(ckpt: &Checkpoint) -> PathBuf {
    let single = ckpt.dir.join(SINGLE_FILE);
    if ckpt.shards.len() == 1 && ckpt.shards[0].path == single {
        single
    } else {
        ckpt.dir.join(INDEX_FILE)
    }
}

/// The block index of a (prefix-stripped) tensor name, with its digits as written.
fn block_of<'a>(name: &'a str, layout: &Layout) -> Option<(u64, &'a str)> {
    let rest = name.strip_prefix(layout.layer_prefix)?;
    let digits = &rest[..rest.find('.')?];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().unwrap_or(u64::MAX), digits))
}

impl Layout {
    /// `name` without the optional prefix.
    fn strip<'a>(&self, name: &'a str) -> &'a str {
        if self.prefix.is_empty() || name == self.head {
            return name;
        }
        name.strip_prefix(self.prefix).unwrap_or(name)
    }

    /// A prefix-stripped `name` as this checkpoint writes names (with the prefix when its tensors have it).
    fn show(&self, name: &str, ckpt: &Checkpoint) -> String {
        let prefixed = !self.prefix.is_empty()
            && name != self.head
            && ckpt.tensors().any(|(_, t)| t.name.starts_with(self.prefix));
        if prefixed {
            format!("{}{name}", self.prefix)
        } else {
            name.to_string()
        }
    }
}

/// What `config.json` says about the tensors.
struct ConfigDims {
    /// The number of blocks.
    layers: Option<usize>,
    /// `tie_word_embeddings`, when given.
    tied: Option<bool>,
    /// The dimensions it fixes.
    dims: HashMap<Dim, Binding>,
}

impl ConfigDims {
    fn new(ckpt: &Checkpoint) -> Self {
        let c = &ckpt.config;
        let layers_key = ckpt.arch.layout().layers_key;
        Self {
            layers: c
                .get(layers_key)
                .and_then(|v| v.as_u64())
                .and_then(|v| usize::try_from(v).ok()),
            tied: c.get("tie_word_embeddings").and_then(|v| v.as_bool()),
            dims: ckpt.arch.family().config_dims(c).dims,
        }
    }
}
