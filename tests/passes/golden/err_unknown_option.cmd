eval untied.lstm --weights $T/untied.st --data untied.lstm --passes "prune{sparsity=0.8,scop=row}"
