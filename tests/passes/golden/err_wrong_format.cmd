ir untied.lstm --weights $T/untied.st --passes "prune{sparsity=0.5},conflict-prune,column-combine" --stats
