ir tied.lstm --weights $T/tied.st --passes "prune{sparsity=0.8,skip=encoder.weight},quantize{bits=4,only=rnns.0.*},quantize{bits=1,rounding=stochastic,seed=5,only=rnns.1.*}" --print-after=quantize
