// The next byte's frequency table from the head's products, exactly the CPU engine's integer
// rule (src/engine/forward.rs `Linear::apply_rows` for the head, then `IntModel::table`):
// logits = sum · mul + bias (saturating i64), shifted to Q16 and clamped to ±2^40; weights
// 2^-(top − logit) from the table; each symbol 1 + ⌊w · spare / Σw⌋; the remainder to the most
// likely symbol (the first, on ties), with i64.wgsl's 64-bit integers.
//
// One workgroup per row, one invocation per symbol. Needs i64.wgsl.

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
// The head's scales, then its bias mantissas.
@group(0) @binding(3) var<storage, read> scales: array<i32, 512>;
// Each row's input exponent.
@group(0) @binding(4) var<storage, read> ex: array<i32>;
@group(0) @binding(5) var<storage, read_write> freqs: array<u32>;

const SPARE: u32 = 65280u; // TOTAL − 256
const Q: i32 = 16;

var<workgroup> red_v: array<vec2<u32>, 256>;
var<workgroup> red_i: array<u32, 256>;
var<workgroup> red_u: array<u32, 256>;

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
    let l = scaled(sums[row * 256u + j], scales[j], scales[256u + j], dims.bias_e, e);
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
