#include <stdio.h>
#include <string.h>
#include "frontend/spec.h"
#include "frontend/lower.h"
int main(int argc, char **argv) {
  Diag d; diag_init(&d, stderr);
  Spec *s; if (spec_load(argv[2], &d, &s)) return 1;
  Graph *g; if (lower_spec(s, 0, &g)) { fprintf(stderr, "%s\n", lstmc_errmsg()); return 1; }
  StrBuf sb; sb_init(&sb); graph_print(g, &sb); fputs(sb_cstr(&sb), stdout);
  return 0;
}
