// The next byte's frequency table from the head's products, exactly the CPU engine's integer
// rule (src/engine/forward.rs `Linear::apply_rows` for the head, then `IntModel::table`):
// logits = sum · mul + bias (saturating i64), shifted to Q16 and clamped to ±2^40; weights
// 2^-(top − logit) from the table; each symbol 1 + ⌊w · spare / Σw⌋; the remainder to the most
// likely symbol (the first, on ties). WGSL has no 64-bit integers: an i64 is a vec2<u32>
// (low word, high word) in two's complement.
//
// One workgroup per row, one invocation per symbol.

struct Dims {
    rows: u32,
    // The head's exponent and its bias's.
    head_e: i32,
    bias_e: i32,
    pad: u32,
}

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> exp2: array<u32, 4096>;
// The head's products, 256 per row.
@group(0) @binding(2) var<storage, read> sums: array<i32>;
@group(0) @binding(3) var<storage, read> mul: array<i32, 256>;
@group(0) @binding(4) var<storage, read> bias: array<i32, 256>;
// Each row's input exponent.
@group(0) @binding(5) var<storage, read> ex: array<i32>;
@group(0) @binding(6) var<storage, read_write> freqs: array<u32>;

const SPARE: u32 = 65280u; // TOTAL − 256
const Q: i32 = 16;

var<workgroup> red_v: array<vec2<u32>, 256>;
var<workgroup> red_i: array<u32, 256>;
var<workgroup> red_u: array<u32, 256>;

const MAX64 = vec2<u32>(0xffffffffu, 0x7fffffffu);
const MIN64 = vec2<u32>(0u, 0x80000000u);

fn from_i32(x: i32) -> vec2<u32> {
    return vec2<u32>(bitcast<u32>(x), select(0u, 0xffffffffu, x < 0));
}

fn neg(x: vec2<u32>) -> bool {
    return (x.y >> 31u) == 1u;
}

fn add(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.x + b.x;
    return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

fn sub(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.x - b.x;
    return vec2<u32>(lo, a.y - b.y - select(0u, 1u, a.x < b.x));
}

// Signed a < b.
fn lt(a: vec2<u32>, b: vec2<u32>) -> bool {
    if (a.y != b.y) {
        return bitcast<i32>(a.y) < bitcast<i32>(b.y);
    }
    return a.x < b.x;
}

// Unsigned a >= b.
fn ge_u(a: vec2<u32>, b: vec2<u32>) -> bool {
    if (a.y != b.y) {
        return a.y > b.y;
    }
    return a.x >= b.x;
}

// i64::saturating_add.
fn sat_add(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let r = add(a, b);
    if (neg(a) == neg(b) && neg(r) != neg(a)) {
        return select(MAX64, MIN64, neg(a));
    }
    return r;
}

// x << k for k < 64 (wrapping).
fn shl(x: vec2<u32>, k: u32) -> vec2<u32> {
    if (k == 0u) {
        return x;
    }
    if (k < 32u) {
        return vec2<u32>(x.x << k, (x.y << k) | (x.x >> (32u - k)));
    }
    return vec2<u32>(0u, x.x << (k - 32u));
}

// x >> s, arithmetic, for s < 64.
fn sar(x: vec2<u32>, s: u32) -> vec2<u32> {
    if (s == 0u) {
        return x;
    }
    let hi = bitcast<i32>(x.y);
    if (s < 32u) {
        return vec2<u32>((x.x >> s) | (x.y << (32u - s)), bitcast<u32>(hi >> s));
    }
    return vec2<u32>(bitcast<u32>(hi >> (s - 32u)), bitcast<u32>(hi >> 31u));
}

// fixed.rs `rshift`: x · 2^-s rounded to nearest (the add wraps, as the CPU's does).
fn rshift(x: vec2<u32>, s: u32) -> vec2<u32> {
    if (s == 0u) {
        return x;
    }
    if (s <= 62u) {
        return sar(add(x, shl(vec2<u32>(1u, 0u), s - 1u)), s);
    }
    return vec2<u32>(0u, 0u);
}

// fixed.rs `shl_sat`: x · 2^k saturated, k ≤ 62.
fn shl_sat(x: vec2<u32>, k: u32) -> vec2<u32> {
    let lim = sar(MAX64, k);
    if (lt(lim, x)) {
        return MAX64;
    }
    if (lt(x, ~lim)) {
        return MIN64;
    }
    return shl(x, k);
}

// fixed.rs `shift`.
fn shift(x: vec2<u32>, n: i32) -> vec2<u32> {
    if (n >= 0) {
        return shl_sat(x, u32(min(n, 62)));
    }
    return rshift(x, u32(-n));
}

// Unsigned a · b, 32 × 32 → 64 bits.
fn umul(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xffffu;
    let a1 = a >> 16u;
    let b0 = b & 0xffffu;
    let b1 = b >> 16u;
    let lo = a0 * b0;
    let m1 = a0 * b1;
    let m2 = a1 * b0;
    let t = lo + (m1 << 16u);
    let t2 = t + (m2 << 16u);
    let carries = select(0u, 1u, t < lo) + select(0u, 1u, t2 < t);
    return vec2<u32>(t2, a1 * b1 + (m1 >> 16u) + (m2 >> 16u) + carries);
}

// Signed a · b as i64.
fn imul(a: i32, b: i32) -> vec2<u32> {
    let ua = select(bitcast<u32>(a), bitcast<u32>(-a), a < 0);
    let ub = select(bitcast<u32>(b), bitcast<u32>(-b), b < 0);
    let p = umul(ua, ub);
    if ((a < 0) != (b < 0)) {
        return sub(vec2<u32>(0u, 0u), p);
    }
    return p;
}

// ⌊n / d⌋ for unsigned 64-bit n, d (d > 0, n < 2^63), by long division.
fn udiv(n: vec2<u32>, d: vec2<u32>) -> vec2<u32> {
    var q = vec2<u32>(0u, 0u);
    var rem = vec2<u32>(0u, 0u);
    for (var b = 63; b >= 0; b--) {
        let i = u32(b);
        var bit: u32;
        if (i >= 32u) {
            bit = (n.y >> (i - 32u)) & 1u;
        } else {
            bit = (n.x >> i) & 1u;
        }
        // rem < d < 2^63: doubling it stays within 64 bits.
        rem = shl(rem, 1u);
        rem.x |= bit;
        if (ge_u(rem, d)) {
            rem = sub(rem, d);
            if (i >= 32u) {
                q.y |= 1u << (i - 32u);
            } else {
                q.x |= 1u << i;
            }
        }
    }
    return q;
}

// fixed.rs `pow2_neg` for y ≥ 0: 2^-y (y in Q16) in 2^30 fixed point.
fn pow2_neg(y64: vec2<u32>) -> u32 {
    // y.clamp(0, 64 << Q)
    var y = 64u << 16u;
    if (y64.y == 0u && y64.x < y) {
        y = y64.x;
    }
    let ys = (y + 8u) >> 4u;
    let n = ys >> 12u;
    if (n > 30u) {
        return 0u;
    }
    let e = exp2[ys & 4095u];
    if (n == 0u) {
        return e;
    }
    return (e + (1u << (n - 1u))) >> n;
}

@compute @workgroup_size(256)
fn table(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) j: u32) {
    let row = wg.x;
    // The head: sum · mul + bias at exponent e.
    let e = ex[row] + dims.head_e;
    var l = imul(sums[row * 256u + j], mul[j]);
    let k = dims.bias_e - e;
    let b = from_i32(bias[j]);
    if (k >= 0) {
        l = sat_add(l, shl_sat(b, u32(min(k, 62))));
    } else {
        l = sat_add(l, rshift(b, u32(-k)));
    }
    // The table: Q16 logits clamped to ±2^40.
    var f = shift(l, e + Q);
    let bound = vec2<u32>(0u, 256u);
    if (lt(bound, f)) {
        f = bound;
    } else if (lt(f, sub(vec2<u32>(0u, 0u), bound))) {
        f = sub(vec2<u32>(0u, 0u), bound);
    }
    // The largest, the first on ties.
    red_v[j] = f;
    red_i[j] = j;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (j < s) {
            let a = red_v[j];
            let c = red_v[j + s];
            if (lt(a, c) || (a.x == c.x && a.y == c.y && red_i[j + s] < red_i[j])) {
                red_v[j] = c;
                red_i[j] = red_i[j + s];
            }
        }
        workgroupBarrier();
    }
    let top = red_v[0];
    let best = red_i[0];
    workgroupBarrier();
    let w = pow2_neg(sub(top, f));
    red_v[j] = vec2<u32>(w, 0u);
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (j < s) {
            red_v[j] = add(red_v[j], red_v[j + s]);
        }
        workgroupBarrier();
    }
    let total = red_v[0];
    let share = udiv(umul(w, SPARE), total).x;
    red_u[j] = share;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (j < s) {
            red_u[j] = red_u[j] + red_u[j + s];
        }
        workgroupBarrier();
    }
    let used = red_u[0];
    var fr = 1u + share;
    if (j == best) {
        fr += SPARE - used;
    }
    freqs[row * 256u + j] = fr;
}
