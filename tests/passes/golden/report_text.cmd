report untied.lstm --weights $T/untied.st --passes "prune{sparsity=0.8},column-combine{alpha=8,gamma=0.5},conflict-prune" --array 8x8
