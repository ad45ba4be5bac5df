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

/* The CPU the code is generated for. */
typedef struct CpuTarget {
  char cpu[64];       /* LLVM CPU name: the host's ("znver3", ...) or one given by the user */
  char features[2048]; /* LLVM feature string ("+avx2,+fma,..."); may be empty */
  int vl;             /* floats per vector: 16 with AVX-512F, else 8 */
  int avx512, avx2;   /* which permute instruction the packed kernels may use (else a generic gather) */
} CpuTarget;

/* The host CPU, as LLVM detects it (name and features). */
int cpu_target_host(CpuTarget *t);
/* A named CPU with an explicit feature string (NULL or "": none beyond the CPU's defaults that LLVM knows;
 * the kernels then use the portable vector code). "native" means the host. */
int cpu_target_named(const char *cpu, const char *features, CpuTarget *t);

/* One weight matrix in tile layout. */
typedef struct CpuMat {
  const Tensor *src;
  int packed;            /* slots are column groups, each lane with a select index */
  int enc;               /* kernel encoding: the tensor's, or TERNARY where a zero must be representable */
  int gates;             /* 4 for LSTM matrices (gates i, f, g, o of each unit in one tile); 1 for the decoder */
  int64_t units;         /* rows per gate */
  int64_t cols;          /* inputs */
  int64_t ntiles;        /* ceil(units / vl) */
  int64_t nslots;        /* cols (dense) or groups (packed) */
  int64_t ngrouped;      /* packed: columns that belong to a group */
  int max_group;         /* packed: columns in the largest group */
  size_t code_bytes;     /* bytes of one gate's codes for one slot (vl lanes) */
  size_t gate_stride;    /* code_bytes, plus vl select bytes in front when packed */
  size_t slot_stride;    /* gates * gate_stride */
  size_t tile_bytes;     /* nslots * slot_stride */
  size_t off;            /* blob offset of tile 0 */
  size_t scale_off;      /* blob offset of the scales [ntiles][gates][vl] (encodings with a scale) */
  size_t goff_off;       /* packed: blob offset of int32 group offsets [nslots + 1] */
  size_t gcols_off;      /* packed: blob offset of int32 grouped columns [ngrouped] */
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
  size_t scratch_off, scratch_size; /* per thread: packed kernels' input tables */
  size_t table_floats;   /* floats per input table: max grouped columns + vl */
  size_t arena_size;
} CpuPlan;

/* Lays out a graph whose weights are loaded. Fails with LSTMC_ERR_UNSUPPORTED naming the node or tensor
 * the backend cannot take. */
int cpu_plan_make(const Graph *g, const CpuTarget *t, int batch, int chunk, int nthreads, CpuPlan **out);
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
