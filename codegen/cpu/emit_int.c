/* LLVM IR of the dot-product kernels that do not multiply floats: the integer kernels of matrices with int8
 * activations (act_bits = 8) and the bf16 dot product of dense bf16 matrices (codegen/cpu/cpu.h explains
 * both tile layouts).
 *
 * Integer kernels follow ir/qdot.h to the bit. Each phase function quantizes every input vector it needs
 * once (amax, s_x, q_c = clamp(nearbyint(x_c · 127/amax))) into its thread's scratch, as bytes in column
 * order for dense matrices and in group-table order for packed ones; the four gates' rows then share it.
 * The tile loop goes over quads of slots: per gate one load of vl × 4 weight levels (q4, ternary and
 * binary decoded to bytes first), per input one 32-bit broadcast of four activation bytes (dense) or a
 * byte gather by the lanes' precomputed table positions (packed), and one int32 dot product of four
 * byte pairs per lane — vpdpbusd (VNNI), vpmaddubsw + vpmaddwd (MADD), or portable vector code
 * (cpu.h CPU_DOT_*). Every path is exact: VNNI multiplies q + 128 (unsigned) by the level and subtracts
 * 128 · Σ levels per row afterwards, all modulo 2^32, which leaves the exact sum whenever it fits int32
 * (ir/qdot.h bounds it); MADD multiplies |w| by sign(q, w), whose pair sums stay within ±32258, so its
 * int16 step never saturates; PORTABLE widens to int32 before multiplying. The output is
 * ((float)acc · s_x) · scale, the reference's operations in the reference's order.
 *
 * The bf16 kernel splits each input into hi = bf16(x) and lo = bf16(x − hi) and runs vdpbf16ps twice per
 * pair of slots (weights · hi, then weights · lo): products of bf16 values are exact in float, so the
 * result differs from the float kernel's only by x − hi − lo (below 2^-16 |x|) and the order of the float
 * additions. */
#include <string.h>

#include "codegen/cpu/emit.h"
#include "support/err.h"

/* <n x ty> */
static LLVMTypeRef vec(LLVMTypeRef ty, int n) { return LLVMVectorType(ty, (unsigned)n); }

/* <n x i8> with every byte v */
static LLVMValueRef bytes_const(Em *E, int n, int v) {
  LLVMValueRef c[64];
  LX_ASSERT(n <= 64);
  for (int i = 0; i < n; i++) c[i] = LLVMConstInt(E->ti8, (unsigned long long)(v & 255), 0);
  return LLVMConstVector(c, (unsigned)n);
}

/* A shuffle mask: start, start + stride, ... (n lanes). */
static LLVMValueRef stride_mask(Em *E, int n, int start, int stride) {
  LLVMValueRef c[128];
  LX_ASSERT(n <= 128);
  for (int i = 0; i < n; i++) c[i] = em_i32(E, start + i * stride);
  return LLVMConstVector(c, (unsigned)n);
}

static LLVMValueRef splat_i32(Em *E, LLVMValueRef s) {
  LLVMValueRef v = LLVMBuildInsertElement(E->b, LLVMGetUndef(E->vi32), s, em_i32(E, 0), "");
  return LLVMBuildShuffleVector(E->b, v, LLVMGetUndef(E->vi32), LLVMConstNull(E->vi32), "");
}

/* ---- activation quantization (ir/qdot.h steps 1-3) ------------------------------------------------ */

/* q_c as an i8 value (scalar or vector): clamp(nearbyint(x · inv), -127, 127), NaN (0 · inf) → 0; with
 * `bias` the byte q + 128 that VNNI multiplies. x, inv: float values of the same shape. */
static LLVMValueRef quantize_values(Em *E, LLVMValueRef x, LLVMValueRef inv, int bias) {
  LLVMBuilderRef b = E->b;
  LLVMTypeRef ft = LLVMTypeOf(x);
  int vector = LLVMGetTypeKind(ft) == LLVMVectorTypeKind;
  int n = vector ? (int)LLVMGetVectorSize(ft) : 1;
  LLVMValueRef lim = LLVMConstReal(E->tf, 127.0), nlim = LLVMConstReal(E->tf, -127.0), zero = LLVMConstReal(E->tf, 0.0);
  if (vector) {
    LLVMValueRef l[16], nl[16], z[16];
    for (int i = 0; i < n; i++) l[i] = lim, nl[i] = nlim, z[i] = zero;
    lim = LLVMConstVector(l, (unsigned)n);
    nlim = LLVMConstVector(nl, (unsigned)n);
    zero = LLVMConstVector(z, (unsigned)n);
  }
  LLVMValueRef t = LLVMBuildFMul(b, x, inv, "");
  LLVMValueRef r = em_call(E, em_intrinsic(E, "llvm.nearbyint", &ft, 1), &t, 1);
  r = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, r, lim, ""), lim, r, "");
  r = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, r, nlim, ""), nlim, r, "");
  r = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealUNO, r, r, ""), zero, r, "");
  LLVMTypeRef it = vector ? vec(E->ti32, n) : E->ti32, bt = vector ? vec(E->ti8, n) : E->ti8;
  LLVMValueRef q = LLVMBuildTrunc(b, LLVMBuildFPToSI(b, r, it, ""), bt, "");
  if (bias) q = LLVMBuildXor(b, q, vector ? bytes_const(E, n, 0x80) : LLVMConstInt(E->ti8, 0x80, 0), "");
  return q;
}

/* amax = max_c |x_c| over x[0..n) (float*), as a float value. */
static LLVMValueRef emit_amax(Em *E, LLVMValueRef x, int64_t n) {
  LLVMBuilderRef b = E->b;
  int vl = E->vl;
  int64_t nv = n / vl;
  LLVMValueRef zero = LLVMConstNull(E->vf);
  EmLoop L;
  em_loop_begin(E, &L, em_i64(E, 0), em_i64(E, nv), 1, &zero, "amax");
  LLVMValueRef v = em_load(E, E->vf, em_at(E, x, L.iv, (size_t)vl * 4, 0), 4);
  v = em_call(E, em_intrinsic(E, "llvm.fabs", &E->vf, 1), &v, 1);
  LLVMValueRef mx = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, v, L.v[0], ""), v, L.v[0], "");
  em_loop_end(E, &L, em_i64(E, 1), &mx);
  /* the lanes' maxima, then the tail (max is exact in any order) */
  LLVMValueRef m = LLVMConstReal(E->tf, 0.0);
  for (int i = 0; i < vl; i++) {
    LLVMValueRef e = LLVMBuildExtractElement(b, L.v[0], em_i32(E, i), "");
    m = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, e, m, ""), e, m, "");
  }
  LLVMTypeRef ft = E->tf;
  for (int64_t c = nv * vl; c < n; c++) {
    LLVMValueRef e = em_load(E, E->tf, em_gep(E, x, em_i64(E, c * 4)), 4);
    e = em_call(E, em_intrinsic(E, "llvm.fabs", &ft, 1), &e, 1);
    m = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, e, m, ""), e, m, "");
  }
  return m;
}

static void prepare_int8(Em *E, const CpuMat *m, LLVMValueRef x, LLVMValueRef slot) {
  LLVMBuilderRef b = E->b;
  int vl = E->vl, bias = m->dot == CPU_DOT_VNNI;
  LLVMValueRef amax = emit_amax(E, x, m->cols);
  LLVMValueRef inv = LLVMBuildFDiv(b, LLVMConstReal(E->tf, 127.0), amax, "");
  LLVMValueRef sx = LLVMBuildFDiv(b, amax, LLVMConstReal(E->tf, 127.0), "");
  em_store(E, sx, slot, 4);
  LLVMValueRef qv = em_gep(E, slot, em_i64(E, 64));
  EmLoop L;
  if (m->packed) {
    /* the group table: q of x[group_cols[k]] for every grouped column k */
    em_loop_begin(E, &L, em_i64(E, 0), em_i64(E, m->ngrouped), 0, NULL, "qtable");
    LLVMValueRef col = em_load(E, E->ti32, em_at(E, em_wptr(E, m->gcols_off), L.iv, 4, 0), 4);
    LLVMValueRef xv = em_load(E, E->tf, em_at(E, x, col, 4, 0), 4);
    em_store(E, quantize_values(E, xv, inv, bias), em_gep(E, qv, L.iv), 1);
    em_loop_end(E, &L, em_i64(E, 1), NULL);
    /* what the lanes of a last quad's missing groups read: 0 (VNNI: unsigned 0, which times any level is 0) */
    em_store(E, LLVMConstInt(E->ti8, 0, 0), em_gep(E, qv, em_i64(E, m->ngrouped)), 1);
    return;
  }
  int64_t nv = m->cols / vl;
  em_loop_begin(E, &L, em_i64(E, 0), em_i64(E, nv), 0, NULL, "quant");
  LLVMValueRef xv = em_load(E, E->vf, em_at(E, x, L.iv, (size_t)vl * 4, 0), 4);
  em_store(E, quantize_values(E, xv, em_splat(E, inv), bias), em_at(E, qv, L.iv, (size_t)vl, 0), 1);
  em_loop_end(E, &L, em_i64(E, 1), NULL);
  for (int64_t c = nv * vl; c < m->cols; c++) {
    LLVMValueRef e = em_load(E, E->tf, em_gep(E, x, em_i64(E, c * 4)), 4);
    em_store(E, quantize_values(E, e, inv, bias), em_gep(E, qv, em_i64(E, c)), 1);
  }
  /* the last quad's missing columns: 0, which times any level is 0 (VNNI: unsigned 0; binary levels are ±1) */
  for (int64_t c = m->cols; c < 4 * m->nsteps; c++) em_store(E, LLVMConstInt(E->ti8, 0, 0), em_gep(E, qv, em_i64(E, c)), 1);
}

/* ---- bf16 inputs: hi and lo parts --------------------------------------------------------------- */

/* bf16 bits (as i32, in the low half) of float values, rounded to nearest even, and the float they stand for. */
static LLVMValueRef to_bf16(Em *E, LLVMValueRef f, LLVMTypeRef it, LLVMValueRef *back) {
  LLVMBuilderRef b = E->b;
  int vector = LLVMGetTypeKind(it) == LLVMVectorTypeKind;
  LLVMValueRef u = LLVMBuildBitCast(b, f, it, "");
  LLVMValueRef k16 = vector ? em_vconst_i32(E, 16) : em_i32(E, 16), k1 = vector ? em_vconst_i32(E, 1) : em_i32(E, 1);
  LLVMValueRef k7fff = vector ? em_vconst_i32(E, 0x7fff) : em_i32(E, 0x7fff);
  LLVMValueRef odd = LLVMBuildAnd(b, LLVMBuildLShr(b, u, k16, ""), k1, "");
  LLVMValueRef h = LLVMBuildLShr(b, LLVMBuildAdd(b, u, LLVMBuildAdd(b, k7fff, odd, ""), ""), k16, "");
  *back = LLVMBuildBitCast(b, LLVMBuildShl(b, h, k16, ""), LLVMTypeOf(f), "");
  return h;
}

static void store_bf16_parts(Em *E, LLVMValueRef f, LLVMTypeRef it, LLVMTypeRef ht, LLVMValueRef hi_p, LLVMValueRef lo_p) {
  LLVMValueRef hb, lb;
  LLVMValueRef h = to_bf16(E, f, it, &hb);
  LLVMValueRef l = to_bf16(E, LLVMBuildFSub(E->b, f, hb, ""), it, &lb);
  em_store(E, LLVMBuildTrunc(E->b, h, ht, ""), hi_p, 2);
  em_store(E, LLVMBuildTrunc(E->b, l, ht, ""), lo_p, 2);
}

static void prepare_bf16(Em *E, const CpuMat *m, LLVMValueRef x, LLVMValueRef slot) {
  int vl = E->vl;
  LLVMValueRef hi = em_gep(E, slot, em_i64(E, 64)), lo = em_gep(E, hi, em_i64(E, 4 * (long long)m->nsteps));
  int64_t nv = m->cols / vl;
  EmLoop L;
  em_loop_begin(E, &L, em_i64(E, 0), em_i64(E, nv), 0, NULL, "split");
  LLVMValueRef xv = em_load(E, E->vf, em_at(E, x, L.iv, (size_t)vl * 4, 0), 4);
  store_bf16_parts(E, xv, E->vi32, E->vi16, em_at(E, hi, L.iv, (size_t)vl * 2, 0), em_at(E, lo, L.iv, (size_t)vl * 2, 0));
  em_loop_end(E, &L, em_i64(E, 1), NULL);
  for (int64_t c = nv * vl; c < m->cols; c++) {
    LLVMValueRef e = em_load(E, E->tf, em_gep(E, x, em_i64(E, c * 4)), 4);
    store_bf16_parts(E, e, E->ti32, E->ti16, em_gep(E, hi, em_i64(E, c * 2)), em_gep(E, lo, em_i64(E, c * 2)));
  }
  if (m->cols % 2) { /* the last pair's missing column */
    em_store(E, LLVMConstInt(E->ti16, 0, 0), em_gep(E, hi, em_i64(E, m->cols * 2)), 2);
    em_store(E, LLVMConstInt(E->ti16, 0, 0), em_gep(E, lo, em_i64(E, m->cols * 2)), 2);
  }
}

void em_int_prepare(Em *E, const CpuMat *m, LLVMValueRef x, LLVMValueRef slot) {
  if (m->kernel == CPU_KERNEL_INT8) prepare_int8(E, m, x, slot);
  else prepare_bf16(E, m, x, slot);
}

/* ---- the integer tile step ------------------------------------------------------------------------ */

/* A bit mask of n lanes at p8, as <n x i1>. */
static LLVMValueRef load_bits(Em *E, LLVMValueRef p8, int n) {
  LLVMTypeRef it = LLVMIntTypeInContext(E->ctx, (unsigned)n);
  return LLVMBuildBitCast(E->b, em_load(E, it, p8, 1), vec(E->ti1, n), "");
}

/* One gate's weight levels for a quad: <4 vl x i8>. */
static LLVMValueRef load_levels(Em *E, int enc, LLVMValueRef p8) {
  LLVMBuilderRef b = E->b;
  int n = 4 * E->vl;
  switch (enc) {
  case LX_ENC_Q8: return em_load(E, vec(E->ti8, n), p8, 1);
  case LX_ENC_Q4: {
    /* bytes 0..2vl-1 in the low nibbles, 2vl..4vl-1 in the high ones */
    LLVMValueRef v = em_load(E, vec(E->ti8, n / 2), p8, 1), k4 = bytes_const(E, n / 2, 4);
    LLVMValueRef lo = LLVMBuildAShr(b, LLVMBuildShl(b, v, k4, ""), k4, ""), hi = LLVMBuildAShr(b, v, k4, "");
    return LLVMBuildShuffleVector(b, lo, hi, stride_mask(E, n, 0, 1), "");
  }
  case LX_ENC_TERNARY: {
    LLVMValueRef plus = load_bits(E, p8, n), minus = load_bits(E, em_gep(E, p8, em_i64(E, n / 8)), n);
    LLVMValueRef one = bytes_const(E, n, 1), zero = LLVMConstNull(vec(E->ti8, n));
    return LLVMBuildSub(b, LLVMBuildSelect(b, plus, one, zero, ""), LLVMBuildSelect(b, minus, one, zero, ""), "");
  }
  default: /* binary */
    return LLVMBuildSelect(b, load_bits(E, p8, n), bytes_const(E, n, -1), bytes_const(E, n, 1), "");
  }
}

/* The activation bytes of a packed quad for one gate: byte i = table[idx[i]] (table: i8*, the quad's start). */
static LLVMValueRef gather_bytes(Em *E, const CpuMat *m, LLVMValueRef table, LLVMValueRef idx) {
  LLVMBuilderRef b = E->b;
  int n = 4 * E->vl;
  LLVMTypeRef bt = vec(E->ti8, n);
  if (m->gather == CPU_GATHER_VPERMB) {
    LLVMValueRef args[2] = {em_load(E, bt, table, 1), idx};
    return em_call(E, em_intrinsic(E, "llvm.x86.avx512.permvar.qi.512", NULL, 0), args, 2);
  }
  if (m->gather == CPU_GATHER_PSHUFB) {
    /* vpshufb looks up within 16-byte lanes: one lookup in bytes 0..15, one in 16..31, chosen by bit 4 */
    LLVMValueRef r = em_load(E, bt, table, 1), f = em_intrinsic(E, "llvm.x86.avx2.pshuf.b", NULL, 0);
    LLVMValueRef lo_mask[32], hi_mask[32];
    for (int i = 0; i < 32; i++) {
      lo_mask[i] = em_i32(E, i % 16);
      hi_mask[i] = em_i32(E, 16 + i % 16);
    }
    LLVMValueRef lo = LLVMBuildShuffleVector(b, r, LLVMGetUndef(bt), LLVMConstVector(lo_mask, 32), "");
    LLVMValueRef hi = LLVMBuildShuffleVector(b, r, LLVMGetUndef(bt), LLVMConstVector(hi_mask, 32), "");
    LLVMValueRef a1[2] = {lo, idx}, a2[2] = {hi, idx};
    LLVMValueRef from_hi = LLVMBuildICmp(b, LLVMIntNE, LLVMBuildAnd(b, idx, bytes_const(E, n, 16), ""), LLVMConstNull(bt), "");
    return LLVMBuildSelect(b, from_hi, em_call(E, f, a2, 2), em_call(E, f, a1, 2), "");
  }
  LLVMValueRef ptrs = LLVMBuildInBoundsGEP2(b, E->ti8, table, (LLVMValueRef[]){LLVMBuildZExt(b, idx, vec(E->ti32, n), "")}, 1, "");
  LLVMTypeRef gt[2] = {bt, vec(E->tp8, n)};
  LLVMValueRef args[4] = {ptrs, em_i32(E, 1), LLVMConstAllOnes(vec(E->ti1, n)), LLVMGetUndef(bt)};
  return em_call(E, em_intrinsic(E, "llvm.masked.gather", gt, 2), args, 4);
}

/* acc (<vl x i32>) + Σ of the four products of each lane: activation bytes a (unsigned q + 128 for VNNI,
 * else signed q) times levels w, both <4 vl x i8>. */
static LLVMValueRef dot4(Em *E, int dot, LLVMValueRef acc, LLVMValueRef a, LLVMValueRef w) {
  LLVMBuilderRef b = E->b;
  int vl = E->vl, n = 4 * vl;
  LLVMTypeRef bt = vec(E->ti8, n);
  if (dot == CPU_DOT_VNNI) {
    LLVMValueRef args[3] = {acc, LLVMBuildBitCast(b, a, E->vi32, ""), LLVMBuildBitCast(b, w, E->vi32, "")};
    const char *name = vl == 16 ? "llvm.x86.avx512.vpdpbusd.512" : "llvm.x86.avx512.vpdpbusd.256";
    return em_call(E, em_intrinsic(E, name, NULL, 0), args, 3);
  }
  if (dot == CPU_DOT_MADD) {
    LLVMValueRef aw = em_call(E, em_intrinsic(E, "llvm.abs", &bt, 1), (LLVMValueRef[]){w, LLVMConstInt(E->ti1, 0, 0)}, 2);
    LLVMValueRef sa;
    if (vl == 8) {
      LLVMValueRef args[2] = {a, w};
      sa = em_call(E, em_intrinsic(E, "llvm.x86.avx2.psign.b", NULL, 0), args, 2);
    } else { /* no vpsignb with AVX-512: negate where w < 0 (where w == 0, |w| is 0 anyway) */
      LLVMValueRef neg = LLVMBuildICmp(b, LLVMIntSLT, w, LLVMConstNull(bt), "");
      sa = LLVMBuildSelect(b, neg, LLVMBuildSub(b, LLVMConstNull(bt), a, ""), a, "");
    }
    LLVMValueRef args[2] = {aw, sa};
    LLVMValueRef p16 = em_call(E, em_intrinsic(E, vl == 16 ? "llvm.x86.avx512.pmaddubs.w.512" : "llvm.x86.avx2.pmadd.ub.sw", NULL, 0), args, 2);
    LLVMValueRef ones[32];
    for (int i = 0; i < 2 * vl; i++) ones[i] = LLVMConstInt(E->ti16, 1, 0);
    LLVMValueRef args2[2] = {p16, LLVMConstVector(ones, (unsigned)(2 * vl))};
    LLVMValueRef p32 = em_call(E, em_intrinsic(E, vl == 16 ? "llvm.x86.avx512.pmaddw.d.512" : "llvm.x86.avx2.pmadd.wd", NULL, 0), args2, 2);
    return LLVMBuildAdd(b, acc, p32, "");
  }
  LLVMTypeRef wt = vec(E->ti32, n);
  LLVMValueRef p = LLVMBuildMul(b, LLVMBuildSExt(b, a, wt, ""), LLVMBuildSExt(b, w, wt, ""), "");
  LLVMValueRef s2 = LLVMBuildAdd(b, LLVMBuildShuffleVector(b, p, LLVMGetUndef(wt), stride_mask(E, n / 2, 0, 2), ""),
                                 LLVMBuildShuffleVector(b, p, LLVMGetUndef(wt), stride_mask(E, n / 2, 1, 2), ""), "");
  LLVMTypeRef st = LLVMTypeOf(s2);
  LLVMValueRef s4 = LLVMBuildAdd(b, LLVMBuildShuffleVector(b, s2, LLVMGetUndef(st), stride_mask(E, vl, 0, 2), ""),
                                 LLVMBuildShuffleVector(b, s2, LLVMGetUndef(st), stride_mask(E, vl, 1, 2), ""), "");
  return LLVMBuildAdd(b, acc, s4, "");
}

static void int8_step(Em *E, const CpuMat *m, LLVMValueRef tbase, LLVMValueRef step, const MatIn *in, LLVMValueRef *acc) {
  int vl = E->vl;
  LLVMTypeRef bt = vec(E->ti8, 4 * vl);
  LLVMValueRef sp = em_at(E, tbase, step, m->slot_stride, 0), a[NX_MAX] = {0}, tab[NX_MAX] = {0};
  if (!m->packed) {
    for (int r = 0; r < in->n; r++)
      a[r] = LLVMBuildBitCast(E->b, splat_i32(E, em_load(E, E->ti32, em_at(E, in->x[r], step, 4, 0), 4)), bt, "");
  } else {
    LLVMValueRef first = LLVMBuildMul(E->b, step, em_i64(E, 4), "");
    LLVMValueRef goff = em_load(E, E->ti32, em_at(E, em_wptr(E, m->goff_off), first, 4, 0), 4);
    for (int r = 0; r < in->n; r++) tab[r] = em_at(E, in->x[r], goff, 1, 0);
  }
  /* selects as nibbles: the quad's four group offsets, the same for every lane */
  LLVMValueRef rel = m->sel_nibbles ? LLVMBuildBitCast(E->b, splat_i32(E, em_load(E, E->ti32, em_at(E, em_wptr(E, m->qoff_off), step, 4, 0), 4)), bt, "")
                                    : NULL;
  for (int q = 0; q < m->gates; q++) {
    LLVMValueRef gp = em_gep(E, sp, em_i64(E, (long long)((size_t)q * m->gate_stride))), idx = NULL;
    if (m->sel_nibbles) {
      LLVMValueRef v = em_load(E, vec(E->ti8, 2 * vl), gp, 1), k4 = bytes_const(E, 2 * vl, 4);
      LLVMValueRef lo = LLVMBuildAnd(E->b, v, bytes_const(E, 2 * vl, 15), ""), hi = LLVMBuildLShr(E->b, v, k4, "");
      idx = LLVMBuildAdd(E->b, LLVMBuildShuffleVector(E->b, lo, hi, stride_mask(E, 4 * vl, 0, 1), ""), rel, "");
      gp = em_gep(E, gp, em_i64(E, 2 * vl));
    } else if (m->packed) {
      idx = em_load(E, bt, gp, 1);
      gp = em_gep(E, gp, em_i64(E, 4 * vl));
    }
    LLVMValueRef w = load_levels(E, m->enc, gp);
    for (int r = 0; r < in->n; r++) {
      LLVMValueRef x = m->packed ? gather_bytes(E, m, tab[r], idx) : a[r];
      acc[r * m->gates + q] = dot4(E, m->dot, acc[r * m->gates + q], x, w);
    }
  }
}

static void bf16_step(Em *E, const CpuMat *m, LLVMValueRef tbase, LLVMValueRef step, const MatIn *in, LLVMValueRef *acc) {
  LLVMValueRef sp = em_at(E, tbase, step, m->slot_stride, 0), hi[NX_MAX], lo[NX_MAX];
  LLVMValueRef f = em_intrinsic(E, "llvm.x86.avx512bf16.dpbf16ps.512", NULL, 0);
  for (int r = 0; r < in->n; r++) {
    hi[r] = splat_i32(E, em_load(E, E->ti32, em_at(E, in->x[r], step, 4, 0), 4));
    lo[r] = splat_i32(E, em_load(E, E->ti32, em_at(E, in->x[r], step, 4, 4 * (size_t)m->nsteps), 4));
  }
  for (int q = 0; q < m->gates; q++) {
    LLVMValueRef w = em_load(E, E->vi32, em_gep(E, sp, em_i64(E, (long long)((size_t)q * m->gate_stride))), 4);
    for (int r = 0; r < in->n; r++) {
      LLVMValueRef a1[3] = {acc[r * m->gates + q], w, hi[r]};
      LLVMValueRef a2[3] = {em_call(E, f, a1, 3), w, lo[r]};
      acc[r * m->gates + q] = em_call(E, f, a2, 3);
    }
  }
}

void em_int_step(Em *E, const CpuMat *m, LLVMValueRef tbase, LLVMValueRef step, const MatIn *in, LLVMValueRef *acc) {
  if (m->kernel == CPU_KERNEL_INT8) int8_step(E, m, tbase, step, in, acc);
  else bf16_step(E, m, tbase, step, in, acc);
}

/* The per-lane words of gate q of a tile at blob offset off ([ntiles][gates][vl]). */
static LLVMValueRef lane_words(Em *E, const CpuMat *m, size_t off, LLVMValueRef tile, int q, LLVMTypeRef ty) {
  size_t vbytes = (size_t)E->vl * 4;
  return em_load(E, ty, em_at(E, em_wptr(E, off), tile, (size_t)m->gates * vbytes, (size_t)q * vbytes), 64);
}

LLVMValueRef em_int_acc(Em *E, const CpuMat *m, LLVMValueRef tile, int q, LLVMValueRef acc) {
  if (!m->wsum_off) return acc;
  return LLVMBuildSub(E->b, acc, lane_words(E, m, m->wsum_off, tile, q, E->vi32), "");
}

LLVMValueRef em_int_output(Em *E, const CpuMat *m, LLVMValueRef tile, int q, LLVMValueRef acc, LLVMValueRef sx) {
  LLVMBuilderRef b = E->b;
  LLVMValueRef f = LLVMBuildSIToFP(b, em_int_acc(E, m, tile, q, acc), E->vf, "");
  f = LLVMBuildFMul(b, f, em_splat(E, sx), "");
  return LLVMBuildFMul(b, f, lane_words(E, m, m->scale_off, tile, q, E->vf), "");
}
