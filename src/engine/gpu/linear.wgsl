// The integer engine's linear products on a GPU: sums[r][o] = Σ_k x[r][k] · W[o][k], wrapping
// i32, exactly what the CPU kernels add up (integer sums are the same in any order).
//
// W is uploaded for this kernel (src/engine/gpu/model.rs, `dot4_layout`): for each block of 4
// outputs, for each 4 inputs, the 4 outputs' words, each holding its 4 int8 weights of those
// inputs (zeros past the edges). x is i16, two per word, rows n_in wide (even); an invocation
// makes 4 outputs of a row, so each input word is read and split once for 4 outputs.

struct Dims {
    rows: u32,
    n_in: u32,
    n_out: u32,
    // Where this map's weights start in `w`, in words.
    w_off: u32,
}

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<u32>;
@group(0) @binding(3) var<storage, read_write> sums: array<i32>;

@compute @workgroup_size(64)
fn linear(@builtin(global_invocation_id) id: vec3<u32>) {
    let o0 = id.x * 4u;
    let r = id.y;
    if (o0 >= dims.n_out || r >= dims.rows) {
        return;
    }
    let quads = (dims.n_in + 3u) / 4u;
    let wbase = dims.w_off + id.x * quads * 4u;
    let row = r * (dims.n_in / 2u);
    // Four inputs at a time as int8 dot products (`dot4I8Packed`: the hardware's DP4a where the
    // adapter has one, plain integer arithmetic where not; exact either way). An i16 input is
    // 256 · hi + lo with hi its signed high byte and lo its unsigned low byte, and lo − 128 is
    // a signed byte (lo ^ 0x80), so x · w = 256 · (hi · w) + ((lo − 128) · w) + 128 · w: three
    // sums of int8 products, which wrap in i32 as the CPU's sums do (a ring: the same bits).
    // Past an odd pair's end the weights are zero, so whatever is read there adds nothing.
    var acc_hi = vec4<i32>();
    var acc_lo = vec4<i32>();
    var acc_w = vec4<i32>();
    for (var q = 0u; q < quads; q++) {
        let a = x[row + 2u * q];
        let b = x[row + 2u * q + 1u];
        let hi = ((a >> 8u) & 0xffu) | ((a >> 16u) & 0xff00u) | ((b << 8u) & 0xff0000u) | (b & 0xff000000u);
        let lo = ((a & 0xffu) | ((a >> 8u) & 0xff00u) | ((b & 0xffu) << 16u) | ((b << 8u) & 0xff000000u)) ^ 0x80808080u;
        let at = wbase + 4u * q;
        for (var j = 0u; j < 4u; j++) {
            let w4 = w[at + j];
            acc_hi[j] += dot4I8Packed(w4, hi);
            acc_lo[j] += dot4I8Packed(w4, lo);
            acc_w[j] += dot4I8Packed(w4, 0x01010101u);
        }
    }
    // Runtime i32 arithmetic wraps in WGSL, as the CPU's wrapping sums do.
    let acc = acc_hi * 256i + acc_lo + acc_w * 128i;
    for (var j = 0u; j < 4u; j++) {
        if (o0 + j < dims.n_out) {
            sums[r * dims.n_out + o0 + j] = acc[j];
        }
    }
}
