// One head's causal attention for one query row, exactly the CPU engine's integer rule
// (src/engine/forward.rs `weigh`, src/engine/kernels.rs `softmax_weights`): scores q·k (wrapping
// i32), weights 2^-(max − s) from the table, their 64-bit total, probabilities shifted to sum to
// at most 2^15, the weighted sums of values (wrapping i32) and each divided by the
// probabilities' sum, rounded: an i64 written as two words. WGSL has no 64-bit integers, so the
// total and the division are carried in pairs of u32.
//
// One workgroup per (row, head); row `first + wg.x` sees positions 0..=row of the cache, whose
// keys and values are the CPU's packed layouts (kernels.rs `packed_index`).

struct Dims {
    first: u32,
    d: u32,
    hd: u32,
    // Positions the cache has room for (a multiple of 8).
    cap: u32,
}

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> exp2: array<u32, 4096>;
// Queries of the rows, i16 two per word, rows d wide.
@group(0) @binding(2) var<storage, read> q: array<u32>;
// Per row: the shift that brings a score difference to Q16 in log2 units.
@group(0) @binding(3) var<storage, read> to_q: array<i32>;
@group(0) @binding(4) var<storage, read> keys: array<u32>;
@group(0) @binding(5) var<storage, read> values: array<u32>;
// Per row, d outputs of two words each (low, high).
@group(0) @binding(6) var<storage, read_write> outs: array<u32>;

const WG: u32 = 64u;
const MAX_POS: u32 = 2048u;
const Q: u32 = 16u;
const STEP_BITS: u32 = 4u;
const LIMIT: u32 = 31u << 16u;

// Scores, then weights, then probabilities, in place.
var<workgroup> buf: array<i32, MAX_POS>;
var<workgroup> red_a: array<u32, WG>;
var<workgroup> red_b: array<u32, WG>;

// Element `i` of an i16 array stored two per word.
fn q_at(i: u32) -> i32 {
    return extractBits(bitcast<i32>(q[i / 2u]), (i % 2u) * 16u, 16u);
}

fn key_at(i: u32) -> i32 {
    return extractBits(bitcast<i32>(keys[i / 2u]), (i % 2u) * 16u, 16u);
}

fn value_at(i: u32) -> i32 {
    return extractBits(bitcast<i32>(values[i / 2u]), (i % 2u) * 16u, 16u);
}

// kernels.rs `weight`: 2^-y for y in Q16, the fraction from the table, the rest a rounding
// shift.
fn weight(y0: u32) -> u32 {
    let y = (min(y0, LIMIT) + (1u << (STEP_BITS - 1u))) >> STEP_BITS;
    let n = y >> (Q - STEP_BITS);
    let w = exp2[y & 4095u];
    return (w + ((1u << n) >> 1u)) >> n;
}

// (a_hi, a_lo) + (b_hi, b_lo) as u64.
fn add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.x + b.x;
    let carry = select(0u, 1u, lo < a.x);
    return vec2<u32>(lo, a.y + b.y + carry);
}

@compute @workgroup_size(64)
fn attend(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let row = dims.first + wg.x;
    let head = wg.y;
    let n = row + 1u;
    let hd = dims.hd;
    let region = dims.cap * hd;
    let kbase = head * region;
    // Scores: position p against this row's query.
    let qbase = wg.x * dims.d + head * hd;
    var best = -2147483647 - 1;
    for (var p = t; p < n; p += WG) {
        var acc = 0i;
        for (var j = 0u; j < hd; j++) {
            // packed_index(p, j, hd · 8)
            let k = kbase + (p / 8u) * hd * 8u + (j / 2u) * 16u + (p % 8u) * 2u + (j % 2u);
            acc += q_at(qbase + j) * key_at(k);
        }
        buf[p] = acc;
        best = max(best, acc);
    }
    red_a[t] = bitcast<u32>(best);
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            red_a[t] = bitcast<u32>(max(bitcast<i32>(red_a[t]), bitcast<i32>(red_a[t + s])));
        }
        workgroupBarrier();
    }
    let mx = bitcast<i32>(red_a[0]);
    workgroupBarrier();
    // Weights and their 64-bit total.
    let tq = to_q[wg.x];
    var total = vec2<u32>(0u, 0u);
    for (var p = t; p < n; p += WG) {
        let diff = bitcast<u32>(mx - buf[p]);
        var w: u32;
        if (tq >= 0) {
            let l = u32(min(tq, 31));
            w = weight(min(diff, LIMIT >> l) << l);
        } else if (tq > -32) {
            let r = u32(-tq);
            // (diff + 2^(r-1)) >> r without leaving 32 bits.
            w = weight((diff >> r) + ((diff >> (r - 1u)) & 1u));
        } else {
            w = weight(0u);
        }
        buf[p] = bitcast<i32>(w);
        total = add64(total, vec2<u32>(w, 0u));
    }
    red_a[t] = total.x;
    red_b[t] = total.y;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            let sum = add64(vec2<u32>(red_a[t], red_b[t]), vec2<u32>(red_a[t + s], red_b[t + s]));
            red_a[t] = sum.x;
            red_b[t] = sum.y;
        }
        workgroupBarrier();
    }
    let tot = vec2<u32>(red_a[0], red_b[0]);
    workgroupBarrier();
    // Bit length of the total, less 15 (at least 0).
    var bits: u32;
    if (tot.y != 0u) {
        bits = 64u - countLeadingZeros(tot.y);
    } else {
        bits = 32u - countLeadingZeros(tot.x);
    }
    let sh = select(0u, bits - 15u, bits > 15u);
    // Probabilities: weights (at most 2^30) shifted right by sh, rounded, capped to i16.
    var psum = 0i;
    for (var p = t; p < n; p += WG) {
        let w = bitcast<u32>(buf[p]);
        var pr: u32;
        if (sh >= 32u) {
            pr = 0u;
        } else {
            pr = min((w + ((1u << sh) >> 1u)) >> sh, 32767u);
        }
        buf[p] = i32(pr);
        psum += i32(pr);
    }
    red_a[t] = bitcast<u32>(psum);
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            red_a[t] = bitcast<u32>(bitcast<i32>(red_a[t]) + bitcast<i32>(red_a[t + s]));
        }
        workgroupBarrier();
    }
    let ps = max(bitcast<i32>(red_a[0]), 1);
    // Weighted sums, one output per invocation.
    if (t < hd) {
        let j = t;
        var acc = 0i;
        for (var p = 0u; p < n; p++) {
            // packed_index(j, p, cap · 8)
            let v = kbase + (j / 8u) * dims.cap * 8u + (p / 2u) * 16u + (j % 8u) * 2u + (p % 2u);
            acc += buf[p] * value_at(v);
        }
        // div_round(acc · 2^16, ps): the quotient of |acc| · 2^16 + ps / 2 by ps, signed.
        let d = u32(ps);
        let a = select(u32(acc), u32(-acc), acc < 0);
        // acc = i32::MIN: -acc wraps to itself, whose u32 is 2^31, as |acc| should be.
        let num = add64(vec2<u32>(a << 16u, a >> 16u), vec2<u32>(d / 2u, 0u));
        var qv = vec2<u32>(0u, 0u);
        var rem = 0u;
        for (var b = 0; b < 64; b++) {
            let i = u32(63 - b);
            var bit: u32;
            if (i >= 32u) {
                bit = (num.y >> (i - 32u)) & 1u;
            } else {
                bit = (num.x >> i) & 1u;
            }
            let over = (rem >> 31u) == 1u;
            rem = (rem << 1u) | bit;
            if (over || rem >= d) {
                rem -= d;
                if (i >= 32u) {
                    qv.y |= 1u << (i - 32u);
                } else {
                    qv.x |= 1u << i;
                }
            }
        }
        if (acc < 0) {
            // Two's complement negation of the pair.
            let lo = ~qv.x + 1u;
            qv = vec2<u32>(lo, ~qv.y + select(0u, 1u, lo == 0u));
        }
        let o = (wg.x * dims.d + head * hd + j) * 2u;
        outs[o] = qv.x;
        outs[o + 1u] = qv.y;
    }
}
