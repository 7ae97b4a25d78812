// SIMD (wasm simd128) loops for bnlab's training kernels on the tfjs wasm backend (NHWC; depthwise: multiplier 1).
// Built by build.sh into conv.wasm, which imports the tfjs wasm backend's memory: every
// pointer below is a byte offset into that heap. No stack, no static data, no libc: this module
// must never write anywhere but the buffers it is given.
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(name)))

static inline int max_i(int a, int b) { return a > b ? a : b; }
static inline int min_i(int a, int b) { return a < b ? a : b; }
// ceil(a / b) for b > 0 and any sign of a.
static inline int ceil_div(int a, int b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }
// floor(a / b) for b > 0 and any sign of a.
static inline int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// acc[(kh*KW + kw)*S + c] += Σ_{b, yr, yc} x[b, yr*sh+kh-top, yc*sw+kw-left, c] * dy[b, yr, yc, c] for channels
// c < C of tensors whose channel axis has S ≥ C entries (S = C: all of them; S > C: a channel slice, for threads).
// Each output row's partial sums are float32 (≤ Wo terms), accumulated into float64 acc.
EXPORT("depthwise_filter_grad")
void depthwise_filter_grad(const float* x, const float* dy, double* acc, int B, int H, int W, int C,
                           int Ho, int Wo, int KH, int KW, int sh, int sw, int top, int left, int S) {
  const int xStep = sw * S;
  for (int b = 0; b < B; b++) {
    for (int yr = 0; yr < Ho; yr++) {
      const float* dyRow = dy + (long)(b * Ho + yr) * Wo * S;
      for (int kh = 0; kh < KH; kh++) {
        const int xr = yr * sh + kh - top;
        if (xr < 0 || xr >= H) continue;
        const float* xRow = x + (long)(b * H + xr) * W * S;
        for (int kw = 0; kw < KW; kw++) {
          double* a = acc + (kh * KW + kw) * S;
          const int ycMin = max_i(0, ceil_div(left - kw, sw));
          const int ycMax = min_i(Wo, floor_div(W - 1 + left - kw, sw) + 1);
          if (ycMin >= ycMax) continue;
          const float* x0 = xRow + (ycMin * sw + kw - left) * S;
          const float* d0 = dyRow + ycMin * S;
          const int n = ycMax - ycMin;
          int c = 0;
          for (; c + 16 <= C; c += 16) {
            v128_t s0 = wasm_f32x4_splat(0), s1 = s0, s2 = s0, s3 = s0;
            const float* xp = x0 + c;
            const float* dp = d0 + c;
            for (int i = 0; i < n; i++, xp += xStep, dp += S) {
              s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(wasm_v128_load(xp), wasm_v128_load(dp)));
              s1 = wasm_f32x4_add(s1, wasm_f32x4_mul(wasm_v128_load(xp + 4), wasm_v128_load(dp + 4)));
              s2 = wasm_f32x4_add(s2, wasm_f32x4_mul(wasm_v128_load(xp + 8), wasm_v128_load(dp + 8)));
              s3 = wasm_f32x4_add(s3, wasm_f32x4_mul(wasm_v128_load(xp + 12), wasm_v128_load(dp + 12)));
            }
            v128_t* av = (v128_t*)(a + c);
            av[0] = wasm_f64x2_add(av[0], wasm_f64x2_promote_low_f32x4(s0));
            av[1] = wasm_f64x2_add(av[1], wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(s0, s0, 2, 3, 0, 1)));
            av[2] = wasm_f64x2_add(av[2], wasm_f64x2_promote_low_f32x4(s1));
            av[3] = wasm_f64x2_add(av[3], wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(s1, s1, 2, 3, 0, 1)));
            av[4] = wasm_f64x2_add(av[4], wasm_f64x2_promote_low_f32x4(s2));
            av[5] = wasm_f64x2_add(av[5], wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(s2, s2, 2, 3, 0, 1)));
            av[6] = wasm_f64x2_add(av[6], wasm_f64x2_promote_low_f32x4(s3));
            av[7] = wasm_f64x2_add(av[7], wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(s3, s3, 2, 3, 0, 1)));
          }
          for (; c + 4 <= C; c += 4) {
            v128_t s0 = wasm_f32x4_splat(0);
            const float* xp = x0 + c;
            const float* dp = d0 + c;
            for (int i = 0; i < n; i++, xp += xStep, dp += S) {
              s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(wasm_v128_load(xp), wasm_v128_load(dp)));
            }
            v128_t* av = (v128_t*)(a + c);
            av[0] = wasm_f64x2_add(av[0], wasm_f64x2_promote_low_f32x4(s0));
            av[1] = wasm_f64x2_add(av[1], wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(s0, s0, 2, 3, 0, 1)));
          }
          for (; c < C; c++) {
            float s = 0;
            const float* xp = x0 + c;
            const float* dp = d0 + c;
            for (int i = 0; i < n; i++, xp += xStep, dp += S) s += *xp * *dp;
            a[c] += s;
          }
        }
      }
    }
  }
}

// dx[b, xr, xc, c] = Σ over taps landing on (xr, xc) of dy[b, yr, yc, c] * w[kh, kw, c]; dx is
// zeroed here, then every dy pixel is scattered onto the input pixels its taps read.
EXPORT("depthwise_input_grad")
void depthwise_input_grad(const float* dy, const float* w, float* dx, int B, int H, int W, int C,
                          int Ho, int Wo, int KH, int KW, int sh, int sw, int top, int left) {
  const long total = (long)B * H * W * C;
  for (long i = 0; i < total; i++) dx[i] = 0;
  const int xStep = sw * C;
  for (int b = 0; b < B; b++) {
    for (int yr = 0; yr < Ho; yr++) {
      const float* dyRow = dy + (long)(b * Ho + yr) * Wo * C;
      for (int kh = 0; kh < KH; kh++) {
        const int xr = yr * sh + kh - top;
        if (xr < 0 || xr >= H) continue;
        float* dxRow = dx + (long)(b * H + xr) * W * C;
        for (int kw = 0; kw < KW; kw++) {
          const float* wt = w + (kh * KW + kw) * C;
          const int ycMin = max_i(0, ceil_div(left - kw, sw));
          const int ycMax = min_i(Wo, floor_div(W - 1 + left - kw, sw) + 1);
          if (ycMin >= ycMax) continue;
          float* x0 = dxRow + (ycMin * sw + kw - left) * C;
          const float* d0 = dyRow + ycMin * C;
          const int n = ycMax - ycMin;
          int c = 0;
          for (; c + 8 <= C; c += 8) {
            const v128_t w0 = wasm_v128_load(wt + c), w1 = wasm_v128_load(wt + c + 4);
            float* xp = x0 + c;
            const float* dp = d0 + c;
            for (int i = 0; i < n; i++, xp += xStep, dp += C) {
              wasm_v128_store(xp, wasm_f32x4_add(wasm_v128_load(xp), wasm_f32x4_mul(wasm_v128_load(dp), w0)));
              wasm_v128_store(xp + 4, wasm_f32x4_add(wasm_v128_load(xp + 4), wasm_f32x4_mul(wasm_v128_load(dp + 4), w1)));
            }
          }
          for (; c + 4 <= C; c += 4) {
            const v128_t w0 = wasm_v128_load(wt + c);
            float* xp = x0 + c;
            const float* dp = d0 + c;
            for (int i = 0; i < n; i++, xp += xStep, dp += C) {
              wasm_v128_store(xp, wasm_f32x4_add(wasm_v128_load(xp), wasm_f32x4_mul(wasm_v128_load(dp), w0)));
            }
          }
          for (; c < C; c++) {
            const float wc = wt[c];
            float* xp = x0 + c;
            const float* dp = d0 + c;
            for (int i = 0; i < n; i++, xp += xStep, dp += C) *xp += *dp * wc;
          }
        }
      }
    }
  }
}

// cols[row, (kh*KW + kw)*C + c] = x[b, yr*sh+kh-top, yc*sw+kw-left, c] (0 outside the image) for
// images b0 <= b < b1, row = ((b - b0)*Ho + yr)*Wo + yc: the im2col matrix of a conv filter gradient.
EXPORT("im2col")
void im2col(const float* x, float* cols, int b0, int b1, int H, int W, int C, int Ho, int Wo, int KH, int KW,
            int sh, int sw, int top, int left) {
  float* dst = cols;
  for (int b = b0; b < b1; b++) {
    for (int yr = 0; yr < Ho; yr++) {
      for (int yc = 0; yc < Wo; yc++) {
        for (int kh = 0; kh < KH; kh++) {
          const int xr = yr * sh + kh - top;
          const int rowInside = xr >= 0 && xr < H;
          for (int kw = 0; kw < KW; kw++, dst += C) {
            const int xc = yc * sw + kw - left;
            if (!rowInside || xc < 0 || xc >= W) {
              for (int c = 0; c < C; c++) dst[c] = 0;
              continue;
            }
            const float* src = x + ((long)(b * H + xr) * W + xc) * C;
            int c = 0;
            for (; c + 4 <= C; c += 4) wasm_v128_store(dst + c, wasm_v128_load(src + c));
            for (; c < C; c++) dst[c] = src[c];
          }
        }
      }
    }
  }
}

// acc[c] += Σ_r x[r, c] for x [rows, C] (reduction over all leading axes of an NHWC tensor, as
// BatchNorm's statistics and gradients need). Rows are S ≥ C floats apart (S > C: a slice of channels). float32 partial sums over blocks of 256 rows are
// accumulated into the caller-zeroed float64 acc.
EXPORT("column_sums")
void column_sums(const float* x, double* acc, int rows, int C, int S) {
  for (int r0 = 0; r0 < rows; r0 += 256) {
    const int r1 = min_i(rows, r0 + 256);
    int c = 0;
    for (; c + 16 <= C; c += 16) {
      v128_t s0 = wasm_f32x4_splat(0), s1 = s0, s2 = s0, s3 = s0;
      const float* p = x + (long)r0 * S + c;
      for (int r = r0; r < r1; r++, p += S) {
        s0 = wasm_f32x4_add(s0, wasm_v128_load(p));
        s1 = wasm_f32x4_add(s1, wasm_v128_load(p + 4));
        s2 = wasm_f32x4_add(s2, wasm_v128_load(p + 8));
        s3 = wasm_f32x4_add(s3, wasm_v128_load(p + 12));
      }
      v128_t* av = (v128_t*)(acc + c);
      av[0] = wasm_f64x2_add(av[0], wasm_f64x2_promote_low_f32x4(s0));
      av[1] = wasm_f64x2_add(av[1], wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(s0, s0, 2, 3, 0, 1)));
      av[2] = wasm_f64x2_add(av[2], wasm_f64x2_promote_low_f32x4(s1));
      av[3] = wasm_f64x2_add(av[3], wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(s1, s1, 2, 3, 0, 1)));
      av[4] = wasm_f64x2_add(av[4], wasm_f64x2_promote_low_f32x4(s2));
      av[5] = wasm_f64x2_add(av[5], wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(s2, s2, 2, 3, 0, 1)));
      av[6] = wasm_f64x2_add(av[6], wasm_f64x2_promote_low_f32x4(s3));
      av[7] = wasm_f64x2_add(av[7], wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(s3, s3, 2, 3, 0, 1)));
    }
    for (; c + 4 <= C; c += 4) {
      v128_t s0 = wasm_f32x4_splat(0);
      const float* p = x + (long)r0 * S + c;
      for (int r = r0; r < r1; r++, p += S) s0 = wasm_f32x4_add(s0, wasm_v128_load(p));
      v128_t* av = (v128_t*)(acc + c);
      av[0] = wasm_f64x2_add(av[0], wasm_f64x2_promote_low_f32x4(s0));
      av[1] = wasm_f64x2_add(av[1], wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(s0, s0, 2, 3, 0, 1)));
    }
    for (; c < C; c++) {
      float s = 0;
      const float* p = x + (long)r0 * S + c;
      for (int r = r0; r < r1; r++, p += S) s += *p;
      acc[c] += s;
    }
  }
}

// Elementwise a ∘ b where one operand is a full tensor [rows, C] and the other is broadcast along
// the last axis: a vector [C] (C > 1) or a scalar (C == 1, rows = element count).
// vecFirst selects v ∘ full instead of full ∘ v. Float ops write float32, comparisons write bool
// bytes (0/1), as tfjs stores them.
enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MIN, OP_MAX, OP_GREATER, OP_GREATER_EQUAL, OP_LESS, OP_LESS_EQUAL };

static inline v128_t vec_op(int op, v128_t a, v128_t b) {
  switch (op) {
    case OP_ADD: return wasm_f32x4_add(a, b);
    case OP_SUB: return wasm_f32x4_sub(a, b);
    case OP_MUL: return wasm_f32x4_mul(a, b);
    case OP_DIV: return wasm_f32x4_div(a, b);
    // NaN-propagating min/max, like tfjs (Math.min/Math.max semantics).
    case OP_MIN: return wasm_f32x4_min(a, b);
    default: return wasm_f32x4_max(a, b);
  }
}

static inline float scalar_op(int op, float a, float b) {
  switch (op) {
    case OP_ADD: return a + b;
    case OP_SUB: return a - b;
    case OP_MUL: return a * b;
    case OP_DIV: return a / b;
    case OP_MIN: return (a != a || b != b) ? a + b : (a < b ? a : b);
    default: return (a != a || b != b) ? a + b : (a > b ? a : b);
  }
}

static inline unsigned char compare_op(int op, float a, float b) {
  switch (op) {
    case OP_GREATER: return a > b;
    case OP_GREATER_EQUAL: return a >= b;
    case OP_LESS: return a < b;
    default: return a <= b;
  }
}

#define BROADCAST_LOOP(KERNEL)                                        \
  for (int r = 0; r < rows; r++) {                                    \
    const float* f = full + (long)r * C;                              \
    for (int c = 0; c < C; c++) { KERNEL(f[c], vec[c], (long)r * C + c); } \
  }

EXPORT("binary_broadcast")
void binary_broadcast(int op, const float* full, const float* vec, void* out, int rows, int C, int vecFirst) {
  if (op >= OP_GREATER) {
    unsigned char* o = (unsigned char*)out;
    if (C == 1) {
      // 16 comparisons at a time: 0/-1 lane masks, reduced to 0/1, narrowed to bytes.
      const long n = (long)rows;
      const v128_t v = wasm_f32x4_splat(vec[0]), one = wasm_i32x4_splat(1);
      long i = 0;
      for (; i + 16 <= n; i += 16) {
        v128_t m[4];
        for (int k = 0; k < 4; k++) {
          const v128_t x = wasm_v128_load(full + i + 4 * k);
          const v128_t l = vecFirst ? v : x, r = vecFirst ? x : v;
          v128_t mask;
          switch (op) {
            case OP_GREATER: mask = wasm_f32x4_gt(l, r); break;
            case OP_GREATER_EQUAL: mask = wasm_f32x4_ge(l, r); break;
            case OP_LESS: mask = wasm_f32x4_lt(l, r); break;
            default: mask = wasm_f32x4_le(l, r); break;
          }
          m[k] = wasm_v128_and(mask, one);
        }
        const v128_t lo = wasm_i16x8_narrow_i32x4(m[0], m[1]), hi = wasm_i16x8_narrow_i32x4(m[2], m[3]);
        wasm_v128_store(o + i, wasm_u8x16_narrow_i16x8(lo, hi));
      }
      for (; i < n; i++) o[i] = vecFirst ? compare_op(op, vec[0], full[i]) : compare_op(op, full[i], vec[0]);
      return;
    }
#define CMP(x, v, i) o[i] = vecFirst ? compare_op(op, v, x) : compare_op(op, x, v);
    BROADCAST_LOOP(CMP)
#undef CMP
    return;
  }
  float* o = (float*)out;
  if (C == 1) {
    const long n = (long)rows;
    const v128_t v = wasm_f32x4_splat(vec[0]);
    long i = 0;
    for (; i + 4 <= n; i += 4) {
      const v128_t x = wasm_v128_load(full + i);
      wasm_v128_store(o + i, vecFirst ? vec_op(op, v, x) : vec_op(op, x, v));
    }
    for (; i < n; i++) o[i] = vecFirst ? scalar_op(op, vec[0], full[i]) : scalar_op(op, full[i], vec[0]);
    return;
  }
  if (C % 4 == 0) {
    for (int r = 0; r < rows; r++) {
      const float* f = full + (long)r * C;
      float* dst = o + (long)r * C;
      for (int c = 0; c < C; c += 4) {
        const v128_t x = wasm_v128_load(f + c), v = wasm_v128_load(vec + c);
        wasm_v128_store(dst + c, vecFirst ? vec_op(op, v, x) : vec_op(op, x, v));
      }
    }
    return;
  }
#define FLT(x, v, i) o[i] = vecFirst ? scalar_op(op, v, x) : scalar_op(op, x, v);
  BROADCAST_LOOP(FLT)
#undef FLT
}

// Inference-form batch normalisation over the last axis: out[r, c] = (x[r, c] − mean[c]) · a[c] + offset[c],
// with a[c] = scale[c] / √(variance[c] + ε) precomputed by the caller (one pass instead of the backend's
// per-element division and square root).
EXPORT("batch_norm_apply")
void batch_norm_apply(const float* x, const float* mean, const float* a, const float* offset, float* out, int rows, int C) {
  if (C % 4 == 0) {
    for (int r = 0; r < rows; r++) {
      const float* xr = x + (long)r * C;
      float* o = out + (long)r * C;
      for (int c = 0; c < C; c += 4) {
        const v128_t centred = wasm_f32x4_sub(wasm_v128_load(xr + c), wasm_v128_load(mean + c));
        wasm_v128_store(o + c, wasm_f32x4_add(wasm_f32x4_mul(centred, wasm_v128_load(a + c)), wasm_v128_load(offset + c)));
      }
    }
    return;
  }
  for (int r = 0; r < rows; r++) {
    const float* xr = x + (long)r * C;
    float* o = out + (long)r * C;
    for (int c = 0; c < C; c++) o[c] = (xr[c] - mean[c]) * a[c] + offset[c];
  }
}

// The adjoint of im2col for images [b0, b1): dx[b, yr*sh+kh-top, yc*sw+kw-left, c] += cols[row, (kh*KW + kw)*C + c]
// (taps outside the image dropped), row = ((b - b0)*Ho + yr)*Wo + yc. dx of those images must be zeroed by the caller.
EXPORT("col2im")
void col2im(const float* cols, float* dx, int b0, int b1, int H, int W, int C, int Ho, int Wo, int KH, int KW,
            int sh, int sw, int top, int left) {
  const float* src = cols;
  for (int b = b0; b < b1; b++) {
    for (int yr = 0; yr < Ho; yr++) {
      for (int yc = 0; yc < Wo; yc++) {
        for (int kh = 0; kh < KH; kh++) {
          const int xr = yr * sh + kh - top;
          const int rowInside = xr >= 0 && xr < H;
          for (int kw = 0; kw < KW; kw++, src += C) {
            const int xc = yc * sw + kw - left;
            if (!rowInside || xc < 0 || xc >= W) continue;
            float* dst = dx + ((long)(b * H + xr) * W + xc) * C;
            int c = 0;
            for (; c + 4 <= C; c += 4) wasm_v128_store(dst + c, wasm_f32x4_add(wasm_v128_load(dst + c), wasm_v128_load(src + c)));
            for (; c < C; c++) dst[c] += src[c];
          }
        }
      }
    }
  }
}

// Promotes the four float32 lanes of s into acc[0..3] (float64), adding.
static inline void add_promoted(double* acc, v128_t s) {
  v128_t* av = (v128_t*)acc;
  av[0] = wasm_f64x2_add(av[0], wasm_f64x2_promote_low_f32x4(s));
  av[1] = wasm_f64x2_add(av[1], wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(s, s, 2, 3, 0, 1)));
}

// Training-mode BatchNorm, second statistics pass: acc[c] += Σ_r (x[r, c] − mean[c])² for x [rows, C]
// (the biased variance's numerator, centred like tfjs's moments), rows S floats apart. Same blocking as column_sums:
// float32 partial sums over 256 rows, accumulated into the caller-zeroed float64 acc.
EXPORT("column_centred_squares")
void column_centred_squares(const float* x, const float* mean, double* acc, int rows, int C, int S) {
  for (int r0 = 0; r0 < rows; r0 += 256) {
    const int r1 = min_i(rows, r0 + 256);
    int c = 0;
    for (; c + 8 <= C; c += 8) {
      const v128_t m0 = wasm_v128_load(mean + c), m1 = wasm_v128_load(mean + c + 4);
      v128_t s0 = wasm_f32x4_splat(0), s1 = s0;
      const float* p = x + (long)r0 * S + c;
      for (int r = r0; r < r1; r++, p += S) {
        const v128_t d0 = wasm_f32x4_sub(wasm_v128_load(p), m0);
        const v128_t d1 = wasm_f32x4_sub(wasm_v128_load(p + 4), m1);
        s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(d0, d0));
        s1 = wasm_f32x4_add(s1, wasm_f32x4_mul(d1, d1));
      }
      add_promoted(acc + c, s0);
      add_promoted(acc + c + 4, s1);
    }
    for (; c + 4 <= C; c += 4) {
      const v128_t m0 = wasm_v128_load(mean + c);
      v128_t s0 = wasm_f32x4_splat(0);
      const float* p = x + (long)r0 * S + c;
      for (int r = r0; r < r1; r++, p += S) {
        const v128_t d0 = wasm_f32x4_sub(wasm_v128_load(p), m0);
        s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(d0, d0));
      }
      add_promoted(acc + c, s0);
    }
    for (; c < C; c++) {
      float s = 0;
      const float m = mean[c];
      const float* p = x + (long)r0 * S + c;
      for (int r = r0; r < r1; r++, p += S) s += (*p - m) * (*p - m);
      acc[c] += s;
    }
  }
}

// Training-mode BatchNorm backward, reduction pass over dy and x [rows, C] in one read:
// sumDy[c] += Σ_r dy[r, c] and sumDyCentred[c] += Σ_r dy[r, c]·(x[r, c] − mean[c]) (float64, caller-zeroed),
// rows S floats apart.
EXPORT("batch_norm_grad_sums")
void batch_norm_grad_sums(const float* dy, const float* x, const float* mean, double* sumDy, double* sumDyCentred,
                          int rows, int C, int S) {
  for (int r0 = 0; r0 < rows; r0 += 256) {
    const int r1 = min_i(rows, r0 + 256);
    int c = 0;
    for (; c + 8 <= C; c += 8) {
      const v128_t m0 = wasm_v128_load(mean + c), m1 = wasm_v128_load(mean + c + 4);
      v128_t a0 = wasm_f32x4_splat(0), a1 = a0, b0 = a0, b1 = a0;
      const float* px = x + (long)r0 * S + c;
      const float* pd = dy + (long)r0 * S + c;
      for (int r = r0; r < r1; r++, px += S, pd += S) {
        const v128_t g0 = wasm_v128_load(pd), g1 = wasm_v128_load(pd + 4);
        a0 = wasm_f32x4_add(a0, g0);
        a1 = wasm_f32x4_add(a1, g1);
        b0 = wasm_f32x4_add(b0, wasm_f32x4_mul(g0, wasm_f32x4_sub(wasm_v128_load(px), m0)));
        b1 = wasm_f32x4_add(b1, wasm_f32x4_mul(g1, wasm_f32x4_sub(wasm_v128_load(px + 4), m1)));
      }
      add_promoted(sumDy + c, a0);
      add_promoted(sumDy + c + 4, a1);
      add_promoted(sumDyCentred + c, b0);
      add_promoted(sumDyCentred + c + 4, b1);
    }
    for (; c + 4 <= C; c += 4) {
      const v128_t m0 = wasm_v128_load(mean + c);
      v128_t a0 = wasm_f32x4_splat(0), b0 = a0;
      const float* px = x + (long)r0 * S + c;
      const float* pd = dy + (long)r0 * S + c;
      for (int r = r0; r < r1; r++, px += S, pd += S) {
        const v128_t g0 = wasm_v128_load(pd);
        a0 = wasm_f32x4_add(a0, g0);
        b0 = wasm_f32x4_add(b0, wasm_f32x4_mul(g0, wasm_f32x4_sub(wasm_v128_load(px), m0)));
      }
      add_promoted(sumDy + c, a0);
      add_promoted(sumDyCentred + c, b0);
    }
    for (; c < C; c++) {
      float a = 0, b = 0;
      const float m = mean[c];
      const float* px = x + (long)r0 * S + c;
      const float* pd = dy + (long)r0 * S + c;
      for (int r = r0; r < r1; r++, px += S, pd += S) {
        a += *pd;
        b += *pd * (*px - m);
      }
      sumDy[c] += a;
      sumDyCentred[c] += b;
    }
  }
}

// Training-mode BatchNorm backward, output pass:
// dx[r, c] = kDy[c]·dy[r, c] + kX[c]·(x[r, c] − mean[c]) + k1[c]
// (the per-channel coefficients fold γ, 1/σ and the two sums; see batch-norm-training.ts).
EXPORT("batch_norm_grad_apply")
void batch_norm_grad_apply(const float* dy, const float* x, const float* mean, const float* kDy, const float* kX,
                           const float* k1, float* dx, int rows, int C) {
  if (C % 4 == 0) {
    for (int r = 0; r < rows; r++) {
      const float* d = dy + (long)r * C;
      const float* xr = x + (long)r * C;
      float* o = dx + (long)r * C;
      for (int c = 0; c < C; c += 4) {
        const v128_t centred = wasm_f32x4_sub(wasm_v128_load(xr + c), wasm_v128_load(mean + c));
        const v128_t v = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(d + c), wasm_v128_load(kDy + c)), wasm_f32x4_mul(centred, wasm_v128_load(kX + c)));
        wasm_v128_store(o + c, wasm_f32x4_add(v, wasm_v128_load(k1 + c)));
      }
    }
    return;
  }
  for (int r = 0; r < rows; r++) {
    const float* d = dy + (long)r * C;
    const float* xr = x + (long)r * C;
    float* o = dx + (long)r * C;
    for (int c = 0; c < C; c++) o[c] = d[c] * kDy[c] + (xr[c] - mean[c]) * kX[c] + k1[c];
  }
}

// ReLU6 backward from the op's output: dx[i] = dy[i] where 0 < y[i] < 6, else 0 (y = min(max(x, 0), 6);
// the same mask as tfjs-layers' relu6 = minimum(6, relu(x)), whose gradient is 0 at x ≤ 0 and x ≥ 6).
EXPORT("relu6_grad_from_output")
void relu6_grad_from_output(const float* dy, const float* y, float* dx, int n) {
  const v128_t zero = wasm_f32x4_splat(0), six = wasm_f32x4_splat(6);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    const v128_t v = wasm_v128_load(y + i);
    const v128_t inside = wasm_v128_and(wasm_f32x4_gt(v, zero), wasm_f32x4_lt(v, six));
    wasm_v128_store(dx + i, wasm_v128_and(wasm_v128_load(dy + i), inside));
  }
  for (; i < n; i++) dx[i] = (y[i] > 0 && y[i] < 6) ? dy[i] : 0;
}

// Pointwise (1×1) convolution filter gradient: acc[ci, co] += Σ_r x[r, ci] · dy[r, co] for x [rows, Ci]
// (rows xS ≥ Ci floats apart: a slice of input channels when xS > Ci), dy [rows, Co] (acc float64, caller-zeroed). Outer products accumulated in registers, 4 input × 8 output
// channels at a time, over blocks of 128 rows (float32 partial sums, then added to float64 acc). XNNPACK's
// matMul is slow for this shape (small M = Ci, huge K = rows: it repacks all of dy as "weights" per call).
EXPORT("pointwise_filter_grad")
void pointwise_filter_grad(const float* x, const float* dy, double* acc, int rows, int Ci, int Co, int xS) {
  for (int r0 = 0; r0 < rows; r0 += 128) {
    const int r1 = min_i(rows, r0 + 128);
    int ci = 0;
    for (; ci + 4 <= Ci; ci += 4) {
      int co = 0;
      for (; co + 8 <= Co; co += 8) {
        v128_t a00 = wasm_f32x4_splat(0), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        const float* px = x + (long)r0 * xS + ci;
        const float* pd = dy + (long)r0 * Co + co;
        for (int r = r0; r < r1; r++, px += xS, pd += Co) {
          const v128_t xv = wasm_v128_load(px);
          const v128_t d0 = wasm_v128_load(pd), d1 = wasm_v128_load(pd + 4);
          const v128_t x0 = wasm_i32x4_shuffle(xv, xv, 0, 0, 0, 0);
          const v128_t x1 = wasm_i32x4_shuffle(xv, xv, 1, 1, 1, 1);
          const v128_t x2 = wasm_i32x4_shuffle(xv, xv, 2, 2, 2, 2);
          const v128_t x3 = wasm_i32x4_shuffle(xv, xv, 3, 3, 3, 3);
          a00 = wasm_f32x4_add(a00, wasm_f32x4_mul(x0, d0));
          a01 = wasm_f32x4_add(a01, wasm_f32x4_mul(x0, d1));
          a10 = wasm_f32x4_add(a10, wasm_f32x4_mul(x1, d0));
          a11 = wasm_f32x4_add(a11, wasm_f32x4_mul(x1, d1));
          a20 = wasm_f32x4_add(a20, wasm_f32x4_mul(x2, d0));
          a21 = wasm_f32x4_add(a21, wasm_f32x4_mul(x2, d1));
          a30 = wasm_f32x4_add(a30, wasm_f32x4_mul(x3, d0));
          a31 = wasm_f32x4_add(a31, wasm_f32x4_mul(x3, d1));
        }
        double* o = acc + (long)ci * Co + co;
        add_promoted(o, a00); add_promoted(o + 4, a01); o += Co;
        add_promoted(o, a10); add_promoted(o + 4, a11); o += Co;
        add_promoted(o, a20); add_promoted(o + 4, a21); o += Co;
        add_promoted(o, a30); add_promoted(o + 4, a31);
      }
      for (; co < Co; co++) {
        v128_t a = wasm_f32x4_splat(0); // lanes: the 4 input channels
        const float* px = x + (long)r0 * xS + ci;
        const float* pd = dy + (long)r0 * Co + co;
        for (int r = r0; r < r1; r++, px += xS, pd += Co) a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_v128_load(px), wasm_f32x4_splat(*pd)));
        acc[(long)ci * Co + co] += wasm_f32x4_extract_lane(a, 0);
        acc[(long)(ci + 1) * Co + co] += wasm_f32x4_extract_lane(a, 1);
        acc[(long)(ci + 2) * Co + co] += wasm_f32x4_extract_lane(a, 2);
        acc[(long)(ci + 3) * Co + co] += wasm_f32x4_extract_lane(a, 3);
      }
    }
    for (; ci < Ci; ci++) {
      for (int co = 0; co < Co; co++) {
        float s = 0;
        const float* px = x + (long)r0 * xS + ci;
        const float* pd = dy + (long)r0 * Co + co;
        for (int r = r0; r < r1; r++, px += xS, pd += Co) s += *px * *pd;
        acc[(long)ci * Co + co] += s;
      }
    }
  }
}

// One Adam step for a variable of n floats, in tfjs's AdamOptimizer order with its float32
// roundings (so the result is bit-identical to it; adam-update.ts):
//   m' = m·β1 + g·(1−β1),  v' = v·β2 + (g·g)·(1−β2),
//   w' = ((m' / c1) / (√(v' / c2) + ε))·(−lr) + w,  with c1 = 1 − β1^t, c2 = 1 − β2^t.
EXPORT("adam_update")
void adam_update(const float* w, const float* g, const float* m, const float* v, float* wOut, float* mOut, float* vOut,
                 int n, float beta1, float oneMinusBeta1, float beta2, float oneMinusBeta2, float c1, float c2,
                 float epsilon, float negLr) {
  const v128_t b1 = wasm_f32x4_splat(beta1), nb1 = wasm_f32x4_splat(oneMinusBeta1);
  const v128_t b2 = wasm_f32x4_splat(beta2), nb2 = wasm_f32x4_splat(oneMinusBeta2);
  const v128_t k1 = wasm_f32x4_splat(c1), k2 = wasm_f32x4_splat(c2);
  const v128_t eps = wasm_f32x4_splat(epsilon), rate = wasm_f32x4_splat(negLr);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    const v128_t gi = wasm_v128_load(g + i);
    const v128_t mi = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(m + i), b1), wasm_f32x4_mul(gi, nb1));
    const v128_t vi = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(v + i), b2), wasm_f32x4_mul(wasm_f32x4_mul(gi, gi), nb2));
    const v128_t denominator = wasm_f32x4_add(wasm_f32x4_sqrt(wasm_f32x4_div(vi, k2)), eps);
    const v128_t step = wasm_f32x4_mul(wasm_f32x4_div(wasm_f32x4_div(mi, k1), denominator), rate);
    wasm_v128_store(mOut + i, mi);
    wasm_v128_store(vOut + i, vi);
    wasm_v128_store(wOut + i, wasm_f32x4_add(step, wasm_v128_load(w + i)));
  }
  for (; i < n; i++) {
    const float gi = g[i];
    const float mi = m[i] * beta1 + gi * oneMinusBeta1;
    const float vi = v[i] * beta2 + (gi * gi) * oneMinusBeta2;
    const float denominator = __builtin_sqrtf(vi / c2) + epsilon;
    mOut[i] = mi;
    vOut[i] = vi;
    wOut[i] = ((mi / c1) / denominator) * negLr + w[i];
  }
}

// Gradient of clip(x, lo, hi) as tfjs's ClipByValue gradient computes it (where(lo ≤ x ≤ hi, dy, 0)):
// dx = dy where lo ≤ x ≤ hi, else +0 (NaN x: +0).
EXPORT("clip_grad")
void clip_grad(const float* dy, const float* x, float* dx, int n, float lo, float hi) {
  const v128_t low = wasm_f32x4_splat(lo), high = wasm_f32x4_splat(hi);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    const v128_t v = wasm_v128_load(x + i);
    const v128_t inside = wasm_v128_and(wasm_f32x4_ge(v, low), wasm_f32x4_le(v, high));
    wasm_v128_store(dx + i, wasm_v128_and(wasm_v128_load(dy + i), inside));
  }
  for (; i < n; i++) dx[i] = (x[i] >= lo && x[i] <= hi) ? dy[i] : 0.0f;
}

// tfjs's step(x) for relu's gradient: 1 for x > 0, x itself (a NaN) for NaN, else 0.
static inline v128_t relu_step(v128_t v) {
  const v128_t positive = wasm_f32x4_gt(v, wasm_f32x4_splat(0));
  return wasm_v128_bitselect(v, wasm_v128_and(wasm_f32x4_splat(1), positive), wasm_f32x4_ne(v, v));
}
static inline float relu_step_scalar(float x) { return x > 0 ? 1.0f : (x != x ? x : 0.0f); }

// Gradient of relu as tfjs's Relu gradient computes it (dy · step(x)): dx = dy · relu_step(x), a
// product, so dy · 0 keeps dy's sign (−0) as tfjs's does.
EXPORT("relu_grad")
void relu_grad(const float* dy, const float* x, float* dx, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(dx + i, wasm_f32x4_mul(wasm_v128_load(dy + i), relu_step(wasm_v128_load(x + i))));
  for (; i < n; i++) dx[i] = dy[i] * relu_step_scalar(x[i]);
}

// A ReLU(max_value = hi) layer (tfjs-layers: relu, then clipByValue(0, hi)) in one pass, with those two
// ops' values: y = min(x, hi) for x > 0, else +0 (NaN: +0).
EXPORT("relu_clip")
void relu_clip(const float* x, float* y, int n, float hi) {
  const v128_t zero = wasm_f32x4_splat(0), high = wasm_f32x4_splat(hi);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    const v128_t v = wasm_v128_load(x + i);
    wasm_v128_store(y + i, wasm_v128_and(wasm_f32x4_pmin(high, v), wasm_f32x4_gt(v, zero)));
  }
  for (; i < n; i++) y[i] = x[i] > 0 ? (x[i] < hi ? x[i] : hi) : 0.0f;
}

// Its gradient from x, with the values of the two ops' gradients chained (clip's where(), then
// relu's dy · step(x)): dx = (x ≤ hi ? dy : +0) · relu_step(x).
EXPORT("relu_clip_grad")
void relu_clip_grad(const float* dy, const float* x, float* dx, int n, float hi) {
  const v128_t high = wasm_f32x4_splat(hi);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    const v128_t v = wasm_v128_load(x + i);
    const v128_t g = wasm_v128_and(wasm_v128_load(dy + i), wasm_f32x4_le(v, high));
    wasm_v128_store(dx + i, wasm_f32x4_mul(g, relu_step(v)));
  }
  for (; i < n; i++) dx[i] = (x[i] <= hi ? dy[i] : 0.0f) * relu_step_scalar(x[i]);
}
