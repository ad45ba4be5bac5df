/* The C API of a standalone object (`lstmc compile`), in LLVM IR: create, reset, step, seed, sample, free,
 * and the vocabulary's token texts. Everything the object calls is in libc or libm (aligned_alloc, free,
 * memset, qsort, exp), so a program links it with `cc prog.c model.o -lm`.
 *
 * x_new checks first that the running CPU has the features the object was compiled for (x_cpu_missing,
 * from cpuid and XCR0): on another CPU it returns NULL instead of the program dying of SIGILL in the
 * first vector instruction. The check, x_new, x_free and the token tables are plain x86-64 code.
 *
 * The sampler is the runtime's (runtime/sample.c sample_token with support/rng.c's xoshiro256** seeded by
 * splitmix64), operation for operation and in the same order, so that an object and `lstmc generate`
 * given the same logits and seed draw the same tokens. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codegen/cpu/emit.h"
#include "support/alloc.h"
#include "support/err.h"

/* x_cpu_missing: cpuid and xgetbv, then the object's features (those of the target's string that
 * cpu_features.c knows) one by one; the first one missing is returned by name. Plain x86-64 code. */
static LLVMValueRef emit_cpu_check(Em *E, const CpuModuleSpec *s) {
  LLVMBuilderRef b = E->b;
  char name[160];
  snprintf(name, sizeof name, "%s_cpu_missing", s->prefix);
  E->baseline = 1;
  LLVMValueRef fn = E->fn = em_function(E, name, E->tp8, NULL, 0, 0);
  E->baseline = 0;
  LLVMPositionBuilderAtEnd(b, em_block(E, "entry"));
  int idx[128];
  char *triple = LLVMGetDefaultTargetTriple();
  int x86 = !strncmp(triple, "x86_64", 6);
  LLVMDisposeMessage(triple);
  int n = x86 ? cpu_features_required(E->t->features, idx, 128) : 0;
  if (!n) {
    LLVMBuildRet(b, LLVMConstNull(E->tp8));
    return fn;
  }
  LLVMTypeRef r4[4] = {E->ti32, E->ti32, E->ti32, E->ti32}, in2[2] = {E->ti32, E->ti32};
  LLVMTypeRef cpuid_t = LLVMFunctionType(LLVMStructTypeInContext(E->ctx, r4, 4, 0), in2, 2, 0);
  LLVMValueRef cpuid = LLVMGetInlineAsm(cpuid_t, "cpuid", 5, "={ax},={bx},={cx},={dx},{ax},{cx}", 34, 1, 0, LLVMInlineAsmDialectATT, 0);
  LLVMTypeRef r2[2] = {E->ti32, E->ti32};
  LLVMTypeRef xgetbv_t = LLVMFunctionType(LLVMStructTypeInContext(E->ctx, r2, 2, 0), in2, 1, 0);
  LLVMValueRef xgetbv = LLVMGetInlineAsm(xgetbv_t, "xgetbv", 6, "={ax},={dx},{cx}", 16, 1, 0, LLVMInlineAsmDialectATT, 0);
#define CPUID(leaf, sub, out)                                                                              \
  do {                                                                                                     \
    LLVMValueRef a_[2] = {LLVMConstInt(E->ti32, (leaf), 0), em_i32(E, (sub))};                             \
    LLVMValueRef r_ = LLVMBuildCall2(b, cpuid_t, cpuid, a_, 2, "");                                        \
    for (unsigned k_ = 0; k_ < 4; k_++) (out)[k_] = LLVMBuildExtractValue(b, r_, k_, "");                  \
  } while (0)
  LLVMValueRef l0[4], l1[4], l7[4], l71[4], e0[4], e1[4];
  CPUID(0, 0, l0);
  CPUID(1, 0, l1);
  CPUID(7, 0, l7);
  CPUID(7, 1, l71);
  CPUID(0x80000000u, 0, e0);
  CPUID(0x80000001u, 0, e1);
#undef CPUID
  /* a leaf past the highest the CPU has reads as zeros */
  LLVMValueRef zero = em_i32(E, 0);
  LLVMValueRef has7 = LLVMBuildICmp(b, LLVMIntUGE, l0[0], em_i32(E, 7), "");
  LLVMValueRef has71 = LLVMBuildAnd(b, has7, LLVMBuildICmp(b, LLVMIntUGE, l7[0], em_i32(E, 1), ""), "");
  LLVMValueRef has81 = LLVMBuildICmp(b, LLVMIntUGE, e0[0], LLVMConstInt(E->ti32, 0x80000001u, 0), "");
  LLVMValueRef words[CPU_CPUID_WORDS];
  words[CPU_CPUID_1_ECX] = l1[2];
  words[CPU_CPUID_1_EDX] = l1[3];
  words[CPU_CPUID_7_EBX] = LLVMBuildSelect(b, has7, l7[1], zero, "");
  words[CPU_CPUID_7_ECX] = LLVMBuildSelect(b, has7, l7[2], zero, "");
  words[CPU_CPUID_7_EDX] = LLVMBuildSelect(b, has7, l7[3], zero, "");
  words[CPU_CPUID_7_1_EAX] = LLVMBuildSelect(b, has71, l71[0], zero, "");
  words[CPU_CPUID_81_ECX] = LLVMBuildSelect(b, has81, e1[2], zero, "");
  words[CPU_CPUID_81_EDX] = LLVMBuildSelect(b, has81, e1[3], zero, "");
  /* XCR0 exists when the OS enabled XSAVE (leaf 1 ECX bit 27, OSXSAVE) */
  LLVMBasicBlockRef entry = LLVMGetInsertBlock(b), read = em_block(E, "xgetbv"), check = em_block(E, "check");
  LLVMValueRef osxsave = LLVMBuildICmp(b, LLVMIntNE, LLVMBuildAnd(b, l1[2], em_i32(E, 1 << 27), ""), zero, "");
  LLVMBuildCondBr(b, osxsave, read, check);
  LLVMPositionBuilderAtEnd(b, read);
  LLVMValueRef xarg = zero;
  LLVMValueRef xr = LLVMBuildCall2(b, xgetbv_t, xgetbv, &xarg, 1, "");
  LLVMValueRef xcr0_read = LLVMBuildExtractValue(b, xr, 0, "");
  LLVMBuildBr(b, check);
  LLVMPositionBuilderAtEnd(b, check);
  LLVMValueRef xcr0 = LLVMBuildPhi(b, E->ti32, "xcr0");
  LLVMValueRef xin[2] = {zero, xcr0_read};
  LLVMBasicBlockRef xbb[2] = {entry, read};
  LLVMAddIncoming(xcr0, xin, xbb, 2);
  for (int k = 0; k < n; k++) {
    const CpuFeature *f = cpu_feature(idx[k]);
    LLVMValueRef bit = LLVMBuildAnd(b, LLVMBuildLShr(b, words[f->word], em_i32(E, f->bit), ""), em_i32(E, 1), "");
    LLVMValueRef ok = LLVMBuildICmp(b, LLVMIntNE, bit, zero, "");
    LLVMValueRef xm = LLVMConstInt(E->ti32, f->xcr0, 0);
    ok = LLVMBuildAnd(b, ok, LLVMBuildICmp(b, LLVMIntEQ, LLVMBuildAnd(b, xcr0, xm, ""), xm, ""), "");
    char gname[200];
    snprintf(gname, sizeof gname, "lx_feature_%d", idx[k]);
    LLVMValueRef text = LLVMBuildGlobalStringPtr(b, f->name, gname);
    LLVMBasicBlockRef missing = em_block(E, "missing"), next = em_block(E, "next");
    LLVMBuildCondBr(b, ok, next, missing);
    LLVMPositionBuilderAtEnd(b, missing);
    LLVMBuildRet(b, text);
    LLVMPositionBuilderAtEnd(b, next);
  }
  LLVMBuildRet(b, LLVMConstNull(E->tp8));
  return fn;
}

static LLVMValueRef api_fn(Em *E, const CpuModuleSpec *s, const char *what, LLVMTypeRef ret, LLVMTypeRef *params, unsigned n) {
  char name[160];
  snprintf(name, sizeof name, "%s_%s", s->prefix, what);
  E->fn = em_function(E, name, ret, params, n, 0);
  LLVMPositionBuilderAtEnd(E->b, em_block(E, "entry"));
  return E->fn;
}

static LLVMValueRef u64c(Em *E, unsigned long long v) { return LLVMConstInt(E->ti64, v, 0); }

static LLVMValueRef rotl(Em *E, LLVMValueRef x, int k) {
  return LLVMBuildOr(E->b, LLVMBuildShl(E->b, x, u64c(E, (unsigned)k), ""), LLVMBuildLShr(E->b, x, u64c(E, (unsigned)(64 - k)), ""), "");
}

static LLVMValueRef state_at(Em *E, LLVMValueRef st, size_t off) { return em_gep(E, st, em_i64(E, (long long)off)); }

static void memset_zero(Em *E, LLVMValueRef p8, size_t n) {
  LLVMTypeRef t[2] = {E->tp8, E->ti64};
  unsigned id = LLVMLookupIntrinsicID("llvm.memset", 11);
  LLVMValueRef f = LLVMGetIntrinsicDeclaration(E->mod, id, t, 2);
  LLVMValueRef args[4] = {p8, LLVMConstInt(E->ti8, 0, 0), em_i64(E, (long long)n), LLVMConstInt(E->ti1, 0, 0)};
  em_call(E, f, args, 4);
}

/* x_seed: the four state words from splitmix64 (support/rng.c rng_seed). */
static LLVMValueRef emit_seed(Em *E, const CpuModuleSpec *s) {
  LLVMTypeRef params[2] = {E->tp8, E->ti64};
  LLVMValueRef fn = api_fn(E, s, "seed", E->tvoid, params, 2);
  LLVMValueRef st = LLVMGetParam(fn, 0), x = LLVMGetParam(fn, 1);
  for (int i = 0; i < 4; i++) {
    x = LLVMBuildAdd(E->b, x, u64c(E, 0x9e3779b97f4a7c15ULL), "");
    LLVMValueRef z = x;
    z = LLVMBuildMul(E->b, LLVMBuildXor(E->b, z, LLVMBuildLShr(E->b, z, u64c(E, 30), ""), ""), u64c(E, 0xbf58476d1ce4e5b9ULL), "");
    z = LLVMBuildMul(E->b, LLVMBuildXor(E->b, z, LLVMBuildLShr(E->b, z, u64c(E, 27), ""), ""), u64c(E, 0x94d049bb133111ebULL), "");
    z = LLVMBuildXor(E->b, z, LLVMBuildLShr(E->b, z, u64c(E, 31), ""), "");
    em_store(E, z, state_at(E, st, E->p->a_rng + 8 * (size_t)i), 8);
  }
  LLVMBuildRetVoid(E->b);
  return fn;
}

/* rng_uniform (support/rng.c): one xoshiro256** step, the top 53 bits as a double in [0, 1). */
static LLVMValueRef emit_uniform(Em *E, LLVMValueRef st) {
  LLVMBuilderRef b = E->b;
  LLVMValueRef p[4], s[4];
  for (int i = 0; i < 4; i++) {
    p[i] = state_at(E, st, E->p->a_rng + 8 * (size_t)i);
    s[i] = em_load(E, E->ti64, p[i], 8);
  }
  LLVMValueRef result = LLVMBuildMul(b, rotl(E, LLVMBuildMul(b, s[1], u64c(E, 5), ""), 7), u64c(E, 9), "");
  LLVMValueRef t = LLVMBuildShl(b, s[1], u64c(E, 17), "");
  s[2] = LLVMBuildXor(b, s[2], s[0], "");
  s[3] = LLVMBuildXor(b, s[3], s[1], "");
  s[1] = LLVMBuildXor(b, s[1], s[2], "");
  s[0] = LLVMBuildXor(b, s[0], s[3], "");
  s[2] = LLVMBuildXor(b, s[2], t, "");
  s[3] = rotl(E, s[3], 45);
  for (int i = 0; i < 4; i++) em_store(E, s[i], p[i], 8);
  LLVMValueRef top = LLVMBuildUIToFP(b, LLVMBuildLShr(b, result, u64c(E, 11), ""), E->td, "");
  return LLVMBuildFMul(b, top, em_f64(E, 0x1.0p-53), "");
}

/* The qsort comparator of runtime/sample.c (cand_cmp): larger logit first, then lower id. */
static LLVMValueRef emit_cand_cmp(Em *E, const CpuModuleSpec *s) {
  LLVMBuilderRef b = E->b;
  char name[160];
  snprintf(name, sizeof name, "%s_cand_cmp", s->prefix);
  LLVMTypeRef params[2] = {E->tp8, E->tp8};
  E->fn = em_function(E, name, E->ti32, params, 2, 1);
  LLVMPositionBuilderAtEnd(b, em_block(E, "entry"));
  LLVMValueRef x = LLVMGetParam(E->fn, 0), y = LLVMGetParam(E->fn, 1);
  LLVMValueRef xl = em_load(E, E->tf, x, 4), yl = em_load(E, E->tf, y, 4);
  LLVMBasicBlockRef by_logit = em_block(E, "by_logit"), by_id = em_block(E, "by_id");
  LLVMBuildCondBr(b, LLVMBuildFCmp(b, LLVMRealUNE, xl, yl, ""), by_logit, by_id);
  LLVMPositionBuilderAtEnd(b, by_logit);
  LLVMBuildRet(b, LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, xl, yl, ""), em_i32(E, -1), em_i32(E, 1), ""));
  LLVMPositionBuilderAtEnd(b, by_id);
  LLVMValueRef xi = em_load(E, E->ti32, em_gep(E, x, em_i64(E, 4)), 4), yi = em_load(E, E->ti32, em_gep(E, y, em_i64(E, 4)), 4);
  LLVMValueRef gt = LLVMBuildZExt(b, LLVMBuildICmp(b, LLVMIntSGT, xi, yi, ""), E->ti32, "");
  LLVMBuildRet(b, LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, xi, yi, ""), em_i32(E, -1), gt, ""));
  return E->fn;
}

/* x_sample: runtime/sample.c sample_token over the state's candidate scratch. */
static void emit_sample(Em *E, const CpuModuleSpec *s) {
  LLVMBuilderRef b = E->b;
  const CpuPlan *p = E->p;
  LLVMValueRef cmp = emit_cand_cmp(E, s);
  LLVMTypeRef params[4] = {E->tp8, LLVMPointerType(E->tf, 0), E->td, E->ti32};
  LLVMValueRef fn = api_fn(E, s, "sample", E->ti32, params, 4);
  LLVMValueRef st = LLVMGetParam(fn, 0), logits = LLVMBuildBitCast(b, LLVMGetParam(fn, 1), E->tp8, "");
  LLVMValueRef temp = LLVMGetParam(fn, 2), topk = LLVMGetParam(fn, 3);
  LLVMValueRef V = em_i32(E, p->V), cands = state_at(E, st, p->a_cands);
  LLVMBasicBlockRef greedy = em_block(E, "greedy"), sample = em_block(E, "sample");
  LLVMBuildCondBr(b, LLVMBuildFCmp(b, LLVMRealOLE, temp, em_f64(E, 0), ""), greedy, sample);

  /* temperature <= 0: the first largest logit */
  LLVMPositionBuilderAtEnd(b, greedy);
  LLVMValueRef init[2] = {em_i32(E, 0), em_load(E, E->tf, logits, 4)};
  EmLoop L;
  em_loop_begin(E, &L, em_i32(E, 1), V, 2, init, "argmax");
  LLVMValueRef v = em_load(E, E->tf, em_gep(E, logits, LLVMBuildMul(b, LLVMBuildSExt(b, L.iv, E->ti64, ""), em_i64(E, 4), "")), 4);
  LLVMValueRef better = LLVMBuildFCmp(b, LLVMRealOGT, v, L.v[1], "");
  LLVMValueRef next[2] = {LLVMBuildSelect(b, better, L.iv, L.v[0], ""), LLVMBuildSelect(b, better, v, L.v[1], "")};
  em_loop_end(E, &L, em_i32(E, 1), next);
  LLVMBuildRet(b, L.v[0]);

  /* candidates {logit, id}, sorted when top_k cuts them */
  LLVMPositionBuilderAtEnd(b, sample);
  em_loop_begin(E, &L, em_i32(E, 0), V, 0, NULL, "cands");
  LLVMValueRef i64v = LLVMBuildSExt(b, L.iv, E->ti64, "");
  LLVMValueRef c = em_gep(E, cands, LLVMBuildMul(b, i64v, em_i64(E, 8), ""));
  em_store(E, em_load(E, E->tf, em_gep(E, logits, LLVMBuildMul(b, i64v, em_i64(E, 4), "")), 4), c, 4);
  em_store(E, L.iv, em_gep(E, c, em_i64(E, 4)), 4);
  em_loop_end(E, &L, em_i32(E, 1), NULL);
  LLVMValueRef cut = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntSGT, topk, em_i32(E, 0), ""), LLVMBuildICmp(b, LLVMIntSLT, topk, V, ""), "");
  LLVMBasicBlockRef sort = em_block(E, "sort"), sum = em_block(E, "sum"), from = LLVMGetInsertBlock(b);
  LLVMBuildCondBr(b, cut, sort, sum);
  LLVMPositionBuilderAtEnd(b, sort);
  LLVMTypeRef cmpt = LLVMPointerType(LLVMGetElementType(LLVMTypeOf(cmp)), 0);
  LLVMTypeRef qt[4] = {E->tp8, E->ti64, E->ti64, cmpt};
  LLVMValueRef qsort_fn = em_extern(E, "qsort", E->tvoid, qt, 4);
  LLVMValueRef qargs[4] = {cands, em_i64(E, p->V), em_i64(E, 8), cmp};
  em_call(E, qsort_fn, qargs, 4);
  LLVMBuildBr(b, sum);
  LLVMPositionBuilderAtEnd(b, sum);
  LLVMValueRef k = LLVMBuildPhi(b, E->ti32, "k");
  LLVMValueRef kin[2] = {topk, V};
  LLVMBasicBlockRef kbb[2] = {sort, from};
  LLVMAddIncoming(k, kin, kbb, 2);

  LLVMValueRef exp_fn = em_extern(E, "exp", E->td, &E->td, 1);
#define CAND_LOGIT(iv) LLVMBuildFPExt(b, em_load(E, E->tf, em_gep(E, cands, LLVMBuildMul(b, LLVMBuildSExt(b, (iv), E->ti64, ""), em_i64(E, 8), "")), 4), E->td, "")
  /* m = the largest logit among the first k (in double, as the runtime compares) */
  LLVMValueRef m0 = em_f64(E, -INFINITY);
  em_loop_begin(E, &L, em_i32(E, 0), k, 1, &m0, "max");
  LLVMValueRef l = CAND_LOGIT(L.iv);
  LLVMValueRef m1 = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, l, L.v[0], ""), l, L.v[0], "");
  em_loop_end(E, &L, em_i32(E, 1), &m1);
  LLVMValueRef m = L.v[0];
  /* total = Σ exp((logit - m) / T), then the first candidate whose running sum passes u · total */
  LLVMValueRef t0 = em_f64(E, 0);
  em_loop_begin(E, &L, em_i32(E, 0), k, 1, &t0, "total");
  LLVMValueRef a = LLVMBuildFDiv(b, LLVMBuildFSub(b, CAND_LOGIT(L.iv), m, ""), temp, "");
  LLVMValueRef t1 = LLVMBuildFAdd(b, L.v[0], em_call(E, exp_fn, &a, 1), "");
  em_loop_end(E, &L, em_i32(E, 1), &t1);
  LLVMValueRef u = LLVMBuildFMul(b, emit_uniform(E, st), L.v[0], "");
  LLVMBasicBlockRef found = em_block(E, "found"), cont = em_block(E, "cont");
  em_loop_begin(E, &L, em_i32(E, 0), k, 1, &t0, "draw");
  a = LLVMBuildFDiv(b, LLVMBuildFSub(b, CAND_LOGIT(L.iv), m, ""), temp, "");
  LLVMValueRef acc = LLVMBuildFAdd(b, L.v[0], em_call(E, exp_fn, &a, 1), "");
  LLVMValueRef hit_iv = L.iv;
  LLVMBuildCondBr(b, LLVMBuildFCmp(b, LLVMRealOLT, u, acc, ""), found, cont);
  LLVMPositionBuilderAtEnd(b, cont);
  em_loop_end(E, &L, em_i32(E, 1), &acc);
  /* u landed on the rounding edge: the last candidate */
  LLVMValueRef lastp = em_gep(E, cands, LLVMBuildAdd(b, LLVMBuildMul(b, LLVMBuildSExt(b, k, E->ti64, ""), em_i64(E, 8), ""), em_i64(E, -4), ""));
  LLVMBuildRet(b, em_load(E, E->ti32, lastp, 4));
  LLVMPositionBuilderAtEnd(b, found);
  LLVMValueRef idp = em_gep(E, cands, LLVMBuildAdd(b, LLVMBuildMul(b, LLVMBuildSExt(b, hit_iv, E->ti64, ""), em_i64(E, 8), ""), em_i64(E, 4), ""));
  LLVMBuildRet(b, em_load(E, E->ti32, idp, 4));
#undef CAND_LOGIT
}

/* A private constant global holding bytes. */
static LLVMValueRef const_bytes(Em *E, const char *name, const void *data, size_t n) {
  LLVMValueRef init = LLVMConstStringInContext(E->ctx, (const char *)data, (unsigned)n, 1);
  LLVMValueRef g = LLVMAddGlobal(E->mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  LLVMSetAlignment(g, 4);
  return LLVMConstBitCast(g, E->tp8);
}

/* Token strings: texts[offs[i] .. offs[i + 1]). Returns 0 or LSTMC_ERR_NOMEM. */
static int token_table(Em *E, const Vocab *v, int printed, const char *name, LLVMValueRef *texts, LLVMValueRef *offs) {
  StrBuf sb;
  sb_init(&sb);
  int32_t *o = lx_malloc(((size_t)v->n + 1) * sizeof *o);
  if (!o) return lx_nomem("embedding the vocabulary");
  for (int64_t i = 0; i < v->n; i++) {
    o[i] = (int32_t)sb.len;
    if (printed) vocab_append_token(v, (int32_t)i, &sb); /* what generation prints */
    else if (v->kind == VOCAB_BYTES) sb_putc(&sb, (char)i);
    else sb_append(&sb, v->tokens[i], v->lens[i]);
  }
  o[v->n] = (int32_t)sb.len;
  int st = sb.failed ? lx_nomem("embedding the vocabulary") : 0;
  if (!st) {
    char gname[200];
    snprintf(gname, sizeof gname, "%s_texts", name);
    *texts = const_bytes(E, gname, sb.len ? sb.data : "", sb.len);
    snprintf(gname, sizeof gname, "%s_offsets", name);
    *offs = const_bytes(E, gname, o, ((size_t)v->n + 1) * sizeof *o);
  }
  sb_free(&sb);
  lx_free(o);
  return st;
}

static LLVMValueRef load_off(Em *E, LLVMValueRef offs, LLVMValueRef i) {
  LLVMValueRef p = em_gep(E, offs, LLVMBuildMul(E->b, LLVMBuildSExt(E->b, i, E->ti64, ""), em_i64(E, 4), ""));
  return LLVMBuildSExt(E->b, em_load(E, E->ti32, p, 4), E->ti64, "");
}

/* x_token_text(id, &len) and x_token_id(text, len). */
static int emit_vocab(Em *E, const CpuModuleSpec *s) {
  LLVMBuilderRef b = E->b;
  const Vocab *v = s->vocab;
  LLVMValueRef ptexts, poffs, rtexts, roffs;
  int st = token_table(E, v, 1, "lx_printed", &ptexts, &poffs);
  if (!st) st = token_table(E, v, 0, "lx_tokens", &rtexts, &roffs);
  if (st) return st;
  LLVMValueRef V = em_i32(E, v->n);

  LLVMTypeRef params[2] = {E->ti32, LLVMPointerType(E->ti64, 0)};
  LLVMValueRef fn = api_fn(E, s, "token_text", E->tp8, params, 2);
  LLVMValueRef id = LLVMGetParam(fn, 0), lenp = LLVMGetParam(fn, 1);
  LLVMBasicBlockRef ok = em_block(E, "ok"), bad = em_block(E, "bad");
  LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntULT, id, V, ""), ok, bad);
  LLVMPositionBuilderAtEnd(b, bad);
  LLVMBuildRet(b, LLVMConstNull(E->tp8));
  LLVMPositionBuilderAtEnd(b, ok);
  LLVMValueRef o0 = load_off(E, poffs, id), o1 = load_off(E, poffs, LLVMBuildAdd(b, id, em_i32(E, 1), ""));
  LLVMBasicBlockRef setlen = em_block(E, "setlen"), done = em_block(E, "done");
  LLVMBuildCondBr(b, LLVMBuildIsNotNull(b, lenp, ""), setlen, done);
  LLVMPositionBuilderAtEnd(b, setlen);
  LLVMValueRef store = LLVMBuildStore(b, LLVMBuildSub(b, o1, o0, ""), lenp);
  LLVMSetAlignment(store, 8);
  LLVMBuildBr(b, done);
  LLVMPositionBuilderAtEnd(b, done);
  LLVMBuildRet(b, em_gep(E, ptexts, o0));

  LLVMTypeRef p2[2] = {E->tp8, E->ti64};
  fn = api_fn(E, s, "token_id", E->ti32, p2, 2);
  LLVMValueRef text = LLVMGetParam(fn, 0), len = LLVMGetParam(fn, 1);
  /* a linear search with an inline byte compare: LLVM would turn memcmp into bcmp, which not every libc has */
  EmLoop L, C;
  em_loop_begin(E, &L, em_i32(E, 0), V, 0, NULL, "find");
  o0 = load_off(E, roffs, L.iv);
  o1 = load_off(E, roffs, LLVMBuildAdd(b, L.iv, em_i32(E, 1), ""));
  LLVMBasicBlockRef cmpb = em_block(E, "cmp"), next = em_block(E, "next");
  LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntEQ, LLVMBuildSub(b, o1, o0, ""), len, ""), cmpb, next);
  LLVMPositionBuilderAtEnd(b, cmpb);
  em_loop_begin(E, &C, em_i64(E, 0), len, 0, NULL, "byte");
  LLVMValueRef x = em_load(E, E->ti8, em_gep(E, rtexts, LLVMBuildAdd(b, o0, C.iv, "")), 1);
  LLVMValueRef y = em_load(E, E->ti8, em_gep(E, text, C.iv), 1);
  LLVMBasicBlockRef same = em_block(E, "same");
  LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntEQ, x, y, ""), same, next);
  LLVMPositionBuilderAtEnd(b, same);
  em_loop_end(E, &C, em_i64(E, 1), NULL);
  LLVMBuildRet(b, L.iv); /* every byte matched */
  LLVMPositionBuilderAtEnd(b, next);
  em_loop_end(E, &L, em_i32(E, 1), NULL);
  LLVMBuildRet(b, em_i32(E, -1));
  return 0;
}

/* Calls every step phase on all tiles, as one thread: the object's x_step. */
static void emit_step(Em *E, const CpuModuleSpec *s) {
  LLVMBuilderRef b = E->b;
  const CpuPlan *p = E->p;
  LLVMTypeRef params[2] = {E->tp8, E->ti32};
  LLVMValueRef fn = api_fn(E, s, "step", LLVMPointerType(E->tf, 0), params, 2);
  LLVMValueRef st = LLVMGetParam(fn, 0), tok = LLVMGetParam(fn, 1);
  LLVMBasicBlockRef ok = em_block(E, "ok"), bad = em_block(E, "bad");
  LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntULT, tok, em_i32(E, p->V), ""), ok, bad);
  LLVMPositionBuilderAtEnd(b, bad);
  LLVMBuildRet(b, LLVMConstNull(LLVMPointerType(E->tf, 0)));
  LLVMPositionBuilderAtEnd(b, ok);
  em_store(E, tok, state_at(E, st, p->a_tokens), 4);
  LLVMValueRef parity = em_load(E, E->ti32, state_at(E, st, p->a_parity), 4);
  LLVMValueRef scratch = state_at(E, st, p->scratch_off);
  char name[64];
  for (int l = 0; l <= p->nlayers; l++) {
    if (l < p->nlayers) cpu_phase_name(name, sizeof name, "step", l);
    else cpu_phase_name(name, sizeof name, "dec_step", -1);
    int64_t ntiles = l < p->nlayers ? p->layers[l].ih.ntiles : p->dec.ntiles;
    LLVMValueRef args[6] = {st, scratch, em_i32(E, 0), em_i32(E, ntiles), parity, em_i32(E, 0)};
    em_call(E, LLVMGetNamedFunction(E->mod, name), args, 6);
  }
  em_store(E, LLVMBuildXor(b, parity, em_i32(E, 1), ""), state_at(E, st, p->a_parity), 4);
  LLVMBuildRet(b, LLVMBuildBitCast(b, state_at(E, st, p->a_logits), LLVMPointerType(E->tf, 0), ""));
}

int cpu_emit_api(Em *E, const CpuModuleSpec *s) {
  LLVMBuilderRef b = E->b;
  const CpuPlan *p = E->p;
  E->baseline = 1; /* the token tables need no state: usable before the CPU check */
  int rc = emit_vocab(E, s);
  E->baseline = 0;
  if (rc) return rc;
  LLVMValueRef seed = emit_seed(E, s);
  emit_sample(E, s);
  emit_step(E, s);
  LLVMValueRef check = emit_cpu_check(E, s);

  /* x_new: NULL on a CPU without the object's features (checked first, in plain x86-64 code, so that
   * nothing else runs there); then a zeroed, 64-byte aligned state, seeded with 1 (the CLI's default seed) */
  LLVMTypeRef at[2] = {E->ti64, E->ti64};
  LLVMValueRef aligned_alloc_fn = em_extern(E, "aligned_alloc", E->tp8, at, 2);
  E->baseline = 1;
  LLVMValueRef fn = api_fn(E, s, "new", E->tp8, NULL, 0);
  E->baseline = 0;
  LLVMBasicBlockRef cpu_ok = em_block(E, "cpu_ok"), cpu_bad = em_block(E, "cpu_bad");
  LLVMBuildCondBr(b, LLVMBuildIsNull(b, em_call(E, check, NULL, 0), ""), cpu_ok, cpu_bad);
  LLVMPositionBuilderAtEnd(b, cpu_bad);
  LLVMBuildRet(b, LLVMConstNull(E->tp8));
  LLVMPositionBuilderAtEnd(b, cpu_ok);
  LLVMValueRef args[2] = {em_i64(E, 64), em_i64(E, (long long)p->arena_size)};
  LLVMValueRef st = em_call(E, aligned_alloc_fn, args, 2);
  LLVMBasicBlockRef ok = em_block(E, "ok"), bad = em_block(E, "bad");
  LLVMBuildCondBr(b, LLVMBuildIsNull(b, st, ""), bad, ok);
  LLVMPositionBuilderAtEnd(b, bad);
  LLVMBuildRet(b, st);
  LLVMPositionBuilderAtEnd(b, ok);
  memset_zero(E, st, p->arena_size);
  LLVMValueRef sargs[2] = {st, u64c(E, 1)};
  em_call(E, seed, sargs, 2);
  LLVMBuildRet(b, st);

  /* x_reset: zero h and c of every layer (they sit together, before the logits) */
  fn = api_fn(E, s, "reset", E->tvoid, &E->tp8, 1);
  st = LLVMGetParam(fn, 0);
  size_t h0 = p->layers[0].h_off[0];
  memset_zero(E, state_at(E, st, h0), p->a_logits - h0);
  em_store(E, em_i32(E, 0), state_at(E, st, p->a_parity), 4);
  LLVMBuildRetVoid(b);

  LLVMValueRef free_fn = em_extern(E, "free", E->tvoid, &E->tp8, 1);
  E->baseline = 1; /* x_free(NULL) after a failed x_new must run anywhere */
  fn = api_fn(E, s, "free", E->tvoid, &E->tp8, 1);
  E->baseline = 0;
  st = LLVMGetParam(fn, 0);
  em_call(E, free_fn, &st, 1);
  LLVMBuildRetVoid(b);
  return 0;
}
