//! Choosing the device models run on from a name: `cpu`, `cuda` / `cuda:N`, `metal` / `metal:N`.
//!
//! The CPU is always there; CUDA and Metal need the crate's `cuda` or `metal` feature (forwarded to candle), and
//! a build without one refuses the name with an error saying which feature is missing.

use candle_core::Device;

use crate::error::{Error, Result};

/// The names [`device`] accepts, for help texts.
pub const DEVICE_NAMES: &str = "cpu, cuda, cuda:N, metal, metal:N";

/// Whether this build can run on CUDA / Metal devices.
pub fn compiled_accelerators() -> (bool, bool) {
    (
        candle_core::utils::cuda_is_available(),
        candle_core::utils::metal_is_available(),
    )
}

/// The device named `name` (see the module docs); `what` names the argument in errors.
pub fn device(name: &str, what: &str) -> Result<Device> {
    let (kind, ordinal) = match name.split_once(':') {
        Some((k, n)) => match n.parse::<usize>() {
            Ok(n) => (k, n),
            Err(_) => {
                return Err(Error::input(
                    what,
                    format!("{name:?}: the device number {n:?} is not a whole number"),
                ))
            }
        },
        None => (name, 0),
    };
    let (cuda, metal) = compiled_accelerators();
    let missing = |feature: &str| {
        Error::input(
            what,
            format!(
                "{name:?}: this build of gauge-transport has no {feature} support (build it with the cargo \
                 feature `{}`)",
                feature.to_lowercase()
            ),
        )
    };
    let opened = |r: candle_core::Result<Device>| {
        r.map_err(|e| Error::input(what, format!("{name:?} could not be opened: {e}")))
    };
    match kind {
        "cpu" if ordinal == 0 => Ok(Device::Cpu),
        "cuda" if !cuda => Err(missing("CUDA")),
        "cuda" => opened(Device::new_cuda(ordinal)),
        "metal" if !metal => Err(missing("Metal")),
        "metal" => opened(Device::new_metal(ordinal)),
        _ => Err(Error::input(
            what,
            format!("{name:?} is not a device; use one of {DEVICE_NAMES}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_or_are_refused_with_the_reason() {
        assert!(device("cpu", "device").unwrap().is_cpu());
        for bad in ["gpu", "cpu:1", "cuda:x", ""] {
            let e = device(bad, "--device").unwrap_err().to_string();
            assert!(e.contains("--device"), "{e}");
        }
        let (cuda, metal) = compiled_accelerators();
        if !cuda {
            let e = device("cuda:0", "device").unwrap_err().to_string();
            assert!(e.contains("feature `cuda`"), "{e}");
        }
        if !metal {
            let e = device("metal", "device").unwrap_err().to_string();
            assert!(e.contains("feature `metal`"), "{e}");
        }
    }
}
