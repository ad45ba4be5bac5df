/* LLVM IR for a planned graph (codegen/cpu/cpu.h): the phase functions that the executor and the
 * standalone object call, each specialized to its layer's sizes, formats and group structure.
 *
 * The kernel of every phase is the tile matvec: for a tile of VL units, a loop over its slots loads, per
 * gate, one vector of VL codes and multiplies it by one vector of inputs, accumulating into one vector per
 * gate and input. For a dense matrix the input vector is x[slot] broadcast; for a packed (column-combined)
 * matrix it is x at the column each lane selects: the inputs of the group, gathered once per call into a
 * table in group order, are permuted by the lanes' select indices (vpermps; a generic gather where groups
 * are wider than a vector or the CPU has no permute). Sums are in level units; the per-row scale of
 * quantized encodings is applied once per tile, as the reference executor does. With one input, two sets
 * of accumulators take alternate slots so that the FMA latency does not bound the loop. The four gates of
 * a unit come out of one pass over the tile, so the cell update (vectorized sigmoid and tanh) follows
 * directly, without a second pass over gate values.
 *
 * Scoring reuses the same kernel over several inputs at once: the input projections W_ih x of a chunk of
 * tokens are one GEMM-like pass per layer (each slot's codes loaded once for up to four inputs, each tile
 * reused from cache for the whole chunk), then the recurrence adds W_hh h step by step. */
#include "codegen/cpu/emit.h"

#include <llvm-c/Analysis.h>
#include <stdio.h>
#include <string.h>

#include "support/alloc.h"
#include "support/err.h"

/* ---- helpers ------------------------------------------------------------------------------------ */

LLVMValueRef em_i32(Em *E, long long v) { return LLVMConstInt(E->ti32, (unsigned long long)v, 1); }
LLVMValueRef em_i64(Em *E, long long v) { return LLVMConstInt(E->ti64, (unsigned long long)v, 1); }
LLVMValueRef em_f32(Em *E, double v) { return LLVMConstReal(E->tf, v); }
LLVMValueRef em_f64(Em *E, double v) { return LLVMConstReal(E->td, v); }

LLVMValueRef em_gep(Em *E, LLVMValueRef p8, LLVMValueRef off) { return LLVMBuildInBoundsGEP2(E->b, E->ti8, p8, &off, 1, ""); }

LLVMValueRef em_as_ptr(Em *E, LLVMValueRef p8, LLVMTypeRef elt) {
  return LLVMBuildBitCast(E->b, p8, LLVMPointerType(elt, 0), "");
}

LLVMValueRef em_load(Em *E, LLVMTypeRef ty, LLVMValueRef p8, unsigned align) {
  LLVMValueRef v = LLVMBuildLoad2(E->b, ty, em_as_ptr(E, p8, ty), "");
  LLVMSetAlignment(v, align);
  return v;
}

void em_store(Em *E, LLVMValueRef v, LLVMValueRef p8, unsigned align) {
  LLVMValueRef s = LLVMBuildStore(E->b, v, em_as_ptr(E, p8, LLVMTypeOf(v)));
  LLVMSetAlignment(s, align);
}

LLVMValueRef em_call(Em *E, LLVMValueRef fn, LLVMValueRef *args, unsigned n) {
  return LLVMBuildCall2(E->b, LLVMGetElementType(LLVMTypeOf(fn)), fn, args, n, "");
}

static void add_attr(Em *E, LLVMValueRef fn, unsigned idx, const char *name) {
  unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
  LLVMAddAttributeAtIndex(fn, idx, LLVMCreateEnumAttribute(E->ctx, kind, 0));
}

static void add_str_attr(Em *E, LLVMValueRef fn, const char *k, const char *v) {
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                          LLVMCreateStringAttribute(E->ctx, k, (unsigned)strlen(k), v, (unsigned)strlen(v)));
}

LLVMValueRef em_function(Em *E, const char *name, LLVMTypeRef ret, LLVMTypeRef *params, unsigned n, int internal) {
  LLVMValueRef fn = LLVMAddFunction(E->mod, name, LLVMFunctionType(ret, params, n, 0));
  if (internal) LLVMSetLinkage(fn, LLVMInternalLinkage);
  add_attr(E, fn, LLVMAttributeFunctionIndex, "nounwind");
  if (E->baseline) { /* code any x86-64 CPU runs: the object's CPU check and what may run before it */
    add_str_attr(E, fn, "target-cpu", "x86-64");
    return fn;
  }
  add_str_attr(E, fn, "target-cpu", E->t->cpu);
  if (E->t->features[0]) add_str_attr(E, fn, "target-features", E->t->features);
  /* without these, some CPUs' tuning splits 512-bit vectors in two */
  char width[16];
  snprintf(width, sizeof width, "%d", E->vl * 32);
  add_str_attr(E, fn, "min-legal-vector-width", width);
  add_str_attr(E, fn, "prefer-vector-width", width);
  return fn;
}

LLVMBasicBlockRef em_block(Em *E, const char *name) { return LLVMAppendBasicBlockInContext(E->ctx, E->fn, name); }

LLVMValueRef em_extern(Em *E, const char *name, LLVMTypeRef ret, LLVMTypeRef *params, unsigned n) {
  LLVMValueRef f = LLVMGetNamedFunction(E->mod, name);
  if (!f) f = LLVMAddFunction(E->mod, name, LLVMFunctionType(ret, params, n, 0));
  return f;
}

void em_loop_begin(Em *E, EmLoop *L, LLVMValueRef start, LLVMValueRef end, int nv, const LLVMValueRef *init,
                   const char *name) {
  LX_ASSERT(nv <= EM_LOOP_MAXV);
  char buf[64];
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(E->b);
  snprintf(buf, sizeof buf, "%s.head", name);
  L->head = em_block(E, buf);
  snprintf(buf, sizeof buf, "%s.body", name);
  L->body = em_block(E, buf);
  snprintf(buf, sizeof buf, "%s.exit", name);
  L->exit = em_block(E, buf);
  L->nv = nv;
  LLVMBuildBr(E->b, L->head);
  LLVMPositionBuilderAtEnd(E->b, L->head);
  L->iv = LLVMBuildPhi(E->b, LLVMTypeOf(start), name);
  LLVMAddIncoming(L->iv, &start, &pre, 1);
  for (int k = 0; k < nv; k++) {
    L->v[k] = LLVMBuildPhi(E->b, LLVMTypeOf(init[k]), "");
    LLVMValueRef v = init[k];
    LLVMAddIncoming(L->v[k], &v, &pre, 1);
  }
  LLVMBuildCondBr(E->b, LLVMBuildICmp(E->b, LLVMIntSLT, L->iv, end, ""), L->body, L->exit);
  LLVMPositionBuilderAtEnd(E->b, L->body);
}

void em_loop_end(Em *E, EmLoop *L, LLVMValueRef step, const LLVMValueRef *next) {
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(E->b);
  LLVMValueRef iv = LLVMBuildAdd(E->b, L->iv, step, "");
  LLVMBuildBr(E->b, L->head);
  LLVMAddIncoming(L->iv, &iv, &latch, 1);
  for (int k = 0; k < L->nv; k++) {
    LLVMValueRef v = next[k];
    LLVMAddIncoming(L->v[k], &v, &latch, 1);
  }
  LLVMPositionBuilderAtEnd(E->b, L->exit);
}

void cpu_phase_name(char *buf, size_t n, const char *what, int layer) {
  if (layer >= 0) snprintf(buf, n, "lstmc_L%d_%s", layer, what);
  else snprintf(buf, n, "lstmc_%s", what);
}

LLVMValueRef em_wptr(Em *E, size_t off) { return em_gep(E, E->wbase, em_i64(E, (long long)off)); }
LLVMValueRef em_i64of(Em *E, LLVMValueRef v) { return LLVMBuildSExt(E->b, v, E->ti64, ""); }
/* base + idx * scale + add, in bytes (idx any integer value) */
LLVMValueRef em_at(Em *E, LLVMValueRef base, LLVMValueRef idx, size_t scale, size_t add) {
  LLVMValueRef off = LLVMBuildMul(E->b, em_i64of(E, idx), em_i64(E, (long long)scale), "");
  if (add) off = LLVMBuildAdd(E->b, off, em_i64(E, (long long)add), "");
  return em_gep(E, base, off);
}

LLVMValueRef em_splat(Em *E, LLVMValueRef s) {
  LLVMValueRef v = LLVMBuildInsertElement(E->b, LLVMGetUndef(E->vf), s, em_i32(E, 0), "");
  return LLVMBuildShuffleVector(E->b, v, LLVMGetUndef(E->vf), LLVMConstNull(E->vi32), "");
}

LLVMValueRef em_vconst_i32(Em *E, int v) {
  LLVMValueRef c[16];
  for (int i = 0; i < E->vl; i++) c[i] = em_i32(E, v);
  return LLVMConstVector(c, (unsigned)E->vl);
}

static LLVMValueRef fma3(Em *E, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  LLVMValueRef args[3] = {a, b, c};
  return em_call(E, E->fmuladd, args, 3);
}

LLVMValueRef em_intrinsic(Em *E, const char *name, LLVMTypeRef *types, unsigned n) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LX_ASSERT(id != 0);
  return LLVMGetIntrinsicDeclaration(E->mod, id, types, n);
}

/* ---- vector math: exp, sigmoid, tanh ------------------------------------------------------------- */

/* exp(x) for x clamped to [-87, 88] (Cephes expf: Cody-Waite reduction, degree-5 polynomial; relative
 * error about 1e-7, and the clamp keeps 2^n a normal float). */
static LLVMValueRef vexp(Em *E, LLVMValueRef x) {
  LLVMBuilderRef b = E->b;
  LLVMValueRef lo = em_splat(E, em_f32(E, -87.0)), hi = em_splat(E, em_f32(E, 88.0));
  x = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, x, lo, ""), lo, x, "");
  x = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, x, hi, ""), hi, x, "");
  LLVMValueRef fx = fma3(E, x, em_splat(E, em_f32(E, 1.44269504088896341)), em_splat(E, em_f32(E, 0.5)));
  fx = em_call(E, E->floor_, &fx, 1);
  LLVMValueRef r = fma3(E, fx, em_splat(E, em_f32(E, -0.693359375)), x);
  r = fma3(E, fx, em_splat(E, em_f32(E, 2.12194440e-4)), r);
  static const double c[6] = {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3, 4.1665795894E-2, 1.6666665459E-1, 5.0000001201E-1};
  LLVMValueRef y = em_splat(E, em_f32(E, c[0]));
  for (int i = 1; i < 6; i++) y = fma3(E, y, r, em_splat(E, em_f32(E, c[i])));
  LLVMValueRef z = LLVMBuildFMul(b, r, r, "");
  y = fma3(E, y, z, LLVMBuildFAdd(b, r, em_splat(E, em_f32(E, 1.0)), ""));
  /* y * 2^n, with 2^n built in the exponent field */
  LLVMValueRef n = LLVMBuildFPToSI(b, fx, E->vi32, "");
  n = LLVMBuildShl(b, LLVMBuildAdd(b, n, em_vconst_i32(E, 127), ""), em_vconst_i32(E, 23), "");
  return LLVMBuildFMul(b, y, LLVMBuildBitCast(b, n, E->vf, ""), "");
}

/* Builds `internal <vl x float> name(<vl x float>)` marked alwaysinline; body(E, x) gives the result. */
static LLVMValueRef vector_fn(Em *E, const char *name, LLVMValueRef (*body)(Em *, LLVMValueRef)) {
  LLVMValueRef saved = E->fn;
  LLVMBasicBlockRef saved_bb = LLVMGetInsertBlock(E->b);
  LLVMTypeRef vt = E->vf;
  LLVMValueRef fn = em_function(E, name, vt, &vt, 1, 1);
  add_attr(E, fn, LLVMAttributeFunctionIndex, "alwaysinline");
  E->fn = fn;
  LLVMPositionBuilderAtEnd(E->b, em_block(E, "entry"));
  LLVMBuildRet(E->b, body(E, LLVMGetParam(fn, 0)));
  E->fn = saved;
  if (saved_bb) LLVMPositionBuilderAtEnd(E->b, saved_bb);
  return fn;
}

static LLVMValueRef vsplat1(Em *E) { return em_splat(E, em_f32(E, 1.0)); }

/* sigmoid(x) = 1 / (1 + exp(-x)) */
static LLVMValueRef sigmoid_body(Em *E, LLVMValueRef x) {
  LLVMValueRef e = vexp(E, LLVMBuildFNeg(E->b, x, ""));
  return LLVMBuildFDiv(E->b, vsplat1(E), LLVMBuildFAdd(E->b, vsplat1(E), e, ""), "");
}

/* tanh(x) = 1 - 2 / (exp(2x) + 1): saturates cleanly at both ends; absolute error about 1e-7 */
static LLVMValueRef tanh_body(Em *E, LLVMValueRef x) {
  LLVMValueRef e = vexp(E, LLVMBuildFAdd(E->b, x, x, ""));
  LLVMValueRef q = LLVMBuildFDiv(E->b, em_splat(E, em_f32(E, 2.0)), LLVMBuildFAdd(E->b, e, vsplat1(E), ""), "");
  return LLVMBuildFSub(E->b, vsplat1(E), q, "");
}

/* ---- the tile kernel ---------------------------------------------------------------------------- */

/* One gate's codes for one slot, decoded: a float vector of levels, or lane masks (ternary, binary). */
typedef struct Codes {
  LLVMValueRef w, plus, minus;
} Codes;

static LLVMValueRef load_mask(Em *E, LLVMValueRef p8) {
  LLVMTypeRef it = LLVMIntTypeInContext(E->ctx, (unsigned)E->vl);
  return LLVMBuildBitCast(E->b, em_load(E, it, p8, 1), E->vi1, "");
}

static Codes load_codes(Em *E, int enc, LLVMValueRef p8) {
  LLVMBuilderRef b = E->b;
  Codes c = {0};
  int vl = E->vl;
  switch (enc) {
  case LX_ENC_F32: c.w = em_load(E, E->vf, p8, 4); break;
  case LX_ENC_BF16: {
    LLVMValueRef h = LLVMBuildZExt(b, em_load(E, E->vi16, p8, 2), E->vi32, "");
    c.w = LLVMBuildBitCast(b, LLVMBuildShl(b, h, em_vconst_i32(E, 16), ""), E->vf, "");
    break;
  }
  case LX_ENC_Q8: c.w = LLVMBuildSIToFP(b, em_load(E, E->vi8, p8, 1), E->vf, ""); break;
  case LX_ENC_Q4: {
    /* lanes 0..vl/2-1 in the low nibbles, vl/2..vl-1 in the high ones (plan.c) */
    LLVMTypeRef half = LLVMVectorType(E->ti8, (unsigned)vl / 2);
    LLVMValueRef v = em_load(E, half, p8, 1), four[8], idx[16];
    for (int i = 0; i < vl / 2; i++) four[i] = LLVMConstInt(E->ti8, 4, 0);
    LLVMValueRef k4 = LLVMConstVector(four, (unsigned)vl / 2);
    LLVMValueRef lo = LLVMBuildAShr(b, LLVMBuildShl(b, v, k4, ""), k4, ""), hi = LLVMBuildAShr(b, v, k4, "");
    for (int i = 0; i < vl; i++) idx[i] = em_i32(E, i);
    c.w = LLVMBuildSIToFP(b, LLVMBuildShuffleVector(b, lo, hi, LLVMConstVector(idx, (unsigned)vl), ""), E->vf, "");
    break;
  }
  case LX_ENC_TERNARY:
    c.plus = load_mask(E, p8);
    c.minus = load_mask(E, em_gep(E, p8, em_i64(E, vl / 8)));
    break;
  default: c.minus = load_mask(E, p8); break;
  }
  return c;
}

/* acc + level · x, lane by lane. Ternary and binary add or subtract x under their masks (merge-masked
 * adds on AVX-512), so a zero weight adds nothing, exactly as the reference skips it. */
static LLVMValueRef accumulate(Em *E, int enc, const Codes *c, LLVMValueRef x, LLVMValueRef acc) {
  LLVMBuilderRef b = E->b;
  if (enc == LX_ENC_TERNARY) {
    acc = LLVMBuildSelect(b, c->plus, LLVMBuildFAdd(b, acc, x, ""), acc, "");
    return LLVMBuildSelect(b, c->minus, LLVMBuildFSub(b, acc, x, ""), acc, "");
  }
  if (enc == LX_ENC_BINARY) return LLVMBuildFAdd(b, acc, LLVMBuildSelect(b, c->minus, LLVMBuildFNeg(b, x, ""), x, ""), "");
  return fma3(E, c->w, x, acc);
}

static int use_permute(Em *E, const CpuMat *m) {
  return m->max_group <= E->vl && ((E->vl == 16 && E->t->avx512) || (E->vl == 8 && E->t->avx2));
}

/* Adds slot s of the tile at tbase to acc[r * gates + q] for every input r and gate q. */
static void emit_slot(Em *E, const CpuMat *m, LLVMValueRef tbase, LLVMValueRef s, const MatIn *in, LLVMValueRef *acc) {
  LLVMBuilderRef b = E->b;
  LLVMValueRef sp = em_at(E, tbase, s, m->slot_stride, 0), xv[NX_MAX], tab[NX_MAX];
  int permute = m->packed && use_permute(E, m);
  if (!m->packed) {
    for (int r = 0; r < in->n; r++) xv[r] = em_splat(E, em_load(E, E->tf, em_at(E, in->x[r], s, 4, 0), 4));
  } else {
    LLVMValueRef goff = em_load(E, E->ti32, em_at(E, em_wptr(E, m->goff_off), s, 4, 0), 4);
    for (int r = 0; r < in->n; r++) {
      tab[r] = em_at(E, in->x[r], goff, 4, 0);
      if (permute) tab[r] = em_load(E, E->vf, tab[r], 4);
    }
  }
  for (int q = 0; q < m->gates; q++) {
    LLVMValueRef gp = em_gep(E, sp, em_i64(E, (long long)((size_t)q * m->gate_stride))), idx = NULL;
    if (m->packed) {
      idx = LLVMBuildZExt(b, em_load(E, E->vi8, gp, 1), E->vi32, "");
      gp = em_gep(E, gp, em_i64(E, E->vl));
    }
    Codes c = load_codes(E, m->enc, gp);
    for (int r = 0; r < in->n; r++) {
      LLVMValueRef x = xv[r];
      if (m->packed && permute) {
        LLVMValueRef args[2] = {tab[r], idx};
        x = em_call(E, E->permute, args, 2);
      } else if (m->packed) {
        LLVMValueRef base = em_as_ptr(E, tab[r], E->tf);
        LLVMValueRef ptrs = LLVMBuildInBoundsGEP2(b, E->tf, base, &idx, 1, "");
        LLVMValueRef args[4] = {ptrs, em_i32(E, 4), LLVMConstAllOnes(E->vi1), LLVMGetUndef(E->vf)};
        x = em_call(E, E->gather, args, 4);
      }
      acc[r * m->gates + q] = accumulate(E, m->enc, &c, x, acc[r * m->gates + q]);
    }
  }
}

/* acc[r * gates + q] (n * gates values) = Σ_slots level · x_r for tile `tile` (an i32 value) of m: float
 * sums in level units for the float and bf16 kernels, int32 sums for the integer kernel (VNNI's still
 * biased: em_int_acc corrects them). */
static void emit_tile_matvec(Em *E, const CpuMat *m, LLVMValueRef tile, const MatIn *in, LLVMValueRef *acc) {
  int G = m->gates, n = in->n, sets = n == 1 && m->nsteps >= 2 ? 2 : 1, nacc = sets * n * G;
  int is_int = m->kernel == CPU_KERNEL_INT8, is_float = m->kernel == CPU_KERNEL_FLOAT;
  LLVMValueRef init[EM_LOOP_MAXV], next[EM_LOOP_MAXV];
  for (int i = 0; i < nacc; i++) init[i] = LLVMConstNull(is_int ? E->vi32 : E->vf);
  LLVMValueRef tbase = em_at(E, em_wptr(E, m->off), tile, m->tile_bytes, 0);
  int64_t nfull = m->nsteps / sets * sets;
  EmLoop L;
  em_loop_begin(E, &L, em_i64(E, 0), em_i64(E, nfull), nacc, init, "slot");
  for (int i = 0; i < nacc; i++) next[i] = L.v[i];
  for (int k = 0; k < sets; k++) {
    LLVMValueRef step = LLVMBuildAdd(E->b, L.iv, em_i64(E, k), "");
    if (is_float) emit_slot(E, m, tbase, step, in, next + k * n * G);
    else em_int_step(E, m, tbase, step, in, next + k * n * G);
  }
  em_loop_end(E, &L, em_i64(E, sets), next);
  for (int i = 0; i < nacc; i++) next[i] = L.v[i];
  if (nfull < m->nsteps) {
    if (is_float) emit_slot(E, m, tbase, em_i64(E, nfull), in, next);
    else em_int_step(E, m, tbase, em_i64(E, nfull), in, next);
  }
  for (int i = 0; i < n * G; i++) {
    if (sets == 1) acc[i] = next[i];
    else acc[i] = is_int ? LLVMBuildAdd(E->b, next[i], next[n * G + i], "") : LLVMBuildFAdd(E->b, next[i], next[n * G + i], "");
  }
}

/* Gate q's outputs from its sums: times the per-lane scales (encodings with a scale), or for the integer
 * kernel ((float)acc · s_x) · scale; r: the input (its s_x). */
static LLVMValueRef mat_output(Em *E, const CpuMat *m, LLVMValueRef tile, int q, LLVMValueRef acc, const MatIn *in, int r) {
  if (m->kernel == CPU_KERNEL_INT8) return em_int_output(E, m, tile, q, acc, in->sx[r]);
  if (!m->scale_off) return acc;
  size_t vbytes = (size_t)E->vl * 4;
  LLVMValueRef sp = em_at(E, em_wptr(E, m->scale_off), tile, (size_t)m->gates * vbytes, (size_t)q * vbytes);
  return LLVMBuildFMul(E->b, acc, em_load(E, E->vf, sp, 64), "");
}

/* Gathers x[group_cols[k]] into tab[k] for every grouped column: the table the packed kernel permutes. */
static void emit_table(Em *E, const CpuMat *m, LLVMValueRef x, LLVMValueRef tab) {
  EmLoop L;
  em_loop_begin(E, &L, em_i64(E, 0), em_i64(E, m->ngrouped), 0, NULL, "table");
  LLVMValueRef col = em_load(E, E->ti32, em_at(E, em_wptr(E, m->gcols_off), L.iv, 4, 0), 4);
  em_store(E, em_load(E, E->tf, em_at(E, x, col, 4, 0), 4), em_at(E, tab, L.iv, 4, 0), 4);
  em_loop_end(E, &L, em_i64(E, 1), NULL);
}

/* The cell update for one tile of units: c' = f c + i g, h' = o tanh(c'); h' is stored to each of hout. */
static void emit_cell(Em *E, LLVMValueRef *pre, LLVMValueRef cptr, LLVMValueRef *hout, int nh) {
  LLVMBuilderRef b = E->b;
  LLVMValueRef i = em_call(E, E->vsigmoid, &pre[0], 1), f = em_call(E, E->vsigmoid, &pre[1], 1);
  LLVMValueRef g = em_call(E, E->vtanh, &pre[2], 1), o = em_call(E, E->vsigmoid, &pre[3], 1);
  LLVMValueRef c = fma3(E, f, em_load(E, E->vf, cptr, 64), LLVMBuildFMul(b, i, g, ""));
  em_store(E, c, cptr, 64);
  LLVMValueRef h = LLVMBuildFMul(b, o, em_call(E, E->vtanh, &c, 1), "");
  for (int k = 0; k < nh; k++) em_store(E, h, hout[k], 64);
}

/* ---- phase functions ---------------------------------------------------------------------------- */

typedef struct Phase {
  LLVMValueRef arena, scratch, begin, end, a, b;
} Phase;

static Phase phase_begin(Em *E, const char *what, int layer, int internal) {
  char name[64];
  cpu_phase_name(name, sizeof name, what, layer);
  LLVMTypeRef params[6] = {E->tp8, E->tp8, E->ti32, E->ti32, E->ti32, E->ti32};
  E->fn = em_function(E, name, E->tvoid, params, 6, internal);
  for (unsigned i = 1; i <= 2; i++) {
    add_attr(E, E->fn, i, "noalias");
    add_attr(E, E->fn, i, "nocapture");
  }
  LLVMPositionBuilderAtEnd(E->b, em_block(E, "entry"));
  Phase P;
  P.arena = LLVMGetParam(E->fn, 0);
  P.scratch = LLVMGetParam(E->fn, 1);
  P.begin = LLVMGetParam(E->fn, 2);
  P.end = LLVMGetParam(E->fn, 3);
  P.a = LLVMGetParam(E->fn, 4);
  P.b = LLVMGetParam(E->fn, 5);
  return P;
}

static LLVMValueRef arena_at(Em *E, const Phase *P, size_t off) { return em_gep(E, P->arena, em_i64(E, (long long)off)); }

/* One of two arena offsets by parity: off[parity] (flip: off[1 - parity]). */
static LLVMValueRef by_parity(Em *E, const Phase *P, const size_t off[2], LLVMValueRef parity, int flip) {
  LLVMValueRef odd = LLVMBuildICmp(E->b, LLVMIntNE, parity, em_i32(E, 0), "");
  LLVMValueRef o = LLVMBuildSelect(E->b, odd, em_i64(E, (long long)off[!flip]), em_i64(E, (long long)off[flip]), "");
  return em_gep(E, P->arena, o);
}

/* The embedding row of the token at arena tokens[idx]. */
static LLVMValueRef embedding_row(Em *E, const Phase *P, LLVMValueRef idx) {
  LLVMValueRef tok = em_load(E, E->ti32, em_at(E, arena_at(E, P, E->p->a_tokens), idx, 4, 0), 4);
  return em_at(E, em_wptr(E, E->p->emb_off), tok, (size_t)E->p->E * 4, 0);
}

/* Scratch area k of the calling thread: a prepared input (64-byte header, then the kernel's bytes). */
static LLVMValueRef table_at(Em *E, const Phase *P, LLVMValueRef k) { return em_at(E, P->scratch, k, E->p->table_bytes, 0); }

/* Whether the kernel reads a prepared input rather than the float vector itself. */
static int needs_prep(const CpuMat *m) { return m->packed || m->kernel != CPU_KERNEL_FLOAT; }

/* Prepares x for m into the scratch area `slot`: the float group table (packed float kernel), the
 * quantized bytes and s_x (integer kernel), the bf16 parts (bf16 kernel). */
static void prepare(Em *E, const CpuMat *m, LLVMValueRef x, LLVMValueRef slot) {
  if (m->kernel == CPU_KERNEL_FLOAT) emit_table(E, m, x, em_gep(E, slot, em_i64(E, 64)));
  else em_int_prepare(E, m, x, slot);
}

/* Input r of a matvec: the vector itself, or what was prepared in the scratch area `p` (and its s_x). */
static void set_input(Em *E, const CpuMat *m, MatIn *in, int r, LLVMValueRef p) {
  in->x[r] = needs_prep(m) ? em_gep(E, p, em_i64(E, 64)) : p;
  in->sx[r] = m->kernel == CPU_KERNEL_INT8 ? em_load(E, E->tf, p, 4) : NULL;
}

/* Inputs [first, first + n) of xs (vectors, or prepared scratch areas) as m's inputs. */
static MatIn mat_in(Em *E, const CpuMat *m, const LLVMValueRef *xs, int first, int n) {
  MatIn in;
  in.n = n;
  for (int r = 0; r < n; r++) set_input(E, m, &in, r, xs[first + r]);
  return in;
}

/* When m reads prepared inputs, prepares each input vector into scratch area tslot0 + r and replaces it
 * by that area. */
static void ensure_tables(Em *E, const Phase *P, const CpuMat *m, LLVMValueRef *xs, int n, int tslot0) {
  if (!needs_prep(m)) return;
  for (int r = 0; r < n; r++) {
    LLVMValueRef tab = table_at(E, P, em_i32(E, tslot0 + r));
    prepare(E, m, xs[r], tab);
    xs[r] = tab;
  }
}

/* Loop over the phase's tiles; the body is built by the caller between tiles_begin and tiles_end. */
static LLVMValueRef tiles_begin(Em *E, const Phase *P, EmLoop *L) {
  em_loop_begin(E, L, P->begin, P->end, 0, NULL, "tile");
  return L->iv;
}

static void tiles_end(Em *E, EmLoop *L) { em_loop_end(E, L, em_i32(E, 1), NULL); }

static int nx_max(Em *E) { return E->vl == 16 ? 4 : 2; }

/* lstmc_L<l>_step: the batch's streams through layer l, W_ih x and W_hh h fused per tile. */
static void emit_layer_step(Em *E, int l, int internal) {
  const CpuPlan *p = E->p;
  const CpuLayer *Ly = &p->layers[l];
  Phase P = phase_begin(E, "step", l, internal);
  int B = p->batch, vl = E->vl;
  size_t hbytes = (size_t)Ly->hp * 4;
  LLVMValueRef xs[64], hs[64], hout[64], cs[64];
  LX_ASSERT(B <= 64);
  for (int r = 0; r < B; r++) {
    if (l == 0) xs[r] = embedding_row(E, &P, em_i32(E, r));
    else xs[r] = em_gep(E, by_parity(E, &P, p->layers[l - 1].h_off, P.a, 1), em_i64(E, (long long)((size_t)r * (size_t)p->layers[l - 1].hp * 4)));
    hs[r] = em_gep(E, by_parity(E, &P, Ly->h_off, P.a, 0), em_i64(E, (long long)(r * hbytes)));
    hout[r] = em_gep(E, by_parity(E, &P, Ly->h_off, P.a, 1), em_i64(E, (long long)(r * hbytes)));
    cs[r] = arena_at(E, &P, Ly->c_off + (size_t)r * hbytes);
  }
  ensure_tables(E, &P, &Ly->ih, xs, B, 0);
  ensure_tables(E, &P, &Ly->hh, hs, B, B);
  EmLoop T;
  LLVMValueRef tile = tiles_begin(E, &P, &T);
  LLVMValueRef toff = LLVMBuildMul(E->b, em_i64of(E, tile), em_i64(E, vl * 4), "");
  for (int r0 = 0; r0 < B; r0 += nx_max(E)) {
    int n = B - r0 < nx_max(E) ? B - r0 : nx_max(E);
    LLVMValueRef ai[4 * NX_MAX], ah[4 * NX_MAX];
    MatIn in_ih = mat_in(E, &Ly->ih, xs, r0, n), in_hh = mat_in(E, &Ly->hh, hs, r0, n);
    emit_tile_matvec(E, &Ly->ih, tile, &in_ih, ai);
    emit_tile_matvec(E, &Ly->hh, tile, &in_hh, ah);
    for (int r = 0; r < n; r++) {
      LLVMValueRef pre[4];
      for (int q = 0; q < 4; q++) {
        LLVMValueRef bias = em_load(E, E->vf, em_at(E, em_wptr(E, Ly->bias_off), tile, (size_t)4 * vl * 4, (size_t)q * vl * 4), 64);
        pre[q] = LLVMBuildFAdd(E->b, LLVMBuildFAdd(E->b, bias, mat_output(E, &Ly->ih, tile, q, ai[r * 4 + q], &in_ih, r), ""),
                               mat_output(E, &Ly->hh, tile, q, ah[r * 4 + q], &in_hh, r), "");
      }
      LLVMValueRef h = em_gep(E, hout[r0 + r], toff);
      emit_cell(E, pre, em_gep(E, cs[r0 + r], toff), &h, 1);
    }
  }
  tiles_end(E, &T);
  LLVMBuildRetVoid(E->b);
}

/* lstmc_dec_step: logits of the batch's streams from the last layer's new h. */
static void emit_dec_step(Em *E, int internal) {
  const CpuPlan *p = E->p;
  const CpuLayer *last = &p->layers[p->nlayers - 1];
  Phase P = phase_begin(E, "dec_step", -1, internal);
  int B = p->batch, vl = E->vl;
  LLVMValueRef xs[64];
  for (int r = 0; r < B; r++)
    xs[r] = em_gep(E, by_parity(E, &P, last->h_off, P.a, 1), em_i64(E, (long long)((size_t)r * (size_t)last->hp * 4)));
  ensure_tables(E, &P, &p->dec, xs, B, 0);
  EmLoop T;
  LLVMValueRef tile = tiles_begin(E, &P, &T);
  LLVMValueRef bias = em_load(E, E->vf, em_at(E, em_wptr(E, p->dec_bias_off), tile, (size_t)vl * 4, 0), 64);
  for (int r0 = 0; r0 < B; r0 += nx_max(E)) {
    int n = B - r0 < nx_max(E) ? B - r0 : nx_max(E);
    LLVMValueRef acc[NX_MAX];
    MatIn in = mat_in(E, &p->dec, xs, r0, n);
    emit_tile_matvec(E, &p->dec, tile, &in, acc);
    for (int r = 0; r < n; r++) {
      LLVMValueRef out = em_at(E, arena_at(E, &P, p->a_logits + (size_t)(r0 + r) * (size_t)p->Vp * 4), tile, (size_t)vl * 4, 0);
      em_store(E, LLVMBuildFAdd(E->b, bias, mat_output(E, &p->dec, tile, 0, acc[r], &in, r), ""), out, 64);
    }
  }
  tiles_end(E, &T);
  LLVMBuildRetVoid(E->b);
}

/* A GEMM-like phase over the n inputs of a scoring chunk (n = argument a): out[τ] = bias + W x_τ. */
typedef struct Gemm {
  const CpuMat *m;
  int embed;             /* inputs are embedding rows of tokens[τ] */
  size_t in_off, in_stride; /* else arena + in_off + τ * in_stride */
  size_t out_off, out_stride, out_gate_stride; /* arena + out_off + τ * out_stride + q * out_gate_stride + tile * vl * 4 */
  size_t bias_off;       /* blob: [ntiles][gates][vl] */
} Gemm;

/* Input τ's vector itself. */
static LLVMValueRef gemm_vector(Em *E, const Phase *P, const Gemm *G, LLVMValueRef tau) {
  if (G->embed) return embedding_row(E, P, tau);
  return em_at(E, arena_at(E, P, G->in_off), tau, G->in_stride, 0);
}

/* Where input τ is for the kernel: the vector, or its prepared scratch area. */
static LLVMValueRef gemm_input(Em *E, const Phase *P, const Gemm *G, LLVMValueRef tau) {
  return needs_prep(G->m) ? table_at(E, P, tau) : gemm_vector(E, P, G, tau);
}

/* Inputs tau .. tau + n - 1 (n constant) through one tile, results stored. */
static void gemm_block(Em *E, const Phase *P, const Gemm *G, LLVMValueRef tile, LLVMValueRef tau, int n) {
  const CpuMat *m = G->m;
  int vl = E->vl;
  MatIn in;
  in.n = n;
  LLVMValueRef taus[NX_MAX], acc[4 * NX_MAX];
  for (int r = 0; r < n; r++) {
    taus[r] = LLVMBuildAdd(E->b, tau, em_i32(E, r), "");
    set_input(E, m, &in, r, gemm_input(E, P, G, taus[r]));
  }
  emit_tile_matvec(E, m, tile, &in, acc);
  for (int q = 0; q < m->gates; q++) {
    LLVMValueRef bias = em_load(E, E->vf, em_at(E, em_wptr(E, G->bias_off), tile, (size_t)m->gates * vl * 4, (size_t)q * vl * 4), 64);
    for (int r = 0; r < n; r++) {
      LLVMValueRef out = em_at(E, arena_at(E, P, G->out_off + (size_t)q * G->out_gate_stride), taus[r], G->out_stride, 0);
      out = em_at(E, out, tile, (size_t)vl * 4, 0);
      em_store(E, LLVMBuildFAdd(E->b, bias, mat_output(E, m, tile, q, acc[r * m->gates + q], &in, r), ""), out, 64);
    }
  }
}

static void emit_gemm(Em *E, const char *what, int layer, int internal, const Gemm *G) {
  Phase P = phase_begin(E, what, layer, internal);
  LLVMValueRef n = P.a;
  if (needs_prep(G->m)) {
    /* one prepared input per token, made before the tiles so each tile reuses them */
    EmLoop L;
    em_loop_begin(E, &L, em_i32(E, 0), n, 0, NULL, "tables");
    prepare(E, G->m, gemm_vector(E, &P, G, L.iv), table_at(E, &P, L.iv));
    em_loop_end(E, &L, em_i32(E, 1), NULL);
  }
  int nx = nx_max(E);
  LLVMValueRef nb = LLVMBuildSub(E->b, n, LLVMBuildSRem(E->b, n, em_i32(E, nx), ""), "");
  EmLoop T, Bk, R;
  LLVMValueRef tile = tiles_begin(E, &P, &T);
  em_loop_begin(E, &Bk, em_i32(E, 0), nb, 0, NULL, "block");
  gemm_block(E, &P, G, tile, Bk.iv, nx);
  em_loop_end(E, &Bk, em_i32(E, nx), NULL);
  em_loop_begin(E, &R, nb, n, 0, NULL, "rest");
  gemm_block(E, &P, G, tile, R.iv, 1);
  em_loop_end(E, &R, em_i32(E, 1), NULL);
  tiles_end(E, &T);
  LLVMBuildRetVoid(E->b);
}

/* lstmc_L<l>_ih: the input projections of a chunk, bias included, into the gate buffer. */
static void emit_layer_ih(Em *E, int l, int internal) {
  const CpuPlan *p = E->p;
  const CpuLayer *Ly = &p->layers[l];
  Gemm G = {0};
  G.m = &Ly->ih;
  G.embed = l == 0;
  if (l > 0) {
    G.in_off = p->layers[l - 1].xout_off;
    G.in_stride = (size_t)p->layers[l - 1].hp * 4;
  }
  G.out_off = p->a_gates;
  G.out_gate_stride = (size_t)Ly->hp * 4;
  G.out_stride = 4 * G.out_gate_stride;
  G.bias_off = Ly->bias_off;
  emit_gemm(E, "ih", l, internal, &G);
}

/* lstmc_dec_gemm: the logits of a chunk from the last layer's outputs. */
static void emit_dec_gemm(Em *E, int internal) {
  const CpuPlan *p = E->p;
  const CpuLayer *last = &p->layers[p->nlayers - 1];
  Gemm G = {0};
  G.m = &p->dec;
  G.in_off = last->xout_off;
  G.in_stride = (size_t)last->hp * 4;
  G.out_off = p->a_slogits;
  G.out_stride = (size_t)p->Vp * 4;
  G.bias_off = p->dec_bias_off;
  emit_gemm(E, "dec_gemm", -1, internal, &G);
}

/* lstmc_L<l>_rec: step τ (a) of the recurrence over a chunk (parity b): gates = G[τ] + W_hh h. */
static void emit_layer_rec(Em *E, int l, int internal) {
  const CpuPlan *p = E->p;
  const CpuLayer *Ly = &p->layers[l];
  Phase P = phase_begin(E, "rec", l, internal);
  int vl = E->vl;
  size_t hbytes = (size_t)Ly->hp * 4;
  LLVMValueRef hs = by_parity(E, &P, Ly->h_off, P.b, 0), hout = by_parity(E, &P, Ly->h_off, P.b, 1);
  LLVMValueRef xo = em_at(E, arena_at(E, &P, Ly->xout_off), P.a, hbytes, 0);
  LLVMValueRef gates = em_at(E, arena_at(E, &P, p->a_gates), P.a, 4 * hbytes, 0);
  ensure_tables(E, &P, &Ly->hh, &hs, 1, 0);
  EmLoop T;
  LLVMValueRef tile = tiles_begin(E, &P, &T);
  LLVMValueRef toff = LLVMBuildMul(E->b, em_i64of(E, tile), em_i64(E, vl * 4), "");
  LLVMValueRef acc[4], pre[4];
  MatIn in = mat_in(E, &Ly->hh, &hs, 0, 1);
  emit_tile_matvec(E, &Ly->hh, tile, &in, acc);
  for (int q = 0; q < 4; q++) {
    LLVMValueRef g = em_load(E, E->vf, em_gep(E, em_gep(E, gates, em_i64(E, (long long)(q * hbytes))), toff), 64);
    pre[q] = LLVMBuildFAdd(E->b, g, mat_output(E, &Ly->hh, tile, q, acc[q], &in, 0), "");
  }
  LLVMValueRef outs[2] = {em_gep(E, hout, toff), em_gep(E, xo, toff)};
  emit_cell(E, pre, em_gep(E, arena_at(E, &P, Ly->c_off), toff), outs, 2);
  tiles_end(E, &T);
  LLVMBuildRetVoid(E->b);
}

/* lstmc_probe<k> (test builds): matrix k alone on the input at a_probe_in, every tile's sums (INT8: the
 * exact int32 acc_r) to a_probe_acc and outputs to a_probe_y, both [ntiles][gates][vl]. */
static void emit_probe(Em *E, int k, int internal) {
  const CpuPlan *p = E->p;
  const CpuMat *m = cpu_plan_mat(p, k);
  char what[32];
  snprintf(what, sizeof what, "probe%d", k);
  Phase P = phase_begin(E, what, -1, internal);
  LLVMValueRef x = arena_at(E, &P, p->a_probe_in);
  ensure_tables(E, &P, m, &x, 1, 0);
  EmLoop T;
  LLVMValueRef tile = tiles_begin(E, &P, &T);
  MatIn in = mat_in(E, m, &x, 0, 1);
  LLVMValueRef acc[4];
  emit_tile_matvec(E, m, tile, &in, acc);
  size_t vbytes = (size_t)E->vl * 4;
  for (int q = 0; q < m->gates; q++) {
    LLVMValueRef a = m->kernel == CPU_KERNEL_INT8 ? em_int_acc(E, m, tile, q, acc[q]) : acc[q];
    em_store(E, a, em_at(E, arena_at(E, &P, p->a_probe_acc), tile, (size_t)m->gates * vbytes, (size_t)q * vbytes), 64);
    em_store(E, mat_output(E, m, tile, q, acc[q], &in, 0),
             em_at(E, arena_at(E, &P, p->a_probe_y), tile, (size_t)m->gates * vbytes, (size_t)q * vbytes), 64);
  }
  tiles_end(E, &T);
  LLVMBuildRetVoid(E->b);
}

/* ---- the module --------------------------------------------------------------------------------- */

int cpu_module_build(LLVMContextRef ctx, const CpuModuleSpec *s, LLVMModuleRef *out) {
  *out = NULL;
  const CpuPlan *p = s->plan;
  Em E;
  memset(&E, 0, sizeof E);
  E.ctx = ctx;
  E.p = p;
  E.t = s->target;
  E.vl = p->vl;
  LX_ASSERT(E.vl == 8 || E.vl == 16);
  E.tvoid = LLVMVoidTypeInContext(ctx);
  E.ti1 = LLVMInt1TypeInContext(ctx);
  E.ti8 = LLVMInt8TypeInContext(ctx);
  E.ti16 = LLVMInt16TypeInContext(ctx);
  E.ti32 = LLVMInt32TypeInContext(ctx);
  E.ti64 = LLVMInt64TypeInContext(ctx);
  E.tf = LLVMFloatTypeInContext(ctx);
  E.td = LLVMDoubleTypeInContext(ctx);
  E.tp8 = LLVMPointerType(E.ti8, 0);
  E.vf = LLVMVectorType(E.tf, (unsigned)E.vl);
  E.vi8 = LLVMVectorType(E.ti8, (unsigned)E.vl);
  E.vi16 = LLVMVectorType(E.ti16, (unsigned)E.vl);
  E.vi32 = LLVMVectorType(E.ti32, (unsigned)E.vl);
  E.vi1 = LLVMVectorType(E.ti1, (unsigned)E.vl);
  if (s->blob && p->blob_size > 0xffffffffu)
    return lx_fail(LSTMC_ERR_UNSUPPORTED, "cpu backend: %zu bytes of weights are more than a standalone object can embed (4 GiB)", p->blob_size);
  E.mod = LLVMModuleCreateWithNameInContext("lstmc", ctx);
  E.b = LLVMCreateBuilderInContext(ctx);

  E.fmuladd = em_intrinsic(&E, "llvm.fmuladd", &E.vf, 1);
  E.floor_ = em_intrinsic(&E, "llvm.floor", &E.vf, 1);
  LLVMTypeRef gt[2] = {E.vf, LLVMVectorType(LLVMPointerType(E.tf, 0), (unsigned)E.vl)};
  E.gather = em_intrinsic(&E, "llvm.masked.gather", gt, 2);
  if (E.vl == 16 && E.t->avx512) E.permute = em_intrinsic(&E, "llvm.x86.avx512.permvar.sf.512", NULL, 0);
  if (E.vl == 8 && E.t->avx2) E.permute = em_intrinsic(&E, "llvm.x86.avx2.permps", NULL, 0);

  if (s->blob) {
    /* the weights as one constant byte array, 64-byte aligned for the vector loads */
    char name[160];
    snprintf(name, sizeof name, "%s_weights", s->prefix ? s->prefix : "lstmc");
    LLVMValueRef data = LLVMConstStringInContext(ctx, (const char *)s->blob, (unsigned)p->blob_size, 1);
    LLVMValueRef g = LLVMAddGlobal(E.mod, LLVMTypeOf(data), name);
    LLVMSetInitializer(g, data);
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
    LLVMSetAlignment(g, 64);
    E.wbase = LLVMConstBitCast(g, E.tp8);
  } else {
    E.wbase = LLVMConstIntToPtr(LLVMConstInt(E.ti64, s->blob_addr, 0), E.tp8);
  }
  E.vsigmoid = vector_fn(&E, "lx_vsigmoid", sigmoid_body);
  E.vtanh = vector_fn(&E, "lx_vtanh", tanh_body);

  int internal = s->prefix != NULL;
  for (int l = 0; l < p->nlayers; l++) emit_layer_step(&E, l, internal);
  emit_dec_step(&E, internal);
  if (p->chunk) {
    for (int l = 0; l < p->nlayers; l++) {
      emit_layer_ih(&E, l, internal);
      emit_layer_rec(&E, l, internal);
    }
    emit_dec_gemm(&E, internal);
  }
  for (int k = 0; p->probes && k < cpu_plan_nmats(p); k++) emit_probe(&E, k, internal);
  int st = s->prefix ? cpu_emit_api(&E, s) : 0;
  LLVMDisposeBuilder(E.b);
  if (st) {
    LLVMDisposeModule(E.mod);
    return st;
  }
  *out = E.mod;
  return 0;
}

int cpu_module_verify(LLVMModuleRef m) {
  char *msg = NULL;
  int broken = LLVMVerifyModule(m, LLVMReturnStatusAction, &msg);
  int st = 0;
  if (broken) st = lx_fail(LSTMC_ERR_BACKEND, "cpu backend: the generated IR does not verify (a bug in lstmc): %.600s", msg ? msg : "");
  LLVMDisposeMessage(msg); /* LLVMVerifyModule sets it even when the module is fine */
  return st;
}

int cpu_verify_graph(const Graph *g, const CpuTarget *t, int batch, int chunk) {
  CpuPlan *p;
  int st = cpu_plan_make(g, t, batch, chunk, 1, &p);
  if (st) return st;
  LLVMContextRef ctx = LLVMContextCreate(); /* ours, with everything built in it */
  LLVMModuleRef m = NULL;
  CpuModuleSpec spec = {0};
  spec.plan = p;
  spec.target = t;
  spec.blob_addr = 0x10000; /* never run: any address verifies */
  st = cpu_module_build(ctx, &spec, &m);
  if (!st) st = cpu_module_verify(m);
  if (m) LLVMDisposeModule(m);
  LLVMContextDispose(ctx);
  cpu_plan_free(p);
  return st;
}
