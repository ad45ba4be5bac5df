/* Inside the CPU backend: the IR builder's state and helpers (emit.c), shared with the standalone API
 * emitter (emit_api.c), and the LLVM plumbing (jit.c). Uses LLVM types, so only codegen/cpu includes it.
 *
 * Ownership: an Em borrows its context, module and plan; it owns its builder (em_finish disposes it). */
#ifndef LSTMC_CODEGEN_CPU_EMIT_H
#define LSTMC_CODEGEN_CPU_EMIT_H
#include <llvm-c/Core.h>
#include <llvm-c/Error.h>
#include <llvm-c/TargetMachine.h>

#include "codegen/cpu/cpu.h"
#include "ir/vocab.h"

/* What to build. */
typedef struct CpuModuleSpec {
  const CpuPlan *plan;
  const CpuTarget *target;
  uint64_t blob_addr;    /* JIT: address of the repacked weights, baked into the code as a constant */
  const uint8_t *blob;   /* object: the repacked weights, embedded as a constant global (blob_addr unused) */
  const char *prefix;    /* object: prefix of the exported C API (NULL for the JIT: phase functions exported) */
  const Vocab *vocab;    /* object: token texts */
  int32_t prime_token;   /* object: the token generation starts from (newline or <eos>, else 0) */
} CpuModuleSpec;

typedef struct Em {
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  const CpuPlan *p;
  const CpuTarget *t;
  int vl;
  LLVMTypeRef tvoid, ti1, ti8, ti16, ti32, ti64, tf, td, tp8;
  LLVMTypeRef vf, vi8, vi16, vi32, vi1; /* vectors of vl lanes */
  LLVMValueRef wbase;                   /* i8*: the weights */
  LLVMValueRef fn;                      /* the function being built */
  LLVMValueRef fmuladd, floor_, gather, permute;
  LLVMValueRef vsigmoid, vtanh;         /* internal always-inline vector functions */
  int baseline;                         /* em_function makes functions for any x86-64 CPU (the object's check) */
} Em;

/* Phase functions of the generated code: void f(i8* arena, i8* scratch, i32 begin, i32 end, i32 a, i32 b),
 * working on tiles [begin, end) of their matrix. */
typedef void (*CpuPhaseFn)(uint8_t *arena, uint8_t *scratch, int32_t begin, int32_t end, int32_t a, int32_t b);

/* The names of the phase functions: "lstmc_L<l>_step" (a: parity), "lstmc_dec_step" (a: parity),
 * "lstmc_L<l>_ih" (a: inputs), "lstmc_L<l>_rec" (a: position in the chunk, b: parity), "lstmc_dec_gemm"
 * (a: inputs). */
void cpu_phase_name(char *buf, size_t n, const char *what, int layer);

/* Builds the module in ctx. On failure (LSTMC_ERR_*) *out is NULL. */
int cpu_module_build(LLVMContextRef ctx, const CpuModuleSpec *s, LLVMModuleRef *out);
/* LLVMVerifyModule; LSTMC_ERR_BACKEND with the verifier's first lines on failure. */
int cpu_module_verify(LLVMModuleRef m);
/* The standalone object's C API (emit_api.c), added to a module being built. */
int cpu_emit_api(Em *E, const CpuModuleSpec *s);

/* ---- LLVM plumbing (jit.c) ---- */
/* A target machine for t (PIC for objects; the JIT's code model otherwise). *out is the caller's
 * (LLVMDisposeTargetMachine, or handed to the JIT). */
int cpu_target_machine(const CpuTarget *t, int object, LLVMTargetMachineRef *out);
/* Sets the module's triple and data layout from tm and runs `default<O3>`. */
int cpu_module_optimize(LLVMModuleRef m, LLVMTargetMachineRef tm);
/* Records an LLVM error as LSTMC_ERR_BACKEND ("cpu backend: WHAT: message"), consuming it. */
int cpu_llvm_error(LLVMErrorRef e, const char *what);

/* A JIT holding one compiled module. */
typedef struct CpuJit CpuJit;
/* Builds, verifies, optimizes and compiles the module of spec. */
int cpu_jit_compile(const CpuModuleSpec *spec, CpuJit **out);
/* The address of an exported function. */
int cpu_jit_lookup(CpuJit *j, const char *name, void **fn);
void cpu_jit_free(CpuJit *j);

/* ---- builder helpers (emit.c) ---- */
LLVMValueRef em_i32(Em *E, long long v);
LLVMValueRef em_i64(Em *E, long long v);
LLVMValueRef em_f32(Em *E, double v);
LLVMValueRef em_f64(Em *E, double v);
/* p8 + off (i8 pointer arithmetic; off an i64 value) */
LLVMValueRef em_gep(Em *E, LLVMValueRef p8, LLVMValueRef off);
LLVMValueRef em_load(Em *E, LLVMTypeRef ty, LLVMValueRef p8, unsigned align);
void em_store(Em *E, LLVMValueRef v, LLVMValueRef p8, unsigned align);
LLVMValueRef em_call(Em *E, LLVMValueRef fn, LLVMValueRef *args, unsigned n);
/* A function with the target's attributes (E->baseline: plain x86-64); internal when `internal`. */
LLVMValueRef em_function(Em *E, const char *name, LLVMTypeRef ret, LLVMTypeRef *params, unsigned n, int internal);
LLVMBasicBlockRef em_block(Em *E, const char *name);
/* Declares an external C function (memset, exp, qsort, ...). */
LLVMValueRef em_extern(Em *E, const char *name, LLVMTypeRef ret, LLVMTypeRef *params, unsigned n);

/* p8 as a pointer to elt */
LLVMValueRef em_as_ptr(Em *E, LLVMValueRef p8, LLVMTypeRef elt);
/* the weights at blob offset off */
LLVMValueRef em_wptr(Em *E, size_t off);
/* an integer value sign-extended to i64 */
LLVMValueRef em_i64of(Em *E, LLVMValueRef v);
/* base + idx * scale + add, in bytes (idx any integer value) */
LLVMValueRef em_at(Em *E, LLVMValueRef base, LLVMValueRef idx, size_t scale, size_t add);
/* a float broadcast to vl lanes */
LLVMValueRef em_splat(Em *E, LLVMValueRef s);
/* <vl x i32> with every lane v */
LLVMValueRef em_vconst_i32(Em *E, int v);
/* the declaration of an LLVM intrinsic (types: its overloaded types, NULL when it has none) */
LLVMValueRef em_intrinsic(Em *E, const char *name, LLVMTypeRef *types, unsigned n);

/* ---- the kernels' inputs ---- */
#define NX_MAX 4 /* inputs one pass over a tile serves */
/* The inputs of a tile matvec: per input, what the kernel reads (a float vector, or a prepared input:
 * cpu.h CpuMat.in_bytes), and for INT8 kernels the input's s_x (a float value). */
typedef struct MatIn {
  int n;
  LLVMValueRef x[NX_MAX];
  LLVMValueRef sx[NX_MAX];
} MatIn;

/* ---- integer and bf16 dot-product kernels (emit_int.c) ---- */
/* Prepares input x (float*, m->cols floats) for an INT8 or BF16DOT matrix into the scratch area `slot`:
 * INT8 — s_x (float) at slot + 0 and the quantized bytes at slot + 64 (ir/qdot.h steps 1-3; q + 128 for
 * VNNI), in column order (dense) or group-table order (packed); BF16DOT — the hi and lo bf16 pairs. */
void em_int_prepare(Em *E, const CpuMat *m, LLVMValueRef x, LLVMValueRef slot);
/* One step (a quad of slots, or a pair for BF16DOT) of tile base tbase: acc[r * gates + q] += the dot
 * products of every gate q with every input r (INT8: <vl x i32> sums; BF16DOT: <vl x float>). */
void em_int_step(Em *E, const CpuMat *m, LLVMValueRef tbase, LLVMValueRef step, const MatIn *in, LLVMValueRef *acc);
/* INT8: gate q's exact sums acc_r (the VNNI correction subtracted). */
LLVMValueRef em_int_acc(Em *E, const CpuMat *m, LLVMValueRef tile, int q, LLVMValueRef acc);
/* INT8: gate q's outputs ((float)acc_r * s_x) * scale_r (ir/qdot.h step 5). */
LLVMValueRef em_int_output(Em *E, const CpuMat *m, LLVMValueRef tile, int q, LLVMValueRef acc, LLVMValueRef sx);

/* Counted loops: iv runs over [start, end) by step with nv loop-carried values; between em_loop_begin and
 * em_loop_end the builder is in the body, L->iv and L->v[k] hold the current values; after em_loop_end it
 * is past the loop and L->v[k] hold the final values. */
#define EM_LOOP_MAXV 64
typedef struct EmLoop {
  LLVMBasicBlockRef head, body, exit;
  LLVMValueRef iv;
  LLVMValueRef v[EM_LOOP_MAXV];
  int nv;
} EmLoop;
void em_loop_begin(Em *E, EmLoop *L, LLVMValueRef start, LLVMValueRef end, int nv, const LLVMValueRef *init, const char *name);
void em_loop_end(Em *E, EmLoop *L, LLVMValueRef step, const LLVMValueRef *next);

#endif
