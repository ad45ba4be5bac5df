/* libFuzzer target: the checkpoint reader. Every input is read as a safetensors file and then as a
 * checkpoint of fuzz/checkpoint.lstm — weights bound to the model, metadata, optimizer state, carried state,
 * masks and the schedule's column-group structures restored into a real trainer's objects — with an empty
 * fingerprint, so that inputs from any run of that model reach the restore code. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "frontend/diag.h"
#include "frontend/lower.h"
#include "frontend/spec.h"
#include "runtime/safetensors.h"
#include "support/alloc.h"
#include "train/checkpoint.h"
#include "train/gemm.h"
#include "train/net.h"
#include "train/optim.h"
#include "support/pool.h"
#include "train/schedule.h"

#ifndef LSTMC_FUZZ_DIR
#error "LSTMC_FUZZ_DIR must name the fuzz/ folder"
#endif

static Spec *spec;
static Pool *pool;
static Gemm *gemm;
static OptimConfig oc;

static void setup_once(void) {
  if (spec) return;
  Diag d;
  diag_init(&d, stderr);
  if (spec_load(LSTMC_FUZZ_DIR "/checkpoint.lstm", &d, &spec) || optim_config_from_spec(&spec->train.opt, &oc) ||
      pool_create(1, &pool) || gemm_create(pool, &gemm)) {
    fprintf(stderr, "fuzz_checkpoint: cannot set up %s\n", LSTMC_FUZZ_DIR "/checkpoint.lstm");
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  setup_once();
  Graph *g = NULL;
  StFile *raw = NULL, *f = NULL;
  Net *net = NULL;
  Optim *opt = NULL;
  uint8_t **masks = NULL;
  int64_t *sizes = NULL;
  Schedule sched = {0};
  TrainState s = {0};
  uint64_t hash;
  Diag d;
  diag_init(&d, NULL);
  if (lower_spec(spec, 0, &g) || schedule_init(&sched, spec, g->nslots, &d)) goto done;
  if (st_read_buffer("fuzz.ckpt.safetensors", data, size, &raw)) goto done;
  if (ckpt_open_file(raw, g, "{}", &f, &hash)) goto done;
  if (net_create(g, gemm, spec->train.batch, 1, &net)) goto done;
  masks = lx_calloc((size_t)g->nslots, sizeof *masks);
  sizes = lx_calloc((size_t)g->nslots, sizeof *sizes);
  if (!masks || !sizes) goto done;
  for (int i = 0; i < g->nslots; i++) sizes[i] = g->slots[i].rows * g->slots[i].cols;
  if (optim_create(&oc, g->nslots, sizes, &opt)) goto done;
  CkptParts parts = {g, net, opt, masks, &sched, "{}", hash};
  ckpt_restore(f, &parts, &s);
done:
  if (masks)
    for (int i = 0; i < g->nslots; i++) lx_free(masks[i]);
  lx_free(masks);
  lx_free(sizes);
  lx_free(s.log);
  optim_free(opt);
  net_free(net);
  schedule_free(&sched);
  st_free(f);
  graph_free(g);
  return 0;
}
