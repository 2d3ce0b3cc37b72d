// The MLP's hidden layer between its two products, exactly the CPU engine's rule
// (src/engine/batch.rs `finish_layer`): fc1's output (sum · mul + bias), GELU from the table
// (`fixed::gelu_row`), renormalised to 13-bit mantissas with one exponent per row
// (`fixed::normalize_into`), written as fc2's input (i16, two per word).
//
// One workgroup per row. Needs i64.wgsl.

struct Dims {
    h: u32,
    // fc1's exponent and its bias's.
    lin_e: i32,
    bias_e: i32,
    pad: u32,
}

@group(0) @binding(0) var<uniform> dims: Dims;
// fc1's products, h per row.
@group(0) @binding(1) var<storage, read> sums: array<i32>;
// fc1's scales, then its bias mantissas (h each).
@group(0) @binding(2) var<storage, read> scales: array<i32>;
// Each row's input exponent.
@group(0) @binding(3) var<storage, read> ex: array<i32>;
@group(0) @binding(4) var<storage, read> gelu: array<i32>;
// Each row's hidden exponent.
@group(0) @binding(5) var<storage, read_write> eh: array<i32>;
@group(0) @binding(6) var<storage, read_write> hidden: array<u32>;

const WG: u32 = 256u;
const Q: i32 = 16;
// GELU's table covers [-8, 8) in steps of 2^-6, in Q16.
const RANGE: i32 = 8 << 16;
const STEP_BITS: u32 = 10u;

var<workgroup> red: array<vec2<u32>, WG>;

// fixed.rs `gelu_at`.
fn gelu_at(x: vec2<u32>) -> vec2<u32> {
    if (!lt(x, from_i32(RANGE))) {
        return x;
    }
    if (lt(x, from_i32(-RANGE))) {
        return vec2<u32>(0u, 0u);
    }
    // Inside the table's range, x fits an i32.
    let u = u32(bitcast<i32>(x.x) + RANGE);
    let i = u >> STEP_BITS;
    let fr = i32(u & ((1u << STEP_BITS) - 1u));
    let a = gelu[i];
    let b = gelu[i + 1u];
    // |b − a| ≤ 2^21 (the loader checks the table) and fr < 2^10: the product fits.
    let p = (b - a) * fr;
    return from_i32(a + ((p + (1 << (STEP_BITS - 1u))) >> STEP_BITS));
}

// Output `o` of row `row` after GELU.
fn act(row: u32, o: u32) -> vec2<u32> {
    let e = ex[row] + dims.lin_e;
    let v = scaled(sums[row * dims.h + o], scales[o], scales[dims.h + o], dims.bias_e, e);
    return gelu_at(shift(v, e + Q));
}

// `(v · 2^-s) as i16` rounded (s > 0) or `(v << -s) as i16`, in the low 16 bits.
fn narrow(v: vec2<u32>, s: i32) -> u32 {
    if (s <= 0) {
        return shl(v, u32(-s)).x & 0xffffu;
    }
    return sar(add(v, shl(vec2<u32>(1u, 0u), u32(s - 1))), u32(s)).x & 0xffffu;
}

@compute @workgroup_size(256)
fn mlp(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let row = wg.x;
    var acc = vec2<u32>(0u, 0u);
    for (var o = t; o < dims.h; o += WG) {
        acc = acc | abs64(act(row, o));
    }
    red[t] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            red[t] = red[t] | red[t + s];
        }
        workgroupBarrier();
    }
    let mx = red[0];
    var bits = 0u;
    if (mx.y != 0u) {
        bits = 64u - countLeadingZeros(mx.y);
    } else if (mx.x != 0u) {
        bits = 32u - countLeadingZeros(mx.x);
    }
    // All zeros keep the exponent and write zeros.
    let s = select(i32(bits) - 13, 0, bits == 0u);
    let half = dims.h / 2u;
    for (var p = t; p < half; p += WG) {
        let lo = narrow(act(row, 2u * p), s);
        let hi = narrow(act(row, 2u * p + 1u), s);
        hidden[row * half + p] = lo | (hi << 16u);
    }
    if (t == 0u) {
        eh[row] = -Q + s;
    }
}
