//! `apply` on small checkpoints written here: every tensor moves exactly as GAUGE.md §3 says, sharding and
//! side files survive, and bad input is refused with errors naming the file or tensor.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gauge_core::checkpoint::{header_bytes, Checkpoint, Dtype, TensorInfo};
use gauge_core::family::Architecture;
use gauge_core::recharting::{apply, ApplyOptions, GAUGE_FILE};
use gauge_core::rng::SplitMix64;
use gauge_core::{Gauge, Group, RandomOptions};

const D: usize = 8;

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let p =
            std::env::temp_dir().join(format!("gt-rechart-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn encode(values: &[f32], dtype: Dtype) -> Vec<u8> {
    match dtype {
        Dtype::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        // Values are chosen exactly representable in bf16 (see `values`).
        Dtype::BF16 => values
            .iter()
            .flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes())
            .collect(),
        _ => unreachable!(),
    }
}

/// Small integers times powers of two: exact in bf16.
fn values(n: usize, rng: &mut SplitMix64) -> Vec<f32> {
    (0..n)
        .map(|_| (rng.below(15) as f32 - 7.0) * 0.25)
        .collect()
}

type Spec = (String, Vec<usize>);

fn llama_tensors(layers: usize, tied: bool) -> Vec<Spec> {
    let (ff, v) = (12, 10);
    let mut t = vec![("model.embed_tokens.weight".to_string(), vec![v, D])];
    for l in 0..layers {
        let p = format!("model.layers.{l}.");
        t.push((format!("{p}input_layernorm.weight"), vec![D]));
        t.push((format!("{p}self_attn.q_proj.weight"), vec![D, D]));
        t.push((format!("{p}self_attn.q_proj.bias"), vec![D]));
        t.push((format!("{p}self_attn.k_proj.weight"), vec![4, D]));
        t.push((format!("{p}self_attn.v_proj.weight"), vec![4, D]));
        t.push((format!("{p}self_attn.o_proj.weight"), vec![D, D]));
        t.push((format!("{p}post_attention_layernorm.weight"), vec![D]));
        t.push((format!("{p}mlp.gate_proj.weight"), vec![ff, D]));
        t.push((format!("{p}mlp.up_proj.weight"), vec![ff, D]));
        t.push((format!("{p}mlp.down_proj.weight"), vec![D, ff]));
    }
    t.push(("model.norm.weight".to_string(), vec![D]));
    if !tied {
        t.push(("lm_head.weight".to_string(), vec![v, D]));
    }
    t
}

fn gpt2_tensors() -> Vec<Spec> {
    let mut t = vec![
        ("wte.weight".to_string(), vec![10, D]),
        ("wpe.weight".to_string(), vec![6, D]),
    ];
    for s in ["ln_1", "ln_2"] {
        t.push((format!("h.0.{s}.weight"), vec![D]));
        t.push((format!("h.0.{s}.bias"), vec![D]));
    }
    t.push(("h.0.attn.c_attn.weight".to_string(), vec![D, 3 * D]));
    t.push(("h.0.attn.c_attn.bias".to_string(), vec![3 * D]));
    t.push(("h.0.attn.c_proj.weight".to_string(), vec![D, D]));
    t.push(("h.0.attn.c_proj.bias".to_string(), vec![D]));
    t.push(("h.0.mlp.c_fc.weight".to_string(), vec![D, 4 * D]));
    t.push(("h.0.mlp.c_fc.bias".to_string(), vec![4 * D]));
    t.push(("h.0.mlp.c_proj.weight".to_string(), vec![4 * D, D]));
    t.push(("h.0.mlp.c_proj.bias".to_string(), vec![D]));
    t.push(("ln_f.weight".to_string(), vec![D]));
    t.push(("ln_f.bias".to_string(), vec![D]));
    t
}

/// Writes a checkpoint of `tensors` (random values) into `dir`, as `shards` files; returns the values.
fn write_checkpoint(
    dir: &Path,
    config: serde_json::Value,
    tensors: &[Spec],
    dtype: Dtype,
    shards: usize,
    seed: u64,
) -> HashMap<String, Vec<f32>> {
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    std::fs::write(dir.join("tokenizer.json"), "{\"stand-in\": true}").unwrap();
    let mut rng = SplitMix64::new(seed);
    let mut all = HashMap::new();
    let per = tensors.len().div_ceil(shards);
    let mut weight_map = serde_json::Map::new();
    for (k, chunk) in tensors.chunks(per).enumerate() {
        let file = if shards == 1 {
            "model.safetensors".to_string()
        } else {
            format!("model-{:05}-of-{:05}.safetensors", k + 1, shards)
        };
        let (mut infos, mut data) = (Vec::new(), Vec::new());
        for (name, shape) in chunk {
            let v = values(shape.iter().product(), &mut rng);
            let bytes = encode(&v, dtype);
            infos.push(TensorInfo {
                name: name.clone(),
                dtype,
                shape: shape.clone(),
                start: data.len() as u64,
                end: (data.len() + bytes.len()) as u64,
            });
            data.extend_from_slice(&bytes);
            all.insert(name.clone(), v);
            weight_map.insert(name.clone(), serde_json::Value::String(file.clone()));
        }
        let mut bytes = header_bytes(
            &infos,
            &HashMap::from([("format".to_string(), "pt".to_string())]),
        );
        bytes.extend_from_slice(&data);
        std::fs::write(dir.join(&file), bytes).unwrap();
    }
    if shards > 1 {
        let index = serde_json::json!({"metadata": {}, "weight_map": weight_map});
        std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    }
    all
}

fn llama_config() -> serde_json::Value {
    serde_json::json!({"architectures": ["LlamaForCausalLM"], "hidden_size": D, "num_hidden_layers": 2})
}

fn gpt2_config() -> serde_json::Value {
    serde_json::json!({"architectures": ["GPT2LMHeadModel"], "n_embd": D, "n_layer": 1})
}

fn gauge(group: Group, seed: u64) -> Gauge {
    let positive_fraction = if group == Group::Bd { 0.5 } else { 1.0 };
    Gauge::random(
        D,
        &RandomOptions {
            seed,
            positive_fraction,
            group,
        },
    )
    .unwrap()
}

/// Checks every tensor of `out` against the GAUGE.md rule applied to the input values.
fn check_moved(out: &Path, input: &HashMap<String, Vec<f32>>, arch: Architecture, g: &Gauge) {
    let ckpt = Checkpoint::open(out).unwrap();
    let mut seen = 0;
    for (_, t) in ckpt.tensors() {
        let got = ckpt.read_f32(&t.name).unwrap();
        let x = &input[&t.name];
        let want = match arch.role(&t.name).unwrap().action() {
            None => x.clone(),
            Some((axis, signed)) => g.apply_axis(x, &t.shape, axis, signed).unwrap(),
        };
        assert_eq!(got, want, "tensor {}", t.name);
        seen += 1;
    }
    assert_eq!(seen, input.len());
}

#[test]
fn llama_tensors_move_by_their_roles_in_f32_and_bf16_single_and_sharded() {
    for (dtype, shards, tied) in [(Dtype::F32, 1, false), (Dtype::BF16, 3, true)] {
        let dir = Dir::new("llama");
        let (input, out) = (dir.0.join("in"), dir.0.join("out"));
        std::fs::create_dir(&input).unwrap();
        let values = write_checkpoint(
            &input,
            llama_config(),
            &llama_tensors(2, tied),
            dtype,
            shards,
            1,
        );
        let g = gauge(Group::Bd, 7);
        let report = apply(&input, &g, &out, ApplyOptions::default()).unwrap();
        assert_eq!(report.shards, shards);
        assert_eq!(report.tensors, values.len());
        check_moved(&out, &values, Architecture::LLAMA, &g);
        assert!(out.join("tokenizer.json").exists() && out.join("config.json").exists());
        assert_eq!(
            out.join("model.safetensors.index.json").exists(),
            shards > 1
        );
        let (stored, _) = gauge_core::gauge_file::read(&out.join(GAUGE_FILE)).unwrap();
        assert_eq!(stored, g);
        // Moving back with the inverse restores the input bit for bit.
        let back = dir.0.join("back");
        apply(&out, &g.inverse(), &back, ApplyOptions::default()).unwrap();
        check_moved(
            &back,
            &values,
            Architecture::LLAMA,
            &Gauge::identity(D).unwrap(),
        );
    }
}

#[test]
fn gpt2_accepts_pm_sd_and_refuses_bd_unless_forced() {
    let dir = Dir::new("gpt2");
    let input = dir.0.join("in");
    std::fs::create_dir(&input).unwrap();
    let values = write_checkpoint(&input, gpt2_config(), &gpt2_tensors(), Dtype::F32, 1, 2);
    let g = gauge(Group::PmSd, 3);
    apply(&input, &g, &dir.0.join("ok"), ApplyOptions::default()).unwrap();
    check_moved(&dir.0.join("ok"), &values, Architecture::GPT2, &g);
    let bd = gauge(Group::Bd, 4);
    let e = apply(&input, &bd, &dir.0.join("bd"), ApplyOptions::default()).unwrap_err();
    assert!(e.to_string().contains("LayerNorm"), "{e}");
    assert!(!dir.0.join("bd").exists());
    apply(
        &input,
        &bd,
        &dir.0.join("forced"),
        ApplyOptions { force: true },
    )
    .unwrap();
    check_moved(&dir.0.join("forced"), &values, Architecture::GPT2, &bd);
}

#[test]
fn refuses_bad_targets_and_bad_checkpoints() {
    let dir = Dir::new("bad");
    let input = dir.0.join("in");
    std::fs::create_dir(&input).unwrap();
    write_checkpoint(
        &input,
        llama_config(),
        &llama_tensors(2, false),
        Dtype::F32,
        2,
        5,
    );
    let g = gauge(Group::Bd, 1);
    let opts = ApplyOptions::default();
    // The input itself, and a non-empty directory.
    assert!(apply(&input, &g, &input, opts)
        .unwrap_err()
        .to_string()
        .contains("input checkpoint"));
    // A directory inside the input, however it is spelled: the input is left as it was.
    let before = std::fs::read_dir(&input).unwrap().count();
    for inside in [
        input.join("moved"),
        input.join("new/deeper"),
        dir.0.join("elsewhere/../in/moved"),
    ] {
        let e = apply(&input, &g, &inside, opts).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT", "{inside:?}");
        assert!(e.to_string().contains("inside the input checkpoint"), "{e}");
    }
    assert_eq!(std::fs::read_dir(&input).unwrap().count(), before);
    let full = dir.0.join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("keep.txt"), "mine").unwrap();
    assert_eq!(
        apply(&input, &g, &full, opts).unwrap_err().code(),
        "OUTPUT_EXISTS"
    );
    assert_eq!(
        std::fs::read_to_string(full.join("keep.txt")).unwrap(),
        "mine"
    );
    // An empty directory is fine.
    let empty = dir.0.join("empty");
    std::fs::create_dir(&empty).unwrap();
    apply(&input, &g, &empty, opts).unwrap();
    // A gauge of the wrong size.
    let e = apply(
        &input,
        &Gauge::identity(D + 1).unwrap(),
        &dir.0.join("x"),
        opts,
    )
    .unwrap_err();
    assert_eq!(e.code(), "SHAPE_MISMATCH");
    // A missing shard.
    let broken = dir.0.join("broken");
    std::fs::create_dir(&broken).unwrap();
    write_checkpoint(
        &broken,
        llama_config(),
        &llama_tensors(2, false),
        Dtype::F32,
        2,
        5,
    );
    std::fs::remove_file(broken.join("model-00002-of-00002.safetensors")).unwrap();
    let e = apply(&broken, &g, &dir.0.join("y"), opts).unwrap_err();
    assert!(
        e.to_string().contains("model-00002-of-00002.safetensors"),
        "{e}"
    );
    // An unknown tensor name.
    let odd = dir.0.join("odd");
    std::fs::create_dir(&odd).unwrap();
    let mut t = llama_tensors(2, false);
    t.push(("model.layers.0.mlp.experts.weight".into(), vec![D]));
    write_checkpoint(&odd, llama_config(), &t, Dtype::F32, 1, 5);
    let e = apply(&odd, &g, &dir.0.join("z"), opts).unwrap_err();
    assert!(
        e.to_string().contains("model.layers.0.mlp.experts.weight"),
        "{e}"
    );
    // A residual axis of the wrong length.
    let wrong = dir.0.join("wrong");
    std::fs::create_dir(&wrong).unwrap();
    let mut t = llama_tensors(2, false);
    t[0].1 = vec![10, D + 1];
    write_checkpoint(&wrong, llama_config(), &t, Dtype::F32, 1, 5);
    let e = apply(&wrong, &g, &dir.0.join("w"), opts).unwrap_err();
    assert_eq!(e.code(), "SHAPE_MISMATCH");
    assert!(e.to_string().contains("model.embed_tokens.weight"), "{e}");
    // A truncated file.
    let cut = dir.0.join("cut");
    std::fs::create_dir(&cut).unwrap();
    write_checkpoint(
        &cut,
        llama_config(),
        &llama_tensors(2, false),
        Dtype::F32,
        1,
        5,
    );
    let f = cut.join("model.safetensors");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() - 4]).unwrap();
    let e = apply(&cut, &g, &dir.0.join("c"), opts).unwrap_err();
    assert_eq!(e.code(), "SAFETENSORS_HEADER");
    assert!(
        e.to_string().contains("model.safetensors") && e.to_string().contains("truncated"),
        "{e}"
    );
    // Nothing was left behind by the failures.
    let leftovers: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn constant_gains_make_the_gauge_continuous_and_are_refused() {
    let dir = Dir::new("const");
    let input = dir.0.join("in");
    std::fs::create_dir(&input).unwrap();
    write_checkpoint(
        &input,
        llama_config(),
        &llama_tensors(2, false),
        Dtype::F32,
        1,
        5,
    );
    // Overwrite every gain with ones, as a fresh Hugging Face initialisation has.
    let ckpt = Checkpoint::open(&input).unwrap();
    let path = ckpt.shards[0].path.clone();
    let mut bytes = std::fs::read(&path).unwrap();
    let start = ckpt.shards[0].header.data_start as usize;
    for t in &ckpt.shards[0].header.tensors {
        if t.name.ends_with("norm.weight") {
            let ones = encode(&[1.0; D], Dtype::F32);
            bytes[start + t.start as usize..start + t.end as usize].copy_from_slice(&ones);
        }
    }
    std::fs::write(&path, bytes).unwrap();
    let e = apply(
        &input,
        &gauge(Group::Bd, 1),
        &dir.0.join("o"),
        ApplyOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("O(d)"), "{e}");
}
