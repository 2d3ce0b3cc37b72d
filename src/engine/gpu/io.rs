//! The buffers a model's submissions reuse: one per name and usage, grown as rows need.

use super::Gpu;

/// Named buffers that grow to the largest size asked of them, and the bytes of an upload.
#[derive(Default)]
pub(super) struct Io {
    buffers: Vec<(&'static str, wgpu::BufferUsages, usize, wgpu::Buffer)>,
    upload: Vec<u8>,
}

impl Io {
    /// Buffer `name` for `usage` (one per pair) with room for `size` bytes.
    pub(super) fn get(
        &mut self,
        gpu: &Gpu,
        name: &'static str,
        size: usize,
        usage: wgpu::BufferUsages,
    ) -> wgpu::Buffer {
        let slot = self
            .buffers
            .iter_mut()
            .find(|(n, u, _, _)| *n == name && *u == usage);
        match slot {
            Some((_, _, cap, buf)) if *cap >= size => buf.clone(),
            Some(slot) => {
                let cap = size.max(slot.2 * 2);
                *slot = (name, usage, cap, gpu.buffer(name, cap, usage));
                slot.3.clone()
            }
            None => {
                let buf = gpu.buffer(name, size, usage);
                self.buffers.push((name, usage, size, buf.clone()));
                buf
            }
        }
    }

    /// Buffer `name` (read by kernels) holding `values`, each as little-endian bytes.
    pub(super) fn upload<const N: usize, T: Copy>(
        &mut self,
        gpu: &Gpu,
        name: &'static str,
        values: &[T],
        bytes: impl Fn(T) -> [u8; N],
    ) -> wgpu::Buffer {
        let mut data = std::mem::take(&mut self.upload);
        data.clear();
        data.extend(values.iter().flat_map(|&v| bytes(v)));
        data.resize(data.len().next_multiple_of(4).max(4), 0);
        use wgpu::BufferUsages as U;
        let buf = self.get(gpu, name, data.len(), U::STORAGE | U::UNIFORM | U::COPY_DST);
        gpu.queue.write_buffer(&buf, 0, &data);
        self.upload = data;
        buf
    }
}
