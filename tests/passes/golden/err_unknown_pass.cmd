ir untied.lstm --weights $T/untied.st --passes "prune{sparsity=0.8},colum-combine{alpha=8}"
