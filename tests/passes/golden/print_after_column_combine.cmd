ir untied.lstm --weights $T/untied.st --passes "prune{sparsity=0.5},column-combine{alpha=3,gamma=0.25,block=8},quantize{bits=1,only=decoder.weight}" --print-after=column-combine
