//! Broken checkpoints are refused with a stable code and a message naming the file, the tensor and what is
//! wrong, by `Checkpoint::open`, `inspect` and `apply` alike: truncated or corrupt safetensors headers, offsets
//! that leave the file, overlap, leave holes or run backwards, byte lengths that disagree with dtype and shape,
//! broken shard indexes, config.json that disagrees with the tensors, unknown architectures and tensor names. A
//! small fuzz over byte mutations of a valid file checks that nothing panics.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use gauge_core::checkpoint::{
    header_bytes, Checkpoint, Dtype, TensorInfo, INDEX_FILE, SINGLE_FILE,
};
use gauge_core::init::{write_random, ModelShape};
use gauge_core::inspect::inspect;
use gauge_core::recharting::{apply, ApplyOptions};
use gauge_core::rng::SplitMix64;
use gauge_core::{Error, Gauge};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};

/// A fresh temporary directory, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "gt-bad-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }

    fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Asserts the code and that the message contains every needle.
#[track_caller]
fn check(e: &Error, code: &str, needles: &[&str]) {
    let msg = e.to_string();
    assert_eq!(e.code(), code, "{msg}");
    for n in needles {
        assert!(msg.contains(n), "message lacks {n:?}: {msg}");
    }
}

/// `open`, `inspect` and `apply` all refuse `dir` with `code`, naming every needle; `apply` leaves no output.
#[track_caller]
fn all_refuse(dir: &Path, code: &str, needles: &[&str]) -> String {
    let e = Checkpoint::open(dir).unwrap_err();
    check(&e, code, needles);
    check(&inspect(dir).unwrap_err(), code, needles);
    let out = dir.with_extension("applied");
    let g = Gauge::identity(64).unwrap();
    check(
        &apply(dir, &g, &out, ApplyOptions::default()).unwrap_err(),
        code,
        needles,
    );
    assert!(!out.exists());
    e.to_string()
}

/// A random tiny checkpoint (`tiny`: Llama, d = 64, 2 blocks, vocab 256) in `dir/name`.
fn tiny(dir: &Dir, name: &str, preset: &str) -> PathBuf {
    let p = dir.join(name);
    write_random(&ModelShape::preset(preset).unwrap(), &p, 3, Dtype::F32).unwrap();
    p
}

type Spec = (String, Vec<usize>);

/// The tensors of a preset, for editing.
fn specs(preset: &str) -> (Value, Vec<Spec>) {
    let s = ModelShape::preset(preset).unwrap();
    let t = s.tensors().into_iter().map(|(n, s, _)| (n, s)).collect();
    (s.config().unwrap(), t)
}

/// Encodes `tensors` (generic random values) as safetensors bytes.
fn safetensors(tensors: &[Spec], seed: u64) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    let (mut infos, mut data) = (Vec::new(), Vec::new());
    for (name, shape) in tensors {
        let mut v = vec![0f32; shape.iter().product()];
        rng.fill_normal(&mut v);
        let start = data.len() as u64;
        data.extend(v.iter().flat_map(|x| (1.0 + 0.1 * x).to_le_bytes()));
        infos.push(TensorInfo {
            name: name.clone(),
            dtype: Dtype::F32,
            shape: shape.clone(),
            start,
            end: data.len() as u64,
        });
    }
    let mut bytes = header_bytes(&infos, &HashMap::new());
    bytes.extend_from_slice(&data);
    bytes
}

/// Writes a single-file checkpoint of `tensors` with `config` into `dir/name`.
fn write(dir: &Dir, name: &str, config: &Value, tensors: &[Spec]) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("config.json"), config.to_string()).unwrap();
    std::fs::write(p.join(SINGLE_FILE), safetensors(tensors, 1)).unwrap();
    p
}

const SHARD1: &str = "model-00001-of-00002.safetensors";
const SHARD2: &str = "model-00002-of-00002.safetensors";

/// Writes `tiny` as two shards (the first `split` tensors, then the rest) with an index; returns the directory
/// and the index's weight map.
fn sharded(dir: &Dir, name: &str, split: usize) -> (PathBuf, serde_json::Map<String, Value>) {
    let (config, t) = specs("tiny");
    let p = dir.join(name);
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("config.json"), config.to_string()).unwrap();
    let mut map = serde_json::Map::new();
    for (file, part) in [(SHARD1, &t[..split]), (SHARD2, &t[split..])] {
        std::fs::write(p.join(file), safetensors(part, 2)).unwrap();
        for (n, _) in part {
            map.insert(n.clone(), file.into());
        }
    }
    write_index(&p, &map);
    (p, map)
}

fn write_index(dir: &Path, map: &serde_json::Map<String, Value>) {
    let index = json!({"metadata": {}, "weight_map": map});
    std::fs::write(dir.join(INDEX_FILE), index.to_string()).unwrap();
}

/// Splits a safetensors file into its header JSON and its data.
fn split_file(path: &Path) -> (Value, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (
        serde_json::from_slice(&bytes[8..8 + n]).unwrap(),
        bytes[8 + n..].to_vec(),
    )
}

/// Writes raw header bytes (padded to 8) and data.
fn join_file(path: &Path, mut header: Vec<u8>, data: &[u8]) {
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&header);
    out.extend_from_slice(data);
    std::fs::write(path, out).unwrap();
}

/// Rewrites the header of `path` with `edit`, keeping the data bytes.
fn edit_header(path: &Path, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    let (mut header, data) = split_file(path);
    edit(header.as_object_mut().unwrap());
    join_file(path, serde_json::to_vec(&header).unwrap(), &data);
}

fn offsets(h: &serde_json::Map<String, Value>, name: &str) -> (u64, u64) {
    let o = &h[name]["data_offsets"];
    (o[0].as_u64().unwrap(), o[1].as_u64().unwrap())
}

/// The name of the tensor whose data comes last.
fn last_tensor(h: &serde_json::Map<String, Value>) -> String {
    h.iter()
        .filter(|(k, _)| *k != "__metadata__")
        .max_by_key(|(_, v)| v["data_offsets"][1].as_u64().unwrap())
        .map(|(k, _)| k.clone())
        .unwrap()
}

const EMBED: &str = "model.embed_tokens.weight";
const Q0: &str = "model.layers.0.self_attn.q_proj.weight";
const O0: &str = "model.layers.0.self_attn.o_proj.weight";

// 1. The header itself.

#[test]
fn header_length_past_the_end_of_the_file() {
    let dir = Dir::new("hlen");
    let ck = tiny(&dir, "m", "tiny");
    let f = ck.join(SINGLE_FILE);
    let mut bytes = std::fs::read(&f).unwrap();
    let len = bytes.len() as u64;
    bytes[..8].copy_from_slice(&len.to_le_bytes());
    std::fs::write(&f, &bytes).unwrap();
    let msg = all_refuse(
        &ck,
        "SAFETENSORS_HEADER",
        &[
            &f.display().to_string(),
            &format!("header length {len}"),
            "past the end",
        ],
    );
    assert!(msg.contains(&format!("{len}-byte file")), "{msg}");
    // A length far beyond any file, and a file too short to hold the length at all.
    bytes[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&f, &bytes).unwrap();
    check(
        &Checkpoint::open(&ck).unwrap_err(),
        "SAFETENSORS_HEADER",
        &[SINGLE_FILE, "past the end"],
    );
    std::fs::write(&f, &bytes[..5]).unwrap();
    check(
        &Checkpoint::open(&ck).unwrap_err(),
        "SAFETENSORS_HEADER",
        &[SINGLE_FILE, "5 bytes is too short for a header"],
    );
}

#[test]
fn header_that_is_not_json_or_not_an_object() {
    let dir = Dir::new("hjson");
    let ck = tiny(&dir, "m", "tiny");
    let f = ck.join(SINGLE_FILE);
    let (_, data) = split_file(&f);
    join_file(
        &f,
        b"{\"model.embed_tokens.weight\": {\"dtype\": ".to_vec(),
        &data,
    );
    all_refuse(
        &ck,
        "SAFETENSORS_HEADER",
        &[&f.display().to_string(), "header is not JSON"],
    );
    join_file(&f, vec![0xff, 0xfe, b'{', b'}'], &data);
    check(
        &Checkpoint::open(&ck).unwrap_err(),
        "SAFETENSORS_HEADER",
        &[SINGLE_FILE, "header is not JSON"],
    );
    join_file(&f, b"[1, 2, 3]".to_vec(), &data);
    check(
        &Checkpoint::open(&ck).unwrap_err(),
        "SAFETENSORS_HEADER",
        &[SINGLE_FILE, "header is not a JSON object"],
    );
}

#[test]
fn header_entries_missing_fields() {
    let dir = Dir::new("hfields");
    for (field, says) in [
        ("dtype", "no dtype"),
        ("shape", "no shape"),
        ("data_offsets", "no data_offsets"),
    ] {
        let ck = tiny(&dir, field, "tiny");
        let f = ck.join(SINGLE_FILE);
        edit_header(&f, |h| {
            h[Q0].as_object_mut().unwrap().remove(field);
        });
        all_refuse(
            &ck,
            "SAFETENSORS_HEADER",
            &[&f.display().to_string(), &format!("tensor {Q0:?}: {says}")],
        );
    }
    // Fields of the wrong type.
    let ck = tiny(&dir, "types", "tiny");
    let f = ck.join(SINGLE_FILE);
    for (field, value, says) in [
        (
            "shape",
            json!([64, -1]),
            "shape is not a list of non-negative integers",
        ),
        (
            "data_offsets",
            json!([0]),
            "data_offsets must be [start, end]",
        ),
        (
            "data_offsets",
            json!(["0", 4]),
            "data_offsets are not non-negative integers",
        ),
        ("dtype", json!(4), "no dtype"),
    ] {
        let copy = dir.join(&format!("types-{field}-{value}"));
        std::fs::create_dir_all(&copy).unwrap();
        std::fs::copy(ck.join("config.json"), copy.join("config.json")).unwrap();
        std::fs::copy(&f, copy.join(SINGLE_FILE)).unwrap();
        edit_header(&copy.join(SINGLE_FILE), |h| h[Q0][field] = value.clone());
        check(
            &Checkpoint::open(&copy).unwrap_err(),
            "SAFETENSORS_HEADER",
            &[SINGLE_FILE, Q0, says],
        );
    }
    // `__metadata__` of the wrong type.
    edit_header(&f, |h| {
        h.insert("__metadata__".into(), json!({"format": 1}));
    });
    check(
        &Checkpoint::open(&ck).unwrap_err(),
        "SAFETENSORS_HEADER",
        &[SINGLE_FILE, "__metadata__", "\"format\""],
    );
}

// 2. Data offsets.

#[test]
fn offsets_past_the_end_of_the_file() {
    let dir = Dir::new("past");
    // A truncated file: the last tensor ends past the data.
    let ck = tiny(&dir, "cut", "tiny");
    let f = ck.join(SINGLE_FILE);
    let (h, _) = split_file(&f);
    let last = last_tensor(h.as_object().unwrap());
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() - 100]).unwrap();
    all_refuse(
        &ck,
        "SAFETENSORS_HEADER",
        &[
            &f.display().to_string(),
            &format!("tensor {last:?}"),
            "past the",
            "truncated",
        ],
    );
    // Offsets shifted beyond the data, of the right length.
    let ck = tiny(&dir, "shift", "tiny");
    let f = ck.join(SINGLE_FILE);
    edit_header(&f, |h| {
        let (s, e) = offsets(h, &last);
        h[&last]["data_offsets"] = json!([s + (1 << 20), e + (1 << 20)]);
    });
    all_refuse(
        &ck,
        "SAFETENSORS_HEADER",
        &[SINGLE_FILE, &format!("tensor {last:?}"), "past the"],
    );
}

#[test]
fn overlapping_offsets() {
    let dir = Dir::new("overlap");
    let ck = tiny(&dir, "m", "tiny");
    let f = ck.join(SINGLE_FILE);
    // o_proj has q_proj's shape; point it at q_proj's bytes.
    edit_header(&f, |h| {
        let (s, e) = offsets(h, Q0);
        h[O0]["data_offsets"] = json!([s, e]);
    });
    all_refuse(
        &ck,
        "SAFETENSORS_HEADER",
        &[&f.display().to_string(), Q0, O0, "overlap"],
    );
    // A partial overlap.
    let ck = tiny(&dir, "partial", "tiny");
    let f = ck.join(SINGLE_FILE);
    edit_header(&f, |h| {
        let (s, e) = offsets(h, Q0);
        h[O0]["data_offsets"] = json!([s + 8, e + 8]);
    });
    check(
        &Checkpoint::open(&ck).unwrap_err(),
        "SAFETENSORS_HEADER",
        &[SINGLE_FILE, Q0, O0, "overlap"],
    );
}

#[test]
fn offsets_that_leave_holes_or_a_tail() {
    let dir = Dir::new("gaps");
    // A tensor dropped from the header leaves its bytes owned by nobody.
    let ck = tiny(&dir, "hole", "tiny");
    let f = ck.join(SINGLE_FILE);
    edit_header(&f, |h| {
        h.remove(Q0);
    });
    let msg = all_refuse(
        &ck,
        "SAFETENSORS_HEADER",
        &[
            &f.display().to_string(),
            "belong to no tensor",
            "model.layers.0.input_layernorm.weight",
            "model.layers.0.self_attn.k_proj.weight",
        ],
    );
    assert!(msg.contains("cover the data exactly"), "{msg}");
    // Bytes after the last tensor.
    let ck = tiny(&dir, "tail", "tiny");
    let f = ck.join(SINGLE_FILE);
    let mut bytes = std::fs::read(&f).unwrap();
    bytes.extend_from_slice(b"hidden payload");
    std::fs::write(&f, &bytes).unwrap();
    all_refuse(
        &ck,
        "SAFETENSORS_HEADER",
        &[SINGLE_FILE, "after tensor", "belong to no tensor"],
    );
    // Data that does not start at offset 0.
    let ck = tiny(&dir, "head", "tiny");
    let f = ck.join(SINGLE_FILE);
    edit_header(&f, |h| {
        h.remove(EMBED);
    });
    check(
        &Checkpoint::open(&ck).unwrap_err(),
        "SAFETENSORS_HEADER",
        &[
            SINGLE_FILE,
            "between the start of the data and tensor",
            "belong to no tensor",
        ],
    );
}

#[test]
fn offsets_that_begin_after_they_end() {
    let dir = Dir::new("backwards");
    let ck = tiny(&dir, "m", "tiny");
    let f = ck.join(SINGLE_FILE);
    edit_header(&f, |h| {
        let (s, e) = offsets(h, Q0);
        h[Q0]["data_offsets"] = json!([e, s]);
    });
    all_refuse(
        &ck,
        "SAFETENSORS_HEADER",
        &[&f.display().to_string(), Q0, "begin after they end"],
    );
}

// 3. Byte lengths, dtypes and shapes.

#[test]
fn byte_length_that_disagrees_with_dtype_and_shape() {
    let dir = Dir::new("len");
    let ck = tiny(&dir, "shape", "tiny");
    let f = ck.join(SINGLE_FILE);
    edit_header(&f, |h| h[Q0]["shape"] = json!([64, 63]));
    all_refuse(
        &ck,
        "SAFETENSORS_HEADER",
        &[
            &f.display().to_string(),
            Q0,
            "hold 16384 bytes, but dtype F32 with shape [64, 63] needs 16128",
        ],
    );
    let ck = tiny(&dir, "dtype", "tiny");
    let f = ck.join(SINGLE_FILE);
    edit_header(&f, |h| h[Q0]["dtype"] = json!("BF16"));
    all_refuse(
        &ck,
        "SAFETENSORS_HEADER",
        &[SINGLE_FILE, Q0, "dtype BF16 with shape [64, 64] needs 8192"],
    );
    // A shape whose element count overflows.
    let ck = tiny(&dir, "huge", "tiny");
    let f = ck.join(SINGLE_FILE);
    edit_header(&f, |h| h[Q0]["shape"] = json!([u64::MAX, 4]));
    check(
        &Checkpoint::open(&ck).unwrap_err(),
        "SAFETENSORS_HEADER",
        &[SINGLE_FILE, Q0, "shape overflows"],
    );
}

#[test]
fn unknown_dtype() {
    let dir = Dir::new("dtype");
    let ck = tiny(&dir, "m", "tiny");
    let f = ck.join(SINGLE_FILE);
    edit_header(&f, |h| h[Q0]["dtype"] = json!("Q4_K"));
    all_refuse(
        &ck,
        "SAFETENSORS_HEADER",
        &[&f.display().to_string(), Q0, "unsupported dtype \"Q4_K\""],
    );
}

#[test]
fn an_integer_weight_is_read_as_an_error_naming_file_and_tensor() {
    let dir = Dir::new("int");
    let ck = tiny(&dir, "m", "tiny");
    let f = ck.join(SINGLE_FILE);
    edit_header(&f, |h| h[Q0]["dtype"] = json!("I32"));
    let c = Checkpoint::open(&ck).unwrap();
    check(
        &c.read_f32(Q0).unwrap_err(),
        "INVALID_ARGUMENT",
        &[&f.display().to_string(), Q0, "dtype I32, expected a float"],
    );
    check(
        &apply(
            &ck,
            &Gauge::identity(64).unwrap(),
            &dir.join("o"),
            ApplyOptions::default(),
        )
        .unwrap_err(),
        "INVALID_ARGUMENT",
        &[SINGLE_FILE, Q0, "I32"],
    );
}

// 4. Sharded checkpoints.

#[test]
fn a_valid_sharded_checkpoint_opens() {
    let dir = Dir::new("shards-ok");
    let (ck, _) = sharded(&dir, "m", 9);
    let c = Checkpoint::open(&ck).unwrap();
    assert_eq!(c.shards.len(), 2);
    inspect(&ck).unwrap();
}

#[test]
fn index_naming_a_missing_shard() {
    let dir = Dir::new("shard-missing");
    let (ck, _) = sharded(&dir, "m", 9);
    std::fs::remove_file(ck.join(SHARD2)).unwrap();
    all_refuse(
        &ck,
        "CHECKPOINT_MISMATCH",
        &[
            &ck.join(SHARD2).display().to_string(),
            INDEX_FILE,
            "does not exist",
        ],
    );
    // A shard name that is a directory.
    std::fs::create_dir(ck.join(SHARD2)).unwrap();
    check(
        &Checkpoint::open(&ck).unwrap_err(),
        "CHECKPOINT_MISMATCH",
        &[SHARD2, "is not a file"],
    );
}

#[test]
fn index_placing_a_tensor_in_a_shard_that_lacks_it() {
    let dir = Dir::new("shard-wrong");
    // The tensor exists, in the other shard.
    let (ck, mut map) = sharded(&dir, "moved", 9);
    map[EMBED] = SHARD2.into();
    write_index(&ck, &map);
    all_refuse(
        &ck,
        "CHECKPOINT_MISMATCH",
        &[
            &ck.join(SHARD1).display().to_string(),
            EMBED,
            INDEX_FILE,
            SHARD2,
        ],
    );
    // The tensor exists nowhere.
    let (ck, mut map) = sharded(&dir, "ghost", 9);
    map.insert(
        "model.layers.0.self_attn.q_proj.ghost".into(),
        SHARD2.into(),
    );
    write_index(&ck, &map);
    all_refuse(
        &ck,
        "CHECKPOINT_MISMATCH",
        &[
            &ck.join(SHARD2).display().to_string(),
            "lacks tensor \"model.layers.0.self_attn.q_proj.ghost\"",
            INDEX_FILE,
        ],
    );
}

#[test]
fn shard_holding_a_tensor_the_index_does_not_list() {
    let dir = Dir::new("shard-unlisted");
    let (ck, mut map) = sharded(&dir, "m", 9);
    map.remove(Q0);
    write_index(&ck, &map);
    all_refuse(
        &ck,
        "CHECKPOINT_MISMATCH",
        &[&ck.join(SHARD1).display().to_string(), Q0, "does not list"],
    );
}

#[test]
fn index_that_is_not_an_index() {
    let dir = Dir::new("shard-index");
    let (ck, _) = sharded(&dir, "m", 9);
    std::fs::write(ck.join(INDEX_FILE), "{\"weight_map\": [1]}").unwrap();
    check(
        &Checkpoint::open(&ck).unwrap_err(),
        "INVALID_ARGUMENT",
        &[INDEX_FILE, "has no weight_map object"],
    );
    std::fs::write(ck.join(INDEX_FILE), "{\"weight_map\": {\"x\": \"../x\"}}").unwrap();
    check(
        &Checkpoint::open(&ck).unwrap_err(),
        "INVALID_ARGUMENT",
        &[INDEX_FILE, "leaves the directory"],
    );
}

// 5. config.json against the tensors.

fn tiny_with_config(dir: &Dir, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let ck = tiny(dir, name, "tiny");
    let path = ck.join("config.json");
    let mut c: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut c);
    std::fs::write(&path, c.to_string()).unwrap();
    ck
}

#[test]
fn hidden_size_that_disagrees_with_the_embedding_width() {
    let dir = Dir::new("cfg-hidden");
    let ck = tiny_with_config(&dir, "m", |c| c["hidden_size"] = 32.into());
    all_refuse(
        &ck,
        "SHAPE_MISMATCH",
        &[
            &ck.join(SINGLE_FILE).display().to_string(),
            EMBED,
            "hidden_size = 32 (config.json)",
            "got shape [256, 64]",
        ],
    );
    // GPT-2 names it n_embd.
    let ck = tiny(&dir, "gpt2", "tiny-gpt2");
    let path = ck.join("config.json");
    let mut c: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    c["n_embd"] = 48.into();
    std::fs::write(&path, c.to_string()).unwrap();
    check(
        &Checkpoint::open(&ck).unwrap_err(),
        "SHAPE_MISMATCH",
        &[
            SINGLE_FILE,
            "transformer.wte.weight",
            "n_embd = 48 (config.json)",
        ],
    );
}

#[test]
fn more_blocks_in_the_config_than_in_the_tensors() {
    let dir = Dir::new("cfg-fewer");
    let ck = tiny_with_config(&dir, "m", |c| c["num_hidden_layers"] = 3.into());
    all_refuse(
        &ck,
        "CHECKPOINT_MISMATCH",
        &[
            &ck.join(SINGLE_FILE).display().to_string(),
            "has no tensors of block 2",
            "model.layers.2.input_layernorm.weight",
            "config.json has num_hidden_layers = 3",
        ],
    );
    // A sharded checkpoint names its index.
    let (ck, _) = sharded(&dir, "sharded", 9);
    let path = ck.join("config.json");
    let mut c: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    c["num_hidden_layers"] = 3.into();
    std::fs::write(&path, c.to_string()).unwrap();
    check(
        &Checkpoint::open(&ck).unwrap_err(),
        "CHECKPOINT_MISMATCH",
        &[
            INDEX_FILE,
            "has no tensors of block 2",
            "num_hidden_layers = 3",
        ],
    );
}

#[test]
fn fewer_blocks_in_the_config_than_in_the_tensors() {
    let dir = Dir::new("cfg-more");
    let ck = tiny_with_config(&dir, "m", |c| c["num_hidden_layers"] = 1.into());
    all_refuse(
        &ck,
        "CHECKPOINT_MISMATCH",
        &[
            &ck.join(SINGLE_FILE).display().to_string(),
            "holds tensor \"model.layers.1.",
            "of block 1",
            "config.json has num_hidden_layers = 1 (block 0 only)",
        ],
    );
    // Tensors of a block far beyond the config, under a GPT-2 name.
    let (config, mut t) = specs("tiny-gpt2");
    t.push(("transformer.h.7.ln_1.weight".into(), vec![64]));
    let ck = write(&dir, "gpt2", &config, &t);
    check(
        &Checkpoint::open(&ck).unwrap_err(),
        "CHECKPOINT_MISMATCH",
        &[
            SINGLE_FILE,
            "transformer.h.7.ln_1.weight",
            "n_layer = 2 (blocks 0 to 1)",
        ],
    );
}

#[test]
fn a_block_missing_one_tensor() {
    let dir = Dir::new("cfg-missing");
    let (config, mut t) = specs("tiny");
    t.retain(|(n, _)| n != "model.layers.1.self_attn.k_proj.weight");
    let ck = write(&dir, "m", &config, &t);
    all_refuse(
        &ck,
        "CHECKPOINT_MISMATCH",
        &[
            &ck.join(SINGLE_FILE).display().to_string(),
            "lacks tensor \"model.layers.1.self_attn.k_proj.weight\" of block 1",
        ],
    );
    // The model's own tensors, and an untied head.
    let (config, mut t) = specs("tiny");
    t.retain(|(n, _)| n != "model.norm.weight");
    let ck = write(&dir, "norm", &config, &t);
    check(
        &Checkpoint::open(&ck).unwrap_err(),
        "CHECKPOINT_MISMATCH",
        &[SINGLE_FILE, "lacks tensor \"model.norm.weight\""],
    );
    let (config, mut t) = specs("tiny");
    t.retain(|(n, _)| n != "lm_head.weight");
    let ck = write(&dir, "head", &config, &t);
    check(
        &Checkpoint::open(&ck).unwrap_err(),
        "CHECKPOINT_MISMATCH",
        &[SINGLE_FILE, "lm_head.weight", "tie_word_embeddings = false"],
    );
}

#[test]
fn vocab_size_that_disagrees_with_the_embedding_rows() {
    let dir = Dir::new("cfg-vocab");
    let ck = tiny_with_config(&dir, "m", |c| c["vocab_size"] = 300.into());
    all_refuse(
        &ck,
        "SHAPE_MISMATCH",
        &[
            &ck.join(SINGLE_FILE).display().to_string(),
            EMBED,
            "vocab_size = 300 (config.json)",
            "got shape [256, 64]",
        ],
    );
}

#[test]
fn a_weight_whose_shape_disagrees_with_the_config() {
    let dir = Dir::new("cfg-shape");
    // q_proj with 60 rows where num_attention_heads × head_dim is 64.
    let (config, mut t) = specs("tiny");
    t.iter_mut().find(|(n, _)| n == Q0).unwrap().1 = vec![60, 64];
    let ck = write(&dir, "q", &config, &t);
    all_refuse(
        &ck,
        "SHAPE_MISMATCH",
        &[
            &ck.join(SINGLE_FILE).display().to_string(),
            Q0,
            "num_attention_heads 4 × head_dim 16",
            "got shape [60, 64]",
        ],
    );
    // Without head counts in the config, the tensors must still agree with one another.
    let mut config = config;
    config
        .as_object_mut()
        .unwrap()
        .remove("num_attention_heads");
    let ck = write(&dir, "q-free", &config, &t);
    check(
        &Checkpoint::open(&ck).unwrap_err(),
        "SHAPE_MISMATCH",
        &[
            SINGLE_FILE,
            O0,
            &format!("= 60 (as in tensor {Q0:?})"),
            "got shape [64, 64]",
        ],
    );
    // An MLP weight of the wrong width, and a weight of the wrong rank.
    let (config, mut t) = specs("tiny");
    t.iter_mut()
        .find(|(n, _)| n == "model.layers.1.mlp.up_proj.weight")
        .unwrap()
        .1 = vec![100, 64];
    let ck = write(&dir, "up", &config, &t);
    check(
        &Checkpoint::open(&ck).unwrap_err(),
        "SHAPE_MISMATCH",
        &[
            "model.layers.1.mlp.up_proj.weight",
            "intermediate_size = 128 (config.json)",
        ],
    );
    let (config, mut t) = specs("tiny");
    t.iter_mut()
        .find(|(n, _)| n == "model.norm.weight")
        .unwrap()
        .1 = vec![8, 8];
    let ck = write(&dir, "rank", &config, &t);
    check(
        &Checkpoint::open(&ck).unwrap_err(),
        "SHAPE_MISMATCH",
        &[
            "model.norm.weight",
            "expected shape [hidden_size = 64 (config.json)]",
        ],
    );
    // GPT-2's learned positions against n_positions.
    let (config, mut t) = specs("tiny-gpt2");
    t.iter_mut()
        .find(|(n, _)| n == "transformer.wpe.weight")
        .unwrap()
        .1 = vec![64, 64];
    let ck = write(&dir, "wpe", &config, &t);
    check(
        &Checkpoint::open(&ck).unwrap_err(),
        "SHAPE_MISMATCH",
        &["transformer.wpe.weight", "n_positions = 128 (config.json)"],
    );
}

#[test]
fn gpt_neox_checkpoints_are_checked_too() {
    let dir = Dir::new("neox");
    let (d, ff, v) = (16, 64, 32);
    let mut t: Vec<Spec> = vec![("gpt_neox.embed_in.weight".into(), vec![v, d])];
    for l in 0..2 {
        let p = format!("gpt_neox.layers.{l}.");
        for (n, s) in [
            ("input_layernorm.weight", vec![d]),
            ("input_layernorm.bias", vec![d]),
            ("post_attention_layernorm.weight", vec![d]),
            ("post_attention_layernorm.bias", vec![d]),
            ("attention.query_key_value.weight", vec![3 * d, d]),
            ("attention.query_key_value.bias", vec![3 * d]),
            ("attention.dense.weight", vec![d, d]),
            ("attention.dense.bias", vec![d]),
            ("attention.rotary_emb.inv_freq", vec![2]),
            ("mlp.dense_h_to_4h.weight", vec![ff, d]),
            ("mlp.dense_h_to_4h.bias", vec![ff]),
            ("mlp.dense_4h_to_h.weight", vec![d, ff]),
            ("mlp.dense_4h_to_h.bias", vec![d]),
        ] {
            t.push((format!("{p}{n}"), s));
        }
    }
    t.push(("gpt_neox.final_layer_norm.weight".into(), vec![d]));
    t.push(("gpt_neox.final_layer_norm.bias".into(), vec![d]));
    t.push(("embed_out.weight".into(), vec![v, d]));
    let config = json!({
        "architectures": ["GPTNeoXForCausalLM"], "hidden_size": d, "num_hidden_layers": 2,
        "intermediate_size": ff, "vocab_size": v, "num_attention_heads": 2, "tie_word_embeddings": false,
    });
    let ck = write(&dir, "ok", &config, &t);
    Checkpoint::open(&ck).unwrap();
    t[5].1 = vec![3 * d + 1, d];
    let ck = write(&dir, "bad", &config, &t);
    check(
        &Checkpoint::open(&ck).unwrap_err(),
        "SHAPE_MISMATCH",
        &[
            "gpt_neox.layers.0.attention.query_key_value.weight",
            "3 × hidden_size = 48 (config.json)",
        ],
    );
}

// 6. Unknown architectures and tensor names.

#[test]
fn unknown_architecture() {
    let dir = Dir::new("arch");
    let ck = tiny_with_config(&dir, "mamba", |c| {
        c.as_object_mut().unwrap().remove("architectures");
        c["model_type"] = "mamba".into();
    });
    let msg = all_refuse(
        &ck,
        "INVALID_ARGUMENT",
        &[
            &ck.join("config.json").display().to_string(),
            "model_type \"mamba\" is not a supported architecture",
            "LlamaForCausalLM",
        ],
    );
    assert!(!msg.contains("config.json: config.json"), "{msg}");
    let ck = tiny_with_config(&dir, "falcon", |c| {
        c["architectures"] = json!(["FalconForCausalLM"])
    });
    check(
        &Checkpoint::open(&ck).unwrap_err(),
        "INVALID_ARGUMENT",
        &[
            "config.json",
            "architectures[0] \"FalconForCausalLM\" is not a supported",
        ],
    );
    let ck = tiny_with_config(&dir, "none", |c| *c = json!({"hidden_size": 64}));
    check(
        &Checkpoint::open(&ck).unwrap_err(),
        "INVALID_ARGUMENT",
        &["config.json", "names no architecture"],
    );
}

#[test]
fn unknown_tensor_name_is_refused_not_copied() {
    let dir = Dir::new("stray");
    let (config, mut t) = specs("tiny");
    t.push(("model.layers.0.foo.weight".into(), vec![64]));
    let ck = write(&dir, "m", &config, &t);
    all_refuse(
        &ck,
        "INVALID_ARGUMENT",
        &[
            &ck.join(SINGLE_FILE).display().to_string(),
            "tensor \"model.layers.0.foo.weight\"",
            "no llama rule covers this tensor name",
        ],
    );
    // A tensor of another architecture.
    let (config, mut t) = specs("tiny-gpt2");
    t.push(("model.norm.weight".into(), vec![64]));
    let ck = write(&dir, "gpt2", &config, &t);
    check(
        &Checkpoint::open(&ck).unwrap_err(),
        "INVALID_ARGUMENT",
        &[SINGLE_FILE, "\"model.norm.weight\"", "no gpt2 rule"],
    );
}

// 8. Never a crash.

/// A valid tiny checkpoint's `model.safetensors` bytes (BF16, about 200 KB) and the directory it sits in.
fn valid(dir: &Dir) -> (PathBuf, Vec<u8>) {
    let p = dir.join("m");
    write_random(&ModelShape::preset("tiny").unwrap(), &p, 5, Dtype::BF16).unwrap();
    let bytes = std::fs::read(p.join(SINGLE_FILE)).unwrap();
    (p, bytes)
}

/// Opens `bytes` as the checkpoint's weights and reads every tensor; any result is fine, a panic is not.
fn open_and_read(dir: &Path, bytes: &[u8]) {
    std::fs::write(dir.join(SINGLE_FILE), bytes).unwrap();
    if let Ok(c) = Checkpoint::open(dir) {
        let mut buf = Vec::new();
        for (k, t) in c.tensors() {
            // Whatever a validated header promises is in the file.
            c.read_bytes(k, t, &mut buf).unwrap();
            let _ = c.read_f32(&t.name);
        }
    }
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    })
}

/// A byte that often keeps the JSON well formed: a digit, a delimiter, or anything.
fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        b'0'..=b'9',
        prop::sample::select(b"[]{},:\" -.eE".to_vec()),
        any::<u8>(),
    ]
}

/// Byte mutations aimed at the length prefix and the header (sometimes anywhere), with an optional truncation.
#[test]
fn mutated_checkpoints_never_panic() {
    let dir = Dir::new("fuzz-bytes");
    let (ck, orig) = valid(&dir);
    let n = u64::from_le_bytes(orig[..8].try_into().unwrap()) as usize;
    let strategy = (
        prop::collection::vec((any::<prop::sample::Index>(), byte()), 1..4),
        prop::option::weighted(0.2, any::<prop::sample::Index>()),
        prop::bool::weighted(0.2),
    );
    runner(300)
        .run(&strategy, |(edits, cut, anywhere)| {
            let mut b = orig.clone();
            let span = if anywhere { b.len() } else { 8 + n };
            for (at, v) in edits {
                b[at.index(span)] = v;
            }
            if let Some(c) = cut {
                b.truncate(c.index(b.len()));
            }
            open_and_read(&ck, &b);
            Ok(())
        })
        .unwrap();
}

/// Offsets rewritten to arbitrary numbers, so that every range check is reached.
#[test]
fn arbitrary_offsets_never_panic() {
    let dir = Dir::new("fuzz-offsets");
    let (ck, orig) = valid(&dir);
    let n = u64::from_le_bytes(orig[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&orig[8..8 + n]).unwrap();
    let names: Vec<String> = header
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect();
    let strategy = (
        any::<prop::sample::Index>(),
        prop_oneof![0u64..300_000, any::<u64>()],
        prop_oneof![0u64..40_000, any::<u64>()],
    );
    runner(200)
        .run(&strategy, |(which, start, len)| {
            let mut header = header.clone();
            let name = &names[which.index(names.len())];
            header[name]["data_offsets"] = json!([start, start.wrapping_add(len)]);
            let mut json = serde_json::to_vec(&header).unwrap();
            while !json.len().is_multiple_of(8) {
                json.push(b' ');
            }
            let mut b = (json.len() as u64).to_le_bytes().to_vec();
            b.extend_from_slice(&json);
            b.extend_from_slice(&orig[8 + n..]);
            open_and_read(&ck, &b);
            Ok(())
        })
        .unwrap();
}

#[test]
fn configs_whose_sizes_cannot_describe_a_model_are_refused_naming_the_key() {
    let dir = Dir::new("cfgsizes");
    let (config, tensors) = specs("tiny");
    let cases: &[(&str, Value, &str)] = &[
        (
            "num_attention_heads",
            json!(0),
            "is 0, not a positive whole number",
        ),
        ("vocab_size", json!(0), "is 0, not a positive whole number"),
        (
            "hidden_size",
            json!(-64),
            "is -64, not a positive whole number",
        ),
        (
            "intermediate_size",
            json!("128"),
            "is \"128\", not a positive whole number",
        ),
        (
            "num_attention_heads",
            json!(7),
            "7 heads do not divide the width 64",
        ),
        (
            "num_key_value_heads",
            json!(3),
            "3 key/value heads do not divide",
        ),
        (
            "rms_norm_eps",
            json!(-1.0),
            "is -1.0, not a finite positive number",
        ),
    ];
    for (k, (key, value, needle)) in cases.iter().enumerate() {
        let mut c = config.clone();
        c[*key] = value.clone();
        let p = write(&dir, &format!("c{k}"), &c, &tensors);
        let e = Checkpoint::open(&p).unwrap_err();
        check(&e, "INVALID_ARGUMENT", &["config.json", key, needle]);
    }
}

#[test]
fn init_refuses_a_shape_no_disk_holds_before_writing() {
    let dir = Dir::new("inithuge");
    let mut s = ModelShape::preset("tiny").unwrap();
    s.hidden = 1 << 22;
    s.layers = 1000;
    let out = dir.join("huge");
    let e = write_random(&s, &out, 0, gauge_core::checkpoint::Dtype::F32).unwrap_err();
    check(&e, "INVALID_ARGUMENT", &["init writes at most 1 TiB"]);
    assert!(!out.exists());
}
