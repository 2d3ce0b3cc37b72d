//! Where the tensors live while training: burn's CPU backend, or a GPU through wgpu.

use super::TrainError;
use burn::tensor::Device;
#[cfg(feature = "gpu")]
use burn::tensor::Tensor;

/// Where the tensors live while training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// burn's pure-Rust CPU backend (the fastest here).
    Flex,
    /// A GPU through wgpu (Vulkan, Metal, DX12; needs the `gpu` feature).
    Wgpu,
}

impl Backend {
    /// The backend named `flex` or `wgpu`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "flex" | "cpu" => Some(Backend::Flex),
            "wgpu" | "gpu" => Some(Backend::Wgpu),
            _ => None,
        }
    }

    /// The backend's device, checked by a first small operation so that a missing GPU is an
    /// error here instead of a panic somewhere in training.
    pub fn device(self) -> Result<Device, TrainError> {
        match self {
            Backend::Flex => Ok(Device::flex()),
            Backend::Wgpu => wgpu_device(),
        }
    }
}

#[cfg(feature = "gpu")]
fn wgpu_device() -> Result<Device, TrainError> {
    use burn::tensor::DeviceKind;
    // wgpu reports a missing adapter by panicking: catch it, quietly, and say so.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let probe = std::panic::catch_unwind(|| {
        let device = Device::wgpu(DeviceKind::DefaultDevice);
        let sum: f32 = Tensor::<1>::ones([4], &device).sum().into_scalar();
        (device, sum)
    });
    std::panic::set_hook(hook);
    match probe {
        Ok((device, 4.0)) => Ok(device),
        Ok((_, sum)) => Err(TrainError::Backend(format!(
            "the wgpu device computed 1+1+1+1 = {sum}"
        ))),
        Err(e) => {
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(TrainError::Backend(format!(
                "no usable GPU adapter through wgpu (on Debian, `mesa-vulkan-drivers` gives a \
                 software one): {why}"
            )))
        }
    }
}

#[cfg(not(feature = "gpu"))]
fn wgpu_device() -> Result<Device, TrainError> {
    Err(TrainError::Backend(
        "this build has no GPU backend: build with `cargo build --release --features gpu`".into(),
    ))
}

#[cfg(all(test, not(feature = "gpu")))]
mod tests {
    use super::*;

    /// Without the `gpu` feature, asking for the GPU is a clear error, not a panic.
    #[test]
    fn wgpu_without_the_feature_says_how_to_get_it() {
        let e = Backend::Wgpu.device().unwrap_err();
        assert!(e.to_string().contains("--features gpu"), "{e}");
        assert_eq!(Backend::parse("wgpu"), Some(Backend::Wgpu));
        assert_eq!(Backend::parse("tpu"), None);
    }
}
