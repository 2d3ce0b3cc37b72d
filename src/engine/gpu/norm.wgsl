// A block's residual sum and LayerNorm, exactly the CPU engine's rule (src/engine/batch.rs
// `residual_norm`: forward.rs `add`, then `Norm::apply`): the block's output y = sum · mul +
// bias from its linear map's products, renormalised to 24 bits; x and y aligned and added,
// renormalised again; the mean (rounded), the exact integer square root of the variance in
// Q16 (96-bit arithmetic), each element divided by it (rounded), times the gain plus the
// offset, saturating; renormalised to 13-bit mantissas: the next x and its exponent.
//
// One workgroup per row, rows d ≤ 512 wide. Needs i64.wgsl.

struct Dims {
    d: u32,
    // The linear map's exponent and its bias's; the gain's exponent.
    lin_e: i32,
    bias_e: i32,
    gain_e: i32,
}

@group(0) @binding(0) var<uniform> dims: Dims;
// The residual stream: i16 two per word, d per row, and its exponents.
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read> ex: array<i32>;
// The block's linear products (d per row), its scales then bias mantissas (d each), and the
// exponents of its inputs.
@group(0) @binding(3) var<storage, read> sums: array<i32>;
@group(0) @binding(4) var<storage, read> scales: array<i32>;
@group(0) @binding(5) var<storage, read> ein: array<i32>;
// The norm: gain mantissas (d), then the offsets as i64 pairs (2d words).
@group(0) @binding(6) var<storage, read> consts: array<i32>;
@group(0) @binding(7) var<storage, read_write> x_out: array<u32>;
@group(0) @binding(8) var<storage, read_write> ex_out: array<i32>;

const WG: u32 = 256u;
const MAX_D: u32 = 512u;
const NORM_IN_BITS: i32 = 24;
const MAX_ALIGN: i32 = 30;
const Z_BITS: u32 = 12u;

var<workgroup> vals: array<vec2<u32>, MAX_D>;
var<workgroup> red: array<vec2<u32>, WG>;
var<workgroup> sigma_wg: vec2<u32>;

fn x_at(row: u32, j: u32) -> i32 {
    let w = x[(row * dims.d + j) / 2u];
    return extractBits(bitcast<i32>(w), (j % 2u) * 16u, 16u);
}

// The OR of every `red` entry, into red[0].
fn reduce_or(t: u32) {
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            red[t] = red[t] | red[t + s];
        }
        workgroupBarrier();
    }
}

// The sum (wrapping, 64-bit) of every `red` entry, into red[0].
fn reduce_add(t: u32) {
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            red[t] = add(red[t], red[t + s]);
        }
        workgroupBarrier();
    }
}

// 96-bit unsigned (words low to high) comparison a ≤ b.
fn le96(a: vec3<u32>, b: vec3<u32>) -> bool {
    if (a.z != b.z) {
        return a.z < b.z;
    }
    if (a.y != b.y) {
        return a.y < b.y;
    }
    return a.x <= b.x;
}

// c² for c < 2^48, in 96 bits.
fn square96(c: vec2<u32>) -> vec3<u32> {
    let p0 = umul(c.x, c.x);
    // 2 · c_lo · c_hi < 2^49.
    let p1 = shl(umul(c.x, c.y), 1u);
    let p2 = c.y * c.y;
    let w1 = p0.y + p1.x;
    let carry = select(0u, 1u, w1 < p0.y);
    return vec3<u32>(p0.x, w1, p1.y + p2 + carry);
}

// ⌊√((sq · 2^32) / d)⌋ (fixed.rs `isqrt` of the u128 quotient), for sq < 2^62, d < 2^16.
fn sigma_of(sq: vec2<u32>, d: u32) -> vec2<u32> {
    // Divide the 96-bit sq · 2^32 by d in 16-bit digits, most significant first.
    let digits = array<u32, 6>(sq.y >> 16u, sq.y & 0xffffu, sq.x >> 16u, sq.x & 0xffffu, 0u, 0u);
    var q = array<u32, 6>(0u, 0u, 0u, 0u, 0u, 0u);
    var rem = 0u;
    for (var i = 0u; i < 6u; i++) {
        let cur = (rem << 16u) | digits[i];
        q[i] = cur / d;
        rem = cur % d;
    }
    let n = vec3<u32>((q[4] << 16u) | q[5], (q[2] << 16u) | q[3], (q[0] << 16u) | q[1]);
    var r = vec2<u32>(0u, 0u);
    for (var b = 47; b >= 0; b--) {
        let bit = u32(b);
        var c = r;
        if (bit >= 32u) {
            c.y |= 1u << (bit - 32u);
        } else {
            c.x |= 1u << bit;
        }
        if (le96(square96(c), n)) {
            r = c;
        }
    }
    return r;
}

@compute @workgroup_size(256)
fn norm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let row = wg.x;
    let d = dims.d;
    // y = the block's output, at exponent ey; renormalised to 24 bits.
    let ey0 = ein[row] + dims.lin_e;
    var acc = vec2<u32>(0u, 0u);
    for (var j = t; j < d; j += WG) {
        let y = scaled(sums[row * d + j], scales[j], scales[d + j], dims.bias_e, ey0);
        vals[j] = y;
        acc = acc | abs64(y);
    }
    red[t] = acc;
    reduce_or(t);
    let ybits = bitlen(red[0]);
    var sy = 0;
    if (ybits != 0u) {
        sy = i32(ybits) - NORM_IN_BITS;
    }
    let ey = ey0 + sy;
    workgroupBarrier();
    // x + y at the common exponent e0, renormalised to 24 bits (its exponent cancels out).
    let exr = ex[row];
    let e0 = max(min(exr, ey), max(exr, ey) - MAX_ALIGN);
    acc = vec2<u32>(0u, 0u);
    for (var j = t; j < d; j += WG) {
        let y = renorm(vals[j], sy);
        let s = add(shift(from_i32(x_at(row, j)), exr - e0), shift(y, ey - e0));
        vals[j] = s;
        acc = acc | abs64(s);
    }
    red[t] = acc;
    reduce_or(t);
    let sbits = bitlen(red[0]);
    var ss = 0;
    if (sbits != 0u) {
        ss = i32(sbits) - NORM_IN_BITS;
    }
    workgroupBarrier();
    acc = vec2<u32>(0u, 0u);
    for (var j = t; j < d; j += WG) {
        let m = renorm(vals[j], ss);
        vals[j] = m;
        acc = add(acc, m);
    }
    red[t] = acc;
    reduce_add(t);
    // mean = div_round(Σ m, d)
    let total = red[0];
    let half = vec2<u32>(d / 2u, 0u);
    var mean = udiv(add(abs64(total), half), vec2<u32>(d, 0u));
    if (neg(total)) {
        mean = sub(vec2<u32>(0u, 0u), mean);
    }
    workgroupBarrier();
    acc = vec2<u32>(0u, 0u);
    for (var j = t; j < d; j += WG) {
        let v = sub(vals[j], mean);
        vals[j] = v;
        // |v| ≤ 2^25: its square is one 32 × 32 product.
        let a = abs64(v).x;
        acc = add(acc, umul(a, a));
    }
    red[t] = acc;
    reduce_add(t);
    if (t == 0u) {
        sigma_wg = sigma_of(red[0], d);
    }
    workgroupBarrier();
    let sigma = sigma_wg;
    let by = select(sigma, vec2<u32>(1u, 0u), sigma.x == 0u && sigma.y == 0u);
    let ez = dims.gain_e - i32(Z_BITS);
    acc = vec2<u32>(0u, 0u);
    for (var j = t; j < d; j += WG) {
        let v = vals[j];
        var z = vec2<u32>(0u, 0u);
        if (sigma.x != 0u || sigma.y != 0u) {
            // Divisor::div_round(v << 28)
            let a = add(shl(abs64(v), Z_BITS + 16u), vec2<u32>((by.x >> 1u) | (by.y << 31u), by.y >> 1u));
            z = udiv(a, by);
            if (neg(v)) {
                z = sub(vec2<u32>(0u, 0u), z);
            }
        }
        let g = from_i32(consts[j]);
        let off = vec2<u32>(bitcast<u32>(consts[d + 2u * j]), bitcast<u32>(consts[d + 2u * j + 1u]));
        let tv = sat_add(mul64(z, g), off);
        vals[j] = tv;
        acc = acc | abs64(tv);
    }
    red[t] = acc;
    reduce_or(t);
    let tbits = bitlen(red[0]);
    var st = 0;
    if (tbits != 0u) {
        st = i32(tbits) - 13;
    }
    let half_d = d / 2u;
    for (var p = t; p < half_d; p += WG) {
        let lo = renorm(vals[2u * p], st).x & 0xffffu;
        let hi = renorm(vals[2u * p + 1u], st).x & 0xffffu;
        x_out[(row * d) / 2u + p] = lo | (hi << 16u);
    }
    if (t == 0u) {
        ex_out[row] = ez + st;
    }
}
