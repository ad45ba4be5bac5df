/* lstmc_train and lstmc_plot (include/lstmc.h): the public entries of the trainer (train/trainer.h) and the
 * log plotter (train/plot.h). */
#include <math.h>
#include <string.h>

#include "lstmc.h"
#include "support/err.h"
#include "train/plot.h"
#include "train/trainer.h"

int lstmc_train(const char *spec_path, const lstmc_train_options *opts, lstmc_train_result *result) {
  lstmc_train_result unused;
  if (!result) result = &unused;
  if (!opts) {
    memset(result, 0, sizeof *result);
    result->valid_bpc = NAN;
    return lx_fail(LSTMC_ERR_USAGE, "train: no options (the output path is required)");
  }
  return train_run(spec_path, opts, result);
}

int lstmc_plot(const char *log_path, const char *out_path, const char *title) { return plot_log(log_path, out_path, title); }
