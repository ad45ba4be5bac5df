ir untied.lstm --weights $T/untied.st --passes "weight-drop,prune{sparsity=0.7,scope=row},column-combine{alpha=4,gamma=0.5,block=16},conflict-prune,quantize{bits=2}" --print-after-all --verify-each
