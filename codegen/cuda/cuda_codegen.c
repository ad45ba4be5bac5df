/* The CUDA source generator (see cuda_codegen.h). */
#include "codegen/cuda/cuda_codegen.h"

#include <stdio.h>
#include <string.h>

#include "lstmc.h"
#include "support/alloc.h"
#include "support/err.h"

void cuda_kernel_name(int nb, char *buf, size_t n) { snprintf(buf, n, "lx_lstm_b%d", nb); }

int cuda_sample_test_smem(const CudaPlan *p) { return 32 + p->sample_bytes; }

static const char *enc_const(int enc) {
  static const char *const names[LX_ENC_COUNT] = {
#define ENC_CONST(id, ...) [LX_ENC_##id] = "LX_ENC_" #id,
      LX_ENCODINGS(ENC_CONST)
#undef ENC_CONST
  };
  return enc >= 0 && enc < LX_ENC_COUNT ? names[enc] : "?";
}

static const char *layout_const(int layout) {
  static const char *const names[] = {"LX_LAYOUT_DENSE", "LX_LAYOUT_MASKED", "LX_LAYOUT_PACKED"};
  return layout >= 0 && layout < LX_LAYOUT_COUNT ? names[layout] : "?";
}

static void emit_int_array(StrBuf *sb, const char *type, const char *name, int n, const CudaPlan *p,
                           long long (*get)(const CudaPlan *, int)) {
  sb_printf(sb, "LX_CONST %s %s[%d] = {", type, name, n);
  for (int i = 0; i < n; i++) sb_printf(sb, "%s%s%lld", i ? "," : "", i % 16 == 0 ? "\n  " : " ", get(p, i));
  sb_puts(sb, "};\n");
}

#define LAYER_GETTER(field)                                                                                \
  static long long get_##field(const CudaPlan *p, int i) { return p->layers[i].field; }
LAYER_GETTER(H)
LAYER_GETTER(I)
LAYER_GETTER(nblk)
LAYER_GETTER(rows_off)
LAYER_GETTER(bias_off)
LAYER_GETTER(sih_off)
LAYER_GETTER(shh_off)
LAYER_GETTER(gih_off)
LAYER_GETTER(ghh_off)
static long long get_rec_ih(const CudaPlan *p, int i) { return p->layers[i].ih.rec; }
static long long get_rec_hh(const CudaPlan *p, int i) { return p->layers[i].hh.rec; }
#define BLOCK_GETTER(field)                                                                                \
  static long long get_blk_##field(const CudaPlan *p, int i) { return (long long)p->blocks[i].field; }
BLOCK_GETTER(layer)
BLOCK_GETTER(u0)
BLOCK_GETTER(nu)
BLOCK_GETTER(res)
BLOCK_GETTER(blob_off)

static void emit_rows_dot(StrBuf *sb, const CudaFmt *f, const char *blob_args, const char *tail) {
  sb_printf(sb, "lx_rows_dot(%s, %s, %d, %d, %d, %d, %s, k0, k1, kstep, gtab, x, xs, nb, scale, %s);", enc_const(f->enc),
            layout_const(f->layout), f->nslots, f->mask_off, f->sel_off, f->ngroups, blob_args, tail);
}

static void emit_constants(StrBuf *sb, const CudaPlan *p) {
  sb_puts(sb, "/* ---- the model, as planned (codegen/cuda/cuda_plan.h) ---- */\n");
  sb_printf(sb, "#define LX_NL %d\n#define LX_V %d\n#define LX_NB %d\n#define LX_NTHR %d\n#define LX_D %d\n", p->nl, p->V,
            p->nb, p->threads, p->ring_depth);
  sb_printf(sb, "#define LX_HMAX %d\n#define LX_HLAST %d\n#define LX_BMAX %d\n#define LX_NDEC %d\n", p->hmax, p->hlast, p->bmax,
            p->ndec);
  sb_printf(sb, "#define LX_NUMAX %d\n#define LX_GSTRIDE %d\n#define LX_XS_HH %d\n#define LX_XS_IN %d\n", p->numax,
            p->gstride, p->xs_hh, p->xs_in);
  sb_printf(sb, "#define LX_SM_XHH %d\n#define LX_SM_XIN %d\n#define LX_SM_GHH %d\n#define LX_SM_GIH %d\n", p->sm_xhh,
            p->sm_xin, p->sm_ghh, p->sm_gih);
  sb_printf(sb, "#define LX_SM_C %d\n#define LX_SM_MISC %d\n#define LX_SM_RNG %d\n#define LX_SM_BYTES %d\n", p->sm_c,
            p->sm_misc, p->sm_rng, p->sm_bytes);
  sb_printf(sb, "#define LX_SAMPLE_SMEM %d\n#define LX_SM_SAMPLE %d\n", p->sample_smem, p->sm_xhh);
  sb_printf(sb, "#define LX_XREG %d\n", cuda_plan_xreg(p->threads));
  sb_printf(sb, "#define LX_DEC_BIAS_OFF %d\n#define LX_DEC_SCALE_OFF %d\n#define LX_DEC_G_OFF %d\n", p->dec_bias_off,
            p->dec_scale_off, p->dec_g_off);
  sb_printf(sb, "#define LX_DEC_ROWS_OFF %d\n#define LX_DEC_REC %d\n", p->dec_rows_off, p->dec.rec);
  emit_int_array(sb, "int", "lx_H", p->nl, p, get_H);
  emit_int_array(sb, "int", "lx_I", p->nl, p, get_I);
  emit_int_array(sb, "int", "lx_nblk", p->nl, p, get_nblk);
  emit_int_array(sb, "int", "lx_rows_off", p->nl, p, get_rows_off);
  emit_int_array(sb, "int", "lx_rec_ih", p->nl, p, get_rec_ih);
  emit_int_array(sb, "int", "lx_rec_hh", p->nl, p, get_rec_hh);
  emit_int_array(sb, "int", "lx_bias_off", p->nl, p, get_bias_off);
  emit_int_array(sb, "int", "lx_sih_off", p->nl, p, get_sih_off);
  emit_int_array(sb, "int", "lx_shh_off", p->nl, p, get_shh_off);
  emit_int_array(sb, "int", "lx_gih_off", p->nl, p, get_gih_off);
  emit_int_array(sb, "int", "lx_ghh_off", p->nl, p, get_ghh_off);
  emit_int_array(sb, "int", "lx_blk_layer", p->nb, p, get_blk_layer);
  emit_int_array(sb, "int", "lx_blk_u0", p->nb, p, get_blk_u0);
  emit_int_array(sb, "int", "lx_blk_nu", p->nb, p, get_blk_nu);
  emit_int_array(sb, "int", "lx_blk_res", p->nb, p, get_blk_res);
  emit_int_array(sb, "long long", "lx_blk_blob", p->nb, p, get_blk_blob_off);
  sb_printf(sb, "#if LX_SAMPLE_SMEM && %d > LX_SM_GHH - LX_SM_XHH\n#error the sampler's scratch does not fit\n#endif\n",
            p->sample_bytes);
}

static void emit_dispatch(StrBuf *sb, const CudaPlan *p) {
  static const char *const sig =
      "(int layer, const unsigned char *sm, const unsigned char *gb, int res, int off0, int rec_step, int k0, int k1, "
      "int kstep, const int *gtab, const float *x, int xs, int nb, const float *scale, float *out)";
  sb_puts(sb, "\n/* ---- one dispatch per weight role: the tensor's format as literal arguments ---- */\n");
  for (int role = 0; role < 2; role++) {
    sb_printf(sb, "LX_FN void lx_rows_%s%s {\n  switch (layer) {\n", role ? "ih" : "hh", sig);
    for (int l = role; l < p->nl; l++) {
      const CudaLayerPlan *L = &p->layers[l];
      sb_printf(sb, "  case %d: /* %s %s [%d, %d] */\n    ", l, role ? L->w_ih->name : L->w_hh->name,
                format_name(role ? L->ih.layout : L->hh.layout, role ? L->ih.enc : L->hh.enc), 4 * L->H, role ? L->I : L->H);
      emit_rows_dot(sb, role ? &L->ih : &L->hh, "sm, gb, res, off0, rec_step", "(const float *)0, out, LX_GSTRIDE, 0");
      sb_puts(sb, "\n    break;\n");
    }
    sb_puts(sb, "  default:\n    break;\n  }\n}\n");
  }
  sb_printf(sb, "/* %s %s [%d, %d] */\n", p->w_dec->name, format_name(p->dec.layout, p->dec.enc), p->V, p->hlast);
  sb_puts(sb, "LX_FN void lx_rows_dec(const unsigned char *gb, int k0, int k1, int kstep, const int *gtab, const float *x, int xs,\n"
              "                       int nb, const float *scale, const float *bias, float *out) {\n  ");
  emit_rows_dot(sb, &p->dec, "(const unsigned char *)0, gb, 0, LX_DEC_ROWS_OFF, LX_DEC_REC", "bias, out, LX_V, 1");
  sb_puts(sb, "\n}\n\n");
}

int cuda_codegen_source(const CudaPlan *p, const char *model_name, int emu, char **out) {
  StrBuf sb;
  sb_init(&sb);
  sb_printf(&sb, "/* lstmc %s: CUDA module for model \"%s\" (generated; codegen/cuda/cuda_codegen.c).\n", LSTMC_VERSION,
            model_name);
  StrBuf d;
  sb_init(&d);
  cuda_plan_describe(p, &d);
  if (d.failed) sb.failed = 1;
  else {
    /* the plan's description as a comment, line by line */
    const char *s = sb_cstr(&d);
    while (*s) {
      size_t n = strcspn(s, "\n");
      sb_puts(&sb, " * ");
      sb_append(&sb, s, n);
      sb_puts(&sb, "\n");
      s += n + (s[n] == '\n');
    }
  }
  sb_free(&d);
  sb_puts(&sb, " */\n");
  if (emu) sb_puts(&sb, "#define LX_EMU 1\n");
  sb_puts(&sb, lx_text_dev_prelude_h);
  sb_puts(&sb, lx_text_layout_h);
  sb_puts(&sb, lx_text_rng_core_h);
  sb_puts(&sb, lx_text_dev_params_h);
  emit_constants(&sb, p);
  sb_puts(&sb, lx_text_dev_common_h);
  sb_printf(&sb, "#if %d != LX_SAMPLE_BYTES(LX_V, LX_NTHR)\n#error the planner's sampler scratch disagrees with dev_common.h\n#endif\n",
            p->sample_bytes);
  emit_dispatch(&sb, p);
  sb_puts(&sb, lx_text_dev_kernel_h);
  sb_puts(&sb, "\n/* ---- entry points ---- */\n");
  int batches[2] = {1, p->bmax};
  for (int i = 0; i < (p->bmax > 1 ? 2 : 1); i++) {
    char name[32];
    cuda_kernel_name(batches[i], name, sizeof name);
    sb_printf(&sb, "LX_KERNEL void LX_BOUNDS(%d) %s(LxParams p) { lx_persistent(p, %d); }\n", p->threads, name, batches[i]);
  }
  *out = sb_take(&sb);
  if (!*out) return lx_nomem("generating the CUDA source");
  return 0;
}

int cuda_codegen_header(const CudaPlan *p, const char *model_name, const char *guard, char **out) {
  StrBuf sb;
  sb_init(&sb);
  char kb1[32], kbb[32];
  cuda_kernel_name(1, kb1, sizeof kb1);
  cuda_kernel_name(p->bmax, kbb, sizeof kbb);
  char kernels[160];
  if (p->bmax > 1) snprintf(kernels, sizeof kernels, "%s, %s: the persistent LSTM kernel for 1 and %d streams", kb1, kbb, p->bmax);
  else snprintf(kernels, sizeof kernels, "%s: the persistent LSTM kernel (1 stream)", kb1);
  sb_printf(&sb,
            "/* Launch contract of the CUDA module lstmc %s generated for model \"%s\".\n"
            " *\n"
            " * Kernels (extern \"C\", one LxParams argument by value, declared below):\n"
            " *   %s. Launch it with\n"
            " *     cuLaunchCooperativeKernel: grid LSTMC_GRID blocks, LSTMC_THREADS threads, LSTMC_SMEM_BYTES bytes of\n"
            " *     dynamic shared memory (raise CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES first); zero the\n"
            " *     flags buffer before every launch; after it, a non-zero flags[LSTMC_FLAG_ERR] means a timed-out wait.\n"
            " *   lx_logprob: scoring, grid T blocks of 256 threads, 3072 bytes of shared memory, after\n"
            " *     logits[T][V] = hout[T][H_last] * W_dec^T (no bias; the kernel adds it).\n"
            " *   lx_sample_test: the device sampler alone (1 block, LSTMC_SAMPLE_TEST_SMEM bytes).\n"
            " * Buffers (LxParams fields; sizes in elements): blob LSTMC_BLOB_BYTES and dec LSTMC_DEC_BYTES bytes\n"
            " *   (`lstmc compile --blob` writes both, blob first; layout in codegen/cuda/cuda_plan.h), table\n"
            " *   [LSTMC_V][4 * LSTMC_H0] floats = embedding * W_ih(layer 0)^T, hstate and cstate\n"
            " *   [LSTMC_LAYERS][nstreams][LSTMC_HMAX] floats (zero = fresh state), ring LSTMC_RING_FLOATS floats,\n"
            " *   flags LSTMC_FLAG_WORDS unsigned ints, tokens [T][B] ints, logits [B][LSTMC_V] floats (STEP, GEN),\n"
            " *   rng 4 x u64 (GEN; xoshiro256** state), tokbuf [T + 1] and gen_out [T] ints (GEN), hout, targets,\n"
            " *   logprob (SCORE), scratch LSTMC_SAMPLE_SCRATCH_BYTES bytes when LSTMC_SAMPLE_IN_SMEM is 0.\n"
            " */\n",
            LSTMC_VERSION, model_name, kernels);
  sb_printf(&sb, "#ifndef %s\n#define %s\n\n", guard, guard);
  sb_printf(&sb, "#define LSTMC_KERNEL_B1 \"%s\"\n", kb1);
  if (p->bmax > 1) sb_printf(&sb, "#define LSTMC_KERNEL_BATCH \"%s\"\n#define LSTMC_BATCH %d\n", kbb, p->bmax);
  sb_printf(&sb, "#define LSTMC_ARCH %d\n#define LSTMC_GRID %d\n#define LSTMC_THREADS %d\n#define LSTMC_SMEM_BYTES %d\n",
            p->dev.arch, p->nb, p->threads, p->sm_bytes);
  sb_printf(&sb, "#define LSTMC_LAYERS %d\n#define LSTMC_V %d\n#define LSTMC_E %d\n#define LSTMC_H0 %d\n#define LSTMC_HMAX %d\n",
            p->nl, p->V, p->E, p->layers[0].H, p->hmax);
  sb_printf(&sb, "#define LSTMC_HLAST %d\n#define LSTMC_BLOB_BYTES %zuu\n#define LSTMC_DEC_BYTES %zuu\n", p->hlast,
            p->blob_bytes, p->dec_bytes);
  sb_printf(&sb, "#define LSTMC_RING_FLOATS %zuu\n#define LSTMC_FLAG_WORDS %zuu\n#define LSTMC_FLAG_ERR %d\n",
            p->ring_floats, p->flag_words, (p->nl + 2) * 32);
  sb_printf(&sb, "#define LSTMC_SAMPLE_IN_SMEM %d\n#define LSTMC_SAMPLE_SCRATCH_BYTES %d\n#define LSTMC_SAMPLE_TEST_SMEM %d\n\n",
            p->sample_smem, p->sample_bytes, cuda_sample_test_smem(p));
  sb_puts(&sb, lx_text_dev_params_h);
  sb_printf(&sb, "\n#endif\n");
  *out = sb_take(&sb);
  if (!*out) return lx_nomem("generating the CUDA header");
  return 0;
}
