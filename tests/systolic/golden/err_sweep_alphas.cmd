sweep tied.lstm --weights $T/tied.st --data data.txt --alphas 1,x
