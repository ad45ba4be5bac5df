/* weight-drop alone: in an inference graph it removes the DropConnect of every lstm (weight_drop 0) and
 * changes no tensor, and its statistics say from how many layers and with which p; in a training graph it
 * keeps it, with p= replacing the spec's probability; layers with different p are listed. */
#include "passtest.h"

static void run_stats(Graph *g, const char *pipeline, int training, char *out, size_t n) {
  PipelineOptions o = {0};
  o.verify_each = 1;
  o.stats = 1;
  o.training = training;
  char *diag = NULL, *reports = NULL;
  if (!CHECK_INT_EQ(pt_run_reports(g, pipeline, &o, &reports, &diag), 0)) fprintf(stderr, "    %s\n", diag);
  snprintf(out, n, "%s", reports ? reports : "");
  lx_free(diag);
  lx_free(reports);
}

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  char text[4096];
  Graph *g = pt_graph(pt_tied, 2);
  if (!g) return tu_summary("passes_weight_drop");
  Graph *orig = graph_clone(g);
  run_stats(g, "weight-drop", 0, text, sizeof text);
  CHECK_CONTAINS(text, "\n      weight-drop: removed from 2 layers (p=0.5)\n");
  for (int i = 0; i < g->nnodes; i++)
    if (g->nodes[i].op == OP_LSTM) CHECK(g->nodes[i].weight_drop == 0);
  for (int i = 0; i < g->nslots; i++) CHECK(pt_same_tensor(g->slots[i].t, orig->slots[i].t));
  graph_free(g);

  g = graph_clone(orig);
  run_stats(g, "weight-drop", 1, text, sizeof text);
  CHECK_CONTAINS(text, "weight-drop: kept on 2 layers for training (p=0.5)\n");
  run_stats(g, "weight-drop{p=0.25}", 1, text, sizeof text);
  CHECK_CONTAINS(text, "weight-drop: kept on 2 layers for training (p=0.25)\n");
  for (int i = 0; i < g->nnodes; i++)
    if (g->nodes[i].op == OP_LSTM) CHECK(g->nodes[i].weight_drop == 0.25);
  graph_free(g);

  /* different probabilities per layer are listed; p= in inference is what is reported removed */
  g = graph_clone(orig);
  g->nodes[2].weight_drop = 0.2; /* the second lstm */
  run_stats(g, "weight-drop", 0, text, sizeof text);
  CHECK_CONTAINS(text, "weight-drop: removed from 2 layers (p=0.5, 0.2)\n");
  graph_free(g);
  g = graph_clone(orig);
  run_stats(g, "weight-drop{p=0}", 0, text, sizeof text);
  CHECK_CONTAINS(text, "weight-drop: removed from 0 layers (p=0)\n");
  char *diag = NULL;
  CHECK_INT_EQ(pt_run(g, "weight-drop{p=1}", &diag), LSTMC_ERR_PARSE);
  CHECK_STR_EQ(diag, "--passes:1:15: error: pass 1 (weight-drop): p must be a number in [0, 1), got 1\n"
                     "weight-drop{p=1}\n              ^\n");
  lx_free(diag);
  graph_free(g);
  graph_free(orig);
  return tu_summary("passes_weight_drop");
}
