// 64-bit integers for the engine's kernels, which WGSL lacks: an i64 (or u64) is a vec2<u32>
// (low word, high word) in two's complement, and each function is the Rust operation named
// beside it, bit for bit. Prepended to the kernels that use it.

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

// i64::unsigned_abs.
fn abs64(x: vec2<u32>) -> vec2<u32> {
    if (neg(x)) {
        return sub(vec2<u32>(0u, 0u), x);
    }
    return x;
}

// The linear map's output as `Linear::apply_rows` makes it: sum · mul + bias, the bias
// shifted from its exponent to the output's `e`, saturating.
fn scaled(sum: i32, mul: i32, bias: i32, bias_e: i32, e: i32) -> vec2<u32> {
    var v = imul(sum, mul);
    let k = bias_e - e;
    let b = from_i32(bias);
    if (k >= 0) {
        v = sat_add(v, shl_sat(b, u32(min(k, 62))));
    } else {
        v = sat_add(v, rshift(b, u32(-k)));
    }
    return v;
}

// Low 64 bits of a · b (i64::wrapping_mul; the same bits signed or unsigned).
fn mul64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let p = umul(a.x, b.x);
    return vec2<u32>(p.x, p.y + a.x * b.y + a.y * b.x);
}

// Bit length of a u64 (0 for 0).
fn bitlen(x: vec2<u32>) -> u32 {
    if (x.y != 0u) {
        return 64u - countLeadingZeros(x.y);
    }
    if (x.x != 0u) {
        return 32u - countLeadingZeros(x.x);
    }
    return 0u;
}

// `v >> s` rounded (s > 0) or `v << -s`: a renormalising shift (the CPU's wrapping ones).
fn renorm(v: vec2<u32>, s: i32) -> vec2<u32> {
    if (s <= 0) {
        return shl(v, u32(-s));
    }
    return sar(add(v, shl(vec2<u32>(1u, 0u), u32(s - 1))), u32(s));
}
