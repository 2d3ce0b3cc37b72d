// A query, key or value map's output made ready for attention, exactly the CPU engine's rule
// (src/engine/batch.rs `project`): the products scaled (`Linear::apply_rows`, no bias), queries
// and keys rotated by their position's angles (`forward::rotate`, wrapping i64 products), then
// renormalised to `bits`-bit mantissas with one exponent per row (`fixed::normalize_into`).
//
// One workgroup per row, rows d ≤ 512 wide. Needs i64.wgsl.

struct Dims {
    d: u32,
    hd: u32,
    // The map's exponent, the mantissa bits wanted, and whether to rotate (0 or 1).
    lin_e: i32,
    bits: u32,
    rotated: u32,
    // Angles per position (head_dim / 2).
    half: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> dims: Dims;
// The map's products, d per row, and its scales (d).
@group(0) @binding(1) var<storage, read> sums: array<i32>;
@group(0) @binding(2) var<storage, read> scales: array<i32>;
// Each row's input exponent and position.
@group(0) @binding(3) var<storage, read> ex: array<i32>;
@group(0) @binding(4) var<storage, read> pos: array<u32>;
// cos then sin, in Q14, `half` per position, every position of the context.
@group(0) @binding(5) var<storage, read> rope: array<i32>;
@group(0) @binding(6) var<storage, read_write> e_out: array<i32>;
@group(0) @binding(7) var<storage, read_write> out: array<u32>;

const WG: u32 = 256u;
const MAX_D: u32 = 512u;
const ROPE_BITS: u32 = 14u;

var<workgroup> vals: array<vec2<u32>, MAX_D>;
var<workgroup> red: array<vec2<u32>, WG>;

@compute @workgroup_size(256)
fn project(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let row = wg.x;
    let d = dims.d;
    let e = ex[row] + dims.lin_e;
    let angles = arrayLength(&rope) / 2u;
    let at = pos[row] * dims.half;
    var acc = vec2<u32>(0u, 0u);
    for (var j = t; j < d; j += WG) {
        var v = imul(sums[row * d + j], scales[j]);
        if (dims.rotated == 1u) {
            let i = j % dims.hd;
            if (i < dims.half) {
                let b = imul(sums[row * d + j + dims.half], scales[j + dims.half]);
                let c = from_i32(rope[at + i]);
                let s = from_i32(rope[angles + at + i]);
                v = rshift(sub(mul64(v, c), mul64(b, s)), ROPE_BITS);
            } else {
                let k = i - dims.half;
                let a = imul(sums[row * d + j - dims.half], scales[j - dims.half]);
                let c = from_i32(rope[at + k]);
                let s = from_i32(rope[angles + at + k]);
                v = rshift(add(mul64(a, s), mul64(v, c)), ROPE_BITS);
            }
        }
        vals[j] = v;
        acc = acc | abs64(v);
    }
    red[t] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            red[t] = red[t] | red[t + s];
        }
        workgroupBarrier();
    }
    let b = bitlen(red[0]);
    let sh = select(i32(b) - i32(dims.bits), 0, b == 0u);
    let half_d = d / 2u;
    for (var p = t; p < half_d; p += WG) {
        let lo = renorm(vals[2u * p], sh).x & 0xffffu;
        let hi = renorm(vals[2u * p + 1u], sh).x & 0xffffu;
        out[(row * d) / 2u + p] = lo | (hi << 16u);
    }
    if (t == 0u) {
        e_out[row] = e + sh;
    }
}
