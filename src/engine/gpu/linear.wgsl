// The integer engine's linear products on a GPU: sums[r][o] = Σ_k x[r][k] · W[o][k], wrapping
// i32, exactly what the CPU kernels add up (integer sums are the same in any order).
//
// W is the CPU's packed layout (src/engine/kernels.rs): output rows in blocks of 8; inside a
// block, for each pair of inputs k, k+1, the block's 8 outputs side by side, each with its two
// int8 weights. So output o's pair p is the two bytes at
//   (o / 8) · n_in · 8 + p · 16 + (o % 8) · 2,
// an even offset: both lie in one 32-bit word. x is i16, two per word, rows n_in wide (even).

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
    let o = id.x;
    let r = id.y;
    if (o >= dims.n_out || r >= dims.rows) {
        return;
    }
    let pairs = dims.n_in / 2u;
    let base = dims.w_off * 4u + (o / 8u) * dims.n_in * 8u + (o % 8u) * 2u;
    let row = r * pairs;
    var acc = 0i;
    for (var p = 0u; p < pairs; p++) {
        let byte = base + p * 16u;
        // extractBits on i32 sign-extends: the int8 weights and the i16 inputs.
        let ws = bitcast<i32>(w[byte / 4u] >> ((byte % 4u) * 8u));
        let xs = bitcast<i32>(x[row + p]);
        let w0 = extractBits(ws, 0u, 8u);
        let w1 = extractBits(ws, 8u, 8u);
        let x0 = extractBits(xs, 0u, 16u);
        let x1 = extractBits(xs, 16u, 16u);
        // Runtime i32 arithmetic wraps in WGSL, as the CPU's wrapping sums do.
        acc += x0 * w0 + x1 * w1;
    }
    sums[r * dims.n_out + o] = acc;
}
