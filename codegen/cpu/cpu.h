/* The LLVM CPU backend's internal interface (no LLVM types here, so tests and tools can include it).
 *
 * The backend works in three steps. plan.c lays a graph out for the generated code: every weight matrix
 * becomes a sequence of tiles of VL units (VL = floats per vector) holding, per slot (an input column, or a
 * column group when packed) and per gate, the VL lanes' codes side by side, so one vector load feeds one
 * gate of VL units; the four gates of a unit sit in the same tile, so one pass over a tile yields
 * everything the cell update of its units needs. It also lays out the run-time memory (the arena: state,
 * activations, scratch). emit.c turns the plan into LLVM IR where every size, offset and format is a
 * constant; jit.c runs it (exec.c drives it with a thread pool), object.c writes it as a standalone object.
 *
 * Memory: a CpuPlan owns its arrays and borrows the graph's tensors (the graph must outlive the plan). */
#ifndef LSTMC_CODEGEN_CPU_CPU_H
#define LSTMC_CODEGEN_CPU_CPU_H
#include <stddef.h>
#include <stdint.h>

#include "ir/graph.h"
#include "runtime/exec.h"

/* How the integer kernels (int8 activations) form their int32 dot products, best first:
 *  VNNI      vpdpbusd: unsigned activation bytes (q + 128) times signed weight bytes, four per int32 lane,
 *            then 128 · Σ_row levels (precomputed) subtracted: exact (AVX-512 VNNI, or AVX-VNNI / VNNI+VL
 *            with 8 lanes);
 *  MADD      vpmaddubsw on |w| and sign(q, w), then vpmaddwd with ones: |pair sum| <= 2 · 127 · 127 < 2^15,
 *            so the int16 step never saturates (AVX-512BW with 16 lanes, AVX2 with 8);
 *  PORTABLE  plain LLVM vector code (sign-extend, multiply, add): any CPU LLVM targets. */
enum { CPU_DOT_PORTABLE = 0, CPU_DOT_MADD = 1, CPU_DOT_VNNI = 2 };

/* The CPU the code is generated for. The flags come from the feature string; tests may lower `vl` and
 * `dot` (and clear `bf16dot`, `vbmi`) to run a lesser kernel on a CPU that has more. */
typedef struct CpuTarget {
  char cpu[64];       /* LLVM CPU name: the host's ("znver3", ...) or one given by the user */
  char features[2048]; /* LLVM feature string ("+avx2,+fma,..."); may be empty */
  int vl;             /* floats per vector: 16 with AVX-512F, else 8 */
  int avx512, avx2;   /* which permute instruction the packed kernels may use (else a generic gather) */
  int dot;            /* CPU_DOT_*: the integer kernels' dot product */
  int vbmi;           /* vpermb (AVX512-VBMI): packed integer kernels gather activation bytes with it */
  int bf16dot;        /* vdpbf16ps (AVX512-BF16): dense bf16 matrices take the bf16 dot-product kernel */
} CpuTarget;

/* The host CPU, as LLVM detects it (name and features). */
int cpu_target_host(CpuTarget *t);
/* The name of a CPU_DOT_* value ("vnni", "madd", "portable"). */
const char *cpu_dot_name(int dot);
/* A named CPU with an explicit feature string (NULL or "": none beyond the CPU's defaults that LLVM knows;
 * the kernels then use the portable vector code). "native" means the host. */
int cpu_target_named(const char *cpu, const char *features, CpuTarget *t);

/* The kernel of a matrix:
 *  FLOAT     float activations times decoded weights, accumulated in float (every format);
 *  INT8      int8 activations (act_bits = 8; q8, q4, ternary, binary), exact int32 sums (ir/qdot.h);
 *  BF16DOT   dense bf16 weights with vdpbf16ps: x split into two bf16 parts (hi + lo), so the activations
 *            keep 16 of their 24 mantissa bits. */
enum { CPU_KERNEL_FLOAT = 0, CPU_KERNEL_INT8 = 1, CPU_KERNEL_BF16DOT = 2 };

/* How a packed INT8 kernel gathers the activation bytes its lanes select, for a quad of groups:
 * VPERMB (one vpermb over the 64 table bytes the quad spans; AVX512-VBMI, 16 lanes, span <= 64),
 * PSHUFB (two vpshufb over 32 bytes and a blend; 8 lanes with AVX2, span <= 32), GENERIC (a gather of
 * single bytes: any CPU, any span). */
enum { CPU_GATHER_GENERIC = 0, CPU_GATHER_VPERMB = 1, CPU_GATHER_PSHUFB = 2 };

/* ---- the CPU check of standalone objects (cpu_features.c) ---- */

/* The cpuid words the check reads: leaf 1 ECX and EDX, leaf 7 subleaf 0 EBX, ECX, EDX, leaf 7 subleaf 1 EAX,
 * leaf 0x80000001 ECX and EDX (a leaf beyond the CPU's highest reads as zeros). */
enum {
  CPU_CPUID_1_ECX, CPU_CPUID_1_EDX, CPU_CPUID_7_EBX, CPU_CPUID_7_ECX, CPU_CPUID_7_EDX, CPU_CPUID_7_1_EAX,
  CPU_CPUID_81_ECX, CPU_CPUID_81_EDX, CPU_CPUID_WORDS
};

/* An x86 feature as cpuid reports it: LLVM's name, its bit, and the XCR0 bits the OS must set for it (the
 * register state it uses: YMM, ZMM, tiles). */
typedef struct CpuFeature {
  const char *name;
  int word, bit;
  uint32_t xcr0;
} CpuFeature;

int cpu_feature_count(void);
const CpuFeature *cpu_feature(int i);
/* The table indices of the features an LLVM feature string enables ("+avx2,-avx512f,..."), in its order;
 * features the table does not have are left out. Returns how many (at most max). */
int cpu_features_required(const char *features, int *idx, int max);
/* 1 when a CPU with these cpuid words and XCR0 has feature f (bit set and its state enabled). */
int cpu_feature_present(const CpuFeature *f, const uint32_t words[CPU_CPUID_WORDS], uint64_t xcr0);
/* The first feature of the string such a CPU lacks, or NULL: what an object's x_cpu_missing() returns. */
const char *cpu_features_first_missing(const char *features, const uint32_t words[CPU_CPUID_WORDS], uint64_t xcr0);

/* One weight matrix in tile layout.
 *
 * FLOAT: a tile is [slot][gate][vl codes] (packed: vl select bytes before each gate's codes).
 * INT8: slots go by quads (4 consecutive columns, or 4 consecutive groups), a tile is
 *   [quad][gate][vl lanes x 4 slots] — lane u's four weights side by side, as vpdpbusd reads them (q4: the
 *   4·vl levels' low nibbles hold bytes 0..2vl-1 and the high nibbles bytes 2vl..4vl-1; ternary: a bit mask
 *   of +1 then one of -1 over the 4·vl bytes; binary: one mask of -1). Packed: before each gate's codes,
 *   4·vl index bytes: byte 4u+j = (group_off[4Q+j] - group_off[4Q]) + select of lane u in group 4Q+j, the
 *   position in the quantized group table of the byte that weight multiplies (0 for an empty slot, whose
 *   code is 0). When no group has more than 16 columns (sel_nibbles), only the selects are stored, as 2·vl
 *   bytes of nibbles (byte i's low nibble for slot-byte i, its high nibble for slot-byte i + 2·vl), and
 *   the quad's four group offsets (relative to its first, one byte each) sit in a word per quad at
 *   qoff_off: the kernel adds them back. That is half a byte less per weight to read.
 * BF16DOT: slots go by pairs, a tile is [pair][gate][vl lanes x 2 bf16]. */
typedef struct CpuMat {
  const Tensor *src;
  int kernel;            /* CPU_KERNEL_* */
  int packed;            /* slots are column groups, each lane with a select index */
  int enc;               /* kernel encoding: the tensor's, or TERNARY where a zero must be representable */
  int gates;             /* 4 for LSTM matrices (gates i, f, g, o of each unit in one tile); 1 for the decoder */
  int dot, gather;       /* INT8: CPU_DOT_*, and packed: CPU_GATHER_* */
  int sel_nibbles;       /* INT8 packed: selects stored as nibbles, with per-quad offsets at qoff_off */
  int64_t units;         /* rows per gate */
  int64_t cols;          /* inputs */
  int64_t ntiles;        /* ceil(units / vl) */
  int64_t nslots;        /* cols (dense) or groups (packed) */
  int64_t nsteps;        /* the kernel's loop: nslots (FLOAT), quads (INT8) or pairs (BF16DOT) */
  int64_t ngrouped;      /* packed: columns that belong to a group */
  int max_group;         /* packed: columns in the largest group */
  size_t code_bytes;     /* bytes of one gate's codes for one step (vl lanes) */
  size_t gate_stride;    /* code_bytes, plus the select or index bytes in front when packed */
  size_t slot_stride;    /* gates * gate_stride: one step of a tile */
  size_t tile_bytes;     /* nsteps * slot_stride */
  size_t off;            /* blob offset of tile 0 */
  size_t scale_off;      /* blob offset of the scales [ntiles][gates][vl] (encodings with a scale) */
  size_t wsum_off;       /* INT8 with VNNI: blob offset of int32 128 · Σ_row levels, [ntiles][gates][vl] */
  size_t goff_off;       /* packed: blob offset of int32 group offsets [nslots + 1] */
  size_t qoff_off;       /* INT8 packed with sel_nibbles: blob offset of uint32 [nsteps], byte j the offset of
                          * the quad's group j from its first (of the zero byte after the table when missing) */
  size_t gcols_off;      /* packed: blob offset of int32 grouped columns [ngrouped] */
  size_t in_bytes;       /* INT8, BF16DOT: bytes of one prepared input (after a 64-byte header holding s_x) */
} CpuMat;

typedef struct CpuLayer {
  int64_t in, hidden, hp; /* hp: hidden rounded up to a multiple of vl */
  CpuMat ih, hh;
  size_t bias_off;        /* blob: b_ih + b_hh as [ntiles][4][vl] floats */
  size_t h_off[2];        /* arena: h double-buffered by step parity, [batch][hp] floats each */
  size_t c_off;           /* arena: [batch][hp] floats */
  size_t xout_off;        /* arena (scoring): this layer's outputs over a chunk, [chunk][hp] floats */
} CpuLayer;

typedef struct CpuPlan {
  int vl;
  int batch;             /* streams stepped together */
  int chunk;             /* tokens per scoring chunk; 0: no scoring functions */
  int nthreads;          /* scratch areas in the arena */
  int nlayers;
  CpuLayer *layers;
  CpuMat dec;
  size_t dec_bias_off;   /* blob: [ntiles][vl] floats */
  int64_t V, Vp, E;      /* vocabulary, padded to vl, embedding size */
  size_t emb_off;        /* blob: embedding decoded to floats, [V][E] */
  size_t blob_size;
  /* arena (bytes from its start; 64-byte aligned regions) */
  size_t a_parity;       /* int32: which h buffer holds the current state */
  size_t a_rng;          /* 4 x uint64: the sampler's xoshiro256** state (standalone objects) */
  size_t a_tokens;       /* int32 [max(batch, chunk)] */
  size_t a_logits;       /* [batch][Vp] floats */
  size_t a_gates;        /* scoring: input projections [chunk][4][hp_max] floats */
  size_t a_slogits;      /* scoring: [chunk][Vp] floats */
  size_t a_cands;        /* sampler scratch: V x {float, int32} */
  size_t scratch_off, scratch_size; /* per thread: the kernels' prepared inputs (tables, int8 vectors) */
  size_t table_bytes;    /* bytes per prepared input: the largest any matrix needs, 64-byte aligned */
  int probes;            /* test builds: a probe function per matrix (cpu_exec_probe) */
  size_t a_probe_in;     /* probes: the input vector, [max cols] floats */
  size_t a_probe_acc;    /* probes: int32 sums [ntiles][gates][vl] (INT8), or floats (other kernels) */
  size_t a_probe_y;      /* probes: the matrix's outputs, scaled, [ntiles][gates][vl] floats */
  size_t arena_size;
} CpuPlan;

/* Lays out a graph whose weights are loaded. Fails with LSTMC_ERR_UNSUPPORTED naming the node or tensor
 * the backend cannot take. */
int cpu_plan_make(const Graph *g, const CpuTarget *t, int batch, int chunk, int nthreads, CpuPlan **out);
/* The same, with room for the test probes (cpu_exec_probe) when `probes`. */
int cpu_plan_make_probed(const Graph *g, const CpuTarget *t, int batch, int chunk, int nthreads, int probes, CpuPlan **out);
/* The matrices of a plan in order (layer 0 W_ih, W_hh, layer 1 ..., the decoder): count, and the k-th. */
int cpu_plan_nmats(const CpuPlan *p);
const CpuMat *cpu_plan_mat(const CpuPlan *p, int k);
void cpu_plan_free(CpuPlan *p);
/* Writes the repacked weights (p->blob_size bytes, 64-byte aligned) from the graph's tensors. */
void cpu_plan_fill(const CpuPlan *p, const Graph *g, uint8_t *blob);
/* Bytes of weights one step reads (what the GB/s figures divide by). */
size_t cpu_plan_step_bytes(const CpuPlan *p);

/* Builds the module for a plan and checks it with LLVMVerifyModule, without running it (tests and
 * `lstmc compile --emit llvm` use the same builder). Returns 0 or LSTMC_ERR_BACKEND with the verifier's
 * message. */
int cpu_verify_graph(const Graph *g, const CpuTarget *t, int batch, int chunk);

/* An executor for a given target CPU (exec.c; cpu_exec_vtbl.create uses the host). */
int cpu_exec_create_for(const Graph *g, const ExecOptions *o, const CpuTarget *t, Executor **out);
/* The same, with a probe function per matrix compiled in (tests). */
int cpu_exec_create_probed(const Graph *g, const ExecOptions *o, const CpuTarget *t, Executor **out);
/* Test hook: runs matrix k's kernel (cpu_plan_mat order) alone on the input x (its cols floats) and gives
 * every row r's int32 sum acc[r] (INT8 kernels: acc_r of ir/qdot.h, exactly; NULL allowed, and ignored for
 * other kernels) and its output y[r] (scaled: what the phase functions add to the bias). The executor must
 * come from cpu_exec_create_probed. */
int cpu_exec_probe(Executor *e, int k, const float *x, int32_t *acc, float *y);
/* The plan of a cpu executor. */
const CpuPlan *cpu_exec_plan(const Executor *e);

/* What `lstmc compile` writes. */
enum { CPU_EMIT_OBJ = 0, CPU_EMIT_ASM = 1, CPU_EMIT_LLVM = 2 };
typedef struct CpuCompileOptions {
  int emit;             /* CPU_EMIT_* */
  const char *out_path;
  const char *header_path; /* NULL: no header */
  const char *prefix;   /* C identifier prefixed to every exported symbol */
  const char *spec_name; /* named in the header's comment */
  CpuTarget target;
  double seconds[4];    /* filled: plan+repack, IR, optimization, emission */
} CpuCompileOptions;

/* Compiles the graph into a standalone object (or its assembly or IR) with the weights embedded, and
 * writes its C header. */
int cpu_compile(const Graph *g, CpuCompileOptions *o);

#endif
